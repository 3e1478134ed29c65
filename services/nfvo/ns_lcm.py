"""NS lifecycle application service (SOL005 `/nslcm/v2`) and its op-occ runner.

Same pattern as the VNFM: the op occ is written first (PROCESSING), a runner holding a lease
drives it, and every step's result is in the op occ's `_work` before the next step starts, so
an NFVO restart resumes the operation where it stopped. Each request to another service has a
key derived from the op occ and the step, so a resumed step is answered, not redone.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import structlog

from magi.aio import wait_event
from magi.api.problem import Problem
from magi.bus.catalog import message
from magi.bus.envelope import Envelope, RemoteError, new_id, utcnow
from magi.descriptors.model import Nsd, Vnfd
from magi.lcm import (OpOccRunner, claim, holding_op, COMPLETED, FAILED, FAILED_TEMP, NS_TRANSITIONS, PROCESSING, ROLLED_BACK, ROLLING_BACK,
                      InvalidTransition, step_error, transition)
from magi.bus.base import MessageBus
from magi.store.mongo import ConcurrencyError, MongoStore, NotFound, Repository
from magi.telemetry import bind_ids, tracer
from nfvo import placement
from nfvo.grants import Granting
from nfvo.catalogue import Catalogue
from nfvo.vims import VimRegistry, place
from nfvo.vnfms import VnfmRegistry

log = structlog.get_logger(__name__)
NOT_INSTANTIATED, INSTANTIATED = "NOT_INSTANTIATED", "INSTANTIATED"
NS_INSTANCE_DEFAULT_EXCLUDED = ("vnfInstance", "pnfInfo", "virtualLinkInfo", "vnffgInfo", "sapInfo", "nsScaleStatus",
                                "additionalAffinityOrAntiAffinityRule", "wanConnectionInfo")
NS_OP_OCC_DEFAULT_EXCLUDED = ("operationParams", "error", "resourceChanges")
VNF_TERMINAL = {"COMPLETED", "FAILED_TEMP", "FAILED", "ROLLED_BACK"}
ACTIVE = {PROCESSING, ROLLING_BACK}


def _sites(vl: dict[str, Any]) -> list[dict[str, Any]]:
    """The VIMs an NS virtual link is on (older records: one, at the top level)."""
    if "sites" in vl:
        return vl["sites"]
    if "vimId" in vl:
        vl["sites"] = [{k: vl[k] for k in ("resourceId", "vimId", "vimResourceId", "vim", "deleted") if k in vl}]
        return vl["sites"]
    return []


def vl_conn(conn: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conn.items() if k != "accessInfo"}


def _key(op_id: str, step: str, attempt: int) -> str:
    return str(uuid.uuid5(uuid.UUID(op_id), f"{step}:{attempt}"))


class NsLcm:
    def __init__(self, store: MongoStore, bus: MessageBus, catalogue: Catalogue, vims: VimRegistry, granting: Granting,
                 vnfms: VnfmRegistry, *, base_url: str, source: str = "nfvo", lease_seconds: float = 30.0,
                 vnf_timeout: float = 600.0):
        self.instances: Repository = store.repository("ns_instances", [[("nsdId", 1)]])
        self.op_occs: Repository = store.repository("ns_lcm_op_occs", [[("nsInstanceId", 1)], [("operationState", 1)]])
        self.bus, self.catalogue, self.vims, self.granting, self.vnfms = bus, catalogue, vims, granting, vnfms
        self.base, self.source = base_url, source
        self.vnf_timeout = vnf_timeout
        self.runner = OpOccRunner(self.op_occs, ACTIVE, self._drive, name="ns-op", lease_seconds=lease_seconds)
        self._vnf_events: dict[str, asyncio.Event] = {}

    # -- links -----------------------------------------------------------------------------
    def _ns_links(self, ns: dict[str, Any]) -> dict[str, Any]:
        s = f"{self.base}/nslcm/v2/ns_instances/{ns['id']}"
        links = {"self": {"href": s}}
        if ns["nsState"] == NOT_INSTANTIATED:
            links["instantiate"] = {"href": f"{s}/instantiate"}
        else:
            for t in ("terminate", "update", "scale", "heal"):
                links[t] = {"href": f"{s}/{t}"}
        return links

    def _op_links(self, op: dict[str, Any]) -> dict[str, Any]:
        s = f"{self.base}/nslcm/v2/ns_lcm_op_occs/{op['id']}"
        links = {"self": {"href": s}, "nsInstance": {"href": f"{self.base}/nslcm/v2/ns_instances/{op['nsInstanceId']}"}}
        if op["operationState"] == FAILED_TEMP:
            for t in ("retry", "rollback", "fail"):
                links[t] = {"href": f"{s}/{t}"}
        return links

    # -- use cases -------------------------------------------------------------------------
    async def create(self, req: dict[str, Any]) -> dict[str, Any]:
        nsd = await self.catalogue.onboarded_nsd(req["nsdId"])
        ns = {"id": new_id(), "nsInstanceName": req["nsName"], "nsInstanceDescription": req["nsDescription"],
              "nsdId": nsd["nsdId"], "nsdInfoId": nsd["id"], "nsState": NOT_INSTANTIATED, "_nsd": nsd["_nsd"]}
        ns["_links"] = self._ns_links(ns)
        await self.instances.insert(ns, outbox=[message("ns.created", {"nsInstanceId": ns["id"], "nsdId": ns["nsdId"]}, source=self.source)])
        await self._refresh_usage([], [ns["nsdInfoId"]])
        return ns

    async def get(self, ns_id: str) -> dict[str, Any]:
        try:
            return await self.instances.get(ns_id)
        except NotFound:
            raise Problem(404, f"NS instance {ns_id} does not exist") from None

    async def get_op(self, op_id: str) -> dict[str, Any]:
        try:
            return await self.op_occs.get(op_id)
        except NotFound:
            raise Problem(404, f"NS LCM operation occurrence {op_id} does not exist") from None

    async def delete(self, ns_id: str) -> None:
        ns = await self.get(ns_id)
        if ns["nsState"] != NOT_INSTANTIATED:
            raise Problem(409, f"NS instance {ns_id} is {ns['nsState']}; terminate it first")
        if await self._blocking(ns):
            raise Problem(409, f"NS instance {ns_id} has an operation in progress")
        try:
            await self.instances.delete(ns, outbox=[message("ns.deleted", {"nsInstanceId": ns_id, "nsdId": ns["nsdId"]}, source=self.source)])
        except ConcurrencyError:
            raise Problem(409, f"NS instance {ns_id} changed while being deleted") from None
        await self._refresh_usage([], [ns["nsdInfoId"]])

    async def instantiate(self, ns_id: str, req: dict[str, Any]) -> dict[str, Any]:
        ns = await self.get(ns_id)
        if ns["nsState"] != NOT_INSTANTIATED:
            raise Problem(409, f"NS instance {ns_id} is already INSTANTIATED")
        nsd = Nsd.model_validate(ns["_nsd"])
        try:
            nsd.flavour(req["nsFlavourId"])
        except Exception:
            raise Problem(400, f"nsFlavourId {req['nsFlavourId']} is not a deployment flavour of NSD {ns['nsdId']}") from None
        profiles = {p.vnf_profile_id for p in nsd.flavour(req["nsFlavourId"]).vnf_profiles}
        for p in req.get("additionalParamsForVnf") or []:
            if p["vnfProfileId"] not in profiles:
                raise Problem(400, f"additionalParamsForVnf names vnfProfileId {p['vnfProfileId']}, which flavour {req['nsFlavourId']} does not have")
        return await self._start(ns, "INSTANTIATE", req)

    async def terminate(self, ns_id: str, req: dict[str, Any]) -> dict[str, Any]:
        ns = await self.get(ns_id)
        if ns["nsState"] != INSTANTIATED:
            raise Problem(409, f"NS instance {ns_id} is NOT_INSTANTIATED")
        return await self._start(ns, "TERMINATE", req)

    async def _blocking(self, ns: dict[str, Any]) -> dict[str, Any] | None:
        return await holding_op(self.op_occs, ns, {PROCESSING, FAILED_TEMP, ROLLING_BACK})

    async def _start(self, ns: dict[str, Any], operation: str, params: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        op = {"id": new_id(), "operationState": PROCESSING, "stateEnteredTime": now, "statusEnteredTime": now,
              "nsInstanceId": ns["id"], "lcmOperationType": operation, "startTime": now, "isAutomaticInvocation": False,
              "operationParams": params, "isCancelPending": False, "_work": {"attempt": 0, "vls": {}, "vnfs": {}}}
        op["_links"] = self._op_links(op)
        await claim(self.instances, ns, op["id"], state_key="nsState", label="NS instance", blocking=self._blocking)
        bind_ids(nsInstanceId=ns["id"], nsLcmOpOccId=op["id"])
        await self.op_occs.insert(op, outbox=[self._changed(op)])
        self.kick(op["id"])
        return op

    async def retry(self, op_id: str) -> dict[str, Any]:
        op = await self.get_op(op_id)
        op["_work"]["attempt"] += 1
        return await self._task(op, PROCESSING, "retry")

    async def rollback(self, op_id: str) -> dict[str, Any]:
        op = await self.get_op(op_id)
        if op["lcmOperationType"] != "INSTANTIATE":
            raise Problem(409, f"rollback of {op['lcmOperationType']} is not supported; use retry or fail")
        op["_work"]["attempt"] += 1
        return await self._task(op, ROLLING_BACK, "rollback")

    async def fail(self, op_id: str) -> dict[str, Any]:
        op = await self.get_op(op_id)
        done = await self._task(op, FAILED, "fail")
        await self._free(done["nsInstanceId"])
        return done

    async def _task(self, op: dict[str, Any], target: str, name: str) -> dict[str, Any]:
        try:
            new = transition(op, target, NS_TRANSITIONS)
        except InvalidTransition as exc:
            raise Problem(409, f"cannot {name} NS LCM operation occurrence {op['id']}: {exc}") from None
        new["statusEnteredTime"] = new["stateEnteredTime"]
        new["_links"] = self._op_links(new)
        try:
            saved = await self.op_occs.replace(new, outbox=[self._changed(new)])
        except ConcurrencyError:
            raise Problem(409, f"NS LCM operation occurrence {op['id']} changed concurrently") from None
        if target in ACTIVE:
            self.kick(op["id"])
        return saved

    # -- runner ----------------------------------------------------------------------------
    def kick(self, op_id: str) -> None:
        self.runner.kick(op_id)

    async def start(self) -> None:
        await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()

    def vnf_op_changed(self, vnf_op_id: str) -> None:
        """A VNF op occ moved (Or-Vnfm fact): wake the NS step waiting for it."""
        ev = self._vnf_events.get(vnf_op_id)
        if ev:
            ev.set()

    async def _save(self, op: dict[str, Any], outbox: list[Envelope] = ()) -> dict[str, Any]:
        return await self.runner.save(op, outbox)

    async def _drive(self, op: dict[str, Any]) -> None:
        bind_ids(nsInstanceId=op["nsInstanceId"], nsLcmOpOccId=op["id"])
        with tracer(self.source).start_as_current_span(f"ns {op['lcmOperationType'].lower()}", attributes={"magi.nsLcmOpOccId": op["id"]}):
            await self._steps(op)

    async def _steps(self, op: dict[str, Any]) -> None:
        ns = await self.instances.get(op["nsInstanceId"])
        state = {"step": "start"}
        try:
            if op["operationState"] == ROLLING_BACK:
                op = await self._teardown(op, state, rollback=True)
                await self._finish(op, ROLLED_BACK)
                return
            if op["lcmOperationType"] == "INSTANTIATE":
                op = await self._instantiate(op, ns, state)
            else:
                op = await self._teardown(op, state, rollback=False)
            await self._finish(op, COMPLETED)
        except (ConcurrencyError, asyncio.CancelledError):
            raise
        except Exception as exc:
            cause = exc.problem.get("detail") if isinstance(exc, RemoteError) else (getattr(exc, "detail", None) or str(exc) or type(exc).__name__)
            log.warning("nslcm.step_failed", step=state["step"], error=cause)
            op = await self.op_occs.get(op["id"])
            failed = transition(op, FAILED_TEMP, NS_TRANSITIONS, error=step_error(state["step"], cause))
            failed["statusEnteredTime"] = failed["stateEnteredTime"]
            failed["_links"] = self._op_links(failed)
            failed["_work"]["lease"] = None
            await self.op_occs.replace(failed, outbox=[self._changed(failed)])

    async def _instantiate(self, op: dict[str, Any], ns: dict[str, Any], state: dict[str, str]) -> dict[str, Any]:
        params, work = op["operationParams"], op["_work"]
        attempt = work["attempt"]
        nsd = Nsd.model_validate(ns["_nsd"])
        flavour = nsd.flavour(params["nsFlavourId"])
        per_vnf = {p["vnfProfileId"]: p for p in params.get("additionalParamsForVnf") or []}
        locations = {lc["vnfProfileId"]: lc.get("locationConstraints") for lc in params.get("locationConstraints") or []}
        ns_pin = (params.get("additionalParamsForNs") or {}).get("vimId")
        if "placement" not in work:  # where each VNF goes, decided once: the NS VLs go where their VNFs are
            state["step"] = "place VNFs"
            vims = await self.vims.all()
            cands = await self.granting.candidates(vims)
            used: dict[str, dict[str, float]] = {}
            chosen: dict[str, str] = {}
            pins: dict[str, str] = {}
            for prof in flavour.vnf_profiles:
                pin = ((per_vnf.get(prof.vnf_profile_id) or {}).get("additionalParams") or {}).get("vimId")
                if not pin and not locations.get(prof.vnf_profile_id):
                    pin = ns_pin
                if pin:
                    pins[prof.vnf_profile_id] = pin
                try:
                    vim_id, need = await self.granting.preview(prof.vnfd_id, prof.flavour_id, prof.instantiation_level_id,
                                                               profile=prof.vnf_profile_id, location=locations.get(prof.vnf_profile_id),
                                                               pinned=pin, extra_used=used, cands=cands)
                except Problem as exc:  # the VNF's grant will be refused for this reason, in its own step
                    log.warning("nslcm.placement_refused", vnfProfileId=prof.vnf_profile_id, reason=exc.detail)
                    continue
                chosen[prof.vnf_profile_id] = vim_id
                used[vim_id] = placement.total([used.get(vim_id, {}), need])
            work["placement"], work["pins"] = chosen, pins
            op = await self._save(op)
        chosen, pins = work["placement"], work.get("pins") or {}
        vims = {v["id"]: v for v in await self.vims.all()}
        for vl in flavour.virtual_links:  # Or-Vi: NS virtual links before the VNFs that attach to them, on each of their VIMs
            entry_vl = work["vls"].setdefault(vl.vl_id, {"resourceId": str(uuid.uuid5(uuid.UUID(op["id"]), f"nsvl:{vl.vl_id}")), "sites": []})
            hosts = sorted({chosen[p.vnf_profile_id] for p in flavour.vnf_profiles
                            if any(c.ns_vl_id == vl.vl_id for c in p.virtual_link_connectivity) and p.vnf_profile_id in chosen})
            if not hosts:
                hosts = [place(list(vims.values()), ns_pin)["id"]]
            for vim_id in hosts:
                if any(site["vimId"] == vim_id for site in _sites(entry_vl)):
                    continue
                if vim_id not in vims:
                    raise RuntimeError(f"VIM {vim_id} chosen for NS virtual link {vl.vl_id} is no longer registered")
                state["step"] = f"create NS virtual link {vl.vl_id} on VIM {vims[vim_id]['name']}"
                rid = str(uuid.uuid5(uuid.UUID(op["id"]), f"nsvl:{vl.vl_id}:{vim_id}"))
                conn = self.vims.connection(vims[vim_id])
                reply = await self.bus.request(message("nsvl.create", {"vimConnectionInfo": conn, "resourceId": rid,
                                                                      "ownerId": ns["id"], "vlId": vl.vl_id, "cidr": vl.cidr},
                                                       source=self.source, message_id=_key(op["id"], f"nsvl:{vl.vl_id}:{vim_id}", attempt)))
                await self.granting.record_vl(rid, vim_id, ns["id"])
                entry_vl["sites"].append({"resourceId": rid, "vimId": vim_id, "vimResourceId": reply.get("vimResourceId"), "vim": conn})
                op = await self._save(op)
        for prof in flavour.vnf_profiles:
            entry = work["vnfs"].setdefault(prof.vnf_profile_id, {"vnfdId": prof.vnfd_id})
            extra = per_vnf.get(prof.vnf_profile_id, {})
            if "vnfInstanceId" not in entry:
                state["step"] = f"create VNF {prof.vnf_profile_id}"
                pkg = await self.catalogue.onboarded_vnfd(prof.vnfd_id)
                entry["vnfmId"] = await self.vnfms.pick(pkg.get("vnfmInfo") or [])
                inst = await (await self.vnfms.driver(entry["vnfmId"])).create_vnf({"vnfdId": prof.vnfd_id, "vnfInstanceName": extra.get("vnfInstanceName") or f"{ns['nsInstanceName']}-{prof.vnf_profile_id}",
                                                   "metadata": {"nsInstanceId": ns["id"], "vnfProfileId": prof.vnf_profile_id}},
                                                  _key(op["id"], f"create:{prof.vnf_profile_id}", 0))
                entry.update({"vnfInstanceId": inst["id"], "vnfPkgId": pkg["id"], "instance": inst})
                await self.granting.pin(inst["id"], chosen.get(prof.vnf_profile_id) or pins.get(prof.vnf_profile_id), location=locations.get(prof.vnf_profile_id),
                                        profile=prof.vnf_profile_id, ns_instance_id=ns["id"])
                op = await self._save(op)
            if entry.get("state") != "INSTANTIATED":
                state["step"] = f"instantiate VNF {prof.vnf_profile_id}"
                if entry.get("failed"):  # retry: undo the failed VNF attempt, then instantiate afresh
                    await self._undo_failed_vnf(entry, op, f"undo:{prof.vnf_profile_id}")
                if "vnfLcmOpOccId" not in entry or entry.get("failed"):
                    req = {"flavourId": prof.flavour_id or "default"}
                    if prof.instantiation_level_id:
                        req["instantiationLevelId"] = prof.instantiation_level_id
                    if extra.get("additionalParams"):
                        req["additionalParams"] = extra["additionalParams"]
                    vnfd = Vnfd.model_validate((await self.catalogue.onboarded_vnfd(prof.vnfd_id))["_vnfd"])
                    ext_vls = ns_ext_virtual_links(prof, vnfd, work["vls"], chosen.get(prof.vnf_profile_id))
                    if ext_vls:
                        req["extVirtualLinks"] = ext_vls
                    entry["vnfLcmOpOccId"] = await (await self.vnfms.driver(entry.get("vnfmId"))).instantiate_vnf(entry["vnfInstanceId"], req, _key(op["id"], f"inst:{prof.vnf_profile_id}", attempt))
                    entry.pop("failed", None)
                    op = await self._save(op)
                vnf_op = await self._wait_vnf(entry, entry["vnfLcmOpOccId"], op)
                if vnf_op["operationState"] != "COMPLETED":
                    entry["failed"] = True
                    await self._save(op)
                    err = (vnf_op.get("error") or {}).get("detail", "no detail")
                    raise RuntimeError(f"VNF {entry['vnfInstanceId']} ({prof.vnf_profile_id}) operation {vnf_op['id']} ended {vnf_op['operationState']}: {err}")
                entry["state"] = "INSTANTIATED"
                op = await self._save(op)
        state["step"] = "record NS instance"
        ns = await self.instances.get(ns["id"])
        ns["nsState"] = INSTANTIATED
        ns["flavourId"] = params["nsFlavourId"]
        ns["vnfInstance"] = [self._ns_vnf(v, vims.get(chosen.get(k, ""))) for k, v in work["vnfs"].items()]
        ns["virtualLinkInfo"] = [{"id": v["resourceId"], "nsVirtualLinkDescId": k, "nsVirtualLinkProfileId": k,
                                  "resourceHandle": [{"vimId": site["vimId"], "resourceId": site.get("vimResourceId") or site["resourceId"]}
                                                     for site in _sites(v)]}
                                 for k, v in work["vls"].items()]
        ns["_links"] = self._ns_links(ns)
        vnf_ids = [v["vnfInstanceId"] for v in work["vnfs"].values()]
        vim_ids = sorted({site["vimId"] for v in work["vls"].values() for site in _sites(v)} | await self.granting.vims_of(vnf_ids))
        ns = await self.instances.save(ns, outbox=[message("ns.instantiated", {"nsInstanceId": ns["id"], "nsdId": ns["nsdId"],
                                                                             "vnfInstanceIds": [v["vnfInstanceId"] for v in work["vnfs"].values()],
                                                                             "vimIds": vim_ids}, source=self.source)])
        await self._refresh_usage([v["vnfPkgId"] for v in work["vnfs"].values() if v.get("vnfPkgId")], [ns["nsdInfoId"]])
        op["resourceChanges"] = {"affectedVnfs": [{"vnfInstanceId": v["vnfInstanceId"], "vnfdId": v["vnfdId"], "vnfProfileId": k,
                                                   "vnfName": v["instance"].get("vnfInstanceName", k), "changeType": "INSTANTIATE",
                                                   "changeResult": "COMPLETED"} for k, v in work["vnfs"].items()],
                                 "affectedVls": [{"nsVirtualLinkInstanceId": v["resourceId"], "nsVirtualLinkDescId": k, "vlProfileId": k,
                                                  "changeType": "ADD", "changeResult": "COMPLETED"} for k, v in work["vls"].items()]}
        return op

    def _ns_vnf(self, v: dict[str, Any], vim: dict[str, Any] | None = None) -> dict[str, Any]:
        inst = v["instance"]
        out = {k: inst[k] for k in ("id", "vnfInstanceName", "vnfdId", "vnfProvider", "vnfProductName", "vnfSoftwareVersion", "vnfdVersion") if k in inst}
        out.update({"vnfPkgId": v.get("vnfPkgId", ""), "instantiationState": "INSTANTIATED" if v.get("state") == "INSTANTIATED" else "NOT_INSTANTIATED"})
        if vim is not None:  # where the VNF runs: SOL005 `vimId`, and MAGI's VIM name and site in metadata
            out["vimId"] = vim["id"]
            out["metadata"] = {"vimName": vim["name"], "vimType": vim["vimConnectionInfo"]["vimType"],
                               **({"site": vim["site"]["name"]} if isinstance(vim.get("site"), dict) else {})}
        return out

    async def _teardown(self, op: dict[str, Any], state: dict[str, str], rollback: bool) -> dict[str, Any]:
        """Terminate and delete the NS's VNFs, then its virtual links (terminate, and rollback of instantiate)."""
        work = op["_work"]
        attempt = work["attempt"]
        if rollback:
            vnfs, vls = work["vnfs"], work["vls"]
        else:
            ns = await self.instances.get(op["nsInstanceId"])
            inst_op = await self._last_instantiation(ns["id"])
            vnfs = work.setdefault("vnfs", {}) or {k: dict(v) for k, v in (inst_op["_work"]["vnfs"] if inst_op else {}).items()}
            vls = work.setdefault("vls", {}) or dict(inst_op["_work"]["vls"] if inst_op else {})
            work["vnfs"], work["vls"] = vnfs, vls
        term = {"terminationType": "FORCEFUL"}
        for name, entry in vnfs.items():
            if "vnfInstanceId" not in entry or entry.get("deleted"):
                continue
            if entry.get("failed"):
                state["step"] = f"roll back VNF {name}"
                await self._undo_failed_vnf(entry, op, f"undo:{name}")
            if entry.get("state") == "INSTANTIATED" or (rollback and entry.get("vnfLcmOpOccId") and not entry.get("terminated")):
                state["step"] = f"terminate VNF {name}"
                if not entry.get("terminateOpOccId"):
                    try:
                        entry["terminateOpOccId"] = await (await self.vnfms.driver(entry.get("vnfmId"))).terminate_vnf(entry["vnfInstanceId"], term, _key(op["id"], f"term:{name}", attempt))
                    except RemoteError as exc:
                        if exc.problem.get("status") != 409:  # 409: not instantiated, nothing to terminate
                            raise
                    op = await self._save(op)
                if entry.get("terminateOpOccId"):
                    vnf_op = await self._wait_vnf(entry, entry["terminateOpOccId"], op)
                    if vnf_op["operationState"] != "COMPLETED":
                        entry.pop("terminateOpOccId")
                        await self._save(op)
                        raise RuntimeError(f"terminating VNF {entry['vnfInstanceId']} ended {vnf_op['operationState']}: {(vnf_op.get('error') or {}).get('detail', '')}")
                entry["state"] = "NOT_INSTANTIATED"
                entry["terminated"] = True
                op = await self._save(op)
            state["step"] = f"delete VNF {name}"
            try:
                await (await self.vnfms.driver(entry.get("vnfmId"))).delete_vnf(entry["vnfInstanceId"], _key(op["id"], f"del:{name}", attempt))
            except RemoteError as exc:
                if exc.problem.get("status") != 404:
                    raise
            entry["deleted"] = True
            await self.granting.forget(entry["vnfInstanceId"])
            op = await self._save(op)
        for vl_id, vl in vls.items():
            for site in _sites(vl):
                if site.get("deleted"):
                    continue
                state["step"] = f"delete NS virtual link {vl_id} on VIM {site['vimId']}"
                await self.bus.request(message("nsvl.delete", {"vimConnectionInfo": vl_conn(site["vim"]), "resourceId": site["resourceId"]},
                                               source=self.source, message_id=_key(op["id"], f"nsvl-del:{vl_id}:{site['vimId']}", attempt)))
                await self.granting.forget(f"nsvl:{site['resourceId']}")
                site["deleted"] = True
                op = await self._save(op)
        state["step"] = "record NS instance"
        ns = await self.instances.get(op["nsInstanceId"])
        ns["nsState"] = NOT_INSTANTIATED
        for k in ("flavourId", "vnfInstance", "virtualLinkInfo"):
            ns.pop(k, None)
        ns["_links"] = self._ns_links(ns)
        await self.instances.replace(ns, outbox=[] if rollback else [message("ns.terminated", {"nsInstanceId": ns["id"], "nsdId": ns["nsdId"]}, source=self.source)])
        await self._refresh_usage([v["vnfPkgId"] for v in vnfs.values() if v.get("vnfPkgId")], [ns["nsdInfoId"]])
        op["resourceChanges"] = {"affectedVnfs": [{"vnfInstanceId": v["vnfInstanceId"], "vnfdId": v["vnfdId"], "vnfProfileId": k,
                                                   "vnfName": (v.get("instance") or {}).get("vnfInstanceName", k), "changeType": "TERMINATE",
                                                   "changeResult": "COMPLETED"} for k, v in vnfs.items() if "vnfInstanceId" in v]}
        return op

    async def _refresh_usage(self, pkg_ids: list[str], nsd_ids: list[str]) -> None:
        """Packages are IN_USE while an instantiated NS runs their VNFs; NSDs while an NS instance exists."""
        all_ns = await self.instances.find()
        used_pkgs = {v.get("vnfPkgId") for ns in all_ns if ns["nsState"] == INSTANTIATED for v in ns.get("vnfInstance", [])}
        used_nsds = {ns["nsdInfoId"] for ns in all_ns}
        await self.catalogue.set_usage(used_pkgs, used_nsds, pkg_ids, nsd_ids)

    async def _undo_failed_vnf(self, entry: dict[str, Any], op: dict[str, Any], step: str) -> None:
        """A VNF op occ left in FAILED_TEMP holds its instance: roll it back on the VNFM."""
        vnfm = await self.vnfms.driver(entry.get("vnfmId"))
        vnf_op = await vnfm.op_occ(entry["vnfLcmOpOccId"])
        if vnf_op["operationState"] == "FAILED_TEMP":
            await vnfm.rollback_op(entry["vnfLcmOpOccId"], _key(op["id"], step, op["_work"]["attempt"]))
        if vnf_op["operationState"] in ("FAILED_TEMP", "ROLLING_BACK"):
            vnf_op = await self._wait_vnf(entry, entry["vnfLcmOpOccId"], op, states={"ROLLED_BACK", "FAILED", "FAILED_TEMP"})
            if vnf_op["operationState"] != "ROLLED_BACK":
                raise RuntimeError(f"rolling back VNF operation {vnf_op['id']} ended {vnf_op['operationState']}")
        entry["failed"] = False
        entry.pop("vnfLcmOpOccId", None)
        entry.pop("state", None)
        await self._save(op)

    async def _last_instantiation(self, ns_id: str) -> dict[str, Any] | None:
        ops = [o for o in await self.op_occs.find({"nsInstanceId": ns_id}) if o["lcmOperationType"] == "INSTANTIATE" and o["operationState"] == COMPLETED]
        return max(ops, key=lambda o: o["startTime"]) if ops else None

    async def _wait_vnf(self, entry: dict[str, Any], vnf_op_id: str, op: dict[str, Any], states: set[str] = VNF_TERMINAL) -> dict[str, Any]:
        """Until the VNF op occ is terminal or FAILED_TEMP: woken by Or-Vnfm facts, polled as a fallback."""
        ev = self._vnf_events.setdefault(vnf_op_id, asyncio.Event())
        deadline = time.monotonic() + self.vnf_timeout
        try:
            while time.monotonic() < deadline:
                ev.clear()
                vnf_op = await (await self.vnfms.driver(entry.get("vnfmId"))).op_occ(vnf_op_id)
                if vnf_op["operationState"] in states:
                    return vnf_op
                await wait_event(ev, 2.0)
                op = await self._save(op)  # keep the lease while waiting
            raise TimeoutError(f"VNF operation {vnf_op_id} did not finish in {self.vnf_timeout}s")
        finally:
            self._vnf_events.pop(vnf_op_id, None)

    async def _finish(self, op: dict[str, Any], target: str) -> None:
        done = transition(op, target, NS_TRANSITIONS, error=op.get("error") if target == ROLLED_BACK else None)
        done["statusEnteredTime"] = done["stateEnteredTime"]
        done["_links"] = self._op_links(done)
        done["_work"]["lease"] = None
        await self._free(done["nsInstanceId"])  # first: a client that sees the op ended finds the NS free
        await self.op_occs.replace(done, outbox=[self._changed(done)])

    async def _free(self, ns_id: str) -> None:
        for _ in range(5):
            try:
                ns = await self.instances.get(ns_id)
                if ns.pop("_opOccId", None):
                    await self.instances.replace(ns)
                return
            except ConcurrencyError:
                continue
            except NotFound:
                return

    def _changed(self, op: dict[str, Any]) -> Envelope:
        payload = {"nsLcmOpOccId": op["id"], "nsInstanceId": op["nsInstanceId"], "operation": op["lcmOperationType"],
                   "operationState": op["operationState"]}
        if op.get("error") and op["operationState"] != PROCESSING:
            payload["error"] = op["error"]
        mid = str(uuid.uuid5(uuid.UUID(op["id"]), f"{op['operationState']}:{op['stateEnteredTime']}"))
        return message("nslcmopocc.changed", payload, source=self.source, message_id=mid, correlation_id=op["id"])


