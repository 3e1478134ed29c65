"""The simulated VIM (`MAGI.SIMULATED`): a real inventory in the adapter's store, not a stub.

`sim_resources` holds one document per resource. `sim_usage` holds one document per VIM with
every resource's reservation (vCPUs, memory, storage, IP leases), keyed by resourceId: the
capacity check and the reservation are one optimistic-concurrency write, so concurrent calls
— in one process or in two replicas — cannot overbook, and a retried call cannot reserve twice.
"""
from __future__ import annotations

import asyncio
import ipaddress
import random
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from magi.bus.base import PermanentError
from magi.bus.catalog import ComputeAllocate, NetworkAllocate, StorageAllocate
from magi.bus.envelope import utcnow
from magi.config import MagiSettings
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore

from vim_adapter.domain import compute_size
from vim_adapter.drivers.base import VimDriver

SIMULATED = "MAGI.SIMULATED"
DEFAULT_ZONE = "zone-a"
DEFAULT_CIDR = "10.0.0.0/16"
DIMENSIONS = (("vcpus", "vCPU"), ("memoryMb", "MB memory"), ("storageGb", "GB storage"))
Usage = dict[str, Any]


class SimulatedVimError(Exception):
    """An injected transient failure: the bus redelivers the request."""


@dataclass(frozen=True)
class SimConfig:
    vcpus: int = 512
    memory_mb: int = 1024 * 1024
    storage_gb: int = 100_000
    latency_ms: float = 0.0
    failure_rate: float = 0.0

    @classmethod
    def from_settings(cls, s: MagiSettings) -> "SimConfig":
        return cls(s.sim_vcpus, s.sim_memory_mb, s.sim_storage_gb, s.sim_latency_ms, s.sim_failure_rate)


# -- pure capacity and address bookkeeping ------------------------------------------------
def limits(config: SimConfig, extra: dict[str, Any] | None) -> dict[str, int]:
    e = extra or {}
    return {"vcpus": int(e.get("vcpus", config.vcpus)), "memoryMb": int(e.get("memoryMb", config.memory_mb)),
            "storageGb": int(e.get("storageGb", config.storage_gb))}


def used(usage: Usage) -> dict[str, float]:
    res = usage.get("reservations") or {}
    return {k: sum(r.get(k, 0) for r in res.values()) for k, _ in DIMENSIONS}


def free_ip(cidr: str, taken: set[str]) -> str:
    """Lowest free host address, skipping the gateway (first host): deterministic and dense."""
    net = ipaddress.ip_network(cidr, strict=False)
    first, last = int(net.network_address) + 2, int(net.broadcast_address) - 1
    if net.num_addresses <= 4:  # /30 and smaller: no room for a gateway convention
        first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
    for n in range(first, last + 1):
        ip = str(ipaddress.ip_address(n))
        if ip not in taken:
            return ip
    raise PermanentError(422, f"no free address left in {cidr}")


def reserve(usage: Usage, rid: str, need: dict[str, float], cap: dict[str, int],
            nets: list[tuple[str, str]]) -> tuple[Usage | None, list[dict[str, str]]]:
    """(usage to write or None if `rid` is already reserved, its IP leases). Raises on no capacity."""
    res = usage.setdefault("reservations", {})
    if rid in res:
        return None, res[rid].get("ips", [])
    now = used(usage)
    short = [f"{need[k]:g} {label} requested, {cap[k] - now[k]:g} free"
             for k, label in DIMENSIONS if need.get(k, 0) and now[k] + need[k] > cap[k]]
    if short:
        raise PermanentError(422, f"insufficient capacity on VIM {usage['vimId']}: " + "; ".join(short))
    leases = []
    for key, cidr in nets:
        taken = {l["ip"] for r in res.values() for l in r.get("ips", []) if l["net"] == key}
        taken.update(l["ip"] for l in leases if l["net"] == key)
        leases.append({"net": key, "cidr": cidr, "ip": free_ip(cidr, taken)})
    res[rid] = {**{k: need.get(k, 0) for k, _ in DIMENSIONS}, "ips": leases}
    return usage, leases


