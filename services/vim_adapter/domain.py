"""VIM adapter domain: pure functions over resource requests, records, replies and facts."""
from __future__ import annotations

from typing import Any

from magi.bus.catalog import ComputeAllocate, NetworkAllocate, Payload, StorageAllocate
from magi.bus.envelope import utcnow

# Resource kind of a request type → (VIM-level resource type, allocation payload model).
KINDS: dict[str, tuple[str, type[Payload]]] = {
    "compute": ("COMPUTE", ComputeAllocate),
    "network": ("VL", NetworkAllocate),
    "storage": ("STORAGE", StorageAllocate),
}
# Bus request type → (action, kind). NS virtual links are networks owned by an NS instance.
REQUESTS: dict[str, tuple[str, str]] = {
    "compute.allocate": ("allocate", "compute"), "compute.release": ("release", "compute"),
    "network.allocate": ("allocate", "network"), "network.release": ("release", "network"),
    "storage.allocate": ("allocate", "storage"), "storage.release": ("release", "storage"),
    "nsvl.create": ("allocate", "network"), "nsvl.delete": ("release", "network"),
}
REPLY_KEYS = ("resourceId", "vimResourceId", "zoneId", "vimId", "addresses")


def compute_size(virtual_compute: dict[str, Any]) -> tuple[int, int]:
    """(vCPUs, memory MB) of a virtualCompute; accepts MAGI's flat keys and IFA011's nested ones."""
    vc = virtual_compute or {}
    vcpus = vc.get("numVirtualCpu") or (vc.get("virtualCpu") or {}).get("numVirtualCpu") or 1
    mem = vc.get("virtualMemSizeMb") or (vc.get("virtualMemory") or {}).get("virtualMemSize") or 512
    return int(vcpus), int(mem)


def owner_of(req: Payload) -> str | None:
    return getattr(req, "ownerId", None) or getattr(req, "vnfInstanceId", None)


def public_vim(vim: dict[str, Any]) -> dict[str, Any]:
    """What the adapter may keep of a VimConnectionInfo: never the credentials."""
    return {k: v for k, v in vim.items() if k != "accessInfo"}


def resource_record(kind: str, req: Payload, got: dict[str, Any]) -> dict[str, Any]:
    """The adapter's record of an allocated resource, from the request and the driver's answer."""
    vim = req.vimConnectionInfo  # type: ignore[attr-defined]
    rec: dict[str, Any] = {
        "id": req.resourceId,  # type: ignore[attr-defined]
        "vimId": vim["vimId"],
        "vimType": vim.get("vimType"),
        "type": KINDS[kind][0],
        "ownerId": owner_of(req),
        "state": "ACTIVE",
        "createdAt": utcnow(),
        **{k: got[k] for k in ("vimResourceId", "zoneId", "addresses") if got.get(k) is not None},
    }
    if isinstance(req, ComputeAllocate):
        rec["vnfInstanceId"], rec["vduId"] = req.vnfInstanceId, req.vduId
        rec["vcpus"], rec["memoryMb"] = compute_size(req.virtualCompute)
    elif isinstance(req, StorageAllocate):
        rec["vnfInstanceId"], rec["storageId"], rec["sizeGb"] = req.vnfInstanceId, req.storageId, req.sizeGb
    elif isinstance(req, NetworkAllocate):
        rec["vlId"] = req.vlId
        if req.cidr:
            rec["cidr"] = req.cidr
    return rec


def allocate_reply(record: dict[str, Any]) -> dict[str, Any]:
    reply = {k: record[k] for k in REPLY_KEYS if record.get(k) is not None}
    reply["resourceId"] = record["id"]
    return reply


def release_reply(resource_id: str, released: bool) -> dict[str, Any]:
    return {"resourceId": resource_id, "released": released}


def resource_fact(record: dict[str, Any]) -> dict[str, Any]:
    """Payload of resource.allocated / resource.released (catalog ResourceFact)."""
    return {"vimId": record["vimId"], "resourceId": record["id"], "resourceType": record["type"],
            "ownerId": record.get("ownerId"), "vimResourceId": record.get("vimResourceId"), "zoneId": record.get("zoneId")}


def needs_access(vim: dict[str, Any], credentialed_types: frozenset[str]) -> bool:
    """Whether a VimConnectionInfo lacks the credentials its driver needs (then ask the NFVO)."""
    return vim.get("vimType") in credentialed_types and not vim.get("accessInfo")


def with_access(vim: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The request's VimConnectionInfo completed by the NFVO's answer to `vimaccess.get`."""
    merged = {**answer, **{k: v for k, v in vim.items() if v}}
    merged["accessInfo"] = answer.get("accessInfo") or {}
    for key in ("interfaceInfo", "extra"):
        if not vim.get(key) and answer.get(key):
            merged[key] = answer[key]
    return merged
