"""Package and descriptor layer: real sample packages, generated packages, safety checks."""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.unit import pkgfactory as pf
from magi.descriptors import (Check, DescriptorError, Limits, PackageError, detect_format,
                              load_nsd, load_vnf_package, read_csar, read_osm_package)
from magi.descriptors._yaml import load_yaml
from magi.descriptors.model import size_to_bytes, to_gb, to_mb, to_seconds
from magi.descriptors.sol001 import parse_sol001_nsd, parse_sol001_vnfd

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path(os.environ.get("MAGI_SAMPLES_DIR", REPO.parent / "shared" / "samples"))
if os.environ.get("CI", "").lower() == "true" and not (SAMPLES / "README.md").is_file():
    raise RuntimeError(f"sample packages not found at {SAMPLES} (CI=true: set MAGI_SAMPLES_DIR; nothing is skipped)")
needs_samples = pytest.mark.skipif(
    not (SAMPLES / "README.md").is_file(),
    reason=f"sample packages not found at {SAMPLES} (set MAGI_SAMPLES_DIR)")

BASIC = "tacker/basic_lcms_min.zip"
FALSE_HASH = "tacker/sample_vnf_package_csar_in_meta_and_manifest_false_hash"
A11 = "sol001-nsd/etsi_annexA11_MyExampleNs"
CLOUDNET = "sol001-nsd/cloudnet_TopologyNSD"


def sample(rel: str) -> bytes:
    return (SAMPLES / rel).read_bytes()


def sample_tree(rel: str) -> dict[str, bytes]:
    root = SAMPLES / rel
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def raises(check: str, fn, *args, **kwargs) -> PackageError:
    with pytest.raises(PackageError) as info:
        fn(*args, **kwargs)
    assert info.value.check == check, info.value
    if info.value.file:
        assert info.value.file in info.value.detail
    return info.value


# =========================================================================== samples


@needs_samples
@pytest.mark.parametrize("rel, digest", [
    (BASIC, "4e7866056ae428dbf9844b7d2f95e9aaf6065db402efd21c882f3d8f18a3db8e"),
    (FALSE_HASH + ".zip", "228edd71e0fa0d8ab7955d0eee2f5c090ba4b87a3d70a8cd53d42a1f071e8f16"),
    ("osm/hackfest_basic_vnf.tar.gz",
     "1afd0af8457242ae37a070a4b28902a23234328b4ef93e99389de37669c4f445"),
    ("osm/hackfest_basic_ns.tar.gz",
     "d92fde4310590ce74b40520ecb02e93094a2edb5ab2ca20213db9ba61130b0fa"),
])
def test_sample_archives_are_the_documented_ones(rel, digest):
    assert hashlib.sha256(sample(rel)).hexdigest() == digest


@needs_samples
def test_tacker_basic_lcms_min_onboards():
    pkg = load_vnf_package(sample(BASIC), "basic_lcms_min.zip")
    v = pkg.vnfd
    assert pkg.format == "csar" and v.source_format == "sol001"
    assert pkg.checksum_sha256 == hashlib.sha256(sample(BASIC)).hexdigest()
    assert (v.vnfd_id, v.provider, v.product_name) == (
        "b1bb0ce7-ebca-4fa7-95ed-4840d7000000", "Company", "Sample VNF")
    assert (v.software_version, v.descriptor_version, v.vnfm_info) == ("1.0", "1.0", ["Tacker"])
    assert pkg.manifest is None and pkg.meta["Entry-Definitions"] == \
        "Definitions/v2_sample2_top.vnfd.yaml"
    assert pkg.vnfd_files[0] == "Definitions/v2_sample2_top.vnfd.yaml"
    assert "Definitions/v2_sample2_df_simple.yaml" in pkg.vnfd_files
    assert v.flavour_ids == ["simple"]
    f = v.flavour("simple")
    assert f.description == "A simple flavour"
    assert [(d.vdu_id, d.min_instances, d.max_instances) for d in f.vdus] == [
        ("VDU1", 1, 3), ("VDU2", 1, 1)]
    vdu1 = f.vdu("VDU1")
    assert vdu1.virtual_compute.model_dump() == {
        "num_vcpus": 1, "memory_mb": 512.0, "local_disk_gb": 3.0, "flavor_hint": "m1.tiny"}
    assert vdu1.sw_image.name == "cirros-0.5.2-x86_64-disk" and vdu1.sw_image.file is None
    assert (vdu1.sw_image.min_ram_mb, vdu1.sw_image.size_gb) == (256.0, 12.0)
    assert [(c.cpd_id, c.order, c.int_virtual_link_id) for c in vdu1.cps] == [
        ("VDU1_CP1", 4, "internalVL3")]
    assert [(vl.vl_id, vl.cidr, vl.ip_version) for vl in f.virtual_links] == [
        ("internalVL3", "192.168.5.0/24", "ipv4")]
    assert f.ext_cps == []  # no requirement mapping in substitution_mappings
    (aspect,) = f.scaling_aspects
    assert (aspect.aspect_id, aspect.max_scale_level, aspect.step_deltas, aspect.vdu_deltas) == (
        "VDU1_scale", 2, ["delta_1"], {"delta_1": {"VDU1": 1}})
    assert [lv.level_id for lv in f.instantiation_levels] == [
        "instantiation_level_1", "instantiation_level_2"]
    assert f.default_instantiation_level_id == "instantiation_level_1"
    assert f.instances_for_level(None) == {"VDU1": 1, "VDU2": 1}
    assert f.instances_for_level("instantiation_level_2") == {"VDU1": 3, "VDU2": 1}
    assert [(r.kind, r.scope, r.vdu_ids) for r in f.affinity_rules] == [
        ("affinity", "nfvi_node", ["VDU1", "VDU2"])]
    ops = {o.name: o for o in v.lcm_operations}
    assert set(ops) == {"instantiate_start", "instantiate_end", "terminate_start",
                        "terminate_end", "change_external_connectivity_start",
                        "modify_information_start"}
    assert ops["instantiate_start"].artifact_file == "Scripts/sample_script.py"
    # the dropped LCM script is reported, not fatal (as in Tacker)
    assert any("Scripts/sample_script.py" in w for w in pkg.warnings)