def unreserve(usage: Usage, rid: str) -> Usage | None:
    res = usage.get("reservations") or {}
    if rid not in res:
        return None
    del res[rid]
    return usage


def capacity_view(vim_id: str, usage: Usage, cap: dict[str, int]) -> dict[str, Any]:
    u = used(usage)
    return {"vimId": vim_id, "total": cap, "used": u, "free": {k: cap[k] - u[k] for k in cap},
            "resources": len(usage.get("reservations") or {})}


# -- the simulated cloud ------------------------------------------------------------------
class SimulatedVim:
    """Every simulated VIM's state; `driver(vim)` is the `VimDriver` factory for one of them."""

    def __init__(self, store: MongoStore, config: SimConfig, rng: random.Random | None = None):
        self.config = config
        self.rng = rng or random.Random()
        self.resources = store.repository("sim_resources", ["vimId", "vimResourceId"])
        self.usage = store.repository("sim_usage")

    def driver(self, vim: dict[str, Any]) -> "SimulatedDriver":
        return SimulatedDriver(vim, self)

    async def update_usage(self, vim_id: str, change: Callable[[Usage], Usage | None]) -> None:
        """Read-decide-write the VIM's usage document until no one else wrote it in between."""
        for attempt in range(200):
            doc = await self.usage.find_one({"_id": vim_id})
            try:
                if doc is None:
                    new = change({"id": vim_id, "vimId": vim_id, "reservations": {}})
                    if new is not None:
                        await self.usage.insert(new)
                    return
                new = change(doc)
                if new is not None:
                    await self.usage.replace(new)
                return
            except (ConcurrencyError, AlreadyExists):
                await asyncio.sleep(self.rng.random() * 0.002 * min(attempt + 1, 10))  # de-synchronise contenders
        raise SimulatedVimError(f"usage of VIM {vim_id} too contended")

    async def read_usage(self, vim_id: str) -> Usage:
        return await self.usage.find_one({"_id": vim_id}) or {"vimId": vim_id, "reservations": {}}

    # -- out-of-band changes: what an operator or the cloud does behind MAGI's back (tests) --
    async def _by_vim_id(self, vim_id: str, vim_resource_id: str) -> dict[str, Any]:
        doc = await self.resources.find_one({"vimId": vim_id, "vimResourceId": vim_resource_id})
        if doc is None:
            raise KeyError(f"no resource {vim_resource_id} on simulated VIM {vim_id}")
        return doc

    async def oob_delete(self, vim_id: str, vim_resource_id: str) -> None:
        """Delete a resource outside MAGI (its capacity is freed, as a cloud would)."""
        doc = await self._by_vim_id(vim_id, vim_resource_id)
        await self.resources.delete(doc)
        await self.update_usage(vim_id, lambda usage: unreserve(usage, doc["_id"]))

    async def oob_set_state(self, vim_id: str, vim_resource_id: str, state: str) -> None:
        """Move a resource to a VIM status (ERROR, SHUTOFF, error, ...) outside MAGI."""
        doc = await self._by_vim_id(vim_id, vim_resource_id)
        await self.resources.replace({**doc, "state": state})

    async def oob_modify(self, vim_id: str, vim_resource_id: str, **attributes: Any) -> None:
        """Change attributes (vcpus, memoryMb, sizeGb, cidr, name, zoneId) outside MAGI."""
        doc = await self._by_vim_id(vim_id, vim_resource_id)
        await self.resources.replace({**doc, **attributes})

    async def oob_create(self, vim_id: str, resource_type: str = "COMPUTE", name: str = "outsider",
                         state: str = "ACTIVE", zone_id: str = DEFAULT_ZONE, **attributes: Any) -> str:
        """Create a resource MAGI did not ask for; returns its vimResourceId."""
        vrid = str(uuid.uuid4())
        await self.resources.insert({"id": f"oob-{vrid}", "vimId": vim_id, "type": resource_type, "ownerId": None,
                                     "state": state, "vimResourceId": vrid, "zoneId": zone_id, "createdAt": utcnow(),
                                     "name": name, "unmanaged": True, **attributes})
        return vrid


