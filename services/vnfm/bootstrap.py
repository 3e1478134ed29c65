"""VNFM bootstrap: wires the SOL003 vnflcm API, the LCM runner, the bus and notifications."""
from __future__ import annotations

import uuid
from typing import Any

from magi.api.app import EtsiApi
from magi.api.problem import Problem
from magi.bus.base import PermanentError
from magi.bus.envelope import Envelope, epoch
from magi.notifications.filters import vnflcm_kind
from magi.notifications.subscriptions import SubscriptionManager
from magi.runtime import ServiceContext, ServiceUnit
from magi.secrets import SecretBox
from magi.store.mongo import public
from vnfm import api, domain
from vnfm.adapters import BusNfvo, HttpNfvo, VimClient
from vnfm.lcm import VnfLcm

APIS = [EtsiApi("vnflcm", "v2", ("2.0.0", "2.1.0"))]


def _bus_handler(fn, with_envelope: bool = False):
    async def handler(env: Envelope) -> dict[str, Any] | None:
        try:
            return await (fn(env.payload, env) if with_envelope else fn(env.payload))
        except Problem as p:
            raise PermanentError(p.status, p.detail, p.title) from None

    return handler


def build(ctx: ServiceContext) -> ServiceUnit:
    s = ctx.settings
    nfvo = HttpNfvo(s.external_nfvo_url, token=s.external_nfvo_token) if s.external_nfvo_url else BusNfvo(ctx.bus)
    lcm = VnfLcm(ctx.store, nfvo, VimClient(ctx.bus), base_url=ctx.public_url, lease_seconds=s.lcm_lease_seconds,
                 secrets=SecretBox.from_settings(s), nfvo_url=s.external_nfvo_url or s.url("nfvo"))
    notifier = SubscriptionManager(ctx.store, vnflcm_kind(), base_url=ctx.public_url,
                                   retry_max=s.notification_retry_max, backoff=s.notification_backoff)
    api.add_routes(ctx.app, lcm)
    notifier.add_routes(ctx.app)

    # Or-Vnfm requests from MAGI's NFVO: the same use cases the HTTP API calls.
    async def create(p: dict[str, Any], env: Envelope) -> dict[str, Any]:
        # the instance id follows from the message id: a redelivery, even one handled concurrently
        # with the first delivery, finds the same instance
        inst_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"magi:vnf.create:{env.message_id}"))
        return domain.redact_response(public(await lcm.create(p, instance_id=inst_id)))

    async def instantiate(p: dict[str, Any]) -> dict[str, Any]:
        return {"vnfLcmOpOccId": (await lcm.instantiate(p["vnfInstanceId"], p["request"]))["id"]}

    async def terminate(p: dict[str, Any]) -> dict[str, Any]:
        return {"vnfLcmOpOccId": (await lcm.terminate(p["vnfInstanceId"], p["request"]))["id"]}

    async def delete(p: dict[str, Any]) -> dict[str, Any]:
        await lcm.delete(p["vnfInstanceId"])
        return {}

    async def get_op(p: dict[str, Any]) -> dict[str, Any]:
        return domain.redact_response(public(await lcm.get_op_occ(p["vnfLcmOpOccId"])))

    async def rollback(p: dict[str, Any]) -> dict[str, Any]:
        return {"vnfLcmOpOccId": (await lcm.rollback(p["vnfLcmOpOccId"]))["id"]}

    ctx.bus.on("vnf.create", _bus_handler(create, with_envelope=True))
    for type_, fn in (("lcmopocc.rollback", rollback), ("vnf.instantiate", instantiate), ("vnf.terminate", terminate),
                      ("vnf.delete", delete), ("lcmopocc.get", get_op)):
        ctx.bus.on(type_, _bus_handler(fn))

    # SOL003 notifications are emitted from the VNFM's own facts, which the outbox guarantees.
    async def notify_op(env: Envelope) -> None:
        await notifier.emit(await _op_notification(lcm, env.payload, ctx.public_url, env.time), key=env.message_id, at=epoch(env.time))

    async def notify_id(env: Envelope) -> None:
        kind = "VnfIdentifierCreationNotification" if env.type == "vnf.created" else "VnfIdentifierDeletionNotification"
        inst_id = env.payload["vnfInstanceId"]
        body = {"notificationType": kind, "timeStamp": env.time, "vnfInstanceId": inst_id,
                "_links": {"vnfInstance": {"href": f"{ctx.public_url}/vnflcm/v2/vnf_instances/{inst_id}"}},
                "_match": {"vnfdId": env.payload.get("vnfdId")}}
        await notifier.emit(body, key=env.message_id, at=epoch(env.time))

    ctx.bus.on("lcmopocc.changed", notify_op)
    ctx.bus.on("vnf.created", notify_id)
    ctx.bus.on("vnf.deleted", notify_id)
    return ServiceUnit(ctx, on_start=[lcm.start, notifier.start], on_stop=[notifier.stop, lcm.stop])


async def _op_notification(lcm: VnfLcm, p: dict[str, Any], base: str, time: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "notificationType": "VnfLcmOperationOccurrenceNotification", "timeStamp": time,
        "notificationStatus": p["notificationStatus"], "operationState": p["operationState"],
        "vnfInstanceId": p["vnfInstanceId"], "operation": p["operation"],
        "isAutomaticInvocation": bool(p.get("isAutomaticInvocation", False)), "vnfLcmOpOccId": p["vnfLcmOpOccId"],
        "_links": {"vnfInstance": {"href": f"{base}/vnflcm/v2/vnf_instances/{p['vnfInstanceId']}"},
                   "vnfLcmOpOcc": {"href": f"{base}/vnflcm/v2/vnf_lcm_op_occs/{p['vnfLcmOpOccId']}"}},
    }
    for key in ("affectedVnfcs", "affectedVirtualLinks", "affectedVirtualStorages", "error"):
        if p.get(key):
            body[key] = p[key]
    match: dict[str, Any] = {}
    try:
        inst = await lcm.instances.get(p["vnfInstanceId"])
        match = {"vnfdId": inst["vnfdId"], "vnfProvider": inst["vnfProvider"], "vnfProductName": inst["vnfProductName"],
                 "vnfSoftwareVersion": inst["vnfSoftwareVersion"], "vnfdVersion": inst["vnfdVersion"],
                 "vnfInstanceName": inst.get("vnfInstanceName")}
    except Exception:
        pass
    body["_match"] = match
    return body