@needs_samples
def test_tacker_requests_match_the_parsed_vnfd():
    v = load_vnf_package(sample(BASIC)).vnfd
    req = lambda name: json.loads(sample(f"tacker/basic_lcms_min/requests/{name}.json"))  # noqa
    assert req("create_req")["vnfdId"] == v.vnfd_id
    f = v.flavour(req("instantiate_req")["flavourId"])
    assert req("scaleout_req")["aspectId"] in {a.aspect_id for a in f.scaling_aspects}


@needs_samples
def test_tacker_false_hash_package_is_rejected():
    err = raises_any(load_vnf_package, sample(FALSE_HASH + ".zip"))
    assert err.check in ("artifact-missing", "hash-format")
    assert err.file in ("Scripts/install.sh", "Files/images/cirros-0.5.2-x86_64-disk.img")
    assert err.file in str(err)


def raises_any(fn, *args) -> PackageError:
    with pytest.raises(PackageError) as info:
        fn(*args)
    return info.value


@needs_samples
def test_tacker_false_hash_truncated_hash_is_caught_even_with_the_script_present():
    files = sample_tree(FALSE_HASH)
    files["Scripts/install.sh"] = b"#!/bin/sh\necho hello\n"
    err = raises("hash-format", load_vnf_package, pf.zip_files(files))
    assert err.file == "Scripts/install.sh"
    assert "27bbdb25d8f4ed6d07d6f6581b86515e8b2f0059b236ef7b6f50d6674b34f02" in err.detail


@needs_samples
def test_tacker_false_hash_root_manifest_is_checked_too():
    files = sample_tree(FALSE_HASH)
    files["TOSCA-Metadata/TOSCA.meta"] = b"".join(
        line + b"\n" for line in files["TOSCA-Metadata/TOSCA.meta"].splitlines()
        if line.split(b":")[0] in (b"TOSCA-Meta-File-Version", b"CSAR-Version", b"Created-by",
                                   b"Entry-Definitions"))
    err = raises("artifact-missing", load_vnf_package, pf.zip_files(files))
    assert err.file == "Files/images/cirros-0.5.2-x86_64-disk.img"
    assert "manifest.mf" in err.detail


@needs_samples
def test_tacker_helloworld3_vnfd_parses_with_unit_edge_cases():
    files = sample_tree(FALSE_HASH)
    v, used = parse_sol001_vnfd(files, "Definitions/helloworld3_top.vnfd.yaml")
    assert v.vnfd_id == "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177" and used[0].endswith("top.vnfd.yaml")
    f = v.flavour("simple")
    vdu1, vdu2 = f.vdu("VDU1"), f.vdu("VDU2")
    assert (vdu1.min_instances, vdu1.max_instances, vdu2.max_instances) == (1, 1, 3)
    assert vdu1.sw_image.file == "Files/images/cirros-0.5.2-x86_64-disk.img"
    assert vdu1.sw_image.size_gb == 1.75 and vdu1.sw_image.min_disk_gb == 1000 / 1024
    (storage,) = vdu2.storages
    assert (storage.id, storage.size_gb, storage.sw_image.min_ram_mb) == (
        "VirtualStorage", 30.0, 8192.5)
    (ext,) = f.ext_cps
    assert (ext.cpd_id, ext.int_cpd.vdu_id, ext.external_requirement) == (
        "CP1", "VDU1", "virtual_link_external")
    assert next(c for c in vdu1.cps if c.cpd_id == "CP1").vnic_type == "direct-physical"
    (aspect,) = f.scaling_aspects
    assert (aspect.aspect_id, aspect.name, aspect.max_scale_level) == (
        "worker_instance", "worker_instance_aspect", 2)
    assert [lv.level_id for lv in f.instantiation_levels] == [
        "instantiation_level_1", "instantiation_level_2"]
    assert [vl.cidr for vl in f.virtual_links] == ["11.11.0.0/24"]
    # `[]` implementations mean "default LCM, no script"
    assert all(op.implementation is None for op in v.lcm_operations)


