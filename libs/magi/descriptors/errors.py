"""Errors raised while reading a package or a descriptor.

Every rejection names the check that failed (a stable, machine-readable code the API layer
can map to a ProblemDetails) and, where there is one, the file inside the package.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any


class Check(StrEnum):
    """Stable check codes. `StrEnum`, so `err.check == "zip"` works as well."""

    # archive container
    ZIP = "zip"  # not a zip, corrupt, encrypted, duplicate entries
    TAR = "tar"  # not a (gzipped) tar, corrupt, not one top folder
    ZIP_SLIP = "zip-slip"  # `..`, absolute, drive-letter or backslash paths (zip and tar)
    SYMLINK = "symlink"  # symbolic or hard links
    SPECIAL_FILE = "special-file"  # devices, fifos
    ZIP_BOMB = "zip-bomb"  # absurd compression ratio (zip and gzip)
    SIZE_LIMIT = "size-limit"  # uncompressed total over the limit
    FILE_COUNT = "file-count"  # too many entries
    FORMAT = "format"  # cannot tell what kind of package this is
    # SOL004 metadata and integrity
    TOSCA_META = "tosca-meta"  # TOSCA.meta missing/malformed, entry definitions absent
    MANIFEST = "manifest"  # manifest / checksums.txt malformed or ambiguous
    HASH_ALGORITHM = "hash-algorithm"  # algorithm not SHA-256/384/512 (md5 for OSM)
    HASH_FORMAT = "hash-format"  # hash string of the wrong length or not hex
    MANIFEST_HASH = "manifest-hash"  # file content does not match its declared hash
    ARTIFACT_MISSING = "artifact-missing"  # a declared file is not in the package
    SIGNATURE = "signature"  # CMS signature or certificate does not verify, or one is required
    # YAML and TOSCA
    YAML = "yaml"  # syntax error, not UTF-8
    YAML_BOMB = "yaml-bomb"  # alias expansion, nesting or file size over the limits
    IMPORT = "import"  # unresolvable or external import
    IMPORT_CYCLE = "import-cycle"  # recursive imports
    TOSCA = "tosca"  # template structure (not a mapping, no tosca_definitions_version)
    NODE_REFERENCE = "node-reference"  # requirement/target naming a missing node
    VNFD = "vnfd"  # VNFD content (missing property, unknown aspect, ...)
    NSD = "nsd"  # NSD content


class PackageError(Exception):
    """A package (or a descriptor in it) is rejected.

    `detail` is a human message; it always names `file` when there is one.
    """

    def __init__(self, check: str, detail: str, *, file: str | None = None) -> None:
        if file and file not in detail:
            detail = f"{file}: {detail}"
        super().__init__(f"[{check}] {detail}")
        self.check = str(check)
        self.file = file
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only `file` would break the default Exception pickling (worker pools)
        return (_rebuild, (type(self), self.check, self.detail, self.file))

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "file": self.file, "detail": self.detail}


class DescriptorError(PackageError):
    """The archive is sound but the descriptor in it is not (or a lookup in it failed)."""


def _rebuild(cls: type[PackageError], check: str, detail: str, file: str | None) -> PackageError:
    return cls(check, detail, file=file)
