"""Monitoring domain: folds lifecycle facts into inventory documents, in whatever order they come.

Each fold takes the current document (or None) and a fact's payload and envelope `time`, and
returns the new document. Facts can arrive out of order (redelivery, several producers), so
every state carries the time of the fact that set it and an older fact never overrides a newer
one: a resource released at t is not resurrected by its allocation at t' <= t, a deleted VNF
instance stays deleted.
"""
from __future__ import annotations

import copy
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
