"""NFVO bootstrap: SOL005 (vnfpkgm, nsd, nslcm), SOL003 grant, the VIM registry, Or-Vnfm and Or-Vi."""
from __future__ import annotations

from typing import Any

from magi.api.app import EtsiApi
from magi.api.problem import Problem
from magi.bus.base import PermanentError
from magi.bus.envelope import Envelope, epoch
from magi.notifications.filters import nsd_kind, nslcm_kind, vnfpkgm_kind
from magi.notifications.subscriptions import SubscriptionManager
from magi.runtime import ServiceContext, ServiceUnit
from magi.descriptors import SignaturePolicy
from magi.secrets import SecretBox
from magi.store.mongo import public
from nfvo import ns_api
from nfvo.grants import GrantRequest, Granting
from nfvo.ns_lcm import NsLcm
from nfvo.catalogue import Catalogue
from nfvo.vims import SIMULATED, VimConnectionInfo, VimRegistration, VimRegistry
from nfvo.vnfm_drivers import BusVnfm
from nfvo.vnfms import VnfmRegistry

APIS = [
    EtsiApi("nslcm", "v2", ("2.0.0", "2.1.0")),
    EtsiApi("vnfpkgm", "v2", ("2.0.0", "2.1.0")),
    EtsiApi("nsd", "v2", ("2.0.0", "2.1.0")),
    EtsiApi("grant", "v1", ("1.5.0",)),
]
DEFAULT_VIM = VimRegistration(name="sim-default", site={"name": "lab"},
                              vimConnectionInfo=VimConnectionInfo(vimId="00000000-0000-4000-8000-000000000001", vimType=SIMULATED,
                                                                  interfaceInfo={"endpoint": "simulated://default"}))


