"""Builders for small, valid NFV packages (unit and end-to-end tests).

Keep the public signatures stable: other suites use them.

* `make_vnf_csar(vnfd_id, ...)` -> SOL004 CSAR zip bytes (TOSCA.meta, manifest with SHA-256
  hashes, SOL001 v2.6.1 VNFD: flavour "simple", VDU1 (1..3) + VDU2 (1..1), internal VL
  `internalVL`, external CP `VDU1_CP_EXT`, aspect `VDU1_scale`, levels `instantiation_level_1`
  (default) / `instantiation_level_2`).
* `make_nsd_yaml(nsd_id, vnfd_id)` -> single-file SOL001 NSD naming that VNFD.
* Lower-level: `vnf_csar_files`, `make_manifest`, `zip_files`, `make_nsd_csar`,
  `make_osm_vnf_package`, `tar_gz_files`.

The VNFD imports the ETSI type files by Forge URL (the parser knows them, no network), so
packages stay a few KB.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

DEFAULT_VNFD_ID = "6a1c3f3e-2b8d-4c55-9d1e-0c5d1e7a0001"
DEFAULT_NSD_ID = "6a1c3f3e-2b8d-4c55-9d1e-0c5d1e7a1001"
ETSI_BASE = "https://forge.etsi.org/rep/nfv/SOL001/raw/v2.6.1/"
ETSI_IMPORTS = [ETSI_BASE + "etsi_nfv_sol001_common_types.yaml",
                ETSI_BASE + "etsi_nfv_sol001_vnfd_types.yaml"]
IMAGE_PATH = "Files/images/magi-test.img"
IMAGE_BYTES = b"MAGI test image: not a real disk\n"
SCRIPT_PATH = "Scripts/install.sh"
SCRIPT_BYTES = b"#!/bin/sh\necho magi\n"
TOP = "Definitions/magi_vnfd_top.yaml"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml(doc: Any) -> bytes:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False).encode()


def _vdu(name: str, lo: int, hi: int) -> dict[str, Any]:
    return {
        "type": "tosca.nodes.nfv.Vdu.Compute",
        "properties": {
            "name": name, "description": f"{name} compute node",
            "vdu_profile": {"min_number_of_instances": lo, "max_number_of_instances": hi},
            "sw_image_data": {
                "name": "magi-test-image", "version": "1.0",
                "checksum": {"algorithm": "sha-256",
                             "hash": hashlib.sha256(IMAGE_BYTES).hexdigest()},
                "container_format": "bare", "disk_format": "qcow2",
                "min_disk": "1 GB", "min_ram": "256 MB", "size": "1 GB"}},
        "capabilities": {"virtual_compute": {"properties": {
            "virtual_memory": {"virtual_mem_size": "512 MB"},
            "virtual_cpu": {"num_virtual_cpu": 1},
            "virtual_local_storage": [{"size_of_storage": "1 GB"}]}}},
        "artifacts": {"sw_image": {"type": "tosca.artifacts.nfv.SwImage",
                                   "file": "../" + IMAGE_PATH}},
    }


def _cp(vdu: str, vl: str | None, order: int) -> dict[str, Any]:
    reqs: list[dict[str, str]] = [{"virtual_binding": vdu}]
    if vl:
        reqs.append({"virtual_link": vl})
    return {"type": "tosca.nodes.nfv.VduCp",
            "properties": {"layer_protocols": ["ipv4"], "order": order},
            "requirements": reqs}


def vnfd_documents(vnfd_id: str = DEFAULT_VNFD_ID, *, provider: str = "MAGI",
                   product_name: str = "MAGI Test VNF", software_version: str = "1.0",
                   descriptor_version: str = "1.0", vnfm_info: Sequence[str] = ("MAGI",),
                   flavour_id: str = "simple", placement_policies: bool = False) -> dict[str, bytes]:
    """The three VNFD templates (top, types, flavour) keyed by package path.

    placement_policies adds an AntiAffinityRule (VDU1, nfvi_node), an AffinityRule (VDU1+VDU2, zone),
    a SecurityGroupRule on VDU1's external CP and a SupportedVnfInterface."""
    ident = {"descriptor_id": vnfd_id, "provider": provider, "product_name": product_name,
             "software_version": software_version, "descriptor_version": descriptor_version}
    props: dict[str, Any] = {k: {"type": "string", "constraints": [{"valid_values": [v]}],
                                 "default": v} for k, v in ident.items()}
    props["vnfm_info"] = {"type": "list", "entry_schema": {"type": "string"},
                          "default": list(vnfm_info)}
    props["flavour_id"] = {"type": "string", "constraints": [{"valid_values": [flavour_id]}],
                           "default": flavour_id}
    types = {"tosca_definitions_version": "tosca_simple_yaml_1_2",
             "description": "MAGI test VNF type", "imports": ETSI_IMPORTS,
             "node_types": {"magi.test.VNF": {
                 "derived_from": "tosca.nodes.nfv.VNF", "properties": props,
                 "requirements": [{"virtual_link_external": {
                     "capability": "tosca.capabilities.nfv.VirtualLinkable",
                     "occurrences": [0, 1]}}],
                 "interfaces": {"Vnflcm": {"type": "tosca.interfaces.nfv.Vnflcm"}}}}}
    top = {"tosca_definitions_version": "tosca_simple_yaml_1_2",
           "description": product_name,
           "imports": [*ETSI_IMPORTS, "magi_vnfd_types.yaml", "magi_vnfd_df_simple.yaml"],
           "topology_template": {
               "inputs": {"selected_flavour": {"type": "string"}},
               "node_templates": {"VNF": {"type": "magi.test.VNF", "properties": {
                   "flavour_id": {"get_input": "selected_flavour"}, **ident,
                   "vnfm_info": list(vnfm_info)}}}}}
    nodes: dict[str, Any] = {
        "VNF": {"type": "magi.test.VNF",
                "properties": {"flavour_description": "Simple flavour"},
                "interfaces": {"Vnflcm": {"instantiate_start": {
                    "implementation": "install-script"}}},
                "artifacts": {"install-script": {
                    "type": "tosca.artifacts.Implementation.Python",
                    "file": "../" + SCRIPT_PATH}}},
        "VDU1": _vdu("VDU1", 1, 3),
        "VDU2": _vdu("VDU2", 1, 1),
        "VDU1_CP_EXT": _cp("VDU1", None, 0),
        "VDU1_CP1": _cp("VDU1", "internalVL", 1),
        "VDU2_CP1": _cp("VDU2", "internalVL", 0),
        "internalVL": {"type": "tosca.nodes.nfv.VnfVirtualLink", "properties": {
            "connectivity_type": {"layer_protocols": ["ipv4"]},
            "description": "internal network",
            "vl_profile": {
                "max_bitrate_requirements": {"root": 1048576},
                "min_bitrate_requirements": {"root": 1048576},
                "virtual_link_protocol_data": [{
                    "associated_layer_protocol": "ipv4",
                    "l3_protocol_data": {"ip_version": "ipv4", "cidr": "10.10.0.0/24"}}]}}},
    }
    level = lambda n: {"number_of_instances": n}  # noqa: E731
    policies = [
        {"scaling_aspects": {"type": "tosca.policies.nfv.ScalingAspects", "properties": {
            "aspects": {"VDU1_scale": {"name": "VDU1_scale", "description": "scale VDU1",
                                       "max_scale_level": 2, "step_deltas": ["delta_1"]}}}}},
        {"VDU1_initial_delta": {"type": "tosca.policies.nfv.VduInitialDelta", "properties": {
            "initial_delta": level(1)}, "targets": ["VDU1"]}},
        {"VDU2_initial_delta": {"type": "tosca.policies.nfv.VduInitialDelta", "properties": {
            "initial_delta": level(1)}, "targets": ["VDU2"]}},
        {"VDU1_scaling_aspect_deltas": {
            "type": "tosca.policies.nfv.VduScalingAspectDeltas",
            "properties": {"aspect": "VDU1_scale", "deltas": {"delta_1": level(1)}},
            "targets": ["VDU1"]}},
        {"instantiation_levels": {"type": "tosca.policies.nfv.InstantiationLevels",
                                  "properties": {"levels": {
                                      "instantiation_level_1": {
                                          "description": "small",
                                          "scale_info": {"VDU1_scale": {"scale_level": 0}}},
                                      "instantiation_level_2": {
                                          "description": "large",
                                          "scale_info": {"VDU1_scale": {"scale_level": 2}}}},
                                      "default_level": "instantiation_level_1"}}},
        {"VDU1_instantiation_levels": {
            "type": "tosca.policies.nfv.VduInstantiationLevels",
            "properties": {"levels": {"instantiation_level_1": level(1),
                                      "instantiation_level_2": level(3)}},
            "targets": ["VDU1"]}},
        {"VDU2_instantiation_levels": {
            "type": "tosca.policies.nfv.VduInstantiationLevels",
            "properties": {"levels": {"instantiation_level_1": level(1),
                                      "instantiation_level_2": level(1)}},
            "targets": ["VDU2"]}},
    ]
    if placement_policies:
        policies += [
            {"VDU1_anti_affinity": {"type": "tosca.policies.nfv.AntiAffinityRule",
                                    "properties": {"scope": "nfvi_node"}, "targets": ["VDU1"]}},
            {"VDUs_same_zone": {"type": "tosca.policies.nfv.AffinityRule",
                                "properties": {"scope": "zone"}, "targets": ["VDU1", "VDU2"]}},
            {"ssh_in": {"type": "tosca.policies.nfv.SecurityGroupRule", "properties": {
                "description": "ssh", "direction": "ingress", "ether_type": "ipv4", "protocol": "tcp",
                "port_range_min": 22, "port_range_max": 22}, "targets": ["VDU1_CP_EXT"]}},
            {"indicators": {"type": "tosca.policies.nfv.SupportedVnfInterface", "properties": {
                "interface_name": "vnf_indicator",
                "details": {"uri_components": {"scheme": "https", "path": "/indicators"}}},
                "targets": ["VDU1_CP_EXT"]}},
        ]
    df = {"tosca_definitions_version": "tosca_simple_yaml_1_2",
          "description": "Simple deployment flavour",
          "imports": [*ETSI_IMPORTS, "magi_vnfd_types.yaml"],
          "topology_template": {
              "substitution_mappings": {
                  "node_type": "magi.test.VNF", "properties": {"flavour_id": flavour_id},
                  "requirements": {"virtual_link_external": ["VDU1_CP_EXT", "virtual_link"]}},
              "node_templates": nodes, "policies": policies}}
    return {TOP: _yaml(top), "Definitions/magi_vnfd_types.yaml": _yaml(types),
            "Definitions/magi_vnfd_df_simple.yaml": _yaml(df)}


