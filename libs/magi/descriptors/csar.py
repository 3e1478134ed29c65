"""Safe reader for SOL004 CSAR zips (VNF packages; SOL007 NSD archives share the layout).

Two layouts: `TOSCA-Metadata/TOSCA.meta` naming the entry definitions, or (no metadata dir)
a single YAML file at the root whose `metadata` section stands in for TOSCA.meta. Integrity
is checked before any descriptor is parsed: per-artifact hashes in TOSCA.meta, then the
manifest's `Source/Algorithm/Hash` entries.
"""
from __future__ import annotations

import hashlib
import posixpath
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Literal, NamedTuple

from ._archive import (LAZY_MEMBER_BYTES, Limits, PackageFiles, Source, check_ratio, is_url,
                       open_source, safe_path, source_head, verify_declared_hash)
from ._yaml import load_member
from .errors import Check, PackageError
from .osm import OsmPackage, read_osm_package  # noqa: F401  (re-exported: one reader module)

TOSCA_META = "TOSCA-Metadata/TOSCA.meta"
MAX_TEXT_BYTES = LAZY_MEMBER_BYTES  # TOSCA.meta and manifests are read whole: a few KB in practice
_CHUNK = 256 * 1024


class ManifestEntry(NamedTuple):
    source: str
    algorithm: str | None
    hash: str | None
    signature: str | None = None  # SOL004 per-artifact CMS signature file
    certificate: str | None = None  # and the certificate of its signer


@dataclass
class Manifest:
    path: str
    metadata: dict[str, str] = field(default_factory=dict)
    entries: list[ManifestEntry] = field(default_factory=list)
    non_mano_artifact_sets: dict[str, list[str]] = field(default_factory=dict)
    signed: bool = False  # a CMS signature block follows (verified by signature.py)


@dataclass(frozen=True)
class ArtifactEntry:
    """A `Name:` block of TOSCA.meta (SOL004 per-artifact hash)."""

    name: str
    content_type: str | None = None
    algorithm: str | None = None
    hash: str | None = None


@dataclass
class Csar:
    files: Mapping[str, bytes]  # a PackageFiles from read_csar
    meta: dict[str, str]
    entry_definitions: str
    manifest_path: str | None
    manifest: Manifest | None
    artifact_entries: list[ArtifactEntry]
    layout: Literal["tosca-metadata", "root-yaml"]

    def meta_value(self, key: str) -> str | None:
        """TOSCA.meta lookup ignoring case (`Created-by` vs `Created-By` in the wild)."""
        return next((v for k, v in self.meta.items() if k.lower() == key.lower()), None)


# --------------------------------------------------------------------------- zip


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError,
               ValueError, IndexError, struct.error)


def read_zip(data: Source, limits: Limits = Limits(), *, scan: bool = True) -> PackageFiles:
    """Check every entry of a zip against `limits`; small members are read into memory, larger
    ones (LAZY_MEMBER_BYTES) stay in the archive and are read on access.

    With `scan` (the default) every large member is still read through once, in chunks, so a
    corrupt entry or a lying header fails here, and its SHA-256 is kept for later; `scan=False` is
    for content already checked (the NFVO's stored packages). `data` is bytes, a path or a seekable
    binary file; a path is opened here and closed with `files.close()`.
    """
    fh, size, owned = open_source(data)
    files = PackageFiles()
    if owned:
        files.on_close(fh.close)
    try:
        _read_zip(fh, size, limits, scan, files)
    except BaseException:
        files.close()
        raise
    return files


