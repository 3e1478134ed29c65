"""VIM registry (`/magi/v1/vims`, a MAGI extension) and the grant's placement decision.

A VIM is registered with a SOL003 `VimConnectionInfo` plus a name and a site. Credentials
(`accessInfo`) are stored but never returned. Placement here is deliberately simple (pinned VIM,
else the first registered one); multi-VIM placement by location and capacity is its own issue.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from magi.api.app import json_response, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.envelope import new_id
from magi.store.mongo import MongoStore, NotFound, Repository, public

SIMULATED = "MAGI.SIMULATED"
OPENSTACK = "ETSINFV.OPENSTACK_KEYSTONE.V_3"


class VimConnectionInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vimId: str | None = None
    vimType: str
    interfaceInfo: dict[str, Any] | None = None
    accessInfo: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


class VimRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    site: str | None = None
    vimConnectionInfo: VimConnectionInfo


def redacted(vim: dict[str, Any]) -> dict[str, Any]:
    out = public(vim)
    out["vimConnectionInfo"] = {k: v for k, v in out["vimConnectionInfo"].items() if k != "accessInfo"}
    return out


class VimRegistry:
    def __init__(self, store: MongoStore, base_url: str):
        self.repo: Repository = store.repository("vims", [([("name", 1)], {"unique": True})])
        self.base = base_url

    async def register(self, reg: VimRegistration) -> dict[str, Any]:
        vim_id = reg.vimConnectionInfo.vimId or new_id()
        conn = reg.vimConnectionInfo.model_dump(exclude_none=True)
        conn["vimId"] = vim_id
        doc = {"id": vim_id, "name": reg.name, "site": reg.site, "vimConnectionInfo": conn,
               "_links": {"self": {"href": f"{self.base}/magi/v1/vims/{vim_id}"}}}
        if reg.site is None:
            doc.pop("site")
        from magi.store.mongo import AlreadyExists

        try:
            await self.repo.insert(doc)
        except AlreadyExists:
            raise Problem(409, f"a VIM with id {vim_id} or name {reg.name!r} is already registered") from None
        return doc

    async def ensure(self, reg: VimRegistration) -> None:
        """Register unless a VIM of that name exists (the default VIM of `magi up`)."""
        if await self.repo.find_one({"name": reg.name}) is None:
            await self.register(reg)

    async def get(self, vim_id: str) -> dict[str, Any]:
        try:
            return await self.repo.get(vim_id)
        except NotFound:
            raise Problem(404, f"VIM {vim_id} is not registered") from None

    async def all(self) -> list[dict[str, Any]]:
        return await self.repo.find(sort="name")

    def add_routes(self, app: web.Application) -> None:
        async def create(request: web.Request) -> web.Response:
            doc = await self.register(await read_model(request, VimRegistration))
            return json_response(redacted(doc), status=201, headers={"Location": doc["_links"]["self"]["href"]})

        async def list_(request: web.Request) -> web.Response:
            return list_response(request, [redacted(v) for v in await self.all()], allowed=attributes("id", "name", "site", "vimConnectionInfo"), selectors=False)

        async def get(request: web.Request) -> web.Response:
            return one_response(request, redacted(await self.get(request.match_info["vimId"])))

        async def delete(request: web.Request) -> web.Response:
            await self.repo.delete(await self.get(request.match_info["vimId"]))
            return web.Response(status=204)

        app.router.add_post("/magi/v1/vims", create)
        app.router.add_get("/magi/v1/vims", list_)
        app.router.add_get("/magi/v1/vims/{vimId}", get)
        app.router.add_delete("/magi/v1/vims/{vimId}", delete)


def place(vims: list[dict[str, Any]], pinned_vim_id: str | None) -> dict[str, Any]:
    """The VIM a VNF's resources go to: the pinned one, else the first registered (by name)."""
    if not vims:
        raise Problem(403, "no VIM is registered: register one at /magi/v1/vims")
    if pinned_vim_id:
        for v in vims:
            if v["id"] == pinned_vim_id:
                return v
        raise Problem(403, f"the requested VIM {pinned_vim_id} is not registered")
    return vims[0]