def make_manifest(files: Mapping[str, bytes], *, metadata: Mapping[str, str] | None = None,
                  algorithm: str = "SHA-256") -> bytes:
    """SOL004 manifest listing every file with its hash."""
    hname = algorithm.replace("-", "").lower()
    lines = ["metadata:"]
    lines += [f"  {k}: {v}" for k, v in (metadata or {}).items()]
    for path in sorted(files):
        digest = hashlib.new(hname, files[path]).hexdigest()
        lines += ["", f"Source: {path}", f"Algorithm: {algorithm}", f"Hash: {digest}"]
    return ("\n".join(lines) + "\n").encode()


def tosca_meta(entry: str, manifest: str | None = None) -> bytes:
    lines = ["TOSCA-Meta-File-Version: 1.0", "CSAR-Version: 1.1", "Created-By: MAGI tests",
             f"Entry-Definitions: {entry}"]
    if manifest:
        lines.append(f"ETSI-Entry-Manifest: {manifest}")
    return ("\n".join(lines) + "\n").encode()


def vnf_csar_files(vnfd_id: str = DEFAULT_VNFD_ID, *, with_manifest: bool = True,
                   extra_files: Mapping[str, bytes] | None = None,
                   **vnfd_kwargs: Any) -> dict[str, bytes]:
    """The CSAR's files (TOSCA.meta first) before zipping; mutate them for negative tests."""
    body = {**vnfd_documents(vnfd_id, **vnfd_kwargs), IMAGE_PATH: IMAGE_BYTES,
            SCRIPT_PATH: SCRIPT_BYTES, **(extra_files or {})}
    files = {"TOSCA-Metadata/TOSCA.meta": tosca_meta(TOP, "magi_vnf.mf" if with_manifest
                                                     else None)}
    files.update(body)
    if with_manifest:
        files["magi_vnf.mf"] = make_manifest(body, metadata={
            "vnf_provider_id": vnfd_kwargs.get("provider", "MAGI"),
            "vnf_product_name": vnfd_kwargs.get("product_name", "MAGI Test VNF"),
            "vnf_release_date_time": "2020-01-01T00:00:00+00:00",
            "vnf_package_version": vnfd_kwargs.get("software_version", "1.0")})
    return files