def _read_zip(fh: IO[bytes], size: int, limits: Limits, scan: bool, files: PackageFiles) -> None:
    try:
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError,
            NotImplementedError, IndexError, struct.error) as exc:  # zipfile's parse errors
        raise PackageError(Check.ZIP, f"not a readable zip archive ({exc})") from None
    files.on_close(zf.close)
    if len(infos) > limits.max_files:
        raise PackageError(Check.FILE_COUNT, f"{len(infos)} entries, limit {limits.max_files}")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_total_bytes:
        raise PackageError(Check.SIZE_LIMIT, f"uncompressed size {declared} bytes exceeds the "
                           f"{limits.max_total_bytes}-byte limit")
    check_ratio(declared, size, limits, "<archive>")
    members: list[tuple[str, zipfile.ZipInfo]] = []
    for info in infos:
        path = safe_path(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PackageError(Check.SYMLINK, "symbolic link entry in archive", file=path)
        if mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)
                     or stat.S_ISSOCK(mode)):
            raise PackageError(Check.SPECIAL_FILE, "device/fifo entry in archive", file=path)
        if not path or info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise PackageError(Check.ZIP, "encrypted entry", file=path)
        check_ratio(info.file_size, info.compress_size, limits, path)
        members.append((path, info))
    budget = limits.max_total_bytes
    for path, info in members:
        if path in files:
            raise PackageError(Check.ZIP, "duplicate entry in archive", file=path)
        lazy = info.file_size > LAZY_MEMBER_BYTES
        buf = bytearray()
        sha = hashlib.sha256()
        count = 0
        if not lazy or scan:
            try:
                # zipfile stops at the declared size, but count anyway: headers lie
                with zf.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        count += len(chunk)
                        if count > info.file_size or count > budget:
                            raise PackageError(Check.SIZE_LIMIT, "entry larger than declared or "
                                               "than the size limit", file=path)
                        if lazy:
                            sha.update(chunk)  # the one pass a large member gets
                        else:
                            buf += chunk
            except _ZIP_ERRORS as exc:
                raise PackageError(Check.ZIP, f"cannot read entry ({exc})", file=path) from None
        else:
            count = info.file_size
        budget -= count
        if lazy:
            files.add_lazy(path, count, _zip_opener(zf, info, path),
                           {"sha256": sha.hexdigest()} if scan else None)
        else:
            files.add(path, bytes(buf))


def _zip_opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        try:
            return zf.open(info)
        except _ZIP_ERRORS as exc:
            raise PackageError(Check.ZIP, f"cannot read entry ({exc})", file=path) from None
    return opener


# --------------------------------------------------------------------------- TOSCA.meta


def _key_value(line: str, file: str, check: Check) -> tuple[str, str]:
    key, sep, value = line.partition(":")
    if not sep or not key.strip():
        raise PackageError(check, f"line {line!r} is not 'Key: value'", file=file)
    return key.strip(), value.strip()


def parse_tosca_meta(text: str, file: str = TOSCA_META) -> tuple[dict[str, str],
                                                                   list[ArtifactEntry]]:
    """TOSCA.meta -> (block-0 keys, per-artifact `Name:` blocks)."""
    meta: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, value = _key_value(line, file, Check.TOSCA_META)
        if key == "Name":
            blocks.append({"Name": value})
        elif blocks and key in ("Content-Type", "Algorithm", "Hash"):
            blocks[-1][key] = value
        else:
            meta[key] = value
    artifacts: list[ArtifactEntry] = []
    for b in blocks:
        if ("Algorithm" in b) != ("Hash" in b):
            raise PackageError(Check.TOSCA_META, f"artifact block {b['Name']!r} needs both "
                               "Algorithm and Hash", file=file)
        artifacts.append(ArtifactEntry(b["Name"], b.get("Content-Type"), b.get("Algorithm"),
                                       b.get("Hash")))
    return meta, artifacts


# --------------------------------------------------------------------------- manifest


