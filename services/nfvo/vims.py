"""VIM registry (`/magi/v1/vims`, a MAGI extension): VIMs, their sites, zones and capacity.

A VIM is registered with a SOL003 `VimConnectionInfo`, a name, a site (name + a location in the
terms of SOL005 `LocationConstraints`), its resource zones and optional capacity limits. The
credentials (`accessInfo`) are sealed at rest with `SecretBox` and never returned; the VIM
adapter gets them over Or-Vi (`vimaccess.get`). Placement itself is in `nfvo.placement`.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from magi.api.app import json_response, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.base import MessageBus
from magi.bus.catalog import message
from magi.bus.envelope import BusError, new_id
from magi.secrets import SecretBox
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore, NotFound, Repository, public

log = structlog.get_logger(__name__)
SIMULATED = "MAGI.SIMULATED"
OPENSTACK = "ETSINFV.OPENSTACK_KEYSTONE.V_3"
CAPACITY_TIMEOUT = 3.0  # seconds a grant waits for one VIM's capacity before treating it as unknown


class VimConnectionInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vimId: str | None = None
    vimType: str
    interfaceInfo: dict[str, Any] | None = None
    accessInfo: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


class CivicAddressElement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caType: int
    caValue: str


class Location(BaseModel):
    """SOL005 LocationConstraints, plus MAGI's `point` ([longitude, latitude]) for `area` matching."""
    model_config = ConfigDict(extra="forbid")
    countryCode: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    civicAddressElement: list[CivicAddressElement] | None = None
    area: dict[str, Any] | None = None
    point: list[float] | None = Field(None, min_length=2, max_length=3)


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    location: Location | None = None


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zoneId: str = Field(min_length=1)
    name: str | None = None


class CapacityLimits(BaseModel):
    """What the NFVO may grant on this VIM at most, whatever the VIM itself has."""
    model_config = ConfigDict(extra="forbid")
    vcpus: float | None = Field(None, ge=0)
    memoryMb: float | None = Field(None, ge=0)
    storageGb: float | None = Field(None, ge=0)


class VimRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    site: Site | str | None = None  # a plain string is the site's name (older registrations)
    zones: list[Zone] = []
    capacityLimits: CapacityLimits | None = None
    vimConnectionInfo: VimConnectionInfo


class ConnectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interfaceInfo: dict[str, Any] | None = None
    accessInfo: dict[str, Any] | None = None  # replaces the stored credentials as a whole
    extra: dict[str, Any] | None = None


class SitePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1)
    location: Location | None = None


class VimModifications(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1)
    site: SitePatch | None = None
    zones: list[Zone] | None = None
    capacityLimits: CapacityLimits | None = None
    vimConnectionInfo: ConnectionPatch | None = None


def without_access(conn: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conn.items() if k != "accessInfo"}


def redacted(vim: dict[str, Any]) -> dict[str, Any]:
    out = public(vim)
    out["vimConnectionInfo"] = without_access(out["vimConnectionInfo"])
    return out


def _merge(current: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any] | None:
    """RFC 7396 merge patch (recursive; null deletes)."""
    out = dict(current or {})
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