def zip_files(files: Mapping[str, bytes]) -> bytes:
    """Deterministic zip (fixed timestamps, given order: keep TOSCA.meta first)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, _FIXED_TIME), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def make_vnf_csar(vnfd_id: str = DEFAULT_VNFD_ID, *, with_manifest: bool = True,
                  provider: str = "MAGI", product_name: str = "MAGI Test VNF",
                  software_version: str = "1.0", descriptor_version: str = "1.0",
                  vnfm_info: Sequence[str] = ("MAGI",),
                  extra_files: Mapping[str, bytes] | None = None, placement_policies: bool = False) -> bytes:
    return zip_files(vnf_csar_files(
        vnfd_id, with_manifest=with_manifest, extra_files=extra_files, provider=provider,
        product_name=product_name, software_version=software_version,
        descriptor_version=descriptor_version, vnfm_info=vnfm_info, placement_policies=placement_policies))


def make_nsd_yaml(nsd_id: str = DEFAULT_NSD_ID, vnfd_id: str = DEFAULT_VNFD_ID, *,
                  name: str = "MAGI Test NS", designer: str = "MAGI",
                  version: str = "1.0", vnf_flavour_id: str = "simple") -> bytes:
    """Single-file SOL001 NSD: one VNF (profile `VNF1`, 1..2) on NS VL `ns_vl`, one SAP."""
    base = ETSI_BASE.replace("v2.6.1", "v3.3.1")
    doc = {
        "tosca_definitions_version": "tosca_simple_yaml_1_3",
        "description": name,
        "imports": [base + "etsi_nfv_sol001_nsd_types.yaml"],
        "topology_template": {
            "substitution_mappings": {"node_type": "tosca.nodes.nfv.NS",
                                      "requirements": {"virtual_link": ["SAP1",
                                                                        "external_virtual_link"]}},
            "node_templates": {
                "NS": {"type": "tosca.nodes.nfv.NS", "properties": {
                    "descriptor_id": nsd_id, "designer": designer, "version": version,
                    "name": name, "invariant_id": nsd_id, "flavour_id": "default"}},
                "VNF1": {"type": "tosca.nodes.nfv.VNF", "properties": {
                    "descriptor_id": vnfd_id, "descriptor_version": "1.0", "provider": "MAGI",
                    "product_name": "MAGI Test VNF", "software_version": "1.0",
                    "vnfm_info": ["MAGI"], "flavour_id": vnf_flavour_id,
                    "flavour_description": "", "vnf_profile": {
                        "instantiation_level": "instantiation_level_1",
                        "min_number_of_instances": 1, "max_number_of_instances": 2}},
                    "requirements": [{"virtual_link_external": "ns_vl"}]},
                "ns_vl": {"type": "tosca.nodes.nfv.NsVirtualLink", "properties": {
                    "connectivity_type": {"layer_protocols": ["ipv4"]},
                    "description": "NS network",
                    "vl_profile": {"max_bitrate_requirements": {"root": 1000},
                                   "min_bitrate_requirements": {"root": 1000},
                                   "virtual_link_protocol_data": [{
                                       "associated_layer_protocol": "ipv4",
                                       "l3_protocol_data": {"ip_version": "ipv4",
                                                            "cidr": "10.20.0.0/24"}}]}}},
                "SAP1": {"type": "tosca.nodes.nfv.Sap",
                         "properties": {"layer_protocols": ["ipv4"]},
                         "requirements": [{"internal_virtual_link": "ns_vl"}]},
            }}}
    return _yaml(doc)


def make_nsd_csar(nsd_id: str = DEFAULT_NSD_ID, vnfd_id: str = DEFAULT_VNFD_ID) -> bytes:
    """SOL007 NSD archive around `make_nsd_yaml`, with TOSCA.meta and manifest."""
    entry = "Definitions/magi_nsd.yaml"
    body = {entry: make_nsd_yaml(nsd_id, vnfd_id)}
    return zip_files({"TOSCA-Metadata/TOSCA.meta": tosca_meta(entry, "magi_nsd.mf"), **body,
                      "magi_nsd.mf": make_manifest(body)})


def tar_gz_files(top: str, files: Mapping[str, bytes]) -> bytes:
    """OSM layout: one top folder, deterministic tar.gz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size, info.mtime, info.mode = len(data), 1577836800, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_osm_vnf_package(vnfd_id: str = "magi_test-vnf", *, with_checksums: bool = True) -> bytes:
    """OSM SOL006 VNF package (tar.gz) with one VDU and, optionally, checksums.txt."""
    vnfd = {"vnfd": {
        "id": vnfd_id, "product-name": vnfd_id, "provider": "MAGI", "version": "1.0",
        "mgmt-cp": "vnf-cp0-ext",
        "df": [{"id": "default-df",
                "instantiation-level": [{"id": "default-instantiation-level", "vdu-level": [
                    {"vdu-id": "vm", "number-of-instances": 1}]}],
                "vdu-profile": [{"id": "vm", "min-number-of-instances": 1,
                                 "max-number-of-instances": 2}]}],
        "ext-cpd": [{"id": "vnf-cp0-ext", "int-cpd": {"vdu-id": "vm", "cpd": "eth0"}}],
        "sw-image-desc": [{"id": "ubuntu", "name": "ubuntu", "image": "ubuntu22.04"}],
        "vdu": [{"id": "vm", "name": "vm", "sw-image-desc": "ubuntu",
                 "virtual-compute-desc": "vm-compute", "virtual-storage-desc": ["vm-storage"],
                 "int-cpd": [{"id": "eth0"}]}],
        "virtual-compute-desc": [{"id": "vm-compute", "virtual-cpu": {"num-virtual-cpu": 2},
                                  "virtual-memory": {"size": 2.0}}],
        "virtual-storage-desc": [{"id": "vm-storage", "size-of-storage": 10}]}}
    files = {f"{vnfd_id}_vnfd.yaml": _yaml(vnfd)}
    if with_checksums:
        files["checksums.txt"] = "".join(
            f"{hashlib.md5(d).hexdigest()}  {p}\n" for p, d in files.items()).encode()
    return tar_gz_files(vnfd_id, files)


