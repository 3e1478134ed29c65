"""The NFVO's content store: uploaded package and NSD bytes, shared by `vnfpkgm` and `nsd`.

Bytes live in the NFVO's own database (collection `package_contents`), so the embedded default
and Helm need no extra volume. They are cut into chunks (GridFS's layout, written with plain
documents so the nx-27017 stand-in and MongoDB behave alike): one document may not exceed
16 MB, and packages carrying VM images are larger than that.
"""
from __future__ import annotations

from typing import Any

from aiohttp import MultipartReader, web
from bson import Binary

from magi.api.problem import Problem
from magi.config import MagiSettings
from magi.store.mongo import MongoStore

READ_CHUNK = 1 << 16


def upload_limit() -> int:
    """MAGI_PACKAGE_MAX_BYTES: the largest package or descriptor upload (raw body, multipart part or fetch)."""
    return MagiSettings().package_max_bytes


class UploadTooLarge(ValueError):
    def __init__(self, limit: int):
        super().__init__(f"the package is larger than the upload limit of {limit} bytes (MAGI_PACKAGE_MAX_BYTES)")
        self.limit = limit


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
        await self.coll.insert_one({"_id": key, "filename": filename, "chunks": len(chunks), "length": len(data)})

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
    """The uploaded file: a raw body (application/zip, yaml…) or the `file` part of a multipart form.

    Read in chunks and refused with 413 as soon as it crosses `limit` (MAGI_PACKAGE_MAX_BYTES by
    default): an oversized upload is never held in memory whole.
    """
    limit = upload_limit() if limit is None else limit
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.name == "file" and not isinstance(part, MultipartReader):
                data = bytearray()
                while chunk := await part.read_chunk(READ_CHUNK):
                    data += chunk
                    _check_size(len(data), limit)
                if not data:
                    raise Problem(400, "the upload is empty")
                return bytes(data), part.filename
        raise Problem(400, "the multipart upload has no 'file' part")
    if request.content_length is not None:
        _check_size(request.content_length, limit)
    data = bytearray()
    async for chunk in request.content.iter_chunked(READ_CHUNK):
        data += chunk
        _check_size(len(data), limit)
    if not data:
        raise Problem(400, "the upload is empty")
    return bytes(data), None


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise Problem(413, str(UploadTooLarge(limit)))
