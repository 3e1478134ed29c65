"""MAGI package and descriptor layer: onboard VNF packages and NSDs.

`load_vnf_package` / `load_nsd` take the upload (bytes, a path or a seekable file), tell a SOL004 CSAR zip from an OSM
tar.gz from a bare YAML file, check archive safety and integrity, parse SOL001 or SOL006, and
return the normalized model. Anything wrong raises `PackageError` (check code + file).

Members over LAZY_MEMBER_BYTES (VM images) are never held in memory: `files[path]` reads one
on demand, `member_size`/`hash_member`/`open` stream it. Close a package loaded from a path or
file (`pkg.close()` or `with`) to release the archive.
"""
from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from ._archive import (LAZY_MEMBER_BYTES, Limits, PackageFiles, Source, hash_member, is_url,
                       member_size, open_member, open_source, source_head, source_sha256)
from ._yaml import MAX_YAML_BYTES, load_member
from .csar import ArtifactEntry, Csar, Manifest, ManifestEntry, read_csar
from .errors import Check, DescriptorError, PackageError
from .model import DeploymentFlavour, Nsd, Vdu, Vnfd, size_to_bytes, to_gb, to_mb
from .osm import OsmPackage, read_osm_package
from .signature import SignaturePolicy, SignatureResult, verify_signatures
from .sol001 import SW_IMAGE_ARTIFACT, parse_sol001_nsd, parse_sol001_vnfd
from .sol006 import nsd_roots, parse_sol006_nsd, parse_sol006_vnfd, vnfd_root

__all__ = [
    "ArtifactEntry", "Check", "Csar", "DeploymentFlavour", "DescriptorError", "LAZY_MEMBER_BYTES",
    "Limits", "Manifest", "ManifestEntry", "NsdPackage", "Nsd", "OsmPackage", "PackageError",
    "PackageFiles", "PackageFormat", "SignaturePolicy", "SignatureResult", "Vdu", "VnfPackage", "Vnfd", "detect_format", "load_nsd",
    "load_vnf_package", "read_csar", "read_osm_package", "size_to_bytes", "to_gb", "to_mb",
]

PackageFormat = Literal["csar", "osm-tar", "yaml"]


@dataclass
class _Loaded:
    """What every package kind yields before the descriptor is parsed."""

    format: PackageFormat
    files: Mapping[str, bytes]
    candidates: list[str]  # descriptor files to try, best first
    manifest: Manifest | None = None
    meta: dict[str, str] = field(default_factory=dict)
    artifact_entries: list[ArtifactEntry] = field(default_factory=list)


class _Files:
    """Streaming access to a loaded package's files (large members never read whole)."""

    files: Mapping[str, bytes]

    def member_size(self, path: str) -> int:
        return member_size(self.files, path)

    def hash_member(self, path: str, algorithm: str = "sha256") -> str:
        """Hex digest of one file; `algorithm` is a hashlib name (sha256, sha512, md5…)."""
        return hash_member(self.files, path, algorithm.replace("-", "").lower())

    def open(self, path: str) -> IO[bytes]:
        return open_member(self.files, path)

    def close(self) -> None:
        if isinstance(self.files, PackageFiles):
            self.files.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass
class VnfPackage(_Files):
    vnfd: Vnfd
    files: Mapping[str, bytes]
    manifest: Manifest | None
    meta: dict[str, str]
    vnfd_files: list[str]  # descriptor YAML paths, entry first
    checksum_sha256: str  # of the uploaded bytes
    format: PackageFormat
    artifact_entries: list[ArtifactEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    signature: SignatureResult | None = None  # None: not asked for (`signatures=None`)


@dataclass
class NsdPackage(_Files):
    nsd: Nsd
    files: Mapping[str, bytes]
    manifest: Manifest | None
    meta: dict[str, str]
    nsd_files: list[str]
    checksum_sha256: str
    format: PackageFormat
    warnings: list[str] = field(default_factory=list)


def detect_format(data: Source, filename_hint: str | None = None) -> PackageFormat:
    """By content first (magic numbers), by file name only when the content is ambiguous."""
    data = source_head(data, 512)
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "csar"
    if data[:2] == b"\x1f\x8b" or data[257:262] == b"ustar":
        return "osm-tar"
    name = (filename_hint or "").lower()
    if name.endswith((".zip", ".csar")):
        return "csar"
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "osm-tar"
    return "yaml"


def _open(data: Source, filename_hint: str | None, limits: Limits | None,
          default_name: str, trusted: bool = False) -> _Loaded:
    fmt = detect_format(data, filename_hint)
    if fmt == "csar":
        csar: Csar = read_csar(data, limits=limits, verify=not trusted, scan=not trusted)
        return _Loaded(fmt, csar.files, [csar.entry_definitions], csar.manifest, csar.meta,
                       csar.artifact_entries)
    if fmt == "osm-tar":
        pkg = read_osm_package(data, limits=limits, verify=not trusted)
        return _Loaded(fmt, pkg.files, pkg.descriptor_paths)
    name = posixpath.basename((filename_hint or "").replace("\\", "/")) or default_name
    if not name.lower().endswith((".yaml", ".yml")):
        name = default_name
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) > (limits or Limits()).max_total_bytes:
            raise PackageError(Check.SIZE_LIMIT, "descriptor exceeds the size limit")
        return _Loaded(fmt, {name: bytes(data)}, [name])
    fh, size, owned = open_source(data)
    try:
        if size > (limits or Limits()).max_total_bytes:
            raise PackageError(Check.SIZE_LIMIT, "descriptor exceeds the size limit")
        if size > MAX_YAML_BYTES:  # refused by the YAML loader anyway: do not read it
            raise PackageError(Check.YAML_BOMB, f"YAML file of {size} bytes exceeds the "
                               f"{MAX_YAML_BYTES}-byte limit", file=name)
        return _Loaded(fmt, {name: fh.read()}, [name])
    finally:
        if owned:
            fh.close()
        else:
            fh.seek(0)