def ns_ext_virtual_links(prof: Any, vnfd: Vnfd, vls: dict[str, Any], vim_id: str | None) -> list[dict[str, Any]]:
    """SOL003 ExtVirtualLinkData for a VNF: each NS virtual link its profile connects to, as the
    network that link has on the VNF's VIM, with the VNF's external CPs on it. The NSD names a CP
    by its VnfExtCpd id or (SOL001) by the VNF's substitution requirement."""
    flavour = next((f for f in vnfd.flavours if f.flavour_id == (prof.flavour_id or "default")), None)
    if flavour is None or vim_id is None:
        return []
    out = []
    for conn in prof.virtual_link_connectivity:
        site = next((x for x in _sites(vls.get(conn.ns_vl_id) or {}) if x["vimId"] == vim_id and not x.get("deleted")), None)
        if site is None or not site.get("vimResourceId"):
            continue
        cps = [e.cpd_id for e in flavour.ext_cps if e.cpd_id in conn.cpd_ids or (e.external_requirement or "") in conn.cpd_ids]
        if cps:
            out.append({"id": f"{conn.ns_vl_id}@{vim_id}", "vimConnectionId": vim_id, "resourceId": site["vimResourceId"],
                        "extCps": [{"cpdId": cp, "cpConfig": {}} for cp in cps]})
    return out