@needs_samples
def test_osm_hackfest_vnf_onboards():
    pkg = load_vnf_package(sample("osm/hackfest_basic_vnf.tar.gz"))
    v = pkg.vnfd
    assert pkg.format == "osm-tar" and v.source_format == "sol006"
    assert pkg.vnfd_files == ["hackfest_basic_vnfd.yaml"] and "icons/osm.png" in pkg.files
    assert (v.vnfd_id, v.product_name, v.provider, v.software_version) == (
        "hackfest_basic-vnf", "hackfest_basic-vnf", None, None)
    assert v.descriptor_version == "1.0"  # unquoted float in the YAML
    f = v.flavour("default-df")
    (vdu,) = f.vdus
    assert (vdu.vdu_id, vdu.min_instances, vdu.virtual_compute.num_vcpus) == (
        "hackfest_basic-VM", 1, 1)
    assert vdu.virtual_compute.memory_mb == 1024.0
    assert vdu.sw_image.name == "ubuntu18.04" and vdu.sw_image.image == "ubuntu18.04"
    assert [(s.id, s.size_gb) for s in vdu.storages] == [("hackfest_basic-VM-storage", 10.0)]
    assert [c.cpd_id for c in vdu.cps] == ["vdu-eth0-int"]
    (ext,) = f.ext_cps
    assert (ext.cpd_id, ext.int_cpd.vdu_id, ext.int_cpd.cpd_id) == (
        "vnf-cp0-ext", "hackfest_basic-VM", "vdu-eth0-int")
    assert f.default_instantiation_level_id == "default-instantiation-level"
    assert f.instances_for_level(None) == {"hackfest_basic-VM": 1}
    assert f.scaling_aspects == []


@needs_samples
def test_osm_hackfest_ns_onboards_after_its_vnfd():
    vnfd = load_vnf_package(sample("osm/hackfest_basic_vnf.tar.gz")).vnfd
    pkg = load_nsd(sample("osm/hackfest_basic_ns.tar.gz"))
    n = pkg.nsd
    assert (n.nsd_id, n.name, n.version, n.source_format) == (
        "hackfest_basic-ns", "hackfest_basic-ns", "1.0", "sol006")
    assert n.vnfd_ids == ["hackfest_basic-vnf"] == [vnfd.vnfd_id]
    f = n.flavour("default-df")
    assert [(vl.vl_id, vl.mgmt_network) for vl in f.virtual_links] == [("mgmtnet", True)]
    (prof,) = f.vnf_profiles
    assert (prof.vnf_profile_id, prof.vnfd_id) == ("vnf", "hackfest_basic-vnf")
    (conn,) = prof.virtual_link_connectivity
    assert (conn.ns_vl_id, conn.cpd_ids) == ("mgmtnet", ["vnf-cp0-ext"])
    assert set(conn.cpd_ids) <= {e.cpd_id for e in vnfd.flavour("default-df").ext_cps}


@needs_samples
def test_sol001_annex_a11_nsd():
    nsd, used = parse_sol001_nsd(sample_tree(A11), "example_A.11-MyExampleNs.yaml")
    assert (nsd.nsd_id, nsd.designer, nsd.name, nsd.version, nsd.invariant_id) == (
        "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177", "MyCompany", "ExampleService", "1.0",
        "1111-2222-aaaa-bbbb")
    assert used[0] == "example_A.11-MyExampleNs.yaml"
    assert nsd.vnfd_ids == ["b1bb0ce7-2222-4fa7-95ed-4840d70a1179",
                            "b1bb0ce7-2222-4fa7-95ed-4840d70a1182",
                            "b1bb0ce7-2222-4fa7-95ed-4840d70a1177"]
    assert sorted(f.flavour_id for f in nsd.flavours) == ["big", "small"]
    small = nsd.flavour("small")
    assert [(p.vnf_profile_id, p.min_instances, p.max_instances, p.instantiation_level_id)
            for p in small.vnf_profiles] == [("VNF_1", 2, 6, "level_1"), ("VNF_2", 1, 3, "level_1")]
    assert [vl.vl_id for vl in small.virtual_links] == ["Ns_VL"]
    assert small.vnf_profiles[1].virtual_link_connectivity[0].ns_vl_id == "Ns_VL"
    assert len(nsd.flavour("big").vnf_profiles) == 3


