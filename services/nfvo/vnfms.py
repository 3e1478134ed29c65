"""VNFM registry (`/magi/v1/vnfms`, a MAGI extension): which VNFM manages which VNFs.

A vendor registers its specific VNFM with the SOL003 API root the NFVO drives over HTTP and the
`vnfmInfo` values its packages declare (SOL001 `vnfm_info`). A VNF whose package names a
registered VNFM goes to it; every other VNF goes to MAGI's generic VNFM over Or-Vnfm.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from magi.api.app import json_response, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.envelope import new_id
from magi.store.mongo import AlreadyExists, MongoStore, NotFound, Repository, public
from nfvo.vnfm_drivers import HttpSol003Vnfm, VnfmDriver

BUILT_IN = "magi"  # the id entries carry when MAGI's own VNFM manages the VNF


class VnfmRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    apiRoot: str = Field(pattern=r"^https?://")
    vnfmInfo: list[str] = Field(min_length=1)
    accessToken: str | None = None  # Bearer token the NFVO presents; stored, never returned
    version: str = "2.0.0"


def redacted(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in public(doc).items() if k != "accessToken"}


class VnfmRegistry:
    def __init__(self, store: MongoStore, base_url: str, built_in: VnfmDriver):
        self.repo: Repository = store.repository("vnfms", [([("name", 1)], {"unique": True})])
        self.base, self.built_in = base_url, built_in

    async def pick(self, vnfm_info: list[str]) -> str:
        """The VNFM for a package's vnfmInfo: a registered one that names it, else MAGI's."""
        wanted = set(vnfm_info)
        for v in await self.repo.find(sort="name"):
            if wanted & set(v["vnfmInfo"]):
                return v["id"]
        return BUILT_IN

    async def driver(self, vnfm_id: str | None) -> VnfmDriver:
        if not vnfm_id or vnfm_id == BUILT_IN:
            return self.built_in
        try:
            v = await self.repo.get(vnfm_id)
        except NotFound:
            raise RuntimeError(f"VNFM {vnfm_id} that manages this VNF is no longer registered") from None
        return HttpSol003Vnfm(v["apiRoot"], token=v.get("accessToken"), version=v.get("version", "2.0.0"))

    def add_routes(self, app: web.Application) -> None:
        async def create(request: web.Request) -> web.Response:
            reg = await read_model(request, VnfmRegistration)
            vid = new_id()
            doc = {"id": vid, **reg.model_dump(exclude_none=True), "_links": {"self": {"href": f"{self.base}/magi/v1/vnfms/{vid}"}}}
            try:
                await self.repo.insert(doc)
            except AlreadyExists:
                raise Problem(409, f"a VNFM named {reg.name!r} is already registered") from None
            return json_response(redacted(doc), status=201, headers={"Location": doc["_links"]["self"]["href"]})

        async def list_(request: web.Request) -> web.Response:
            return list_response(request, [redacted(v) for v in await self.repo.find()], allowed=attributes("id", "name", "apiRoot", "vnfmInfo"), selectors=False)

        async def get(request: web.Request) -> web.Response:
            try:
                return one_response(request, redacted(await self.repo.get(request.match_info["vnfmId"])))
            except NotFound:
                raise Problem(404, f"VNFM {request.match_info['vnfmId']} is not registered") from None

        async def delete(request: web.Request) -> web.Response:
            try:
                await self.repo.delete(await self.repo.get(request.match_info["vnfmId"]))
            except NotFound:
                raise Problem(404, f"VNFM {request.match_info['vnfmId']} is not registered") from None
            return web.Response(status=204)

        app.router.add_post("/magi/v1/vnfms", create)
        app.router.add_get("/magi/v1/vnfms", list_)
        app.router.add_get("/magi/v1/vnfms/{vnfmId}", get)
        app.router.add_delete("/magi/v1/vnfms/{vnfmId}", delete)