def _descriptor_kind(doc: Any) -> str | None:
    if isinstance(doc, dict) and "tosca_definitions_version" in doc:
        return "sol001"
    if vnfd_root(doc) is not None:
        return "sol006-vnfd"
    if nsd_roots(doc) is not None:
        return "sol006-nsd"
    return None


def _pick(loaded: _Loaded, wanted: tuple[str, ...], what: str,
          check: Check) -> tuple[str, Any, str]:
    """The one candidate file holding a descriptor of a wanted kind."""
    hits: list[tuple[str, Any, str]] = []
    for path in loaded.candidates:
        doc = load_member(loaded.files, path)
        kind = _descriptor_kind(doc)
        if kind in wanted:
            hits.append((path, doc, kind))
        elif loaded.format != "osm-tar":  # an OSM folder may hold other YAML (e.g. cloud-init)
            raise DescriptorError(check, f"not a {what} (neither SOL001 TOSCA nor a SOL006 "
                                  f"{what.lower()} root)", file=path)
    if len(hits) != 1:
        raise DescriptorError(check, f"expected one {what} in the package, found "
                              f"{[h[0] for h in hits] or 'none'}")
    return hits[0]


def load_vnf_package(data: Source, filename_hint: str | None = None, *,
                     limits: Limits | None = None, trusted: bool = False,
                     checksum_sha256: str | None = None,
                     signatures: SignaturePolicy | None = None) -> VnfPackage:
    """`data`: the package's bytes, a path (`os.PathLike`) or a seekable binary file (left open,
    the caller's). `trusted`: content checked at onboarding already (the NFVO's stored packages):
    hashes are not verified again and large members not read through. `checksum_sha256`: the
    caller's digest of `data`, sparing a pass over it. `signatures`: check SOL004 CMS
    signatures under that policy (None: not checked; signatures stay plain files)."""
    loaded = _open(data, filename_hint, limits, "vnfd.yaml", trusted)
    try:
        signature = _check_signatures(loaded, signatures) if signatures else None
        path, doc, kind = _pick(loaded, ("sol001", "sol006-vnfd"), "VNFD", Check.VNFD)
        if kind == "sol001":
            vnfd, vnfd_files = parse_sol001_vnfd(loaded.files, path)
        else:
            vnfd, vnfd_files = parse_sol006_vnfd(doc, path), [path]
        warnings = _check_artifacts(vnfd, loaded.files)
        checksum = checksum_sha256 or source_sha256(data)
    except BaseException:
        _close(loaded)
        raise
    return VnfPackage(vnfd=vnfd, files=loaded.files, manifest=loaded.manifest, meta=loaded.meta,
                      vnfd_files=vnfd_files, checksum_sha256=checksum,
                      format=loaded.format, artifact_entries=loaded.artifact_entries,
                      warnings=warnings, signature=signature)


def _check_signatures(loaded: _Loaded, policy: SignaturePolicy) -> SignatureResult:
    if loaded.format != "csar":  # OSM packages and bare YAML have no SOL004 signature
        return verify_signatures(loaded.files, {}, None, [], policy)
    mf = loaded.manifest
    return verify_signatures(loaded.files, loaded.meta, mf.path if mf else None,
                             [(e.source, e.signature, e.certificate) for e in (mf.entries if mf
                                                                                else [])], policy)


def _close(loaded: _Loaded) -> None:
    if isinstance(loaded.files, PackageFiles):
        loaded.files.close()


def _check_artifacts(vnfd: Vnfd, files: Mapping[str, bytes]) -> list[str]:
    """A VM image the VNFD ships must be in the package; a missing LCM script only warns
    (Tacker and tosca-parser accept that too, and the default LCM needs no script)."""
    warnings: list[str] = []
    for art in vnfd.artifacts:
        if is_url(art.file) or art.file in files:
            continue
        if art.artifact_type == SW_IMAGE_ARTIFACT:
            raise PackageError(Check.ARTIFACT_MISSING, f"SwImage artifact of node {art.node!r} "
                               f"({art.file!r}) is not in the package", file=art.file)
        warnings.append(f"artifact {art.name!r} of node {art.node!r} ({art.file}) is not in "
                        "the package")
    for flavour in vnfd.flavours:
        for image in [v.sw_image for v in flavour.vdus] + [
                s.sw_image for v in flavour.vdus for s in v.storages]:
            if image and image.file and not is_url(image.file) and image.file not in files:
                raise PackageError(Check.ARTIFACT_MISSING, f"image {image.name!r} "
                                   f"({image.file!r}) is not in the package", file=image.file)
    return warnings


def load_nsd(data: Source, filename_hint: str | None = None, *,
             limits: Limits | None = None) -> NsdPackage:
    loaded = _open(data, filename_hint, limits, "nsd.yaml")
    try:
        path, doc, kind = _pick(loaded, ("sol001", "sol006-nsd"), "NSD", Check.NSD)
        if kind == "sol001":
            nsd, nsd_files = parse_sol001_nsd(loaded.files, path)
        else:
            nsd, nsd_files = parse_sol006_nsd(doc, path), [path]
        checksum = source_sha256(data)
    except BaseException:
        _close(loaded)
        raise
    return NsdPackage(nsd=nsd, files=loaded.files, manifest=loaded.manifest, meta=loaded.meta,
                      nsd_files=nsd_files, checksum_sha256=checksum, format=loaded.format)
