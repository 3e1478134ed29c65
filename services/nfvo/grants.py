"""SOL003 VNF lifecycle operation granting (`/grant/v1`), served to VNFMs over HTTP and Or-Vnfm.

Decisions are synchronous (201). A grant is stored, so a VNFM that asks again with the same
request id gets the same decision (the bus dedupes by message id, HTTP by the op occ id).
"""
from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_model
from magi.api.listing import one_response
from magi.api.problem import Problem
from magi.bus.envelope import new_id
from magi.store.mongo import MongoStore, Repository, public
from nfvo.vims import VimRegistry, place

log = structlog.get_logger(__name__)
GRANTED_OPERATIONS = {"INSTANTIATE", "SCALE", "SCALE_TO_LEVEL", "CHANGE_FLAVOUR", "TERMINATE", "HEAL", "OPERATE",
                      "CHANGE_EXT_CONN", "CHANGE_VNFPKG", "CREATE_SNAPSHOT", "REVERT_TO_SNAPSHOT"}


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    vnfInstanceId: str
    vnfLcmOpOccId: str
    vnfdId: str
    operation: str
    isAutomaticInvocation: bool
    flavourId: str | None = None
    instantiationLevelId: str | None = None
    addResources: list[dict[str, Any]] = []
    removeResources: list[dict[str, Any]] = []
    additionalParams: dict[str, Any] | None = None
    links: dict[str, Any] | None = None


class Granting:
    def __init__(self, store: MongoStore, vims: VimRegistry, base_url: str):
        self.repo: Repository = store.repository("grants", [([("vnfLcmOpOccId", 1)], {})])
        self.pins: Repository = store.repository("vnf_placements")  # vnfInstanceId -> vimId chosen by the NS
        self.vims, self.base = vims, base_url

    async def pin(self, vnf_instance_id: str, vim_id: str) -> None:
        existing = await self.pins.find_one({"_id": vnf_instance_id})
        if existing is None:
            await self.pins.insert({"id": vnf_instance_id, "vimId": vim_id})

    async def vims_of(self, vnf_instance_ids: list[str]) -> set[str]:
        """The VIMs the grants of these VNF instances placed resources on."""
        found: set[str] = set()
        for g in await self.repo.find({"vnfInstanceId": {"$in": list(vnf_instance_ids)}}):
            found.update((g.get("vimConnectionInfo") or {}).keys())
        return found

    async def decide(self, req: GrantRequest) -> dict[str, Any]:
        if req.operation not in GRANTED_OPERATIONS:
            raise Problem(400, f"operation {req.operation} is not a granted LCM operation type")
        for old in await self.repo.find({"vnfLcmOpOccId": req.vnfLcmOpOccId}):
            if old.get("_request") == req.model_dump(mode="json"):
                return old  # the same question gets the same answer
        pinned = (req.additionalParams or {}).get("vimId")
        if not pinned:
            pin = await self.pins.find_one({"_id": req.vnfInstanceId})
            pinned = pin["vimId"] if pin else None
        if not pinned and req.removeResources:
            pinned = next((r.get("resource", {}).get("vimConnectionId") for r in req.removeResources), None)
        vim = place(await self.vims.all(), pinned)
        conn_id = vim["id"]
        grant_id = new_id()
        zone = {"id": f"zone-{conn_id[:8]}", "zoneId": (vim["vimConnectionInfo"].get("extra") or {}).get("zoneId", "zone-a"), "vimConnectionId": conn_id}
        grant: dict[str, Any] = {
            "id": grant_id, "vnfInstanceId": req.vnfInstanceId, "vnfLcmOpOccId": req.vnfLcmOpOccId,
            "vimConnectionInfo": {conn_id: vim["vimConnectionInfo"]},
            "zones": [zone],
            "_links": {"self": {"href": f"{self.base}/grant/v1/grants/{grant_id}"},
                       "vnfLcmOpOcc": (req.links or {}).get("vnfLcmOpOcc") or {"href": req.vnfLcmOpOccId},
                       "vnfInstance": (req.links or {}).get("vnfInstance") or {"href": req.vnfInstanceId}},
        }
        if req.addResources:
            grant["addResources"] = [{"resourceDefinitionId": r["id"], "vimConnectionId": conn_id, "zoneId": zone["id"]} for r in req.addResources]
        if req.removeResources:
            grant["removeResources"] = [{"resourceDefinitionId": r["id"], "vimConnectionId": conn_id} for r in req.removeResources]
        grant["_request"] = req.model_dump(mode="json")
        await self.repo.insert(grant)
        log.info("grant.decided", grantId=grant_id, vnfInstanceId=req.vnfInstanceId, vimId=conn_id, operation=req.operation)
        return grant

    def add_routes(self, app: web.Application) -> None:
        async def create(request: web.Request) -> web.Response:
            body = await read_model(request, _HttpGrantRequest)
            grant = await self.decide(GrantRequest.model_validate({**body.model_dump(by_alias=False), "links": body.links}))
            return json_response(public(grant), status=201, headers={"Location": grant["_links"]["self"]["href"]})

        async def get(request: web.Request) -> web.Response:
            doc = await self.repo.find_one({"_id": request.match_info["grantId"]})
            if doc is None:
                raise Problem(404, f"grant {request.match_info['grantId']} does not exist")
            return one_response(request, public(doc))

        app.router.add_post("/grant/v1/grants", create)
        app.router.add_get("/grant/v1/grants/{grantId}", get)


class _HttpGrantRequest(GrantRequest):
    # Over HTTP the body carries SOL003's `_links`, which pydantic cannot name directly.
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    links: dict[str, Any] = {}

    @classmethod
    def model_validate(cls, obj: Any, **kw: Any) -> Any:  # type: ignore[override]
        if isinstance(obj, dict) and "_links" in obj:
            obj = {**{k: v for k, v in obj.items() if k != "_links"}, "links": obj["_links"]}
        if isinstance(obj, dict) and "links" not in obj:
            raise Problem(400, "invalid request body: _links: Field required")
        return super().model_validate(obj, **kw)