@needs_samples
def test_sol001_annex_a11_nsd_as_an_uploaded_csar():
    files = {"TOSCA-Metadata/TOSCA.meta": pf.tosca_meta("example_A.11-MyExampleNs.yaml"),
             **sample_tree(A11)}
    pkg = load_nsd(pf.zip_files(files), "a11.zip")
    assert pkg.format == "csar" and pkg.nsd.nsd_id == "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"
    assert len(pkg.nsd.vnfd_ids) == 3


@needs_samples
def test_sol001_cloudnet_topology_nsd():
    nsd, _ = parse_sol001_nsd(sample_tree(CLOUDNET), "TopologyNSD.yaml")
    assert (nsd.nsd_id, nsd.designer, nsd.name, nsd.invariant_id) == (
        "NS_ID1", "MyCompany", "My Network Service", "NS_ID2")
    assert nsd.vnfd_ids == ["ID_VNF"]
    assert nsd.pnfd_ids == ["b1bb0ce7-ebca-4fa7-95ed-4840d70a2233"]
    f = nsd.flavour("simple")
    (sap,) = f.saps
    assert (sap.sap_id, sap.ns_vl_id, sap.exposed) == ("SAP", "InternalVirtualLink", True)
    (vl,) = f.virtual_links
    assert (vl.vl_id, vl.layer_protocols, vl.max_bitrate) == (
        "InternalVirtualLink", ["ipv4", "ipv6"], 200000)


@needs_samples
def test_a_vnfd_is_not_an_nsd_and_vice_versa():
    raises("nsd", load_nsd, sample(BASIC))
    raises("vnfd", load_vnf_package, sample("osm/hackfest_basic_ns.tar.gz"))


# =========================================================================== generated


def test_factory_csar_onboards_with_verified_manifest():
    pkg = load_vnf_package(pf.make_vnf_csar("vnfd-123", provider="ACME"))
    v = pkg.vnfd
    assert (v.vnfd_id, v.provider, v.product_name, v.vnfm_info) == (
        "vnfd-123", "ACME", "MAGI Test VNF", ["MAGI"])
    assert pkg.manifest is not None and pkg.manifest.path == "magi_vnf.mf"
    assert {e.source for e in pkg.manifest.entries} >= {pf.IMAGE_PATH, pf.SCRIPT_PATH, pf.TOP}
    assert pkg.manifest.metadata["vnf_provider_id"] == "ACME"
    assert pkg.warnings == []
    f = v.flavour("simple")
    assert [(d.vdu_id, d.min_instances, d.max_instances) for d in f.vdus] == [
        ("VDU1", 1, 3), ("VDU2", 1, 1)]
    assert f.vdu("VDU1").sw_image.file == pf.IMAGE_PATH
    assert [vl.vl_id for vl in f.virtual_links] == ["internalVL"]
    assert [(e.cpd_id, e.int_cpd.vdu_id) for e in f.ext_cps] == [("VDU1_CP_EXT", "VDU1")]
    assert f.instances_for_level("instantiation_level_2") == {"VDU1": 3, "VDU2": 1}
    assert [(o.name, o.artifact_file) for o in v.lcm_operations] == [
        ("instantiate_start", pf.SCRIPT_PATH)]


def test_factory_csar_without_manifest():
    pkg = load_vnf_package(pf.make_vnf_csar(with_manifest=False))
    assert pkg.manifest is None and pkg.vnfd.vnfd_id == pf.DEFAULT_VNFD_ID


def test_root_yaml_csar_without_tosca_metadata():
    docs = pf.vnfd_documents("root-yaml-vnfd")
    single = yaml.safe_load(docs["Definitions/magi_vnfd_df_simple.yaml"].decode()
                            .replace("../Files", "Files").replace("../Scripts", "Scripts"))
    single["imports"] = pf.ETSI_IMPORTS
    single["metadata"] = {"template_name": "magi-test", "template_author": "MAGI",
                          "template_version": "1.0"}
    single["node_types"] = yaml.safe_load(docs["Definitions/magi_vnfd_types.yaml"])["node_types"]
    body = {"vnfd.yaml": pf._yaml(single), pf.IMAGE_PATH: pf.IMAGE_BYTES,
            pf.SCRIPT_PATH: pf.SCRIPT_BYTES}
    files = {**body, "vnfd.mf": pf.make_manifest(body, algorithm="SHA-512")}
    pkg = load_vnf_package(pf.zip_files(files))
    assert pkg.vnfd.vnfd_id == "root-yaml-vnfd" and pkg.manifest.path == "vnfd.mf"
    assert pkg.meta["template_name"] == "magi-test" and pkg.vnfd_files == ["vnfd.yaml"]
    assert pkg.vnfd.flavour("simple").instances_for_level(None) == {"VDU1": 1, "VDU2": 1}