def parse_manifest(text: str, path: str) -> Manifest:
    """SOL004 manifest: optional `metadata:` block, `Source/Algorithm/Hash` blocks,
    optional `non_mano_artifact_sets:`, optional trailing CMS signature."""
    mf = Manifest(path=path)
    section = "top"  # top | metadata | non_mano
    current: dict[str, str] | None = None
    entries: list[dict[str, str]] = []
    nm_set: str | None = None
    for raw in text.splitlines():
        if raw.startswith("-----BEGIN"):
            mf.signed = True
            break
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        indented = raw[:1] in (" ", "\t")
        if line in ("metadata:", "non_mano_artifact_sets:") and not indented:
            section = "metadata" if line == "metadata:" else "non_mano"
            current = None
            continue
        if section == "metadata" and indented:
            k, v = _key_value(line, path, Check.MANIFEST)
            mf.metadata[k] = v
            continue
        if section == "non_mano" and indented:
            k, v = _key_value(line, path, Check.MANIFEST)
            if k == "Source" and nm_set is not None:
                mf.non_mano_artifact_sets[nm_set].append(v)
            elif not v:
                nm_set = k
                mf.non_mano_artifact_sets.setdefault(k, [])
            continue
        section = "top"
        k, v = _key_value(line, path, Check.MANIFEST)
        if k == "Source":
            current = {"Source": v}
            entries.append(current)
        elif k in ("Algorithm", "Hash", "Signature", "Certificate"):
            if current is None:
                raise PackageError(Check.MANIFEST, f"{k!r} before any 'Source:'", file=path)
            current[k] = v
        # other top-level keys are tolerated (future SOL004 additions)
    for e in entries:
        if ("Algorithm" in e) != ("Hash" in e):
            raise PackageError(Check.MANIFEST, f"entry {e['Source']!r} needs both Algorithm "
                               "and Hash", file=path)
        mf.entries.append(ManifestEntry(e["Source"], e.get("Algorithm"), e.get("Hash"),
                                        e.get("Signature"), e.get("Certificate")))
    return mf


def _text(files: PackageFiles, file: str, check: Check) -> str:
    if (size := files.size(file)) > MAX_TEXT_BYTES:  # asked before reading: never a large member
        raise PackageError(check, f"{size} bytes: too large for a metadata file", file=file)
    try:
        return files[file].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PackageError(check, "not UTF-8 text", file=file) from None


def _root_files(files: Mapping[str, bytes], *suffixes: str) -> list[str]:
    return sorted(p for p in files if "/" not in p and p.lower().endswith(suffixes))


# --------------------------------------------------------------------------- CSAR


def read_csar(data: Source, *, max_total_bytes: int = Limits.max_total_bytes,
              max_ratio: float = Limits.max_ratio, max_files: int = Limits.max_files,
              limits: Limits | None = None, verify: bool = True, scan: bool = True) -> Csar:
    """Unpack and check a CSAR (bytes, a path or a seekable file). `verify=False` skips hash
    checks (diagnostics, or content checked before); `scan` as in `read_zip`."""
    limits = limits or Limits(max_total_bytes=max_total_bytes, max_files=max_files,
                              max_ratio=max_ratio)
    if not source_head(data, 2).startswith(b"PK"):
        raise PackageError(Check.ZIP, "not a zip archive (no 'PK' signature)")
    files = read_zip(data, limits, scan=scan)
    try:
        return _read_csar(files, verify)
    except BaseException:
        files.close()
        raise


