"""The NFVO's content store: uploaded package and NSD bytes, shared by `vnfpkgm` and `nsd`.

Bytes live in the NFVO's own database (collection `package_contents`), so the embedded default
and Helm need no extra volume.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from bson import Binary

from magi.api.problem import Problem
from magi.store.mongo import MongoStore

MAX_UPLOAD = 512 * 1024 * 1024


class ContentStore:
    def __init__(self, store: MongoStore):
        self.coll = store.db["package_contents"]

    async def put(self, key: str, data: bytes, filename: str | None) -> None:
        await self.coll.replace_one({"_id": key}, {"_id": key, "data": Binary(data), "filename": filename}, upsert=True)

    async def find(self, key: str) -> dict[str, Any] | None:
        return await self.coll.find_one({"_id": key})

    async def get(self, key: str, what: str) -> bytes:
        found = await self.find(key)
        if found is None:
            raise Problem(409, f"{what} has no content yet")
        return bytes(found["data"])

    async def delete(self, key: str) -> None:
        await self.coll.delete_one({"_id": key})


async def read_upload(request: web.Request) -> tuple[bytes, str | None]:
    """The uploaded file: a raw body (application/zip, yaml…) or the `file` part of a multipart form."""
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.name == "file":
                return bytes(await part.read(decode=False)), part.filename
        raise Problem(400, "the multipart upload has no 'file' part")
    data = await request.read()
    if not data:
        raise Problem(400, "the upload is empty")
    if len(data) > MAX_UPLOAD:
        raise Problem(413, "the package is larger than the upload limit")
    return data, None
