"""Safe reader for OSM packages: a (gzipped) tar with one top folder.

The gzip stream is inflated with a hard cap before `tarfile` sees it, so a gzip bomb costs
at most the limit. Links, devices and paths leaving the top folder are refused, never
"sanitized". `checksums.txt` (md5sum output, "hash  path" lines), when present, is verified.
"""
from __future__ import annotations

import io
import re
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO

from ._archive import (LAZY_MEMBER_BYTES, Limits, PackageFiles, Source, check_ratio, open_source,
                       safe_path, source_head, verify_declared_hash)
from .errors import Check, PackageError

CHECKSUMS = "checksums.txt"
_CHECKSUM_LINE = re.compile(r"^([0-9A-Za-z]+)\s+\*?(.+)$")
_TAR_OVERHEAD = 1536  # header + padding per member, generously
_CHUNK = 1 << 20
SPOOL_BYTES = 8 * 2**20  # an inflated tar larger than this goes to an unnamed temporary file


@dataclass
class OsmPackage:
    top_folder: str
    files: Mapping[str, bytes]  # paths relative to the top folder (a PackageFiles)
    checksums: dict[str, str] | None = None
    descriptor_paths: list[str] = field(default_factory=list)  # YAML files at the top level


def _gunzip(src: IO[bytes], size: int, limits: Limits) -> IO[bytes]:
    """Inflate into a temporary file of our own (in memory up to SPOOL_BYTES), with a hard cap."""
    cap = limits.max_total_bytes + limits.max_files * _TAR_OVERHEAD + 10240
    ratio_cap = max(limits.ratio_floor_bytes, int(size * limits.max_ratio))
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  (closed with the package)
    written = 0
    try:
        rest = src.read(_CHUNK)
        while rest:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                while not d.eof:
                    if not rest:
                        rest = src.read(_CHUNK)
                    if rest:
                        piece = d.decompress(rest, _CHUNK)
                        rest = d.unconsumed_tail
                    else:  # input exhausted: what zlib still holds is at most its window
                        piece = d.flush()
                        if not d.eof:
                            raise PackageError(Check.TAR, "truncated gzip stream")
                    out.write(piece)
                    written += len(piece)
                    if written > ratio_cap:
                        check_ratio(written, size, limits, "<archive>")
                    if written > cap:
                        raise PackageError(Check.SIZE_LIMIT, "uncompressed package exceeds the "
                                           f"{limits.max_total_bytes}-byte limit")
            except zlib.error as exc:
                raise PackageError(Check.TAR, f"corrupt gzip stream ({exc})") from None
            rest = d.unused_data
            while not rest.strip(b"\x00"):  # NUL padding after the last member
                rest = src.read(_CHUNK)
                if not rest:
                    break
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def read_osm_package(data: Source, *, max_total_bytes: int = Limits.max_total_bytes,
                     max_ratio: float = Limits.max_ratio, max_files: int = Limits.max_files,
                     limits: Limits | None = None, verify: bool = True) -> OsmPackage:
    """Read an OSM package from bytes, a path or a seekable file; members over LAZY_MEMBER_BYTES
    stay in the (inflated, temporary) tar and are read on access. Close `pkg.files` when done."""
    limits = limits or Limits(max_total_bytes=max_total_bytes, max_files=max_files,
                              max_ratio=max_ratio)
    fh, size, owned = open_source(data)
    files = PackageFiles()
    if owned:
        files.on_close(fh.close)
    try:
        raw = fh
        if source_head(fh, 2) == b"\x1f\x8b":
            raw = _gunzip(fh, size, limits)
            files.on_close(raw.close)
        return _read_tar(raw, limits, verify, files)
    except BaseException:
        files.close()
        raise


def _read_tar(raw: IO[bytes], limits: Limits, verify: bool, files: PackageFiles) -> OsmPackage:
    try:
        tf = tarfile.open(fileobj=raw, mode="r:")
        members = tf.getmembers()
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise PackageError(Check.TAR, f"not a readable tar archive ({exc})") from None
    if len(members) > limits.max_files:
        raise PackageError(Check.FILE_COUNT, f"{len(members)} entries, limit {limits.max_files}")
    regular: list[tuple[str, tarfile.TarInfo]] = []
    total = 0
    for m in members:
        path = safe_path(m.name)
        if m.issym() or m.islnk():
            raise PackageError(Check.SYMLINK, f"link entry -> {m.linkname!r}", file=path)
        if m.isdir():
            continue
        if not m.isfile():
            raise PackageError(Check.SPECIAL_FILE, "device/fifo entry in archive", file=path)
        total += m.size
        if total > limits.max_total_bytes:
            raise PackageError(Check.SIZE_LIMIT, "uncompressed size exceeds the "
                               f"{limits.max_total_bytes}-byte limit", file=path)
        regular.append((path, m))
    tops = {p.split("/", 1)[0] for p, _ in regular} | {
        safe_path(m.name).split("/", 1)[0] for m in members if m.isdir() and safe_path(m.name)}
    if len(tops) != 1 or any("/" not in p for p, _ in regular):
        raise PackageError(Check.TAR, "an OSM package must hold exactly one top folder "
                           f"(found {sorted(tops) or 'none'})")
    top = tops.pop()
    for path, m in regular:
        rel = path.split("/", 1)[1]
        if rel in files:
            raise PackageError(Check.TAR, "duplicate entry in archive", file=path)
        if m.size > LAZY_MEMBER_BYTES:
            # a tar member is exactly its header's size: nothing to scan before it is asked for
            files.add_lazy(rel, m.size, _tar_opener(tf, m, path))
            continue
        try:
            fh = tf.extractfile(m)
            files.add(rel, fh.read() if fh else b"")
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise PackageError(Check.TAR, f"cannot read entry ({exc})", file=path) from None
    pkg = OsmPackage(top, files, descriptor_paths=sorted(
        p for p in files if "/" not in p and p.lower().endswith((".yaml", ".yml"))))
    if CHECKSUMS in files:
        if files.size(CHECKSUMS) > LAZY_MEMBER_BYTES:
            raise PackageError(Check.MANIFEST, "checksums.txt is too large", file=CHECKSUMS)
        pkg.checksums = _parse_checksums(files[CHECKSUMS], top)
        if verify:
            for path, digest in pkg.checksums.items():
                verify_declared_hash(files, path, "MD5", digest, declared_in=CHECKSUMS,
                                     allowed=("MD5",))
    return pkg


def _tar_opener(tf: tarfile.TarFile, m: tarfile.TarInfo, path: str) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        try:
            fh = tf.extractfile(m)
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise PackageError(Check.TAR, f"cannot read entry ({exc})", file=path) from None
        return fh if fh is not None else io.BytesIO()
    return opener


def _parse_checksums(data: bytes, top: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _CHECKSUM_LINE.match(line)
        if not m:
            raise PackageError(Check.MANIFEST, f"line {line!r} is not 'md5  path'",
                               file=CHECKSUMS)
        path = safe_path(m.group(2).strip(), check_file=CHECKSUMS)
        if path.startswith(top + "/"):  # md5sum run from above the package folder
            path = path[len(top) + 1:]
        if path != CHECKSUMS:
            result[path] = m.group(1)
    return result
