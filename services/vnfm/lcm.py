"""VNF lifecycle application service: SOL003 use cases and the op-occ runner.

An operation is accepted by writing its op occ (STARTING) and claiming the instance; a runner
then drives it step by step, persisting progress in the op occ's private `_work` after every
VIM call. A runner holds a lease on the op occ; when a VNFM dies mid-operation, another (or the
restarted one) takes the expired lease over and resumes from the recorded step. Every VIM
request is keyed by the resource, so resuming never duplicates a resource.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import uuid
from typing import Any

import structlog

from magi.api.problem import Problem
from magi.bus.catalog import message
from magi.bus.envelope import Envelope, RemoteError
from magi.descriptors.model import Vnfd
from magi.lcm import (ACTIVE, BLOCKING, OpOccRunner, claim, holding_op, COMPLETED, FAILED, FAILED_TEMP, PROCESSING, ROLLED_BACK, ROLLING_BACK,
                      STARTING, VNF_TRANSITIONS, InvalidTransition, step_error, transition)
from magi.secrets import SecretBox
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore, NotFound, Repository
from magi.telemetry import bind_ids, tracer
from vnfm import domain
from vnfm.adapters import GrantRejected, NfvoPort, VimClient

log = structlog.get_logger(__name__)
START_STATES = {STARTING, PROCESSING, ROLLING_BACK}
KIND = {"COMPUTE": "compute", "VL": "network", "STORAGE": "storage"}


class VnfLcm:
    def __init__(self, store: MongoStore, nfvo: NfvoPort, vim: VimClient, *, base_url: str, source: str = "vnfm",
                 lease_seconds: float = 30.0, secrets: SecretBox | None = None, nfvo_url: str | None = None):
        # VIM accessInfo is stored and sent on the bus only sealed (op `_work`, resource `vim` copies);
        # the VIM adapter opens it with the same MAGI_SECRET_KEY. Without a configured box (tests)
        # the key lives in this process.
        self.box = secrets or SecretBox(base64.urlsafe_b64encode(os.urandom(32)).decode())
        self.instances: Repository = store.repository("vnf_instances", [[("vnfdId", 1)]])
        self.op_occs: Repository = store.repository("vnf_lcm_op_occs", [[("vnfInstanceId", 1)], [("operationState", 1)]])
        self.nfvo, self.vim, self.base, self.source = nfvo, vim, base_url, source
        self.nfvo_url = nfvo_url  # where a VIM fetches a package's image artifact (SOL003 vnfpkgm)
        self.runner = OpOccRunner(self.op_occs, START_STATES, self._drive, name="vnf-op", lease_seconds=lease_seconds)

    # -- use cases -------------------------------------------------------------------------
    async def create(self, req: dict[str, Any], instance_id: str | None = None) -> dict[str, Any]:
        """A new VNF instance identifier. With `instance_id` (derived from a bus message id) a
        repeated request answers the instance the first one created instead of a second one."""
        if instance_id is not None:
            try:
                return await self.instances.get(instance_id)
            except NotFound:
                pass
        try:
            found = await self.nfvo.vnfd(req["vnfdId"])
        except RemoteError as exc:
            raise Problem(422, f"vnfdId {req['vnfdId']} does not identify an onboarded, enabled VNF package: {exc}") from None
        inst = domain.new_vnf_instance(req, found["vnfd"], found.get("vnfPkgId"))
        if instance_id is not None:
            inst["id"] = instance_id
        inst["_vnfd"] = found["vnfd"]
        inst["_links"] = domain.vnf_instance_links(self.base, inst)
        bind_ids(vnfInstanceId=inst["id"])
        try:
            await self.instances.insert(inst, outbox=[message("vnf.created", {"vnfInstanceId": inst["id"], "vnfdId": inst["vnfdId"]}, source=self.source)])
        except AlreadyExists:  # the same request, handled concurrently: its instance is the answer
            return await self.instances.get(inst["id"])
        return inst

    async def get_instance(self, inst_id: str) -> dict[str, Any]:
        try:
            return await self.instances.get(inst_id)
        except NotFound:
            raise Problem(404, f"VNF instance {inst_id} does not exist") from None

    async def get_op_occ(self, op_id: str) -> dict[str, Any]:
        try:
            return await self.op_occs.get(op_id)
        except NotFound:
            raise Problem(404, f"VNF LCM operation occurrence {op_id} does not exist") from None

    async def delete(self, inst_id: str) -> None:
        inst = await self.get_instance(inst_id)
        if inst["instantiationState"] != domain.NOT_INSTANTIATED:
            raise Problem(409, f"VNF instance {inst_id} is {inst['instantiationState']}; terminate it first")
        if await self._blocking_op(inst):
            raise Problem(409, f"VNF instance {inst_id} has an operation in progress")
        try:
            await self.instances.delete(inst, outbox=[message("vnf.deleted", {"vnfInstanceId": inst_id, "vnfdId": inst["vnfdId"]}, source=self.source)])
        except ConcurrencyError:
            raise Problem(409, f"VNF instance {inst_id} changed while being deleted; try again") from None

    async def instantiate(self, inst_id: str, req: dict[str, Any]) -> dict[str, Any]:
        inst = await self.get_instance(inst_id)
        if inst["instantiationState"] != domain.NOT_INSTANTIATED:
            raise Problem(409, f"VNF instance {inst_id} is already INSTANTIATED")
        vnfd = Vnfd.model_validate(inst["_vnfd"])
        try:
            flavour = vnfd.flavour(req["flavourId"])
        except Exception:
            raise Problem(400, f"flavourId {req['flavourId']} is not a deployment flavour of VNFD {inst['vnfdId']}") from None
        level = req.get("instantiationLevelId")
        if level and level not in {lv.level_id for lv in flavour.instantiation_levels}:
            raise Problem(400, f"instantiationLevelId {level} is not defined in flavour {req['flavourId']}")
        try:
            domain.external_networks(flavour, req.get("extVirtualLinks"))
            domain.instance_params(req)
            for rule in flavour.affinity_rules:
                domain.rule_scope(rule.scope)
        except ValueError as exc:
            raise Problem(400, str(exc)) from None
        # The op occ shows the request without credentials; a sealed copy serves the VIM calls.
        vims = req.get("vimConnectionInfo")
        if vims:
            req = {**req, "vimConnectionInfo": domain.without_access(vims)}
        return await self._start(inst, "INSTANTIATE", req, sealed_vims=domain.map_access(vims, self.box.seal) if vims else None)

    async def terminate(self, inst_id: str, req: dict[str, Any]) -> dict[str, Any]:
        inst = await self.get_instance(inst_id)
        if inst["instantiationState"] != domain.INSTANTIATED:
            raise Problem(409, f"VNF instance {inst_id} is NOT_INSTANTIATED")
        return await self._start(inst, "TERMINATE", req)

    async def _blocking_op(self, inst: dict[str, Any]) -> dict[str, Any] | None:
        return await holding_op(self.op_occs, inst, BLOCKING)

    async def _start(self, inst: dict[str, Any], operation: str, params: dict[str, Any],
                     sealed_vims: dict[str, Any] | None = None) -> dict[str, Any]:
        op = domain.new_op_occ(inst["id"], operation, params)
        op["_links"] = domain.op_occ_links(self.base, op)
        op["_work"] = {"step": "grant", "attempt": 0, "done": {}, "released": []}
        if sealed_vims:
            op["_work"]["requestVims"] = sealed_vims
        await claim(self.instances, inst, op["id"], state_key="instantiationState", label="VNF instance", blocking=self._blocking_op)
        bind_ids(vnfInstanceId=inst["id"], lcmOpOccId=op["id"])
        await self.op_occs.insert(op, outbox=[self._changed(op)])
        self.kick(op["id"])
        return op

    async def retry(self, op_id: str) -> dict[str, Any]:
        op = await self.get_op_occ(op_id)
        op["_work"]["attempt"] = op["_work"].get("attempt", 0) + 1
        return await self._task(op, PROCESSING, "retry")

    async def rollback(self, op_id: str) -> dict[str, Any]:
        op = await self.get_op_occ(op_id)
        if op["operation"] != "INSTANTIATE":
            raise Problem(409, f"rollback of {op['operation']} is not supported; use retry or fail")
        op["_work"]["attempt"] = op["_work"].get("attempt", 0) + 1
        return await self._task(op, ROLLING_BACK, "rollback")

    async def fail(self, op_id: str) -> dict[str, Any]:
        op = await self.get_op_occ(op_id)
        return await self._task(op, FAILED, "fail")

    async def _task(self, op: dict[str, Any], target: str, name: str) -> dict[str, Any]:
        try:
            new = transition(op, target, VNF_TRANSITIONS)
        except InvalidTransition as exc:
            raise Problem(409, f"cannot {name} operation occurrence {op['id']}: {exc}") from None
        new["_links"] = domain.op_occ_links(self.base, new)
        try:
            saved = await self.op_occs.replace(new, outbox=[self._changed(new)])
        except ConcurrencyError:
            raise Problem(409, f"operation occurrence {op['id']} changed concurrently; read it and try again") from None
        if target in ACTIVE:
            self.kick(op["id"])
        return saved

    # -- the runner ------------------------------------------------------------------------
    def kick(self, op_id: str) -> None:
        self.runner.kick(op_id)

    async def start(self) -> None:
        await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()

    async def _save(self, op: dict[str, Any], outbox: list[Envelope] = ()) -> dict[str, Any]:
        return await self.runner.save(op, outbox)

    async def _drive(self, op: dict[str, Any]) -> None:
        bind_ids(vnfInstanceId=op["vnfInstanceId"], lcmOpOccId=op["id"])
        with tracer(self.source).start_as_current_span(f"vnf {op['operation'].lower()}", attributes={"magi.lcmOpOccId": op["id"]}):
            await self._steps(op)

    async def _steps(self, op: dict[str, Any]) -> None:
        inst = await self.instances.get(op["vnfInstanceId"])
        vnfd = Vnfd.model_validate(inst["_vnfd"])
        step = op["_work"]["step"]
        try:
            if op["operationState"] == ROLLING_BACK:
                step = "rollback"
                op = await self._release_all(op, list(op["_work"]["done"].values()), "rollback")
                await self._finish(op, inst, ROLLED_BACK)
                return
            if step == "grant":
                op = await self._grant(op, inst, vnfd)
                if op["operationState"] == ROLLED_BACK:
                    await self._free(inst)
                    return
                step = op["_work"]["step"]
            if op["operation"] == "INSTANTIATE":
                step = "allocate"
                op = await self._allocate(op, inst, vnfd)
                step = "finalize"
                await self._finish_instantiate(op, inst, vnfd)
            elif op["operation"] == "TERMINATE":
                step = "release"
                resources = op["_work"]["toRelease"]
                op = await self._release_all(op, resources, "release")
                step = "finalize"
                await self._finish_terminate(op, inst)
        except (ConcurrencyError, asyncio.CancelledError):
            raise
        except Exception as exc:
            cause = exc.problem.get("detail") if isinstance(exc, RemoteError) else (str(exc) or type(exc).__name__)
            status = exc.problem.get("status", 500) if isinstance(exc, RemoteError) else 500
            log.warning("lcm.step_failed", step=step, error=cause)
            op = await self.op_occs.get(op["id"])
            failed = transition(op, FAILED_TEMP, VNF_TRANSITIONS, error=step_error(step, cause, status if 400 <= status < 600 else 500))
            failed["_links"] = domain.op_occ_links(self.base, failed)
            failed["_work"]["lease"] = None
            await self.op_occs.replace(failed, outbox=[self._changed(failed)])

    async def _grant(self, op: dict[str, Any], inst: dict[str, Any], vnfd: Vnfd) -> dict[str, Any]:
        params = op["operationParams"]
        if op["operation"] == "INSTANTIATE":
            plan = domain.plan_instantiation(vnfd, params["flavourId"], params.get("instantiationLevelId"), op["id"])
            domain.add_image_urls(plan, self.nfvo_url, inst.get("vnfPkgId") or (inst.get("metadata") or {}).get("vnfPkgId"))
            op["_work"]["plan"] = [p.__dict__ for p in plan]
            req = domain.grant_request(inst, op, self.base, add=[p.as_definition(inst["vnfdId"]) for p in plan],
                                       flavour_id=params["flavourId"], level_id=params.get("instantiationLevelId"),
                                       additional=params.get("additionalParams"),
                                       constraints=domain.placement_constraints(vnfd.flavour(params["flavourId"]), plan))
        else:
            held = inst.get("_resources") or []
            op["_work"]["toRelease"] = held
            req = domain.grant_request(inst, op, self.base, remove=[
                {"id": r["id"], "type": r["type"], "resourceTemplateId": r["templateId"], "vnfdId": inst["vnfdId"],
                 "resource": r["handle"]} for r in held])
        key = str(uuid.uuid5(uuid.UUID(op["id"]), f"grant:{op['_work'].get('attempt', 0)}"))
        try:
            grant = await self.nfvo.grant(req, key=key)
        except GrantRejected as exc:
            done = transition(op, ROLLED_BACK, VNF_TRANSITIONS)
            done["error"] = {"status": 403, "title": "Grant rejected", "detail": f"step 'grant' failed: {exc.problem.get('detail', 'rejected by the NFVO')}"}
            done["_links"] = domain.op_occ_links(self.base, done)
            return await self.op_occs.replace(done, outbox=[self._changed(done)])
        op["grantId"] = grant["id"]
        op["_links"]["grant"] = {"href": (grant.get("_links") or {}).get("self", {}).get("href", f"grant/{grant['id']}")}
        # Kept for the resume: with any accessInfo it carried sealed.
        op["_work"]["grant"] = {**grant, "vimConnectionInfo": domain.map_access(grant.get("vimConnectionInfo"), self.box.seal)}
        op["_work"]["step"] = "execute"
        moved = transition(op, PROCESSING, VNF_TRANSITIONS)
        moved["_links"] = {**domain.op_occ_links(self.base, moved), "grant": op["_links"]["grant"]}
        return await self._save(moved, outbox=[self._changed(moved)])

    async def _allocate(self, op: dict[str, Any], inst: dict[str, Any], vnfd: Vnfd) -> dict[str, Any]:
        grant, done = op["_work"]["grant"], op["_work"]["done"]
        attempt = op["_work"].get("attempt", 0)
        params = op["operationParams"]
        flavour = vnfd.flavour(params["flavourId"])
        external = domain.external_networks(flavour, params.get("extVirtualLinks"))
        sg_rules = domain.flavour_security_rules(flavour)
        extra = domain.instance_params(params)
        vl_ids: dict[str, str] = {}
        for p in op["_work"]["plan"]:
            if p["type"] == "VL" and p["id"] in done:
                vl_ids[p["template_id"]] = done[p["id"]]["handle"]["resourceId"]
        for p in op["_work"]["plan"]:
            if p["id"] in done:
                continue
            conn_id, vim, zone = domain.granted_vim(grant, p["id"], op["_work"].get("requestVims"))  # vim: accessInfo sealed
            # accessInfo stays sealed on the bus; the VIM adapter opens it (same MAGI_SECRET_KEY)
            common = {"vimConnectionInfo": vim, "resourceId": p["id"]}
            if p["type"] == "VL":
                payload = {**common, "ownerId": inst["id"], "vlId": p["template_id"], "cidr": p["details"].get("cidr")}
            elif p["type"] == "STORAGE":
                payload = {**common, "vnfInstanceId": inst["id"], "storageId": p["template_id"], "sizeGb": p["details"]["sizeGb"]}
            else:
                payload = domain.compute_payload(p, flavour=flavour, inst_id=inst["id"], vim=vim, zone=zone, vl_ids=vl_ids,
                                                 external=external, sg_rules=sg_rules, extra=extra)
            key = str(uuid.uuid5(uuid.UUID(p["id"]), f"allocate:{attempt}"))
            reply = await self.vim.allocate(KIND[p["type"]], payload, key)
            done[p["id"]] = {"id": p["id"], "type": p["type"], "templateId": p["template_id"], "vimConnectionId": conn_id,
                             "handle": domain.resource_handle(conn_id, reply, KIND[p["type"]].upper()),
                             "zoneId": reply.get("zoneId"), "addresses": reply.get("addresses", []), "vim": vim}
            if p["type"] == "VL":
                vl_ids[p["template_id"]] = done[p["id"]]["handle"]["resourceId"]
            op = await self._save(op)  # progress is durable before the next VIM call
        return op

    async def _release_all(self, op: dict[str, Any], resources: list[dict[str, Any]], step: str) -> dict[str, Any]:
        order = {"COMPUTE": 0, "STORAGE": 1, "VL": 2}  # servers before the volumes and networks they use
        released = op["_work"].setdefault("released", [])
        attempt = op["_work"].get("attempt", 0)
        for r in sorted(resources, key=lambda r: order[r["type"]]):
            if r["id"] in released:
                continue
            key = str(uuid.uuid5(uuid.UUID(r["id"]), f"{step}:{op['id']}:{attempt}"))
            await self.vim.release(KIND[r["type"]], {"vimConnectionInfo": r["vim"], "resourceId": r["id"],
                                                     "ownerId": op["vnfInstanceId"]}, key)  # sealed
            released.append(r["id"])
            op = await self._save(op)
        return op

    async def _finish_instantiate(self, op: dict[str, Any], inst: dict[str, Any], vnfd: Vnfd) -> None:
        params, done = op["operationParams"], op["_work"]["done"]
        plan = [domain.PlannedResource(**p) for p in op["_work"]["plan"]]
        inst = await self.instances.get(inst["id"])
        inst["instantiationState"] = domain.INSTANTIATED
        inst["instantiatedVnfInfo"] = domain.instantiated_info(params["flavourId"], params.get("instantiationLevelId"), vnfd, inst["vnfdId"], done, plan)
        grant_vims = op["_work"]["grant"].get("vimConnectionInfo") or {}
        inst["vimConnectionInfo"] = domain.without_access({**(op["_work"].get("requestVims") or {}), **grant_vims})
        inst["_resources"] = list(done.values())
        inst["_links"] = domain.vnf_instance_links(self.base, inst)
        vnfcs = [{"vnfcId": r["id"], "vduId": r["templateId"], "vimId": r["vim"].get("vimId"), "resourceId": r["id"],
                  "vimResourceId": r["handle"]["resourceId"], "zoneId": r.get("zoneId")} for r in done.values() if r["type"] == "COMPUTE"]
        fact = message("vnf.instantiated", {"vnfInstanceId": inst["id"], "vnfdId": inst["vnfdId"], "nsInstanceId": (inst.get("metadata") or {}).get("nsInstanceId"),
                                            "vnfcs": vnfcs, "vimIds": sorted({v.get("vimId") for v in grant_vims.values() if v.get("vimId")})}, source=self.source)
        inst.pop("_opOccId", None)  # free with the state change: whoever sees COMPLETED finds it free
        await self.instances.replace(inst, outbox=[fact])
        op["resourceChanges"] = domain.affected(list(done.values()), "ADDED")
        await self._finish(op, inst, COMPLETED, free=False)

    async def _finish_terminate(self, op: dict[str, Any], inst: dict[str, Any]) -> None:
        inst = await self.instances.get(inst["id"])
        released = op["_work"]["toRelease"]
        inst["instantiationState"] = domain.NOT_INSTANTIATED
        for key in ("instantiatedVnfInfo", "vimConnectionInfo"):
            inst.pop(key, None)
        inst["_resources"] = []
        inst["_links"] = domain.vnf_instance_links(self.base, inst)
        inst.pop("_opOccId", None)
        await self.instances.replace(inst, outbox=[message("vnf.terminated", {"vnfInstanceId": inst["id"], "vnfdId": inst["vnfdId"]}, source=self.source)])
        op["resourceChanges"] = domain.affected(released, "REMOVED")
        await self._finish(op, inst, COMPLETED, free=False)

    async def _finish(self, op: dict[str, Any], inst: dict[str, Any], state: str, free: bool = True) -> None:
        done = transition(op, state, VNF_TRANSITIONS, error=op.get("error") if state == ROLLED_BACK else None)
        done["_links"] = domain.op_occ_links(self.base, done)
        if op.get("grantId"):
            done["_links"]["grant"] = op["_links"].get("grant")
        done["_work"]["lease"] = None
        if free:  # before the op occ ends: a client that sees it ended finds the instance free
            await self._free(await self.instances.get(inst["id"]))
        await self.op_occs.replace(done, outbox=[self._changed(done)])

    async def _free(self, inst: dict[str, Any]) -> None:
        if inst.pop("_opOccId", None):
            for _ in range(5):
                try:
                    await self.instances.replace(inst)
                    return
                except ConcurrencyError:
                    inst = await self.instances.get(inst["id"])
                    inst.pop("_opOccId", None)

    async def fail_released(self, op_id: str) -> None:
        """After `fail`, the instance is free for new operations."""
        op = await self.op_occs.get(op_id)
        with contextlib.suppress(NotFound):
            await self._free(await self.instances.get(op["vnfInstanceId"]))

    def _changed(self, op: dict[str, Any]) -> Envelope:
        state = op["operationState"]
        payload: dict[str, Any] = {
            "vnfLcmOpOccId": op["id"], "vnfInstanceId": op["vnfInstanceId"], "operation": op["operation"],
            "operationState": state, "isAutomaticInvocation": op["isAutomaticInvocation"],
            "notificationStatus": "START" if state in (STARTING, PROCESSING, ROLLING_BACK) else "RESULT",
        }
        if op.get("error") and state in (FAILED_TEMP, FAILED, ROLLED_BACK):
            payload["error"] = op["error"]
        if op.get("resourceChanges"):
            payload["affectedVnfcs"] = op["resourceChanges"].get("affectedVnfcs")
            payload["affectedVirtualLinks"] = op["resourceChanges"].get("affectedVirtualLinks")
            payload["affectedVirtualStorages"] = op["resourceChanges"].get("affectedVirtualStorages")
        # One message id per op occ state visit: a re-written state does not notify twice.
        mid = str(uuid.uuid5(uuid.UUID(op["id"]), f"{state}:{op['stateEnteredTime']}"))
        return message("lcmopocc.changed", payload, source=self.source, message_id=mid, correlation_id=op["id"])