def write_vnf_csar_with_image(path: Any, image_size: int, vnfd_id: str = DEFAULT_VNFD_ID, *,
                              seed: int = 7, compress: bool = True) -> tuple[str, str]:
    """Write (to `path`) `make_vnf_csar`'s package whose VM image is `image_size` random bytes,
    generated and hashed in 1 MiB pieces so the test process never holds the image whole.
    Returns (sha256 of the image, sha256 of the package file)."""
    import random

    rng = random.Random(seed)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    files = vnf_csar_files(vnfd_id)
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr(zipfile.ZipInfo("TOSCA-Metadata/TOSCA.meta", _FIXED_TIME),
                    files["TOSCA-Metadata/TOSCA.meta"], method)
        info = zipfile.ZipInfo(IMAGE_PATH, _FIXED_TIME)
        info.compress_type = method
        digest = hashlib.sha256()
        with zf.open(info, "w", force_zip64=image_size > 2**31) as out:
            left = image_size
            while left:
                piece = rng.randbytes(min(left, 2**20))
                digest.update(piece)
                out.write(piece)
                left -= len(piece)
        image_sha = digest.hexdigest()
        # the VDUs' sw_image_data and the manifest name the generated image, not IMAGE_BYTES
        df_path = "Definitions/magi_vnfd_df_simple.yaml"
        df = yaml.safe_load(files[df_path])
        for node in df["topology_template"]["node_templates"].values():
            sw = node.get("properties", {}).get("sw_image_data")
            if sw:
                sw["checksum"]["hash"] = image_sha
                sw["size"] = f"{image_size} B"
        files[df_path] = _yaml(df)
        body = {p: d for p, d in files.items()
                if p not in ("TOSCA-Metadata/TOSCA.meta", "magi_vnf.mf", IMAGE_PATH)}
        for p, d in body.items():
            zf.writestr(zipfile.ZipInfo(p, _FIXED_TIME), d, method)
        manifest = make_manifest(body, metadata={"vnf_provider_id": "MAGI"}).decode()
        manifest += f"\nSource: {IMAGE_PATH}\nAlgorithm: SHA-256\nHash: {image_sha}\n"
        zf.writestr(zipfile.ZipInfo("magi_vnf.mf", _FIXED_TIME), manifest.encode(), method)
    package = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(2**20):
            package.update(chunk)
    return image_sha, package.hexdigest()


