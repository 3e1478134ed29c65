"""Monitoring domain: folds lifecycle facts into inventory documents, in whatever order they come.

Each fold takes the current document (or None) and a fact's payload and envelope `time`, and
returns the new document. Facts can arrive out of order (redelivery, several producers), so
every state carries the time of the fact that set it and an older fact never overrides a newer
one: a resource released at t is not resurrected by its allocation at t' <= t, a deleted VNF
instance stays deleted.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

ACTIVE, RELEASED = "ACTIVE", "RELEASED"
NOT_INSTANTIATED, INSTANTIATED, DELETED = "NOT_INSTANTIATED", "INSTANTIATED", "DELETED"

Doc = dict[str, Any]
Fold = Callable[[Doc | None, dict[str, Any], str], Doc]


def _t(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def before(a: str | None, b: str) -> bool:
    """a is strictly earlier than b (a missing time is earliest)."""
    return a is None or _t(a) < _t(b)


# -- resources ----------------------------------------------------------------------------
RESOURCE_FIELDS = ("vimId", "resourceType", "ownerId", "vimResourceId", "zoneId")


def _resource(doc: Doc | None, p: dict[str, Any]) -> Doc:
    new = copy.deepcopy(doc) if doc else {"id": p["resourceId"]}
    new.update({k: p[k] for k in RESOURCE_FIELDS if p.get(k) is not None})
    if "resourceType" in new:
        new["type"] = new.pop("resourceType")
    return new


def resource_allocated(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    if doc is not None:
        if doc.get("releasedAt") and not before(doc["releasedAt"], t):
            return doc  # released at or after this allocation: the allocation is stale
        if doc.get("state") == ACTIVE and not before(doc.get("allocatedAt"), t):
            return doc
    return {**_resource(doc, p), "state": ACTIVE, "allocatedAt": t}


def resource_released(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    if doc is not None:
        if doc.get("releasedAt") and not before(doc["releasedAt"], t):
            return doc
        if doc.get("allocatedAt") and before(t, doc["allocatedAt"]):
            return doc  # an older incarnation's release
    # A release before any allocation is kept as a tombstone so the late allocation stays dead.
    return {**_resource(doc, p), "state": RELEASED, "releasedAt": t}


# -- VNF and NS instances -----------------------------------------------------------------
def _instance(doc: Doc | None, id_: str) -> Doc:
    return copy.deepcopy(doc) if doc else {"id": id_, "state": NOT_INSTANTIATED, "stateTime": None}


def _move(doc: Doc, state: str, t: str, **fields: Any) -> Doc:
    """Apply a state fact unless the instance is deleted or a newer fact already set its state."""
    st = doc.get("stateTime")
    if doc.get("state") == DELETED or (st is not None and before(t, st)):
        return doc
    doc.update(state=state, stateTime=t, **fields)
    return doc


def _vim_ids(p: dict[str, Any]) -> list[str]:
    ids = set(p.get("vimIds") or []) | {c["vimId"] for c in p.get("vnfcs") or [] if c.get("vimId")}
    return sorted(ids)


def vnf_created(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    new = _instance(doc, p["vnfInstanceId"])
    new.setdefault("createdAt", t)
    new.update({k: p[k] for k in ("vnfdId",) if p.get(k)})
    return _move(new, NOT_INSTANTIATED, t) if new["stateTime"] is None else new


def vnf_instantiated(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    new = _instance(doc, p["vnfInstanceId"])
    fields = {k: p[k] for k in ("vnfdId", "nsInstanceId") if p.get(k)}
    return _move(new, INSTANTIATED, t, vnfcs=list(p.get("vnfcs") or []), vimIds=_vim_ids(p), **fields)


def vnf_terminated(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    return _move(_instance(doc, p["vnfInstanceId"]), NOT_INSTANTIATED, t, vnfcs=[], vimIds=[])


def vnf_deleted(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    new = _instance(doc, p["vnfInstanceId"])
    if new["state"] != DELETED:  # terminal: ids are never reused
        new.update(state=DELETED, stateTime=t, deletedAt=t, vnfcs=[], vimIds=[])
    return new


def _op_occ(doc: Doc, occ: dict[str, Any], t: str) -> Doc:
    if doc.get("state") != DELETED and before((doc.get("lastOpOcc") or {}).get("time"), t):
        doc["lastOpOcc"] = {**{k: v for k, v in occ.items() if v is not None}, "time": t}
    return doc


def vnf_op_occ(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    keys = ("vnfLcmOpOccId", "operation", "operationState", "notificationStatus", "error")
    return _op_occ(_instance(doc, p["vnfInstanceId"]), {k: p.get(k) for k in keys}, t)


def ns_instantiated(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    new = _instance(doc, p["nsInstanceId"])
    fields = {k: p[k] for k in ("nsdId",) if p.get(k)}
    return _move(new, INSTANTIATED, t, vnfInstanceIds=list(p.get("vnfInstanceIds") or []), vimIds=_vim_ids(p), **fields)


def ns_terminated(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    return _move(_instance(doc, p["nsInstanceId"]), NOT_INSTANTIATED, t, vnfInstanceIds=[], vimIds=[])


def ns_op_occ(doc: Doc | None, p: dict[str, Any], t: str) -> Doc:
    keys = ("nsLcmOpOccId", "operation", "operationState", "error")
    return _op_occ(_instance(doc, p["nsInstanceId"]), {k: p.get(k) for k in keys}, t)


def count(doc: Doc | None, type_: str, t: str) -> Doc:
    new = copy.deepcopy(doc) if doc else {"id": type_, "type": type_, "count": 0}
    new["count"] += 1
    new["lastAt"] = t if before(new.get("lastAt"), t) else new["lastAt"]
    return new


# Fact type → (inventory, payload key of the document id, fold).
FOLDS: dict[str, tuple[str, str, Fold]] = {
    "vnf.created": ("vnf", "vnfInstanceId", vnf_created),
    "vnf.instantiated": ("vnf", "vnfInstanceId", vnf_instantiated),
    "vnf.terminated": ("vnf", "vnfInstanceId", vnf_terminated),
    "vnf.deleted": ("vnf", "vnfInstanceId", vnf_deleted),
    "lcmopocc.changed": ("vnf", "vnfInstanceId", vnf_op_occ),
    "ns.instantiated": ("ns", "nsInstanceId", ns_instantiated),
    "ns.terminated": ("ns", "nsInstanceId", ns_terminated),
    "nslcmopocc.changed": ("ns", "nsInstanceId", ns_op_occ),
    "resource.allocated": ("resource", "resourceId", resource_allocated),
    "resource.released": ("resource", "resourceId", resource_released),
}


# -- views --------------------------------------------------------------------------------
def vnf_on_vim(doc: Doc, vim_id: str) -> Doc | None:
    """The VNF instance with only its VNFCs on `vim_id`, or None if nothing of it runs there."""
    vnfcs = [c for c in doc.get("vnfcs") or [] if c.get("vimId") == vim_id]
    if not vnfcs and vim_id not in (doc.get("vimIds") or []):
        return None
    return {**doc, "vnfcs": vnfcs}


def inventory(vnfs: list[Doc], nss: list[Doc], resources: list[Doc], vim_id: str | None = None) -> dict[str, list[Doc]]:
    vnfs = [d for d in vnfs if d.get("state") != DELETED]
    resources = [r for r in resources if r.get("state") == ACTIVE]
    if vim_id is not None:
        vnfs = [v for v in (vnf_on_vim(d, vim_id) for d in vnfs) if v is not None]
        nss = [d for d in nss if vim_id in (d.get("vimIds") or [])]
        resources = [r for r in resources if r.get("vimId") == vim_id]
    return {"nsInstances": nss, "vnfInstances": vnfs, "resources": resources}


# -- alarms from drift (SOL003/SOL005 Alarm shape; docs/drift.md) ---------------------------
CLEARED, CRITICAL, MAJOR, MINOR, WARNING = "CLEARED", "CRITICAL", "MAJOR", "MINOR", "WARNING"
FAULTY_RESOURCE_TYPE = {"COMPUTE": "COMPUTE", "SERVER_GROUP": "COMPUTE", "STORAGE": "STORAGE",
                        "VL": "NETWORK", "PORT": "NETWORK", "SUBNET": "NETWORK", "SECURITY_GROUP": "NETWORK"}
WHAT = {"COMPUTE": "server", "STORAGE": "volume", "VL": "network", "PORT": "port", "SUBNET": "subnet",
        "SECURITY_GROUP": "security group", "SERVER_GROUP": "server group"}
ALARM_NS = uuid.UUID("5f0c1d2e-6a7b-4c8d-9e0f-a1b2c3d4e5f6")


def alarm_id(vim_id: str, vim_resource_id: str | None, resource_id: str | None, drift: str) -> str:
    """One alarm per (vimId, VIM resource, drift): the same drift seen again is the same alarm."""
    return str(uuid.uuid5(ALARM_NS, f"{vim_id}|{vim_resource_id or resource_id}|{drift}"))


def drift_severity(p: dict[str, Any]) -> str:
    drift = p["drift"]
    if drift == "VANISHED":
        return CRITICAL
    if drift == "STATE_CHANGED":
        state = str((p.get("observed") or {}).get("state") or "").upper()
        return CRITICAL if "ERROR" in state else MAJOR  # SHUTOFF, PAUSED, SUSPENDED, ...
    if drift == "MODIFIED":
        return MINOR
    return WARNING  # UNMANAGED


def probable_cause(p: dict[str, Any]) -> str:
    what = WHAT.get(p["resourceType"], p["resourceType"].lower())
    drift, observed = p["drift"], p.get("observed") or {}
    if drift == "VANISHED":
        return f"{what} deleted outside MAGI"
    if drift == "STATE_CHANGED":
        return f"{what} went to {observed.get('state')} outside MAGI"
    if drift == "MODIFIED":
        return f"{what} modified outside MAGI: {', '.join(sorted(observed))}"
    return f"{what} created outside MAGI"


def drift_alarm(doc: Doc | None, p: dict[str, Any], t: str) -> Doc | None:
    """The alarm after a `resource.drifted` fact (p: DriftFact payload, t: its detectedAt).

    A drift raises the alarm (again, if it was cleared) or changes it (new severity or
    observation); RESOLVED clears it. A fact older than the alarm's last change is ignored.
    Returns None when a RESOLVED fact finds no alarm to clear."""
    if doc is not None and before(t, doc.get("eventTime") or t):
        return doc
    if p["drift"] == "RESOLVED":
        if doc is None or doc["perceivedSeverity"] == CLEARED:
            return doc
        return {**copy.deepcopy(doc), "perceivedSeverity": CLEARED, "alarmClearedTime": t, "alarmChangedTime": t,
                "eventTime": t}
    severity = drift_severity(p)
    details = {"drift": p["drift"], "expected": p.get("expected"), "observed": p.get("observed"),
               "resourceId": p.get("resourceId"), "vimResourceId": p.get("vimResourceId")}
    if doc is not None and doc["perceivedSeverity"] != CLEARED:
        new = copy.deepcopy(doc)
        if new["perceivedSeverity"] == severity and new["faultDetails"] == details:
            return doc
        new.update(perceivedSeverity=severity, alarmChangedTime=t, eventTime=t, faultDetails=details,
                   probableCause=probable_cause(p))
        return new
    rtype = p["resourceType"]
    keep = {k: v for k, v in (doc or {}).items() if k.startswith("_")}  # a cleared alarm raised again: same document
    return {
        **keep,
        "id": alarm_id(p["vimId"], p.get("vimResourceId"), p.get("resourceId"), p["drift"]),
        "vimId": p["vimId"],  # MAGI: filters and the dedupe key
        "managedObjectId": p.get("ownerId") or p["vimId"],  # no MAGI owner (UNMANAGED): the VIM
        "rootCauseFaultyResource": {
            "faultyResource": {"vimConnectionId": p["vimId"], "resourceId": p.get("vimResourceId") or p.get("resourceId"),
                               "vimLevelResourceType": rtype},
            "faultyResourceType": FAULTY_RESOURCE_TYPE.get(rtype, "COMPUTE"),
        },
        "alarmRaisedTime": t,
        "alarmChangedTime": None,
        "alarmClearedTime": None,
        "alarmAcknowledgedTime": None,
        "ackState": "UNACKNOWLEDGED",
        "perceivedSeverity": severity,
        "eventTime": t,
        "eventType": "EQUIPMENT_ALARM",
        "faultType": f"VIM resource drift: {p['drift']}",
        "probableCause": probable_cause(p),
        "isRootCause": True,
        "faultDetails": details,
    }


def alarm_target(p: dict[str, Any]) -> str:
    """Id of the alarm a DriftFact is about (RESOLVED names the ended drift in expected.drift)."""
    drift = (p.get("expected") or {}).get("drift") if p["drift"] == "RESOLVED" else p["drift"]
    return alarm_id(p["vimId"], p.get("vimResourceId"), p.get("resourceId"), str(drift))