class SimulatedDriver(VimDriver):
    def __init__(self, vim: dict[str, Any], sim: SimulatedVim):
        super().__init__(vim)
        self.sim = sim
        self.extra: dict[str, Any] = vim.get("extra") or {}
        self.cap = limits(sim.config, self.extra)

    async def _call(self, op: str, *ids: str | None) -> None:
        """What every VIM API call costs: latency, and the failures the test asked for."""
        if self.sim.config.latency_ms:
            await asyncio.sleep(self.sim.config.latency_ms / 1000)
        fail_on = self.extra.get("failOn") or []
        if op in fail_on or any(i in fail_on for i in ids if i):
            raise PermanentError(422, f"injected failure: {op} on VIM {self.vim_id}")
        if self.sim.config.failure_rate and self.sim.rng.random() < self.sim.config.failure_rate:
            raise SimulatedVimError(f"simulated VIM {self.vim_id}: {op} failed (transient)")

    def _reply(self, doc: dict[str, Any]) -> dict[str, Any]:
        keys = ("vimResourceId", "zoneId", "vimId", "addresses")
        return {"resourceId": doc["id"], **{k: doc[k] for k in keys if doc.get(k) is not None}}

    async def _existing(self, rid: str) -> dict[str, Any] | None:
        doc = await self.sim.resources.find_one({"_id": rid})
        if doc is not None and doc["vimId"] != self.vim_id:
            raise PermanentError(409, f"resource {rid} already exists on VIM {doc['vimId']}")
        return doc

    async def _allocate(self, doc: dict[str, Any], need: dict[str, float], nets: list[tuple[str, str]]) -> dict[str, Any]:
        rid = doc["id"]
        if (found := await self._existing(rid)) is not None:
            return self._reply(found)
        leases: list[dict[str, str]] = []
        if any(need.values()) or nets:
            def change(usage: Usage) -> Usage | None:
                new, got = reserve(usage, rid, need, self.cap, nets)
                leases[:] = got
                return new
            await self.sim.update_usage(self.vim_id, change)
        if leases:
            doc["addresses"] = [{**n, "ipAddress": l["ip"], "cidr": l["cidr"]} for n, l in zip(doc.pop("_nics"), leases)]
        doc.pop("_nics", None)
        try:
            await self.sim.resources.insert(doc)
        except AlreadyExists:  # a concurrent call with the same resourceId won: answer its resource
            if (found := await self._existing(rid)) is None:
                raise SimulatedVimError(f"resource {rid} is being released; retry") from None
            return self._reply(found)
        return self._reply(doc)

    def _doc(self, rid: str, type_: str, owner: str | None, zone: str | None, **fields: Any) -> dict[str, Any]:
        return {"id": rid, "vimId": self.vim_id, "type": type_, "ownerId": owner, "state": "ACTIVE",
                "vimResourceId": str(uuid.uuid4()), "zoneId": zone or DEFAULT_ZONE, "createdAt": utcnow(),
                **{k: v for k, v in fields.items() if v is not None}}

    async def _nics(self, networks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """(NIC descriptions, (pool key, cidr) per NIC): each NIC draws from its VL's cidr."""
        nics, pools = [], []
        for net in networks or [{}]:
            net_id = net.get("vimNetworkId") or net.get("externalNetworkId")  # an NS VL reaches a VNF as an external network
            cidr, key = net.get("cidr"), net_id or net.get("cidr") or "default"
            if not cidr and net_id:
                vl = await self.sim.resources.find_one({"vimId": self.vim_id, "vimResourceId": net_id})
                cidr = (vl or {}).get("cidr")
            nics.append({k: net[k] for k in ("cpdId", "vlId", "vimNetworkId", "externalNetworkId") if net.get(k)})
            pools.append((key, cidr or DEFAULT_CIDR))
        return nics, pools

    async def allocate_compute(self, req: ComputeAllocate) -> dict[str, Any]:
        await self._call("compute.allocate", req.vduId, req.resourceId)
        vcpus, mem = compute_size(req.virtualCompute)
        nics, pools = await self._nics(req.networks)
        doc = self._doc(req.resourceId, "COMPUTE", req.vnfInstanceId, req.zoneId, vnfInstanceId=req.vnfInstanceId,
                        vduId=req.vduId, vcpus=vcpus, memoryMb=mem, _nics=nics)
        return await self._allocate(doc, {"vcpus": vcpus, "memoryMb": mem}, pools)

    async def allocate_network(self, req: NetworkAllocate) -> dict[str, Any]:
        await self._call("network.allocate", req.vlId, req.resourceId)
        if req.cidr:
            try:
                ipaddress.ip_network(req.cidr, strict=False)
            except ValueError:
                raise PermanentError(422, f"invalid cidr {req.cidr!r}") from None
        doc = self._doc(req.resourceId, "VL", req.ownerId, None, vlId=req.vlId, cidr=req.cidr)
        return await self._allocate(doc, {}, [])

    async def allocate_storage(self, req: StorageAllocate) -> dict[str, Any]:
        await self._call("storage.allocate", req.storageId, req.resourceId)
        doc = self._doc(req.resourceId, "STORAGE", req.vnfInstanceId, None, vnfInstanceId=req.vnfInstanceId,
                        storageId=req.storageId, sizeGb=req.sizeGb)
        return await self._allocate(doc, {"storageGb": req.sizeGb}, [])

    async def _release(self, op: str, type_: str, rid: str) -> bool:
        await self._call(op, rid)
        doc = await self._existing(rid)
        released = False
        if doc is not None:
            if doc["type"] != type_:
                raise PermanentError(422, f"resource {rid} is a {doc['type']}, not a {type_}")
            try:
                await self.sim.resources.delete(doc)
                released = True
            except ConcurrencyError:  # a concurrent release won
                pass
        # Free the reservation even when the resource is gone: a crash may have left it behind.
        await self.sim.update_usage(self.vim_id, lambda usage: unreserve(usage, rid))
        return released

    async def release_compute(self, resource_id: str, owner: str | None = None) -> bool:
        return await self._release("compute.release", "COMPUTE", resource_id)

    async def release_network(self, resource_id: str) -> bool:
        return await self._release("network.release", "VL", resource_id)

    async def release_storage(self, resource_id: str) -> bool:
        return await self._release("storage.release", "STORAGE", resource_id)

    async def capacity(self) -> dict[str, Any]:
        return capacity_view(self.vim_id, await self.sim.read_usage(self.vim_id), self.cap)

    async def inventory(self) -> list[dict[str, Any]]:
        """The inventory contract (vim_adapter/drift.py, docs/drift.md)."""
        return [inventory_entry(d) for d in await self.sim.resources.find({"vimId": self.vim_id})]


# Per kind: the attributes an inventory entry carries, and the name part taken from the document.
ATTRIBUTES = {"COMPUTE": ("vcpus", "memoryMb", "vduId"), "VL": ("cidr", "vlId"), "STORAGE": ("sizeGb", "storageId")}
HEALTHY_STATE = {"STORAGE": "available"}  # the simulator keeps ACTIVE; a volume's healthy status is `available`


def inventory_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """One simulated resource as any driver reports it: the inventory contract."""
    type_ = doc["type"]
    managed = not doc.get("unmanaged")
    keys = ATTRIBUTES.get(type_, ()) + tuple(k for k in ("cidr", "vcpus", "memoryMb", "sizeGb") if k not in ATTRIBUTES.get(type_, ()))
    state = doc.get("state")
    if state == "ACTIVE" and type_ in HEALTHY_STATE:
        state = HEALTHY_STATE[type_]
    label = doc.get("vduId") or doc.get("vlId") or doc.get("storageId") or type_.lower()
    return {
        "vimResourceId": doc["vimResourceId"],
        "resourceType": type_,
        "resourceId": doc["id"] if managed else None,
        "ownerId": doc.get("ownerId") if managed else None,
        "name": doc.get("name") or f"magi-{label}-{doc['id'][:8]}",
        "state": state,
        "zoneId": doc.get("zoneId"),
        "attributes": {k: doc[k] for k in keys if doc.get(k) is not None},
    }
