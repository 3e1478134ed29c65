"""Shared archive safety: limits, path normalization, declared-hash verification."""
from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Union

from .errors import Check, PackageError

MiB = 2**20
# Members larger than this stay in the archive and are read on access: VM images must not sit in
# memory (the NFVO runs with 512 MiB); descriptors, manifests and scripts are far smaller.
LAZY_MEMBER_BYTES = 4 * MiB
READ_CHUNK = 1 << 20

# What a package is read from: its bytes, a path, or a seekable binary file the caller owns.
Source = Union[bytes, bytearray, memoryview, "os.PathLike[str]", IO[bytes]]


@dataclass(frozen=True)
class Limits:
    """Resource limits for unpacking an uploaded package (all in memory)."""

    max_total_bytes: int = 512 * MiB  # uncompressed; images usually live outside packages
    max_files: int = 10_000
    max_ratio: float = 100.0  # uncompressed/compressed, judged per entry and overall
    ratio_floor_bytes: int = MiB  # below this size a high ratio harms nobody


# SOL004: SHA-256/384/512; checksums.txt (OSM) uses md5
_ALGORITHMS = {"SHA256": ("sha256", 64), "SHA384": ("sha384", 96), "SHA512": ("sha512", 128),
               "MD5": ("md5", 32)}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: str) -> bool:
    return bool(_URL.match(path))


def safe_path(name: str, *, check_file: str | None = None) -> str:
    """Normalize an archive member name to a relative posix path, or raise zip-slip.

    Returns "" for the archive root ("./"). Rejects `..`, absolute paths, drive letters,
    backslashes and NULs instead of "fixing" them: a package carrying such names is hostile
    or broken either way.
    """
    bad = ("\\" in name or "\x00" in name or name.startswith("/")
           or re.match(r"^[A-Za-z]:", name) is not None)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if bad or ".." in parts:
        raise PackageError(Check.ZIP_SLIP, f"unsafe path {name!r} in archive",
                           file=check_file or name)
    return "/".join(parts)


def algorithm_info(algorithm: str) -> tuple[str, int] | None:
    """('sha256', 64) for 'SHA-256' / 'sha-256' / 'SHA256'; None when unknown."""
    return _ALGORITHMS.get(algorithm.replace("-", "").replace("_", "").upper())


def open_source(source: Source) -> tuple[IO[bytes], int, bool]:
    """(seekable file at 0, size, whether the caller of this function must close it)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source), len(source), True  # BytesIO of bytes shares, not copies
    if isinstance(source, os.PathLike):
        fh = open(source, "rb")  # noqa: SIM115  (closed with the package)
        return fh, os.fstat(fh.fileno()).st_size, True
    source.seek(0, os.SEEK_END)
    size = source.tell()
    source.seek(0)
    return source, size, False


def source_head(source: Source, n: int = 512) -> bytes:
    """The first `n` bytes (magic numbers), leaving a file's position at 0."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:n])
    if isinstance(source, os.PathLike):
        with open(source, "rb") as fh:
            return fh.read(n)
    source.seek(0)
    head = source.read(n)
    source.seek(0)
    return head


def source_sha256(source: Source) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.sha256(source).hexdigest()
    fh, _, owned = open_source(source)
    try:
        return _digest(fh, "sha256")
    finally:
        if owned:
            fh.close()
        else:
            fh.seek(0)


def _digest(fh: IO[bytes], hashname: str) -> str:
    h = hashlib.new(hashname)
    while chunk := fh.read(READ_CHUNK):
        h.update(chunk)
    return h.hexdigest()