def _read_csar(files: PackageFiles, verify: bool) -> Csar:
    artifacts: list[ArtifactEntry] = []
    if TOSCA_META in files:
        layout: Literal["tosca-metadata", "root-yaml"] = "tosca-metadata"
        meta, artifacts = parse_tosca_meta(_text(files, TOSCA_META,
                                                   Check.TOSCA_META))
        entry = meta.get("Entry-Definitions")
        if not entry:
            raise PackageError(Check.TOSCA_META, "no 'Entry-Definitions' key", file=TOSCA_META)
        entry = safe_path(entry, check_file=TOSCA_META)
        if entry not in files:
            raise PackageError(Check.TOSCA_META, f"Entry-Definitions {entry!r} is not in the "
                               "package", file=TOSCA_META)
        for key in ("ETSI-Entry-Change-Log", "ETSI-Entry-Licenses", "ETSI-Entry-Certificate"):
            if (named := meta.get(key)) and safe_path(named, check_file=TOSCA_META) not in files \
                    and not any(p.startswith(named.rstrip("/") + "/") for p in files):
                raise PackageError(Check.ARTIFACT_MISSING, f"TOSCA.meta {key} names {named!r}, "
                                   "which is not in the package", file=named)
        manifest_path = meta.get("ETSI-Entry-Manifest")
        if manifest_path:
            manifest_path = safe_path(manifest_path, check_file=TOSCA_META)
            if manifest_path not in files:
                raise PackageError(Check.ARTIFACT_MISSING, "TOSCA.meta ETSI-Entry-Manifest "
                                   f"names {manifest_path!r}, which is not in the package",
                                   file=manifest_path)
        else:
            manifest_path = _single_root_manifest(files, None)
    elif any(p.startswith("TOSCA-Metadata/") for p in files):
        raise PackageError(Check.TOSCA_META, "TOSCA-Metadata/ has no TOSCA.meta", file=TOSCA_META)
    else:
        layout = "root-yaml"
        roots = _root_files(files, ".yaml", ".yml")
        if len(roots) != 1:
            raise PackageError(Check.TOSCA_META, "no TOSCA-Metadata/TOSCA.meta, and not exactly "
                               f"one YAML file at the root (found {roots or 'none'})")
        entry = roots[0]
        doc = load_member(files, entry)
        md = doc.get("metadata") if isinstance(doc, dict) else None
        if not isinstance(md, dict) or not md.get("template_name") \
                or md.get("template_version") is None:
            raise PackageError(Check.TOSCA_META, "root YAML of a CSAR without TOSCA-Metadata "
                               "needs metadata.template_name and template_version", file=entry)
        meta = {str(k): str(v) for k, v in md.items()}
        meta["Entry-Definitions"] = entry
        manifest_path = _single_root_manifest(files, posixpath.splitext(entry)[0] + ".mf")
    manifest = None
    if manifest_path:
        manifest = parse_manifest(_text(files, manifest_path, Check.MANIFEST),
                                  manifest_path)
    csar = Csar(files, meta, entry, manifest_path, manifest, artifacts, layout)
    if verify:
        verify_csar(csar)
    return csar


def _single_root_manifest(files: Mapping[str, bytes], preferred: str | None) -> str | None:
    if preferred and preferred in files:
        return preferred
    mfs = _root_files(files, ".mf")
    if len(mfs) > 1:
        raise PackageError(Check.MANIFEST, f"several root manifests {mfs} and no "
                           "ETSI-Entry-Manifest naming one", file=mfs[0])
    return mfs[0] if mfs else None


def verify_csar(csar: Csar) -> None:
    """TOSCA.meta artifact blocks first (they are read first), then the manifest."""
    for art in csar.artifact_entries:
        _verify_entry(csar.files, art.name, art.algorithm, art.hash, TOSCA_META)
    if csar.manifest:
        for e in csar.manifest.entries:
            _verify_entry(csar.files, e.source, e.algorithm, e.hash, csar.manifest.path)
        for set_name, sources in csar.manifest.non_mano_artifact_sets.items():
            for src in sources:
                _verify_entry(csar.files, src, None, None, f"{csar.manifest.path} ({set_name})")


def _verify_entry(files: Mapping[str, bytes], source: str, algorithm: str | None,
                  expected: str | None, declared_in: str) -> None:
    if is_url(source):
        return  # external artifact: nothing to compare without fetching it
    path = safe_path(source, check_file=declared_in)
    if algorithm is None or expected is None:
        if path not in files:
            raise PackageError(Check.ARTIFACT_MISSING, f"{declared_in} names {path!r}, which is "
                               "not in the package", file=path)
        return
    verify_declared_hash(files, path, algorithm, expected, declared_in=declared_in)
