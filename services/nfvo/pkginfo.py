"""What a VnfPkgInfo says about a package's files, and how package bytes are served (SOL005 §9):
software images, additional artifacts, Range reads and the VNFD as zip or plain YAML.

Large things (package content, VM images, the artifacts zip) are streamed: `stream_response`
sends a body produced chunk by chunk, never assembled in memory."""
from __future__ import annotations

import asyncio
import hashlib
import io
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable
from typing import IO, Any

from aiohttp import web

from magi.api.problem import Problem
from magi.descriptors import VnfPackage

CONTAINER_FORMATS = {"AKI", "AMI", "ARI", "BARE", "DOCKER", "OVA", "OVF"}
DISK_FORMATS = {"AKI", "AMI", "ARI", "ISO", "QCOW2", "RAW", "VDI", "VHD", "VHDX", "VMDK"}
SECRETS = ("password", "clientPassword")


def _algorithm(name: str | None) -> str:
    return (name or "SHA-256").upper().replace("SHA256", "SHA-256").replace("SHA512", "SHA-512")


def software_images(pkg: VnfPackage, created_at: str) -> list[dict[str, Any]]:
    """One VnfPackageSoftwareImageInfo per SwImage of a VDU or of a VDU's storage."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for vdu in (v for f in pkg.vnfd.flavours for v in f.vdus):
        for sid, sw in [(vdu.vdu_id, vdu.sw_image)] + [(s.id, s.sw_image) for s in vdu.storages]:
            if sw is None or sid in seen:  # a VDU is in several flavours: one image entry
                continue
            seen.add(sid)
            # size and hash streamed: the image is never read into memory
            present = bool(sw.file) and sw.file in pkg.files
            cf, df = (sw.container_format or "BARE").upper(), (sw.disk_format or "RAW").upper()
            info: dict[str, Any] = {
                "id": sid, "name": sw.name, "provider": pkg.vnfd.provider or "", "version": str(sw.version or ""),
                "checksum": ({"algorithm": _algorithm(sw.checksum.algorithm), "hash": sw.checksum.hash} if sw.checksum
                             else {"algorithm": "SHA-256",
                                   "hash": pkg.hash_member(sw.file) if present else hashlib.sha256(b"").hexdigest()}),
                "isEncrypted": False,
                "containerFormat": cf if cf in CONTAINER_FORMATS else "BARE",
                "diskFormat": df if df in DISK_FORMATS else "RAW",
                "createdAt": created_at, "minDisk": int(sw.min_disk_gb or 0), "minRam": int(sw.min_ram_mb or 0),
                # size in bytes: the file's when the package carries it, else the VNFD's declared size
                "size": pkg.member_size(sw.file) if present else int((sw.size_gb or 0) * 1024 ** 3)}
            if present:
                info["imagePath"] = sw.file
            elif sw.image:
                info["imageUri"] = sw.image
            out.append(info)
    return out


def additional_artifacts(pkg: VnfPackage, image_paths: set[str]) -> list[dict[str, Any]]:
    """Every package file that is not a descriptor, a software image or CSAR metadata."""
    skip = set(pkg.vnfd_files) | image_paths | {"TOSCA-Metadata/TOSCA.meta"}
    if pkg.manifest:
        skip.add(pkg.manifest.path)
    sets = {p: name for name, paths in (pkg.manifest.non_mano_artifact_sets if pkg.manifest else {}).items() for p in paths}
    types = {a.name: a.content_type for a in pkg.artifact_entries if a.content_type}
    out = []
    for path in sorted(pkg.files):
        if path in skip or path.endswith("/"):
            continue
        info: dict[str, Any] = {"artifactPath": path, "isEncrypted": False,
                                "checksum": {"algorithm": "SHA-256", "hash": pkg.hash_member(path)}}
        if path in sets:
            info["nonManoArtifactSetId"] = sets[path]
        if path in types:
            info["metadata"] = {"contentType": types[path]}
        out.append(info)
    return out


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def requested_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """(first, last) of one `Range: bytes=a-b` (None: no Range); an unsatisfiable range is 416."""
    rng = request.headers.get("Range")
    if not rng:
        return None
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
    if not m or (not m[1] and not m[2]):
        raise _unsatisfiable(f"unsupported Range {rng!r}: one bytes=first-last range is supported", size)
    if m[1]:
        first, last = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
    else:  # suffix: the last N bytes
        first, last = max(size - int(m[2]), 0), size - 1
    if first >= size or first > last:
        raise _unsatisfiable(f"Range {rng!r} is outside the {size} bytes of the content", size)
    return first, last


def range_response(request: web.Request, data: bytes, content_type: str) -> web.Response:
    """The whole content, or one `Range: bytes=a-b` slice (206); an unsatisfiable range is 416."""
    rng = requested_range(request, len(data))
    if rng is None:
        return web.Response(body=data, content_type=content_type, headers={"Accept-Ranges": "bytes"})
    first, last = rng
    return web.Response(status=206, body=data[first:last + 1], content_type=content_type,
                        headers={"Content-Range": f"bytes {first}-{last}/{len(data)}", "Accept-Ranges": "bytes"})


def stream_response(request: web.Request, size: int, content_type: str,
                    chunks: Callable[[int, int], AsyncIterator[bytes]]) -> web.Response:
    """`range_response` for a body of `size` bytes that `chunks(first, last)` yields piece by piece.
    A Response with an async-iterable body (not a prepared StreamResponse), so the API middleware
    still adds its headers; a Range error is still a 416 ProblemDetails."""
    rng = requested_range(request, size)
    first, last = rng or (0, size - 1)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(last - first + 1 if size else 0)}
    if rng:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return web.Response(status=206 if rng else 200, body=chunks(first, last) if size else b"",
                        content_type=content_type, headers=headers)


FILE_CHUNK = 1 << 20


def file_chunks(open_file: Callable[[], IO[bytes]], close: Callable[[], None] = lambda: None
                ) -> Callable[[int, int], AsyncIterator[bytes]]:
    """`chunks` for `stream_response` reading a file (a temporary file, an archive member) in a
    thread; `close` runs when the body is done or abandoned."""
    async def chunks(first: int, last: int) -> AsyncIterator[bytes]:
        try:
            fh = await asyncio.to_thread(open_file)
            try:
                if first:
                    await asyncio.to_thread(fh.seek, first)  # a deflated member inflates up to there
                left = last - first + 1
                while left > 0:
                    data = await asyncio.to_thread(fh.read, min(left, FILE_CHUNK))
                    if not data:
                        raise ConnectionAbortedError("the content ended before its size")
                    left -= len(data)
                    yield data
            finally:
                fh.close()
        finally:
            close()
    return chunks


def zip_to_file(members: Iterable[tuple[str, int]], open_member: Callable[[str], IO[bytes]]) -> IO[bytes]:
    """A zip of package files, written member by member into a temporary file (the caller closes
    it): a VM image among them is copied in chunks, never held whole."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 2**20)  # noqa: SIM115
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, size in members:
                info = zipfile.ZipInfo(name, time.localtime()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                with open_member(name) as src, z.open(info, "w", force_zip64=size > 2**30) as dst:
                    shutil.copyfileobj(src, dst, FILE_CHUNK)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _unsatisfiable(detail: str, size: int) -> Problem:
    p = Problem(416, detail)
    p.headers["Content-Range"] = f"bytes */{size}"
    return p


def descriptor_response(request: web.Request, files: dict[str, bytes], what: str) -> web.Response:
    """SOL005: zip by default; `text/plain` only for a one-file descriptor, else 406."""
    accept = request.headers.get("Accept", "")
    if "text/plain" in accept and "application/zip" not in accept:
        if len(files) != 1:
            raise Problem(406, f"the {what} has {len(files)} files; ask for application/zip")
        return web.Response(body=next(iter(files.values())), content_type="text/plain")
    if "text/plain" in accept and len(files) == 1:
        return web.Response(body=next(iter(files.values())), content_type="text/plain")
    return web.Response(body=zip_of(files), content_type="application/zip")


def without_secrets(cfg: dict[str, Any]) -> dict[str, Any]:
    """ExternalArtifactsAccessConfig as it may be returned: never a password."""
    arts = []
    for a in cfg.get("artifact", []):
        a = {k: v for k, v in a.items() if k not in SECRETS}
        if isinstance(a.get("paramsOauth2ClientCredentials"), dict):
            a["paramsOauth2ClientCredentials"] = {k: v for k, v in a["paramsOauth2ClientCredentials"].items() if k not in SECRETS}
        arts.append(a)
    return {**cfg, "artifact": arts}