class PackageFiles(Mapping[str, bytes]):
    """A package's files by path. Small files are held as bytes; a large one (over
    LAZY_MEMBER_BYTES) stays in the archive: `files[path]` still reads it whole (compatibility),
    while `size`, `open` and `hexdigest` never do. Close it (or the package) to release the archive."""

    def __init__(self) -> None:
        self._small: dict[str, bytes] = {}
        self._lazy: dict[str, tuple[int, Callable[[], IO[bytes]]]] = {}
        self._order: list[str] = []
        self._digests: dict[tuple[str, str], str] = {}
        self._closers: list[Callable[[], None]] = []
        self.materialized: list[str] = []  # large members read whole through `[]` (tests watch it)

    def add(self, path: str, data: bytes) -> None:
        self._order.append(path)
        self._small[path] = data

    def add_lazy(self, path: str, size: int, opener: Callable[[], IO[bytes]],
                 digests: Mapping[str, str] | None = None) -> None:
        self._order.append(path)
        self._lazy[path] = (size, opener)
        for name, hexd in (digests or {}).items():
            self._digests[(path, name)] = hexd

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def __getitem__(self, path: str) -> bytes:
        if path in self._small:
            return self._small[path]
        if path not in self._lazy:
            raise KeyError(path)
        with self.open(path) as fh:
            data = fh.read()
        self.materialized.append(path)
        return data

    def __contains__(self, path: object) -> bool:
        return path in self._small or path in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def is_lazy(self, path: str) -> bool:
        return path in self._lazy

    def size(self, path: str) -> int:
        if path in self._small:
            return len(self._small[path])
        return self._lazy[path][0]

    def open(self, path: str) -> IO[bytes]:
        if path in self._small:
            return io.BytesIO(self._small[path])
        return self._lazy[path][1]()

    def hexdigest(self, path: str, hashname: str = "sha256") -> str:
        if path in self._small:
            return hashlib.new(hashname, self._small[path]).hexdigest()
        key = (path, hashname)
        if key not in self._digests:
            with self.open(path) as fh:
                self._digests[key] = _digest(fh, hashname)
        return self._digests[key]

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            close()


# The same questions asked of any mapping (a plain dict from older callers, or PackageFiles).
def member_size(files: Mapping[str, bytes], path: str) -> int:
    return files.size(path) if isinstance(files, PackageFiles) else len(files[path])


def hash_member(files: Mapping[str, bytes], path: str, hashname: str = "sha256") -> str:
    if isinstance(files, PackageFiles):
        return files.hexdigest(path, hashname)
    return hashlib.new(hashname, files[path]).hexdigest()


def open_member(files: Mapping[str, bytes], path: str) -> IO[bytes]:
    return files.open(path) if isinstance(files, PackageFiles) else io.BytesIO(files[path])


def verify_declared_hash(files: Mapping[str, bytes], source: str, algorithm: str,
                         expected: str, *, declared_in: str,
                         allowed: tuple[str, ...] = ("SHA256", "SHA384", "SHA512")) -> None:
    """Check one declared (file, algorithm, hash) triple, in Tacker's order:
    algorithm known -> file present -> hash well-formed -> hash equal."""
    info = algorithm_info(algorithm)
    norm = algorithm.replace("-", "").replace("_", "").upper()
    if info is None or norm not in allowed:
        raise PackageError(Check.HASH_ALGORITHM, f"{declared_in}: unknown hash algorithm "
                           f"{algorithm!r} for {source!r}", file=source)
    if source not in files:
        raise PackageError(Check.ARTIFACT_MISSING, f"{declared_in} names {source!r}, which is "
                           "not in the package", file=source)
    hashname, length = info
    if len(expected) != length or not _HEX.match(expected):
        raise PackageError(Check.HASH_FORMAT, f"{declared_in}: the {algorithm} hash "
                           f"{expected!r} of {source!r} is not {length} hex digits",
                           file=source)
    actual = hash_member(files, source, hashname)
    if actual != expected.lower():
        raise PackageError(Check.MANIFEST_HASH, f"{declared_in}: {algorithm} of {source!r} is "
                           f"{actual}, declared {expected}", file=source)


def check_ratio(uncompressed: int, compressed: int, limits: Limits, file: str) -> None:
    if uncompressed <= limits.ratio_floor_bytes:
        return
    if compressed <= 0 or uncompressed / compressed > limits.max_ratio:
        raise PackageError(Check.ZIP_BOMB, f"compression ratio {uncompressed}:{max(compressed, 0)}"
                           f" exceeds {limits.max_ratio:g}", file=file)
