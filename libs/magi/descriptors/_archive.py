"""Shared archive safety: limits, path normalization, declared-hash verification."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import Check, PackageError

MiB = 2**20


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
    actual = hashlib.new(hashname, files[source]).hexdigest()
    if actual != expected.lower():
        raise PackageError(Check.MANIFEST_HASH, f"{declared_in}: {algorithm} of {source!r} is "
                           f"{actual}, declared {expected}", file=source)


def check_ratio(uncompressed: int, compressed: int, limits: Limits, file: str) -> None:
    if uncompressed <= limits.ratio_floor_bytes:
        return
    if compressed <= 0 or uncompressed / compressed > limits.max_ratio:
        raise PackageError(Check.ZIP_BOMB, f"compression ratio {uncompressed}:{max(compressed, 0)}"
                           f" exceeds {limits.max_ratio:g}", file=file)