# --------------------------------------------------------------------------- signatures (SOL004 §5)


def make_cert(name: str, issuer: tuple[Any, Any] | None = None, *, ca: bool = False,
              key_type: str = "rsa", days: int = 30, not_before_days: int = -1) -> tuple[Any, Any]:
    """(private key, certificate) named CN=`name`, signed by `issuer` (key, cert) or self-signed."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key = (ec.generate_private_key(ec.SECP256R1()) if key_type == "ec"
           else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_key, issuer_cert = issuer or (key, None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=not_before_days))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    return key, builder.sign(issuer_key, hashes.SHA256())


def cms_sign(data: bytes, key: Any, cert: Any, *, with_cert: bool = True,
             with_attributes: bool = True, hash_name: str = "sha256", pss: bool = False) -> bytes:
    """Detached CMS SignedData (DER) over `data`, as SOL004 tools produce it."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import pkcs7

    h = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[hash_name]()
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    if not with_cert:
        options.append(pkcs7.PKCS7Options.NoCerts)
    if not with_attributes:
        options.append(pkcs7.PKCS7Options.NoAttributes)
    pad = padding.PSS(padding.MGF1(h), padding.PSS.DIGEST_LENGTH) if pss else None
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data)
    builder = builder.add_signer(cert, key, h, rsa_padding=pad) if pad else builder.add_signer(cert, key, h)
    return builder.sign(serialization.Encoding.DER, options)


def cms_block(der: bytes) -> bytes:
    """The `-----BEGIN CMS-----` block (base64 in 64-column lines) ending a signed manifest."""
    import base64

    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN CMS-----\n" + "\n".join(lines) + "\n-----END CMS-----\n").encode()


def sign_manifest(manifest: bytes, key: Any, cert: Any, **sign: Any) -> bytes:
    """The manifest followed by its CMS signature over the text before the block."""
    return manifest + cms_block(cms_sign(manifest, key, cert, **sign))


def cert_pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def signed_vnf_csar_files(key: Any, cert: Any, vnfd_id: str = DEFAULT_VNFD_ID, *,
                          with_cert: bool = True, cert_file: bool = False,
                          **sign: Any) -> dict[str, bytes]:
    """`vnf_csar_files` with the manifest signed (SOL004 option 1); `cert_file` also puts the
    signer certificate next to the manifest (`magi_vnf.cert`)."""
    files = vnf_csar_files(vnfd_id)
    files["magi_vnf.mf"] = sign_manifest(files["magi_vnf.mf"], key, cert, with_cert=with_cert,
                                         **sign)
    if cert_file:
        files["magi_vnf.cert"] = cert_pem(cert)
    return files
