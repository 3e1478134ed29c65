"""MAGI package and descriptor layer: onboard VNF packages and NSDs.

`load_vnf_package` / `load_nsd` take the uploaded bytes, tell a SOL004 CSAR zip from an OSM
tar.gz from a bare YAML file, check archive safety and integrity, parse SOL001 or SOL006, and
return the normalized model. Anything wrong raises `PackageError` (check code + file).
"""
from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field
from typing import Any, Literal

from ._archive import Limits, is_url
from ._yaml import load_yaml
from .csar import ArtifactEntry, Csar, Manifest, ManifestEntry, read_csar
from .errors import Check, DescriptorError, PackageError
from .model import DeploymentFlavour, Nsd, Vdu, Vnfd, size_to_bytes, to_gb, to_mb
from .osm import OsmPackage, read_osm_package
from .sol001 import SW_IMAGE_ARTIFACT, parse_sol001_nsd, parse_sol001_vnfd
from .sol006 import nsd_roots, parse_sol006_nsd, parse_sol006_vnfd, vnfd_root

__all__ = [
    "ArtifactEntry", "Check", "Csar", "DeploymentFlavour", "DescriptorError", "Limits",
    "Manifest", "ManifestEntry", "NsdPackage", "Nsd", "OsmPackage", "PackageError",
    "PackageFormat", "Vdu", "VnfPackage", "Vnfd", "detect_format", "load_nsd",
    "load_vnf_package", "read_csar", "read_osm_package", "size_to_bytes", "to_gb", "to_mb",
]

PackageFormat = Literal["csar", "osm-tar", "yaml"]


@dataclass
class _Loaded:
    """What every package kind yields before the descriptor is parsed."""

    format: PackageFormat
    files: dict[str, bytes]
    candidates: list[str]  # descriptor files to try, best first
    manifest: Manifest | None = None
    meta: dict[str, str] = field(default_factory=dict)
    artifact_entries: list[ArtifactEntry] = field(default_factory=list)


@dataclass
class VnfPackage:
    vnfd: Vnfd
    files: dict[str, bytes]
    manifest: Manifest | None
    meta: dict[str, str]
    vnfd_files: list[str]  # descriptor YAML paths, entry first
    checksum_sha256: str  # of the uploaded bytes
    format: PackageFormat
    artifact_entries: list[ArtifactEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class NsdPackage:
    nsd: Nsd
    files: dict[str, bytes]
    manifest: Manifest | None
    meta: dict[str, str]
    nsd_files: list[str]
    checksum_sha256: str
    format: PackageFormat
    warnings: list[str] = field(default_factory=list)


def detect_format(data: bytes, filename_hint: str | None = None) -> PackageFormat:
    """By content first (magic numbers), by file name only when the content is ambiguous."""
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


def _open(data: bytes, filename_hint: str | None, limits: Limits | None,
          default_name: str) -> _Loaded:
    fmt = detect_format(data, filename_hint)
    if fmt == "csar":
        csar: Csar = read_csar(data, limits=limits)
        return _Loaded(fmt, csar.files, [csar.entry_definitions], csar.manifest, csar.meta,
                       csar.artifact_entries)
    if fmt == "osm-tar":
        pkg = read_osm_package(data, limits=limits)
        return _Loaded(fmt, pkg.files, pkg.descriptor_paths)
    if len(data) > (limits or Limits()).max_total_bytes:
        raise PackageError(Check.SIZE_LIMIT, "descriptor exceeds the size limit")
    name = posixpath.basename((filename_hint or "").replace("\\", "/")) or default_name
    if not name.lower().endswith((".yaml", ".yml")):
        name = default_name
    return _Loaded(fmt, {name: data}, [name])


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
        doc = load_yaml(loaded.files[path], path)
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


def load_vnf_package(data: bytes, filename_hint: str | None = None, *,
                     limits: Limits | None = None) -> VnfPackage:
    loaded = _open(data, filename_hint, limits, "vnfd.yaml")
    path, doc, kind = _pick(loaded, ("sol001", "sol006-vnfd"), "VNFD", Check.VNFD)
    if kind == "sol001":
        vnfd, vnfd_files = parse_sol001_vnfd(loaded.files, path)
    else:
        vnfd, vnfd_files = parse_sol006_vnfd(doc, path), [path]
    warnings = _check_artifacts(vnfd, loaded.files)
    return VnfPackage(vnfd=vnfd, files=loaded.files, manifest=loaded.manifest, meta=loaded.meta,
                      vnfd_files=vnfd_files, checksum_sha256=hashlib.sha256(data).hexdigest(),
                      format=loaded.format, artifact_entries=loaded.artifact_entries,
                      warnings=warnings)


def _check_artifacts(vnfd: Vnfd, files: dict[str, bytes]) -> list[str]:
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


def load_nsd(data: bytes, filename_hint: str | None = None, *,
             limits: Limits | None = None) -> NsdPackage:
    loaded = _open(data, filename_hint, limits, "nsd.yaml")
    path, doc, kind = _pick(loaded, ("sol001", "sol006-nsd"), "NSD", Check.NSD)
    if kind == "sol001":
        nsd, nsd_files = parse_sol001_nsd(loaded.files, path)
    else:
        nsd, nsd_files = parse_sol006_nsd(doc, path), [path]
    return NsdPackage(nsd=nsd, files=loaded.files, manifest=loaded.manifest, meta=loaded.meta,
                      nsd_files=nsd_files, checksum_sha256=hashlib.sha256(data).hexdigest(),
                      format=loaded.format)
