"""The NFVO's content store: uploaded package and NSD bytes, shared by `vnfpkgm` and `nsd`.

Bytes live in the NFVO's own database (collection `package_contents`), so the embedded default
and Helm need no extra volume. They are cut into chunks (GridFS's layout, written with plain
documents so the nx-27017 stand-in and MongoDB behave alike): one document may not exceed
16 MB, and packages carrying VM images are larger than that.

Package uploads are spooled to a temporary file of the NFVO's own (`Upload`: in memory up to
SPOOL_BYTES, then an unnamed file), copied into the store chunk by chunk and read back the same
way, so a package with a VM image never sits in memory whole.
"""
from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

from aiohttp import MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from bson import Binary

from magi.api.problem import Problem
from magi.config import MagiSettings
from magi.store.mongo import MongoStore

READ_CHUNK = 1 << 16
SPOOL_BYTES = 8 * 2**20  # an upload beyond this leaves memory for a temporary file


def upload_limit() -> int:
    """MAGI_PACKAGE_MAX_BYTES: the largest package or descriptor upload (raw body, multipart part or fetch)."""
    return MagiSettings().package_max_bytes


class UploadTooLarge(ValueError):
    def __init__(self, limit: int):
        super().__init__(f"the package is larger than the upload limit of {limit} bytes (MAGI_PACKAGE_MAX_BYTES)")
        self.limit = limit


class Upload:
    """An upload spooled to a temporary file (in memory up to SPOOL_BYTES), with its size and
    SHA-256 taken as it arrives. Whoever holds it closes it: the file disappears then (it is
    unnamed on disk, so not even a crash leaves it behind)."""

    def __init__(self, filename: str | None = None):
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        self.filename = filename
        self.size = 0
        self._sha = hashlib.sha256()

    @classmethod
    def of(cls, data: bytes, filename: str | None = None) -> Upload:
        up = cls(filename)
        up.write(data)
        return up

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self._sha.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def rewind(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ContentStore:
    CHUNK = 4 * 1024 * 1024

    def __init__(self, store: MongoStore, max_bytes: int | None = None):
        self.coll = store.db["package_contents"]
        self.max_bytes = max_bytes if max_bytes is not None else upload_limit()

    async def put(self, key: str, data: bytes, filename: str | None) -> None:
        await self.coll.create_index([("key", 1), ("n", 1)])
        await self.delete(key)
        chunks = [data[i:i + self.CHUNK] for i in range(0, len(data), self.CHUNK)] or [b""]
        for i, part in enumerate(chunks):
            await self.coll.insert_one({"_id": f"{key}#{i}", "key": key, "n": i, "data": Binary(part)})
        # The head goes last: a reader never sees a partly written content.
        await self.coll.insert_one({"_id": key, "filename": filename, "chunks": len(chunks), "length": len(data),
                                    "chunkSize": self.CHUNK})

    async def put_file(self, key: str, upload: Upload) -> None:
        """`put` from a spooled upload, one CHUNK in memory at a time (same stored layout)."""
        await self.coll.create_index([("key", 1), ("n", 1)])
        await self.delete(key)
        fh = upload.rewind()
        n = length = 0
        while True:
            part = await asyncio.to_thread(fh.read, self.CHUNK)
            if not part and n:
                break
            await self.coll.insert_one({"_id": f"{key}#{n}", "key": key, "n": n, "data": Binary(part)})
            n, length = n + 1, length + len(part)
            if len(part) < self.CHUNK:
                break
        await self.coll.insert_one({"_id": key, "filename": upload.filename, "chunks": n, "length": length,
                                    "chunkSize": self.CHUNK})

    async def head(self, key: str) -> dict[str, Any] | None:
        """The head of a complete content (filename, length, chunks), or None."""
        head = await self.coll.find_one({"_id": key})
        if head is None or await self.coll.count_documents({"key": key}) != head["chunks"]:
            return None
        return head

    async def stream(self, key: str, head: dict[str, Any], first: int = 0, last: int | None = None) -> AsyncIterator[bytes]:
        """Bytes first..last (inclusive) of a content, read chunk by chunk; contents stored before
        `chunkSize` was recorded used the same 4 MB chunks."""
        size = head.get("chunkSize") or self.CHUNK
        last = head["length"] - 1 if last is None else last
        for n in range(first // size, last // size + 1 if head["length"] else 0):
            doc = await self.coll.find_one({"_id": f"{key}#{n}"})
            if doc is None:
                raise Problem(409, f"the content {key} was deleted while being read")
            data, base = bytes(doc["data"]), n * size
            yield data[max(first - base, 0):last - base + 1]

    async def download(self, key: str, what: str) -> Upload:
        """The content as a spooled temporary file (the caller closes it); 409 if there is none."""
        head = await self.head(key)
        if head is None:
            raise Problem(409, f"{what} has no content yet")
        up = Upload(head.get("filename"))
        try:
            async for part in self.stream(key, head):
                await asyncio.to_thread(up.write, part)
        except BaseException:
            up.close()
            raise
        return up

    async def find(self, key: str) -> dict[str, Any] | None:
        head = await self.coll.find_one({"_id": key})
        if head is None:
            return None
        parts = [d async for d in self.coll.find({"key": key}).sort("n", 1)]
        if len(parts) != head["chunks"]:
            return None
        return {"_id": key, "filename": head.get("filename"), "data": b"".join(bytes(p["data"]) for p in parts)}

    async def get(self, key: str, what: str) -> bytes:
        found = await self.find(key)
        if found is None:
            raise Problem(409, f"{what} has no content yet")
        return found["data"]

    async def delete(self, key: str) -> None:
        await self.coll.delete_one({"_id": key})
        await self.coll.delete_many({"key": key})


async def read_upload(request: web.Request, limit: int | None = None) -> tuple[bytes, str | None]:
    """The uploaded file as bytes (small uploads: NSDs, PNFDs); see `spool_upload`."""
    with await spool_upload(request, limit) as up:
        return up.rewind().read(), up.filename


async def spool_upload(request: web.Request, limit: int | None = None) -> Upload:
    """The uploaded file: a raw body (application/zip, yaml…) or the `file` part of a multipart form,
    spooled to a temporary file.

    Read in chunks and refused with 413 as soon as it crosses `limit` (MAGI_PACKAGE_MAX_BYTES by
    default): an oversized upload is never held whole, in memory or on disk.
    """
    limit = upload_limit() if limit is None else limit
    if request.content_type.startswith("multipart/"):
        try:
            return await _spool_multipart(request, limit)
        except (ValueError, HttpProcessingError) as exc:  # aiohttp's verdicts on a malformed body
            raise Problem(400, f"malformed multipart body: {exc}") from None
    if request.content_length is not None:
        _check_size(request.content_length, limit)
    up = Upload()
    try:
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            _check_size(up.size + len(chunk), limit)
            up.write(chunk)
        if not up.size:
            raise Problem(400, "the upload is empty")
    except BaseException:
        up.close()
        raise
    return up


async def _spool_multipart(request: web.Request, limit: int) -> Upload:
    reader = await request.multipart()
    async for part in reader:
        if part.name == "file" and not isinstance(part, MultipartReader):
            up = Upload(part.filename)
            try:
                while chunk := await part.read_chunk(READ_CHUNK):
                    _check_size(up.size + len(chunk), limit)
                    up.write(chunk)
                if not up.size:
                    raise Problem(400, "the upload is empty")
            except BaseException:
                up.close()
                raise
            return up
    raise Problem(400, "the multipart upload has no 'file' part")


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise Problem(413, str(UploadTooLarge(limit)))