class VimRegistry:
    def __init__(self, store: MongoStore, base_url: str, box: SecretBox | None = None, bus: MessageBus | None = None,
                 source: str = "nfvo"):
        self.repo: Repository = store.repository("vims", [([("name", 1)], {"unique": True})])
        self.base, self.box, self.bus, self.source = base_url, box, bus, source
        self.in_use: Callable[[str], Awaitable[str | None]] | None = None  # why a VIM cannot go (set by the granting)

    def _doc(self, vim_id: str, reg: VimRegistration) -> dict[str, Any]:
        conn = reg.vimConnectionInfo.model_dump(exclude_none=True)
        conn["vimId"] = vim_id
        if "accessInfo" in conn and self.box is not None:
            conn["accessInfo"] = self.box.seal(conn["accessInfo"])
        site = {"name": reg.site} if isinstance(reg.site, str) else (reg.site.model_dump(exclude_none=True) if reg.site else None)
        doc: dict[str, Any] = {"id": vim_id, "name": reg.name, "vimConnectionInfo": conn,
                               "zones": [z.model_dump(exclude_none=True) for z in reg.zones],
                               "_links": {"self": {"href": f"{self.base}/magi/v1/vims/{vim_id}"},
                                          "capacity": {"href": f"{self.base}/magi/v1/vims/{vim_id}/capacity"}}}
        if site:
            doc["site"] = site
        if reg.capacityLimits:
            doc["capacityLimits"] = reg.capacityLimits.model_dump(exclude_none=True)
        return doc

    async def register(self, reg: VimRegistration) -> dict[str, Any]:
        vim_id = reg.vimConnectionInfo.vimId or new_id()
        doc = self._doc(vim_id, reg)
        try:
            await self.repo.insert(doc)
        except AlreadyExists:
            raise Problem(409, f"a VIM with id {vim_id} or name {reg.name!r} is already registered") from None
        log.info("vim.registered", vimId=vim_id, name=reg.name, vimType=reg.vimConnectionInfo.vimType)
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

    async def patch(self, vim_id: str, mods: VimModifications) -> dict[str, Any]:
        doc = await self.get(vim_id)
        m = mods.model_dump(exclude_unset=True)
        if "name" in m and m["name"]:
            doc["name"] = m["name"]
        if "site" in m:
            site = _merge(doc.get("site"), m["site"]) if m["site"] is not None else None
            if site and "name" not in site:
                raise Problem(400, "invalid request body: site/name: Field required")
            if site:
                doc["site"] = site
            else:
                doc.pop("site", None)
        if "zones" in m:
            doc["zones"] = m["zones"] or []
        if "capacityLimits" in m:
            limits = _merge(doc.get("capacityLimits"), m["capacityLimits"]) if m["capacityLimits"] is not None else None
            if limits:
                doc["capacityLimits"] = limits
            else:
                doc.pop("capacityLimits", None)
        conn_patch = m.get("vimConnectionInfo") or {}
        conn = doc["vimConnectionInfo"]
        for k in ("interfaceInfo", "extra"):
            if k in conn_patch:
                merged = _merge(conn.get(k), conn_patch[k]) if conn_patch[k] is not None else None
                if merged:
                    conn[k] = merged
                else:
                    conn.pop(k, None)
        if "accessInfo" in conn_patch:
            if conn_patch["accessInfo"] is None:
                conn.pop("accessInfo", None)
            else:
                conn["accessInfo"] = self.box.seal(conn_patch["accessInfo"]) if self.box else conn_patch["accessInfo"]
        try:
            saved = await self.repo.replace(doc)
        except AlreadyExists:
            raise Problem(409, f"a VIM named {doc['name']!r} is already registered") from None
        except ConcurrencyError:
            raise Problem(409, f"VIM {vim_id} changed concurrently; retry") from None
        log.info("vim.modified", vimId=vim_id, fields=sorted(m))
        return saved

    async def delete(self, vim_id: str) -> None:
        doc = await self.get(vim_id)
        if self.in_use is not None and (why := await self.in_use(vim_id)):
            raise Problem(409, f"VIM {doc['name']} ({vim_id}) is in use: {why}")
        await self.repo.delete(doc)

    def connection(self, vim: dict[str, Any], *, with_access: bool = False, sealed: bool = False) -> dict[str, Any]:
        """The VIM's VimConnectionInfo; with the credentials only when asked: opened, or as
        stored (sealed) for a service that holds the same MAGI_SECRET_KEY."""
        conn = dict(vim["vimConnectionInfo"])
        if not with_access:
            return without_access(conn)
        if sealed:
            if "accessInfo" in conn and self.box is not None and not SecretBox.is_sealed(conn["accessInfo"]):
                conn["accessInfo"] = self.box.seal(conn["accessInfo"])  # a record from before sealing
            return conn
        if "accessInfo" in conn and self.box is not None:
            conn["accessInfo"] = self.box.open(conn["accessInfo"])
        return conn

    async def capacity(self, vim: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """The VIM adapter's answer to `vim.capacity` (the adapter asks back for credentials)."""
        if self.bus is None:
            raise RuntimeError("no bus to reach the VIM adapter")
        return await self.bus.request(message("vim.capacity", {"vimConnectionInfo": self.connection(vim)}, source=self.source),
                                      timeout=timeout)

    async def free(self, vims: list[dict[str, Any]], granted: dict[str, dict[str, float]]) -> dict[str, dict[str, float] | None]:
        """Free capacity per VIM id: the adapter's `free` and the registered limits less what was granted,
        whichever is smaller; None when neither is known."""
        async def one(v: dict[str, Any]) -> dict[str, float] | None:
            free: dict[str, float] | None = None
            try:
                got = await self.capacity(v, timeout=CAPACITY_TIMEOUT)
                if isinstance(got.get("free"), dict):
                    free = {k: float(x) for k, x in got["free"].items() if isinstance(x, (int, float))}
            except (BusError, asyncio.TimeoutError, RuntimeError) as exc:
                log.warning("vim.capacity_unknown", vimId=v["id"], error=str(exc) or type(exc).__name__)
            limits = v.get("capacityLimits") or {}
            if limits:
                used = granted.get(v["id"], {})
                free = dict(free or {})
                for k, cap in limits.items():
                    left = float(cap) - used.get(k, 0.0)
                    free[k] = min(free.get(k, left), left)
            return free
        results = await asyncio.gather(*(one(v) for v in vims))
        return {v["id"]: r for v, r in zip(vims, results)}

    def add_routes(self, app: web.Application) -> None:
        async def create(request: web.Request) -> web.Response:
            doc = await self.register(await read_model(request, VimRegistration))
            return json_response(redacted(doc), status=201, headers={"Location": doc["_links"]["self"]["href"]})

        async def list_(request: web.Request) -> web.Response:
            return list_response(request, [redacted(v) for v in await self.all()],
                                 allowed=attributes("id", "name", "site", "zones", "capacityLimits", "vimConnectionInfo"), selectors=False)

        async def get(request: web.Request) -> web.Response:
            return one_response(request, redacted(await self.get(request.match_info["vimId"])))

        async def patch(request: web.Request) -> web.Response:
            if request.content_type not in ("application/merge-patch+json", "application/json"):
                raise Problem(415, "PATCH takes Content-Type application/merge-patch+json")
            mods = await read_model(request, VimModifications)
            return json_response(redacted(await self.patch(request.match_info["vimId"], mods)))

        async def delete(request: web.Request) -> web.Response:
            await self.delete(request.match_info["vimId"])
            return web.Response(status=204)

        async def capacity(request: web.Request) -> web.Response:
            vim = await self.get(request.match_info["vimId"])
            try:
                got = await self.capacity(vim, timeout=10.0)
            except BusError as exc:
                problem = getattr(exc, "problem", None) or {}
                raise Problem(502, f"the VIM adapter could not read the capacity of VIM {vim['name']}: "
                                   f"{problem.get('detail') or str(exc) or type(exc).__name__}") from None
            return json_response(got)

        app.router.add_post("/magi/v1/vims", create)
        app.router.add_get("/magi/v1/vims", list_)
        app.router.add_get("/magi/v1/vims/{vimId}", get)
        app.router.add_patch("/magi/v1/vims/{vimId}", patch)
        app.router.add_delete("/magi/v1/vims/{vimId}", delete)
        app.router.add_get("/magi/v1/vims/{vimId}/capacity", capacity)


def place(vims: list[dict[str, Any]], pinned_vim_id: str | None) -> dict[str, Any]:
    """The VIM NS-level resources go to when no VNF decides it: the pinned one, else the first by name."""
    if not vims:
        raise Problem(403, "no VIM is registered: register one at /magi/v1/vims")
    if pinned_vim_id:
        for v in vims:
            if pinned_vim_id in (v["id"], v["name"]):
                return v
        raise Problem(403, f"the requested VIM {pinned_vim_id} is not registered")
    return vims[0]