def test_factory_nsd_yaml_and_csar():
    for data, fmt in ((pf.make_nsd_yaml("nsd-1", "vnfd-9"), "yaml"),
                      (pf.make_nsd_csar("nsd-1", "vnfd-9"), "csar")):
        pkg = load_nsd(data)
        assert pkg.format == fmt and pkg.nsd.nsd_id == "nsd-1"
        assert pkg.nsd.vnfd_ids == ["vnfd-9"]
        (prof,) = pkg.nsd.flavours[0].vnf_profiles
        assert (prof.flavour_id, prof.max_instances) == ("simple", 2)
        assert prof.virtual_link_connectivity[0].ns_vl_id == "ns_vl"
        assert pkg.nsd.flavours[0].virtual_links[0].cidr == "10.20.0.0/24"


def test_osm_package_with_checksums():
    pkg = load_vnf_package(pf.make_osm_vnf_package("my-vnf"))
    assert pkg.vnfd.vnfd_id == "my-vnf" and pkg.vnfd.provider == "MAGI"
    vdu = pkg.vnfd.flavours[0].vdus[0]
    assert (vdu.max_instances, vdu.virtual_compute.memory_mb) == (2, 2048.0)
    assert read_osm_package(pf.make_osm_vnf_package("my-vnf")).checksums


def test_osm_checksum_mismatch_is_rejected():
    good = read_osm_package(pf.make_osm_vnf_package("v"))
    files = dict(good.files)
    files["v_vnfd.yaml"] += b"\n# tampered\n"
    err = raises("manifest-hash", read_osm_package, pf.tar_gz_files("v", files))
    assert err.file == "v_vnfd.yaml" and "checksums.txt" in err.detail


def test_bare_yaml_vnfd_sol006():
    pkg = read_osm_package(pf.make_osm_vnf_package("bare"))
    loaded = load_vnf_package(pkg.files["bare_vnfd.yaml"], "bare_vnfd.yaml")
    assert loaded.format == "yaml" and loaded.vnfd.vnfd_id == "bare"


@pytest.mark.parametrize("text, mb", [("512 MB", 512.0), ("1 GB", 1024.0),
                                      ("1.75 GiB", 1792.0), ("8192.5 MiB", 8192.5),
                                      ("1000 mb", 1000.0), ("2048 KiB", 2.0)])
def test_scalar_size_units(text, mb):
    assert to_mb(text) == mb
    assert to_gb(text) == mb / 1024


def test_scalar_units_edge_cases():
    assert size_to_bytes("1 GB", strict=True) == 10**9
    assert to_gb(10, default_unit="GB") == 10.0
    assert to_seconds("1 m") == 60.0
    for bad in ("12", "1 parsec", "-1 GB", True):
        with pytest.raises(ValueError):
            to_mb(bad)


def test_model_lookups_raise_descriptor_errors():
    v = load_vnf_package(pf.make_vnf_csar()).vnfd
    with pytest.raises(DescriptorError) as info:
        v.flavour("gold")
    assert "gold" in info.value.detail and "simple" in info.value.detail
    with pytest.raises(DescriptorError):
        v.flavour("simple").instances_for_level("nope")


def test_detect_format():
    assert detect_format(pf.make_vnf_csar()) == "csar"
    assert detect_format(pf.make_osm_vnf_package()) == "osm-tar"
    assert detect_format(pf.make_nsd_yaml()) == "yaml"
    assert detect_format(b"garbage", "x.zip") == "csar"


# =========================================================================== safety


