"""The reference-point message catalog: every message MAGI services exchange.

`message()` is the only way code builds an envelope, and `MessageBus.bind` only takes a
catalogued type, so this table is the whole truth; docs/reference-points.md is checked against
it by tests/unit/test_docs.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from magi.bus.envelope import Envelope, MessageKind, ReferencePoint
from magi.telemetry import inject_trace

OR_VNFM, VI_VNFM, OR_VI, FACTS = ReferencePoint.OR_VNFM, ReferencePoint.VI_VNFM, ReferencePoint.OR_VI, ReferencePoint.FACTS


class Payload(BaseModel):
    # Payloads carry ids and deltas; unknown keys pass so a newer sender does not break an older reader.
    model_config = ConfigDict(extra="allow")


class VnfCreate(Payload):
    vnfdId: str
    vnfInstanceName: str | None = None
    vnfInstanceDescription: str | None = None
    metadata: dict[str, Any] | None = None


class VnfId(Payload):
    vnfInstanceId: str


class VnfTask(Payload):
    vnfInstanceId: str
    request: dict[str, Any]  # the SOL003 request body: InstantiateVnfRequest, TerminateVnfRequest …


class LcmOpOccRef(Payload):
    vnfLcmOpOccId: str


class LcmOpOccChanged(Payload):
    vnfLcmOpOccId: str
    vnfInstanceId: str
    operation: str
    operationState: str
    notificationStatus: str  # START | RESULT (SOL003)
    isAutomaticInvocation: bool = False
    error: dict[str, Any] | None = None
    affectedVnfcs: list[dict[str, Any]] | None = None
    affectedVirtualLinks: list[dict[str, Any]] | None = None
    affectedVirtualStorages: list[dict[str, Any]] | None = None


class NsLcmOpOccChanged(Payload):
    nsLcmOpOccId: str
    nsInstanceId: str
    operation: str
    operationState: str
    error: dict[str, Any] | None = None


class GrantRequestMsg(Payload):
    vnfInstanceId: str
    vnfLcmOpOccId: str
    vnfdId: str
    operation: str
    isAutomaticInvocation: bool = False


class VnfdRef(Payload):
    vnfdId: str


class ComputeAllocate(Payload):
    vimConnectionInfo: dict[str, Any]
    resourceId: str  # MAGI's id of the VNFC resource: the idempotency key on the VIM
    vnfInstanceId: str
    vduId: str
    zoneId: str | None = None
    virtualCompute: dict[str, Any]
    swImage: dict[str, Any] | None = None
    networks: list[dict[str, Any]] = []  # {cpdId, vlId, vimNetworkId (MAGI resourceId of the VL) | externalNetworkId}
    # Optional, for VIMs that can honour them (the simulator ignores most):
    keyName: str | None = None
    userData: str | None = None
    placementGroups: list[dict[str, Any]] = []  # {groupId, policy: AFFINITY|ANTI_AFFINITY, scope: NFVI_NODE|ZONE}
    securityGroupRules: list[dict[str, Any]] = []  # SOL001 SecurityGroupRule properties + the cpdIds they apply to
    volumes: list[str] = []  # MAGI resourceIds of STORAGE allocated for this VNFC, attached to the server


class NetworkAllocate(Payload):
    vimConnectionInfo: dict[str, Any]
    resourceId: str
    ownerId: str  # vnfInstanceId or nsInstanceId
    vlId: str
    cidr: str | None = None


class StorageAllocate(Payload):
    vimConnectionInfo: dict[str, Any]
    resourceId: str
    vnfInstanceId: str
    storageId: str
    sizeGb: float


class ResourceRelease(Payload):
    vimConnectionInfo: dict[str, Any]
    resourceId: str
    # The VNF instance the resource belongs to: a driver also removes what that owner's resources
    # share and no longer use (server groups), even when this resource left nothing to find it by.
    ownerId: str | None = None


class VimRef(Payload):
    vimConnectionInfo: dict[str, Any]  # accessInfo may be absent: the VIM adapter then asks the NFVO (vimaccess.get)


class VimIdRef(Payload):
    vimId: str


class DriftFact(Payload):
    vimId: str
    drift: str  # VANISHED | STATE_CHANGED | MODIFIED | UNMANAGED
    resourceType: str  # COMPUTE | VL | STORAGE | PORT | SUBNET ...
    vimResourceId: str | None = None
    resourceId: str | None = None  # MAGI's id; None for a resource that appeared outside MAGI
    ownerId: str | None = None
    expected: dict[str, Any] | None = None
    observed: dict[str, Any] | None = None
    detectedAt: str


class ResourceFact(Payload):
    vimId: str
    resourceId: str
    resourceType: str  # COMPUTE | VL | STORAGE
    ownerId: str | None = None
    vimResourceId: str | None = None
    zoneId: str | None = None


class VnfLifecycleFact(Payload):
    vnfInstanceId: str
    vnfdId: str | None = None
    nsInstanceId: str | None = None
    vnfcs: list[dict[str, Any]] = []  # {vnfcId, vduId, vimId, resourceId, vimResourceId, zoneId}
    vimIds: list[str] = []


class NsLifecycleFact(Payload):
    nsInstanceId: str
    nsdId: str | None = None
    vnfInstanceIds: list[str] = []
    vimIds: list[str] = []


class DescriptorNotice(Payload):
    """A SOL005 package/descriptor notification, decided with the state change it reports and
    stored in the same write (outbox), so a crash between the two loses nothing."""
    key: str  # names the event: emitting it twice queues one delivery per subscription
    notification: dict[str, Any]  # the notification body, with `_match` (what subscription filters see)


@dataclass(frozen=True)
class MessageSpec:
    type: str
    kind: MessageKind
    exchange: ReferencePoint
    producer: str
    consumers: tuple[str, ...]
    payload: type[Payload]
    reply: str  # what the reply carries ("" for facts)
    summary: str


def _r(type_: str, ex: ReferencePoint, prod: str, cons: str, payload: type[Payload], reply: str, summary: str) -> MessageSpec:
    return MessageSpec(type_, "request", ex, prod, (cons,), payload, reply, summary)


def _f(type_: str, ex: ReferencePoint, prod: str, cons: tuple[str, ...], payload: type[Payload], summary: str) -> MessageSpec:
    return MessageSpec(type_, "fact", ex, prod, cons, payload, "", summary)


CATALOG: dict[str, MessageSpec] = {s.type: s for s in [
    # Or-Vnfm: NFVO drives the VNFM (SOL003 vnflcm semantics), VNFM asks the NFVO (grant, VNFD).
    _r("vnf.create", OR_VNFM, "nfvo", "vnfm", VnfCreate, "VnfInstance", "create a VNF instance identifier"),
    _r("vnf.instantiate", OR_VNFM, "nfvo", "vnfm", VnfTask, "{vnfLcmOpOccId}", "start InstantiateVnf on an instance"),
    _r("vnf.terminate", OR_VNFM, "nfvo", "vnfm", VnfTask, "{vnfLcmOpOccId}", "start TerminateVnf on an instance"),
    _r("vnf.delete", OR_VNFM, "nfvo", "vnfm", VnfId, "{}", "delete a NOT_INSTANTIATED VNF instance identifier"),
    _r("lcmopocc.get", OR_VNFM, "nfvo", "vnfm", LcmOpOccRef, "VnfLcmOpOcc", "read a VNF LCM operation occurrence"),
    _r("lcmopocc.rollback", OR_VNFM, "nfvo", "vnfm", LcmOpOccRef, "{vnfLcmOpOccId}", "roll back a FAILED_TEMP VNF LCM operation occurrence"),
    _r("grant.request", OR_VNFM, "vnfm", "nfvo", GrantRequestMsg, "Grant (or ProblemDetails 403)", "ask permission and VIM placement for an LCM operation"),
    _r("vnfd.get", OR_VNFM, "vnfm", "nfvo", VnfdRef, "normalized Vnfd + vnfPkgId", "read an onboarded VNFD"),
    _f("lcmopocc.changed", OR_VNFM, "vnfm", ("vnfm", "nfvo", "monitoring"), LcmOpOccChanged, "VNF LCM operation occurrence changed state (VnfLcmOperationOccurrenceNotification)"),
    _f("vnf.created", OR_VNFM, "vnfm", ("vnfm", "monitoring"), VnfId, "VNF instance identifier created (VnfIdentifierCreationNotification)"),
    _f("vnf.deleted", OR_VNFM, "vnfm", ("vnfm", "monitoring"), VnfId, "VNF instance identifier deleted (VnfIdentifierDeletionNotification)"),
    # Vi-Vnfm: VNFM asks the VIM adapter for virtualised resources.
    _r("compute.allocate", VI_VNFM, "vnfm", "vim_adapter", ComputeAllocate, "{resourceId, vimResourceId, vimId, zoneId, addresses}", "create a VNFC's server"),
    _r("compute.release", VI_VNFM, "vnfm", "vim_adapter", ResourceRelease, "{resourceId, released}", "delete a VNFC's server"),
    _r("network.allocate", VI_VNFM, "vnfm", "vim_adapter", NetworkAllocate, "{resourceId, vimResourceId}", "create a VNF-internal virtual link"),
    _r("network.release", VI_VNFM, "vnfm", "vim_adapter", ResourceRelease, "{resourceId, released}", "delete a VNF-internal virtual link"),
    _r("storage.allocate", VI_VNFM, "vnfm", "vim_adapter", StorageAllocate, "{resourceId, vimResourceId}", "create a block storage volume"),
    _r("storage.release", VI_VNFM, "vnfm", "vim_adapter", ResourceRelease, "{resourceId, released}", "delete a block storage volume"),
    # Or-Vi: NFVO asks the VIM adapter for NS-level resources.
    _r("nsvl.create", OR_VI, "nfvo", "vim_adapter", NetworkAllocate, "{resourceId, vimResourceId}", "create an NS virtual link"),
    _r("nsvl.delete", OR_VI, "nfvo", "vim_adapter", ResourceRelease, "{resourceId, released}", "delete an NS virtual link"),
    _r("vim.capacity", OR_VI, "nfvo", "vim_adapter", VimRef, "{vimId, total, used, free, zones}", "read a VIM's capacity (quotas and usage, or configured limits)"),
    _r("vimaccess.get", OR_VI, "vim_adapter", "nfvo", VimIdRef, "{vimId, vimType, interfaceInfo, accessInfo, extra}", "the VimConnectionInfo with credentials of a registered VIM"),
    # Facts: what happened, for monitoring and anyone else who follows.
    _f("nslcmopocc.changed", FACTS, "nfvo", ("nfvo", "monitoring"), NsLcmOpOccChanged, "NS LCM operation occurrence changed state"),
    _f("ns.created", FACTS, "nfvo", ("nfvo",), NsLifecycleFact, "NS instance identifier created (NsIdentifierCreationNotification)"),
    _f("ns.deleted", FACTS, "nfvo", ("nfvo",), NsLifecycleFact, "NS instance identifier deleted (NsIdentifierDeletionNotification)"),
    _f("vnfpkg.changed", FACTS, "nfvo", ("nfvo",), DescriptorNotice, "a VNF package was onboarded, changed or deleted (VnfPackageOnboardingNotification, VnfPackageChangeNotification)"),
    _f("nsd.changed", FACTS, "nfvo", ("nfvo",), DescriptorNotice, "an NSD or PNFD was onboarded, failed to onboard, changed or was deleted (Nsd*/Pnfd* notifications)"),
    _f("ns.instantiated", FACTS, "nfvo", ("monitoring",), NsLifecycleFact, "an NS instance is INSTANTIATED, with its VNFs and VIMs"),
    _f("ns.terminated", FACTS, "nfvo", ("monitoring",), NsLifecycleFact, "an NS instance is NOT_INSTANTIATED again"),
    _f("vnf.instantiated", FACTS, "vnfm", ("monitoring",), VnfLifecycleFact, "a VNF instance is INSTANTIATED, with its VNFCs and where they run"),
    _f("vnf.terminated", FACTS, "vnfm", ("monitoring",), VnfLifecycleFact, "a VNF instance is NOT_INSTANTIATED again"),
    _f("resource.allocated", FACTS, "vim_adapter", ("monitoring",), ResourceFact, "a virtualised resource exists on a VIM"),
    _f("resource.released", FACTS, "vim_adapter", ("monitoring",), ResourceFact, "a virtualised resource is gone from a VIM"),
    _f("resource.drifted", FACTS, "vim_adapter", ("monitoring",), DriftFact, "a VIM resource differs from MAGI's record (vanished, changed state, appeared outside MAGI)"),
]}


class UnknownMessage(KeyError):
    pass


def spec(type_: str) -> MessageSpec:
    try:
        return CATALOG[type_]
    except KeyError:
        raise UnknownMessage(f"{type_} is not in the message catalog") from None


def message(type_: str, payload: dict[str, Any] | Payload, *, source: str, message_id: str | None = None,
            causation_id: str | None = None, correlation_id: str | None = None) -> Envelope:
    """Build a catalogued message; the payload is validated against the catalog's model."""
    s = spec(type_)
    body = payload if isinstance(payload, Payload) else s.payload.model_validate(payload)
    kw: dict[str, Any] = {"message_id": message_id} if message_id else {}
    env = Envelope(type=type_, kind=s.kind, reference_point=s.exchange, source=source, causation_id=causation_id,
                   correlation_id=correlation_id, payload=body.model_dump(mode="json", exclude_none=True), **kw)
    # The trace context of the code that decided to send it, also when the outbox relays it later.
    inject_trace(env)
    return env
