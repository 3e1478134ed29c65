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
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore, Repository, public
from nfvo import placement
from nfvo.vims import VimRegistry

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
    def __init__(self, store: MongoStore, vims: VimRegistry, base_url: str, catalogue: Any = None):
        self.repo: Repository = store.repository("grants", [([("vnfLcmOpOccId", 1)], {})])
        # vnfInstanceId -> the NS's placement hints (pin, locationConstraints, vnfProfileId) and, once granted,
        # the VIM the VNF is on and what it holds there (`held`: {vimId: need}). `nsvl:<id>` entries: NS VLs.
        self.pins: Repository = store.repository("vnf_placements")
        self.vims, self.base, self.catalogue = vims, base_url, catalogue
        vims.in_use = self.vim_in_use

    async def _upsert(self, pid: str, change: dict[str, Any]) -> None:
        for _ in range(10):
            doc = await self.pins.find_one({"_id": pid})
            try:
                if doc is None:
                    await self.pins.insert({"id": pid, **change})
                else:
                    doc.update(change)
                    await self.pins.replace(doc)
                return
            except (AlreadyExists, ConcurrencyError):
                continue

    async def pin(self, vnf_instance_id: str, vim_id: str | None = None, *, location: dict[str, Any] | None = None,
                  profile: str | None = None, ns_instance_id: str | None = None) -> None:
        """The NS's placement of a VNF: a VIM it must go to and/or the locationConstraints of its profile."""
        hints = {k: v for k, v in {"vimId": vim_id, "locationConstraints": location, "vnfProfileId": profile,
                                    "nsInstanceId": ns_instance_id}.items() if v}
        await self._upsert(vnf_instance_id, {"hints": hints})

    async def forget(self, vnf_instance_id: str) -> None:
        doc = await self.pins.find_one({"_id": vnf_instance_id})
        if doc is not None:
            try:
                await self.pins.delete(doc)
            except ConcurrencyError:
                pass

    async def record_vl(self, resource_id: str, vim_id: str, ns_instance_id: str) -> None:
        await self._upsert(f"nsvl:{resource_id}", {"vimId": vim_id, "nsInstanceId": ns_instance_id, "held": {vim_id: {}}})

    async def vim_in_use(self, vim_id: str) -> str | None:
        users = [d for d in await self.pins.find() if vim_id in (d.get("held") or {})]
        if not users:
            return None
        vnfs = [d["id"] for d in users if not d["id"].startswith("nsvl:")]
        vls = [d["id"][5:] for d in users if d["id"].startswith("nsvl:")]
        parts = ([f"VNF instances {', '.join(sorted(vnfs))} are placed on it"] if vnfs else []) + \
                ([f"NS virtual links {', '.join(sorted(vls))} are on it"] if vls else [])
        return "; ".join(parts)

    async def granted(self) -> dict[str, dict[str, float]]:
        """What the grants placed on each VIM and is not released yet."""
        out: dict[str, dict[str, float]] = {}
        for d in await self.pins.find():
            for vim_id, need in (d.get("held") or {}).items():
                out[vim_id] = placement.total([out.get(vim_id, {}), need])
        return out

    async def vim_of(self, vnf_instance_id: str) -> str | None:
        doc = await self.pins.find_one({"_id": vnf_instance_id})
        return (doc or {}).get("vimId")

    async def vims_of(self, vnf_instance_ids: list[str]) -> set[str]:
        """The VIMs the grants of these VNF instances placed resources on."""
        found: set[str] = set()
        for g in await self.repo.find({"vnfInstanceId": {"$in": list(vnf_instance_ids)}}):
            found.update((g.get("vimConnectionInfo") or {}).keys())
        return found

    async def candidates(self, vims: list[dict[str, Any]] | None = None) -> list[placement.Candidate]:
        vims = vims if vims is not None else await self.vims.all()
        free = await self.vims.free(vims, await self.granted())
        out = []
        for v in vims:
            c = placement.Candidate.from_vim(v, free.get(v["id"]))
            if not c.zones and (v["vimConnectionInfo"].get("extra") or {}).get("zoneId"):
                c.zones = [v["vimConnectionInfo"]["extra"]["zoneId"]]
            out.append(c)
        return out

    async def _vnfd(self, vnfd_id: str) -> dict[str, Any] | None:
        if self.catalogue is None:
            return None
        try:
            return (await self.catalogue.onboarded_vnfd(vnfd_id))["_vnfd"]
        except Problem:
            return None

    async def preview(self, vnfd_id: str, flavour_id: str | None, level_id: str | None, *, profile: str | None,
                      location: dict[str, Any] | None, pinned: str | None, extra_used: dict[str, dict[str, float]],
                      cands: list[placement.Candidate]) -> tuple[str, dict[str, float]]:
        """The VIM an NS would put a VNF on (before its VNFM asks): same rules as the grant."""
        vnfd = await self._vnfd(vnfd_id)
        adds = _vnfd_resources(vnfd, flavour_id, level_id)
        resources = placement.resource_needs(vnfd, flavour_id, adds)
        adjusted = [placement.Candidate(c.id, c.name, c.location, c.zones,
                                        None if c.free is None else {k: v - extra_used.get(c.id, {}).get(k, 0) for k, v in c.free.items()})
                    for c in cands]
        try:
            vim_id = placement.place(adjusted, resources, profile=profile, location=location, pinned=pinned).vim_id
            return vim_id, placement.total([r.need for r in resources])
        except placement.PlacementError as exc:
            raise Problem(403, exc.reason) from None

    async def decide(self, req: GrantRequest) -> dict[str, Any]:
        if req.operation not in GRANTED_OPERATIONS:
            raise Problem(400, f"operation {req.operation} is not a granted LCM operation type")
        for old in await self.repo.find({"vnfLcmOpOccId": req.vnfLcmOpOccId}):
            if old.get("_request") == req.model_dump(mode="json"):
                return old  # the same question gets the same answer
        doc = await self.pins.find_one({"_id": req.vnfInstanceId}) or {}
        hints = doc.get("hints") or {}
        pinned = (req.additionalParams or {}).get("vimId") or hints.get("vimId")
        current = doc.get("vimId") if doc.get("held") and req.operation != "INSTANTIATE" else None
        vims = await self.vims.all()
        by_id = {v["id"]: v for v in vims}
        vnfd = await self._vnfd(req.vnfdId) if req.addResources else None
        resources = placement.resource_needs(vnfd, req.flavourId, req.addResources)
        extra = req.model_extra or {}
        if req.addResources or not req.removeResources:
            if req.operation == "INSTANTIATE" and doc.get("held"):
                # a retried instantiation: what the earlier attempt held is given back first
                doc["held"] = {}
                await self._upsert(req.vnfInstanceId, {"held": {}})
            try:
                decision = placement.place(await self.candidates(vims), resources, profile=hints.get("vnfProfileId"),
                                           location=hints.get("locationConstraints"), pinned=pinned, current_vim=current,
                                           placement_constraints=extra.get("placementConstraints"))
            except placement.PlacementError as exc:
                log.warning("grant.rejected", vnfInstanceId=req.vnfInstanceId, operation=req.operation, reason=exc.reason)
                raise Problem(403, exc.reason) from None
        else:
            decision = placement.Decision({}, {}, current or "")
        removed: dict[str, str] = {}
        for r in req.removeResources:
            vim_id = (r.get("resource") or {}).get("vimConnectionId") or current or doc.get("vimId")
            if vim_id not in by_id:
                raise Problem(403, f"resource {r.get('id')} to remove is on VIM {vim_id}, which is not registered")
            removed[r["id"]] = vim_id
        used_vims = sorted(set(decision.vim_of.values()) | set(removed.values()) | ({decision.vim_id} if decision.vim_id else set()))
        grant_id = new_id()
        zones: dict[tuple[str, str], dict[str, Any]] = {}
        for rid, vim_id in decision.vim_of.items():
            z = decision.zone_of.get(rid)
            if z:
                zones.setdefault((vim_id, z), {"id": f"zone-{vim_id[:8]}-{z}", "zoneId": z, "vimConnectionId": vim_id})
        grant: dict[str, Any] = {
            "id": grant_id, "vnfInstanceId": req.vnfInstanceId, "vnfLcmOpOccId": req.vnfLcmOpOccId,
            "vimConnectionInfo": {v: self.vims.connection(by_id[v]) for v in used_vims if v in by_id},
            "_links": {"self": {"href": f"{self.base}/grant/v1/grants/{grant_id}"},
                       "vnfLcmOpOcc": (req.links or {}).get("vnfLcmOpOcc") or {"href": req.vnfLcmOpOccId},
                       "vnfInstance": (req.links or {}).get("vnfInstance") or {"href": req.vnfInstanceId}},
        }
        if zones:
            grant["zones"] = list(zones.values())
        if req.addResources:
            grant["addResources"] = []
            for r in req.addResources:
                info = {"resourceDefinitionId": r["id"], "vimConnectionId": decision.vim_of[r["id"]]}
                z = decision.zone_of.get(r["id"])
                if z:
                    info["zoneId"] = zones[(decision.vim_of[r["id"]], z)]["id"]
                grant["addResources"].append(info)
        if req.removeResources:
            grant["removeResources"] = [{"resourceDefinitionId": r["id"], "vimConnectionId": removed[r["id"]]} for r in req.removeResources]
        grant["_request"] = req.model_dump(mode="json")
        await self.repo.insert(grant)
        await self._account(req, doc, decision, resources)
        log.info("grant.decided", grantId=grant_id, vnfInstanceId=req.vnfInstanceId, vimIds=used_vims, operation=req.operation)
        return grant

    async def _account(self, req: GrantRequest, doc: dict[str, Any], decision: placement.Decision,
                       resources: list[placement.Resource]) -> None:
        """Keep what each VNF holds on which VIM (capacity limits, VIM deletion)."""
        held: dict[str, dict[str, float]] = dict(doc.get("held") or {})
        if req.operation == "TERMINATE":
            held = {}
        need = {r.id: r.need for r in resources}
        for rid, vim_id in decision.vim_of.items():
            held[vim_id] = placement.total([held.get(vim_id, {}), need.get(rid, {})])
        change: dict[str, Any] = {"held": held}
        if decision.vim_id:
            change["vimId"] = decision.vim_id
        await self._upsert(req.vnfInstanceId, change)

    async def _external(self, grant: dict[str, Any]) -> dict[str, Any]:
        """The grant as an HTTP (vendor) VNFM gets it: with each VIM's credentials, which SOL003 requires
        for it to reach the VIM. The built-in VNFM (bus) gets none: the VIM adapter resolves them."""
        out = public(grant)
        conns = {}
        for vim_id, conn in (out.get("vimConnectionInfo") or {}).items():
            try:
                conns[vim_id] = self.vims.connection(await self.vims.get(vim_id), with_access=True)
            except Problem:
                conns[vim_id] = conn
        out["vimConnectionInfo"] = conns
        return out

    def add_routes(self, app: web.Application) -> None:
        async def create(request: web.Request) -> web.Response:
            body = await read_model(request, _HttpGrantRequest)
            grant = await self.decide(GrantRequest.model_validate({**body.model_dump(by_alias=False), "links": body.links}))
            return json_response(await self._external(grant), status=201, headers={"Location": grant["_links"]["self"]["href"]})

        async def get(request: web.Request) -> web.Response:
            doc = await self.repo.find_one({"_id": request.match_info["grantId"]})
            if doc is None:
                raise Problem(404, f"grant {request.match_info['grantId']} does not exist")
            return one_response(request, await self._external(doc))

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


def _vnfd_resources(vnfd: dict[str, Any] | None, flavour_id: str | None, level_id: str | None) -> list[dict[str, Any]]:
    """The addResources an instantiation of this VNFD flavour would ask for (VDUs and their storage)."""
    if not vnfd:
        return []
    from magi.descriptors.model import Vnfd

    try:
        fl = Vnfd.model_validate(vnfd).flavour(flavour_id or "default")
    except Exception:
        return []
    counts = fl.instances_for_level(level_id)
    out: list[dict[str, Any]] = []
    for vdu in fl.vdus:
        for i in range(counts.get(vdu.vdu_id, vdu.min_instances)):
            out.append({"id": f"{vdu.vdu_id}:{i}", "type": "COMPUTE", "resourceTemplateId": vdu.vdu_id, "vduId": vdu.vdu_id})
            out += [{"id": f"{vdu.vdu_id}:{i}:{st.id}", "type": "STORAGE", "resourceTemplateId": st.id, "vduId": vdu.vdu_id}
                    for st in vdu.storages]
    return out