def _zip_raw(entries: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = mode << 16
            zf.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _edit(files: dict[str, bytes], path: str, old: str, new: str) -> None:
    text = files[path].decode()
    assert old in text, (old, path)
    files[path] = text.replace(old, new).encode()


DF = "Definitions/magi_vnfd_df_simple.yaml"
TYPES = "Definitions/magi_vnfd_types.yaml"
META = "TOSCA-Metadata/TOSCA.meta"


def test_not_a_zip():
    assert raises(Check.ZIP, read_csar, b"hello world").check == "zip"  # StrEnum == str
    raises("zip", load_vnf_package, b"PK\x03\x04 truncated garbage")


@pytest.mark.parametrize("name", ["../evil.yaml", "/etc/passwd", "Definitions\\x.yaml",
                                  "a/../../b.yaml", "C:/x.yaml", "ok/../../../x"])
def test_zip_slip(name):
    data = _zip_raw([(META, pf.tosca_meta(pf.TOP), 0o100644), (name, b"x", 0o100644)])
    raises("zip-slip", load_vnf_package, data)


def test_zip_symlink_entry():
    files = pf.vnf_csar_files(with_manifest=False)
    entries = [(p, d, 0o100644) for p, d in files.items()]
    entries.append(("Files/link", b"/etc/passwd", stat.S_IFLNK | 0o777))
    err = raises("symlink", load_vnf_package, _zip_raw(entries))
    assert err.file == "Files/link"


def test_zip_compression_bomb():
    bomb = pf.zip_files({**pf.vnf_csar_files(with_manifest=False),
                         "Files/zeros.bin": bytes(30 * 2**20)})
    raises("zip-bomb", load_vnf_package, bomb)


def test_oversize_and_too_many_files():
    data = pf.make_vnf_csar()
    raises("size-limit", read_csar, data, max_total_bytes=4096)
    raises("size-limit", load_vnf_package, data, limits=Limits(max_total_bytes=4096))
    raises("file-count", read_csar, data, max_files=3)


def test_tosca_meta_problems():
    files = pf.vnf_csar_files(with_manifest=False)
    files[META] = b"TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\n"
    raises("tosca-meta", load_vnf_package, pf.zip_files(files))
    files[META] = pf.tosca_meta("Definitions/absent.yaml")
    raises("tosca-meta", load_vnf_package, pf.zip_files(files))
    files[META] = b"this line has no colon\n"
    raises("tosca-meta", load_vnf_package, pf.zip_files(files))


def test_malformed_yaml():
    files = pf.vnf_csar_files(with_manifest=False)
    files[DF] = b"tosca_definitions_version: [unclosed\n  nodes: {"
    err = raises("yaml", load_vnf_package, pf.zip_files(files))
    assert err.file == DF
    raises("yaml", load_vnf_package, b"a: [b", "vnfd.yaml")


BILLION_LAUGHS = b"""
tosca_definitions_version: tosca_simple_yaml_1_2
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def test_yaml_alias_bomb():
    raises("yaml-bomb", load_vnf_package, BILLION_LAUGHS, "vnfd.yaml")
    files = pf.vnf_csar_files(with_manifest=False)
    files[DF] = BILLION_LAUGHS
    err = raises("yaml-bomb", load_vnf_package, pf.zip_files(files))
    assert err.file == DF


def test_yaml_recursive_alias_and_size_limit():
    raises("yaml-bomb", load_yaml, b"a: &x [1, *x]", "x.yaml")
    raises("yaml-bomb", load_yaml, b"a: 1\n" * 10, "x.yaml", max_bytes=20)
    assert load_yaml(b"a: &x [1]\nb: *x\n", "ok.yaml") == {"a": [1], "b": [1]}


def test_recursive_import():
    files = pf.vnf_csar_files(with_manifest=False)
    # types -> df -> types
    files[TYPES] = pf._yaml({**yaml.safe_load(files[TYPES]),
                             "imports": [*pf.ETSI_IMPORTS, "magi_vnfd_df_simple.yaml"]})
    err = raises("import-cycle", load_vnf_package, pf.zip_files(files))
    assert "magi_vnfd_df_simple.yaml" in err.detail and "->" in err.detail


@pytest.mark.parametrize("target", ["absent.yaml", "../../outside.yaml",
                                    "https://example.com/evil_types.yaml"])
def test_bad_imports(target):
    files = pf.vnf_csar_files(with_manifest=False)
    _edit(files, pf.TOP, "- magi_vnfd_types.yaml", f"- {target}\n- magi_vnfd_types.yaml")
    err = raises("import", load_vnf_package, pf.zip_files(files))
    assert err.file == pf.TOP


def test_missing_node_reference():
    files = pf.vnf_csar_files(with_manifest=False)
    _edit(files, DF, "virtual_link: internalVL", "virtual_link: noSuchVL")
    with pytest.raises(DescriptorError) as info:
        load_vnf_package(pf.zip_files(files))
    assert info.value.check == "node-reference" and "noSuchVL" in info.value.detail
    assert info.value.file == DF


def test_policy_naming_unknown_aspect():
    files = pf.vnf_csar_files(with_manifest=False)
    _edit(files, DF, "aspect: VDU1_scale", "aspect: nope")
    raises("vnfd", load_vnf_package, pf.zip_files(files))


def test_value_outside_the_types_valid_values():
    files = pf.vnf_csar_files(with_manifest=False)
    _edit(files, pf.TOP, f"descriptor_id: {pf.DEFAULT_VNFD_ID}", "descriptor_id: other")
    raises("tosca", load_vnf_package, pf.zip_files(files))


def test_manifest_wrong_hash():
    files = pf.vnf_csar_files()
    files[pf.SCRIPT_PATH] = b"#!/bin/sh\nrm -rf /\n"
    err = raises("manifest-hash", load_vnf_package, pf.zip_files(files))
    assert err.file == pf.SCRIPT_PATH and "magi_vnf.mf" in err.detail


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-1", "CRC32"])
def test_manifest_unknown_algorithm(algorithm):
    files = pf.vnf_csar_files()
    _edit(files, "magi_vnf.mf", "Algorithm: SHA-256", f"Algorithm: {algorithm}")
    raises("hash-algorithm", load_vnf_package, pf.zip_files(files))


def test_manifest_missing_file():
    files = pf.vnf_csar_files()
    del files[pf.SCRIPT_PATH]
    err = raises("artifact-missing", load_vnf_package, pf.zip_files(files))
    assert err.file == pf.SCRIPT_PATH


def test_manifest_malformed_hash():
    files = pf.vnf_csar_files()
    digest = hashlib.sha256(pf.IMAGE_BYTES).hexdigest()
    _edit(files, "magi_vnf.mf", f"Hash: {digest}", f"Hash: {digest[:-1]}")
    err = raises("hash-format", load_vnf_package, pf.zip_files(files))
    assert err.file == pf.IMAGE_PATH


def test_manifest_named_by_meta_must_exist():
    files = pf.vnf_csar_files()
    del files["magi_vnf.mf"]
    raises("artifact-missing", load_vnf_package, pf.zip_files(files))


def test_tosca_meta_artifact_block_is_verified():
    files = pf.vnf_csar_files(with_manifest=False)
    good = hashlib.sha256(pf.SCRIPT_BYTES).hexdigest()
    block = f"\nName: {pf.SCRIPT_PATH}\nContent-Type: text/x-sh\nAlgorithm: SHA-256\nHash: "
    files[META] += (block + good + "\n").encode()
    assert load_vnf_package(pf.zip_files(files)).artifact_entries[0].name == pf.SCRIPT_PATH
    files[META] = files[META].replace(good.encode(), b"0" * 64)
    err = raises("manifest-hash", load_vnf_package, pf.zip_files(files))
    assert err.file == pf.SCRIPT_PATH and "TOSCA.meta" in err.detail


def test_missing_sw_image_rejected_missing_script_only_warns():
    files = pf.vnf_csar_files(with_manifest=False)
    del files[pf.SCRIPT_PATH]
    assert load_vnf_package(pf.zip_files(files)).warnings
    del files[pf.IMAGE_PATH]
    err = raises("artifact-missing", load_vnf_package, pf.zip_files(files))
    assert err.file == pf.IMAGE_PATH


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _ti(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("member, check", [
    ((_ti("pkg/../../etc/x"), b"x"), "zip-slip"),
    ((_ti("/pkg/abs"), b"x"), "zip-slip"),
    ((_ti("pkg/link", tarfile.SYMTYPE, "/etc/passwd"), None), "symlink"),
    ((_ti("pkg/hard", tarfile.LNKTYPE, "pkg/vnfd.yaml"), None), "symlink"),
    ((_ti("pkg/dev", tarfile.CHRTYPE), None), "special-file"),
    ((_ti("other/vnfd.yaml"), b"x"), "tar"),
    ((_ti("rootfile.yaml"), b"x"), "tar"),
])
def test_osm_tar_safety(member, check):
    data = _tar([(_ti("pkg/vnfd.yaml"), b"vnfd: {}\n"), member])
    raises(check, load_vnf_package, data)


def test_osm_gzip_bomb_and_garbage():
    raises("zip-bomb", read_osm_package, pf.tar_gz_files("pkg", {"z.bin": bytes(30 * 2**20)}))
    raises("tar", read_osm_package, b"\x1f\x8b\x08\x00garbage")


def test_wrong_shapes_become_descriptor_errors():
    files = pf.vnf_csar_files(with_manifest=False)
    doc = yaml.safe_load(files[DF])
    doc["topology_template"]["node_templates"]["VDU1"]["capabilities"] = ["not", "a", "map"]
    files[DF] = pf._yaml(doc)
    err = raises("vnfd", load_vnf_package, pf.zip_files(files))
    assert isinstance(err, DescriptorError) and err.file == DF


def _shapes(doc, pre=()):
    yield pre
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) \
        else ()
    for k, v in items:
        yield from _shapes(v, (*pre, k))


def test_mutated_descriptors_fail_only_with_package_errors():
    # a descriptor of any shape must end in success or PackageError, never a crash
    import random
    rng = random.Random(7)
    junk = [None, 1, "x", [], {}, [1], {"a": 1}, True, 1.5, {"get_input": "nope"}, "5 GB"]
    base = pf.vnf_csar_files(with_manifest=False)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for _ in range(100):
        files = dict(base)
        key = rng.choice([DF, pf.TOP, TYPES])
        doc = yaml.load(files[key], Loader=loader)
        for path in rng.sample([p for p in _shapes(doc) if p], 2):
            parent = doc
            try:
                for k in path[:-1]:
                    parent = parent[k]
                parent[path[-1]] = rng.choice(junk)
            except (KeyError, IndexError, TypeError):
                pass  # path vanished under an earlier mutation
        files[key] = pf._yaml(doc)
        try:
            load_vnf_package(pf.zip_files(files))
        except PackageError:
            pass


def test_corrupted_archives_fail_only_with_package_errors():
    import random
    rng = random.Random(11)
    for src in (pf.make_vnf_csar(), pf.make_osm_vnf_package()):
        for _ in range(150):
            data = bytearray(src)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                load_vnf_package(bytes(data))
            except PackageError:
                pass


# --------------------------------------------------------------------------- large members


def test_a_large_image_is_never_read_into_memory_when_loading_from_a_file(tmp_path):
    """A CSAR carrying a 48 MiB image, loaded from its path: the image stays in the archive (the
    lazy mapping never materializes it), yet its size and hash are right and it streams back."""
    from magi.descriptors import LAZY_MEMBER_BYTES, PackageFiles

    size = 48 * 2**20
    path = tmp_path / "big.zip"
    image_sha, package_sha = pf.write_vnf_csar_with_image(path, size)
    with load_vnf_package(path) as pkg:
        assert isinstance(pkg.files, PackageFiles) and pkg.files.is_lazy(pf.IMAGE_PATH)
        assert pkg.member_size(pf.IMAGE_PATH) == size > LAZY_MEMBER_BYTES
        assert pkg.hash_member(pf.IMAGE_PATH) == image_sha  # the scan's digest, verified by the manifest
        assert pkg.checksum_sha256 == package_sha
        sw = pkg.vnfd.flavours[0].vdus[0].sw_image
        assert sw.checksum.hash == image_sha
        assert pkg.files.materialized == []  # parsing and verifying never built bytes of the image
        with pkg.open(pf.IMAGE_PATH) as fh:
            streamed = hashlib.sha256()
            while chunk := fh.read(2**20):
                streamed.update(chunk)
        assert streamed.hexdigest() == image_sha and pkg.files.materialized == []
        assert pkg.files.is_lazy(pf.SCRIPT_PATH) is False and pkg.files[pf.SCRIPT_PATH] == pf.SCRIPT_BYTES
    # a seekable file (the NFVO's spooled upload) and the content store's trusted re-read
    with open(path, "rb") as fh, load_vnf_package(fh, trusted=True, checksum_sha256=package_sha) as pkg:
        assert pkg.files.is_lazy(pf.IMAGE_PATH) and pkg.member_size(pf.IMAGE_PATH) == size
        assert pkg.files.materialized == []


def test_a_large_member_with_a_wrong_hash_fails_the_manifest_check():
    big = os.urandom(5 * 2**20)  # over LAZY_MEMBER_BYTES, incompressible (no zip-bomb ratio)
    files = pf.vnf_csar_files(extra_files={"Files/big.bin": big})
    right = hashlib.sha256(big).hexdigest()
    assert load_vnf_package(pf.zip_files(files)).hash_member("Files/big.bin") == right
    files["magi_vnf.mf"] = files["magi_vnf.mf"].replace(right.encode(), b"0" * 64)
    with pytest.raises(PackageError) as err:
        load_vnf_package(pf.zip_files(files))
    assert err.value.check == Check.MANIFEST_HASH and err.value.file == "Files/big.bin"
    # the SHA-512 of a lazy member is streamed too
    files = pf.vnf_csar_files(extra_files={"Files/big.bin": big})
    body = {p: d for p, d in files.items() if p not in ("TOSCA-Metadata/TOSCA.meta", "magi_vnf.mf")}
    files["magi_vnf.mf"] = pf.make_manifest(body, algorithm="SHA-512")
    pkg = load_vnf_package(pf.zip_files(files))
    assert pkg.files.is_lazy("Files/big.bin") and pkg.files.materialized == []


def test_a_large_member_of_an_osm_package_stays_in_the_archive(tmp_path):
    big = os.urandom(5 * 2**20)
    vnfd_pkg = tarfile.open(fileobj=io.BytesIO(pf.make_osm_vnf_package(with_checksums=False)))
    files = {m.name.split("/", 1)[1]: vnfd_pkg.extractfile(m).read() for m in vnfd_pkg if m.isfile()}
    files["images/disk.qcow2"] = big
    files["checksums.txt"] = "".join(f"{hashlib.md5(d).hexdigest()}  {p}\n" for p, d in files.items()).encode()
    path = tmp_path / "osm.tar.gz"
    path.write_bytes(pf.tar_gz_files("magi_test-vnf", files))
    with load_vnf_package(path) as pkg:
        assert pkg.format == "osm-tar" and pkg.files.is_lazy("images/disk.qcow2")
        assert pkg.member_size("images/disk.qcow2") == len(big)
        assert pkg.hash_member("images/disk.qcow2") == hashlib.sha256(big).hexdigest()
        assert pkg.files.materialized == []
    files["checksums.txt"] = files["checksums.txt"].replace(hashlib.md5(big).hexdigest().encode(), b"0" * 32)
    with pytest.raises(PackageError) as err:
        load_vnf_package(pf.tar_gz_files("magi_test-vnf", files))
    assert err.value.check == Check.MANIFEST_HASH