def build(ctx: ServiceContext, register_default_vim: bool = False) -> ServiceUnit:
    s = ctx.settings
    box = SecretBox.from_settings(s)
    vims = VimRegistry(ctx.store, ctx.public_url, box, ctx.bus, source=ctx.name)
    catalogue = Catalogue(ctx.store, ctx.public_url, max_upload_bytes=s.package_max_bytes, box=box,
                          lease_seconds=s.lcm_lease_seconds,
                          signatures=SignaturePolicy.load(s.package_signature_policy, s.package_trust_anchors))
    granting = Granting(ctx.store, vims, ctx.public_url, catalogue)
    vnfms = VnfmRegistry(ctx.store, ctx.public_url, built_in=BusVnfm(ctx.bus))
    lcm = NsLcm(ctx.store, ctx.bus, catalogue, vims, granting, vnfms, base_url=ctx.public_url, lease_seconds=s.lcm_lease_seconds)
    notifier = SubscriptionManager(ctx.store, nslcm_kind(), base_url=ctx.public_url,
                                   retry_max=s.notification_retry_max, backoff=s.notification_backoff)
    pkgm_notifier = SubscriptionManager(ctx.store, vnfpkgm_kind(), base_url=ctx.public_url,
                                        retry_max=s.notification_retry_max, backoff=s.notification_backoff)
    nsd_notifier = SubscriptionManager(ctx.store, nsd_kind(), base_url=ctx.public_url,
                                       retry_max=s.notification_retry_max, backoff=s.notification_backoff)
    vims.add_routes(ctx.app)
    vnfms.add_routes(ctx.app)
    catalogue.add_routes(ctx.app)
    granting.add_routes(ctx.app)
    ns_api.add_routes(ctx.app, lcm)
    notifier.add_routes(ctx.app)
    pkgm_notifier.add_routes(ctx.app)
    nsd_notifier.add_routes(ctx.app)

    # Or-Vnfm, VNFM → NFVO
    async def grant(env: Envelope) -> dict[str, Any]:
        p = dict(env.payload)
        p["links"] = p.pop("_links", None)
        try:
            return public(await granting.decide(GrantRequest.model_validate(p)))
        except Problem as exc:
            raise PermanentError(exc.status, exc.detail, exc.title) from None

    async def vnfd(env: Envelope) -> dict[str, Any]:
        try:
            pkg = await catalogue.onboarded_vnfd(env.payload["vnfdId"])
        except Problem as exc:
            raise PermanentError(exc.status, exc.detail) from None
        return {"vnfd": pkg["_vnfd"], "vnfPkgId": pkg["id"]}

    # Or-Vi, VIM adapter → NFVO: the credentials of a registered VIM, still sealed, so they
    # cross the bus and rest in the dedupe store only encrypted; the VIM adapter opens them.
    async def vim_access(env: Envelope) -> dict[str, Any]:
        try:
            vim = await vims.get(env.payload["vimId"])
            return vims.connection(vim, with_access=True, sealed=True)
        except Problem as exc:
            raise PermanentError(exc.status, exc.detail) from None

    async def vnf_op_changed(env: Envelope) -> None:
        lcm.vnf_op_changed(env.payload["vnfLcmOpOccId"])

    async def notify(env: Envelope) -> None:
        p = env.payload
        # SOL005 v3.7.1 spells this attribute `timestamp` in the NS LCM notifications (not `timeStamp`).
        body = {"notificationType": "NsLcmOperationOccurrenceNotification", "timestamp": env.time, "nsInstanceId": p["nsInstanceId"],
                "nsLcmOpOccId": p["nsLcmOpOccId"], "operation": p["operation"], "operationState": p["operationState"],
                "notificationStatus": "START" if p["operationState"] in ("PROCESSING", "ROLLING_BACK") else "RESULT",
                "isAutomaticInvocation": False,
                "_links": {"nsInstance": {"href": f"{ctx.public_url}/nslcm/v2/ns_instances/{p['nsInstanceId']}"},
                           "nsLcmOpOcc": {"href": f"{ctx.public_url}/nslcm/v2/ns_lcm_op_occs/{p['nsLcmOpOccId']}"}}}
        if p.get("error"):
            body["error"] = p["error"]
        try:
            ns = await lcm.instances.get(p["nsInstanceId"])
            body["_match"] = {"nsdId": ns["nsdId"], "nsInstanceName": ns["nsInstanceName"]}
        except Exception:
            body["_match"] = {}
        await notifier.emit(body, key=env.message_id, at=epoch(env.time))
        if p["operationState"] == "COMPLETED":  # NS components (VNFs) changed: NsChangeNotification each
            try:
                op = await lcm.op_occs.get(p["nsLcmOpOccId"])
            except Exception:
                return
            for vnf in (op.get("resourceChanges") or {}).get("affectedVnfs", []):
                change = {"notificationType": "NsChangeNotification", "timestamp": env.time, "nsInstanceId": p["nsInstanceId"],
                          "nsComponentType": "VNF", "nsComponentId": vnf["vnfInstanceId"],
                          "lcmOpOccIdImpactingNsComponent": p["nsLcmOpOccId"],
                          "lcmOpNameImpactingNsComponent": {"INSTANTIATE": "VNF_INSTANTIATE", "TERMINATE": "VNF_TERMINATE"}.get(p["operation"], "VNF_INSTANTIATE"),
                          "lcmOpOccStatusImpactingNsComponent": "COMPLETED",
                          "_links": body["_links"], "_match": body["_match"]}
                await notifier.emit(change, key=f"{env.message_id}:{vnf['vnfInstanceId']}", at=epoch(env.time))

    async def notify_id(env: Envelope) -> None:
        kind = "NsIdentifierCreationNotification" if env.type == "ns.created" else "NsIdentifierDeletionNotification"
        ns_id = env.payload["nsInstanceId"]
        body = {"notificationType": kind, "timestamp": env.time, "nsInstanceId": ns_id,
                "_links": {"nsInstance": {"href": f"{ctx.public_url}/nslcm/v2/ns_instances/{ns_id}"}},
                "_match": {"nsdId": env.payload.get("nsdId")}}
        await notifier.emit(body, key=env.message_id, at=epoch(env.time))

    ctx.bus.on("ns.created", notify_id)
    ctx.bus.on("ns.deleted", notify_id)
    ctx.bus.on("grant.request", grant)
    ctx.bus.on("vnfd.get", vnfd)
    ctx.bus.on("vimaccess.get", vim_access)
    ctx.bus.on("lcmopocc.changed", vnf_op_changed)
    ctx.bus.on("nslcmopocc.changed", notify)

    # SOL005 package/NSD/PNFD notifications, stored with the state change they report (nfvo.notices)
    async def descriptor_notice(env: Envelope) -> None:
        to = pkgm_notifier if env.type == "vnfpkg.changed" else nsd_notifier
        await to.emit(env.payload["notification"], key=env.payload["key"], at=epoch(env.time))

    ctx.bus.on("vnfpkg.changed", descriptor_notice)
    ctx.bus.on("nsd.changed", descriptor_notice)

    async def defaults() -> None:
        if register_default_vim:
            await vims.ensure(DEFAULT_VIM)

    return ServiceUnit(ctx, on_start=[defaults, catalogue.start, lcm.start, notifier.start, pkgm_notifier.start,
                                          nsd_notifier.start],
                       on_stop=[nsd_notifier.stop, pkgm_notifier.stop, notifier.stop, lcm.stop, catalogue.stop])
