"""VIM adapter (simulated VIM) and monitoring, driven over the in-process bus on a real nx-27017."""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from magi.bus.catalog import message
from magi.bus.catalog import ComputeAllocate
from magi.bus.envelope import Envelope, ReferencePoint, RemoteError
from magi.bus.memory import InMemoryBroker, InMemoryBus
from magi.config import MagiSettings
from magi.runtime import ServiceUnit, make_context
from magi.store.embedded import EmbeddedMongo
from magi.store.mongo import MongoStore

import monitoring.api
import monitoring.bootstrap
import vim_adapter.bootstrap
from monitoring import domain as mon
from vim_adapter.drivers.simulated import SIMULATED, SimConfig, SimulatedVim, SimulatedVimError
from vim_adapter.service import VimAdapter
from vim_adapter.api import ADAPTER


@pytest.fixture(scope="module")
def _mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if os.environ.get("MAGI_MONGODB_URI"):
        yield os.environ["MAGI_MONGODB_URI"]
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("nx"))
    yield server.start()
    server.stop()


def _settings(uri: str, **kw: Any) -> MagiSettings:
    return MagiSettings(mongodb_uri=uri, amqp_url=None, db_prefix=f"t{uuid.uuid4().hex[:10]}", host="127.0.0.1",
                        request_timeout=10, **kw)


class Harness:
    def __init__(self, broker: InMemoryBroker, units: dict[str, ServiceUnit], client: InMemoryBus, facts: list[Envelope]):
        self.broker, self.units, self.client, self.facts = broker, units, client, facts

    async def request(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.client.request(message(type_, payload, source="test"), timeout=10)

    async def publish(self, type_: str, payload: dict[str, Any], time: str | None = None) -> None:
        env = message(type_, payload, source="test")
        if time:
            env.time = time
        await self.client.publish(env)

    def url(self, service: str) -> str:
        host, port = self.units[service].runner.addresses[0][:2]  # type: ignore[union-attr]
        return f"http://{host}:{port}"

    @property
    def adapter(self) -> VimAdapter:
        return self.units["vim_adapter"].ctx.app[ADAPTER]


@contextlib.asynccontextmanager
async def running(uri: str, services: tuple[str, ...] = ("vim_adapter",), **sim: Any) -> AsyncIterator[Harness]:
    broker = InMemoryBroker()
    settings = _settings(uri, **sim)
    modules = {"vim_adapter": vim_adapter.bootstrap, "monitoring": monitoring.bootstrap}
    units = {name: modules[name].build(make_context(name, settings, [], broker)) for name in services}
    facts: list[Envelope] = []

    async def watch(env: Envelope) -> None:  # a monitoring-like follower of resource facts
        if all(f.message_id != env.message_id for f in facts):  # the outbox is at-least-once
            facts.append(env)

    watcher = InMemoryBus("watcher", broker)
    watcher.bind(ReferencePoint.FACTS, "resource.*", watch)
    client = InMemoryBus("test", broker)
    for u in units.values():
        await u.start(port=0)
    await watcher.start()
    await client.start()
    try:
        yield Harness(broker, units, client, facts)
    finally:
        await client.close()
        await watcher.close()
        for u in units.values():
            await u.stop()


async def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await check() if asyncio.iscoroutinefunction(check) else check()
            if result:
                return result
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s")
        await asyncio.sleep(0.05)


def vim(vim_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"vimId": vim_id or f"vim-{uuid.uuid4().hex[:8]}", "vimType": SIMULATED, "extra": extra,
            "accessInfo": {"password": "secret"}}


def compute(v: dict[str, Any], rid: str | None = None, vcpus: int = 1, vdu: str = "vdu1", **kw: Any) -> dict[str, Any]:
    return {"vimConnectionInfo": v, "resourceId": rid or str(uuid.uuid4()), "vnfInstanceId": kw.pop("vnf", "vnf-1"),
            "vduId": vdu, "virtualCompute": {"numVirtualCpu": vcpus, "virtualMemSizeMb": 1024}, **kw}


def network(v: dict[str, Any], rid: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"vimConnectionInfo": v, "resourceId": rid or str(uuid.uuid4()), "ownerId": "vnf-1", "vlId": "int-vl", **kw}


def storage(v: dict[str, Any], rid: str | None = None, size: float = 10) -> dict[str, Any]:
    return {"vimConnectionInfo": v, "resourceId": rid or str(uuid.uuid4()), "vnfInstanceId": "vnf-1",
            "storageId": "vol", "sizeGb": size}


def release(v: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"vimConnectionInfo": v, "resourceId": rid}


# -- VIM adapter ----------------------------------------------------------------------------
async def test_allocate_compute_network_storage(_mongo_uri: str) -> None:
    async with running(_mongo_uri) as h:
        v = vim()
        vl = await h.request("network.allocate", network(v, cidr="192.168.7.0/24"))
        assert vl["vimId"] == v["vimId"] and vl["zoneId"] == "zone-a" and uuid.UUID(vl["vimResourceId"])
        nic = [{"cpdId": "eth0", "vlId": "int-vl", "vimNetworkId": vl["vimResourceId"]}]
        c1 = await h.request("compute.allocate", compute(v, vcpus=2, networks=nic, zoneId="zone-b"))
        c2 = await h.request("compute.allocate", compute(v, vcpus=2, networks=nic))
        bare = await h.request("compute.allocate", compute(v))
        vol = await h.request("storage.allocate", storage(v, size=25))
        assert c1["zoneId"] == "zone-b" and c2["zoneId"] == "zone-a"
        assert [a["ipAddress"] for a in c1["addresses"]] == ["192.168.7.2"]
        assert [a["ipAddress"] for a in c2["addresses"]] == ["192.168.7.3"]
        assert c1["addresses"][0]["cpdId"] == "eth0" and c1["addresses"][0]["cidr"] == "192.168.7.0/24"
        assert ipaddress.ip_address(bare["addresses"][0]["ipAddress"]) in ipaddress.ip_network("10.0.0.0/16")
        assert set(vol) == {"resourceId", "vimResourceId", "zoneId", "vimId"}
        driver = h.adapter.registry.driver(v)
        inv = await driver.inventory()
        assert sorted(r["resourceType"] for r in inv) == ["COMPUTE", "COMPUTE", "COMPUTE", "STORAGE", "VL"]
        assert {r["state"] for r in inv} == {"ACTIVE", "available"}  # a healthy volume is `available`
        assert all(set(r) == {"vimResourceId", "resourceType", "resourceId", "ownerId", "name", "state", "zoneId",
                              "attributes"} for r in inv)
        cap = await driver.capacity()
        assert cap["used"] == {"vcpus": 5, "memoryMb": 3072, "storageGb": 25}
        assert cap["free"]["vcpus"] == cap["total"]["vcpus"] - 5


async def test_allocation_is_idempotent(_mongo_uri: str) -> None:
    async with running(_mongo_uri) as h:
        v, rid = vim(), str(uuid.uuid4())
        first = await h.request("compute.allocate", compute(v, rid))
        again = await h.request("compute.allocate", compute(v, rid))  # a new message id: not a bus dedupe
        assert again == first
        assert len(await h.adapter.registry.driver(v).inventory()) == 1
        assert len(await h.adapter.list_resources({"vimId": v["vimId"]})) == 1
        assert (await h.adapter.registry.driver(v).capacity())["used"]["vcpus"] == 1
        # The same id on another VIM is a conflict, not a second resource.
        with pytest.raises(RemoteError) as exc:
            await h.request("compute.allocate", compute(vim(), rid))
        assert exc.value.problem["status"] == 409


async def test_release_frees_capacity_and_is_idempotent(_mongo_uri: str) -> None:
    async with running(_mongo_uri) as h:
        v = vim(vcpus=4)
        c = await h.request("compute.allocate", compute(v, vcpus=4))
        vol = await h.request("storage.allocate", storage(v))
        vl = await h.request("nsvl.create", network(v, ownerId="ns-1"))
        assert await h.request("compute.release", release(v, c["resourceId"])) == {"resourceId": c["resourceId"], "released": True}
        assert (await h.request("compute.release", release(v, c["resourceId"])))["released"] is False
        assert (await h.request("storage.release", release(v, vol["resourceId"])))["released"] is True
        assert (await h.request("nsvl.delete", release(v, vl["resourceId"])))["released"] is True
        assert (await h.request("network.release", release(v, str(uuid.uuid4()))))["released"] is False
        driver = h.adapter.registry.driver(v)
        assert await driver.inventory() == []
        assert (await driver.capacity())["used"] == {"vcpus": 0, "memoryMb": 0, "storageGb": 0}
        await h.request("compute.allocate", compute(v, vcpus=4))  # the freed vCPUs are usable again


async def test_capacity_exceeded_is_422(_mongo_uri: str) -> None:
    async with running(_mongo_uri, sim_storage_gb=50) as h:
        v = vim(vcpus=4)
        await h.request("compute.allocate", compute(v, vcpus=3))
        with pytest.raises(RemoteError) as exc:
            await h.request("compute.allocate", compute(v, vcpus=2))
        assert exc.value.problem["status"] == 422
        assert f"insufficient capacity on VIM {v['vimId']}" in exc.value.problem["detail"]
        with pytest.raises(RemoteError) as exc:  # the settings' limit applies where extra says nothing
            await h.request("storage.allocate", storage(v, size=51))
        assert exc.value.problem["status"] == 422 and "storage" in exc.value.problem["detail"]
        assert len(await h.adapter.registry.driver(v).inventory()) == 1


async def test_concurrent_allocations_never_overbook(_mongo_uri: str) -> None:
    async with running(_mongo_uri) as h:
        v = vim(vcpus=10)
        results = await asyncio.gather(*(h.request("compute.allocate", compute(v)) for _ in range(20)),
                                       return_exceptions=True)
        ok = [r for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, RemoteError)]
        assert len(ok) == 10 and len(refused) == 10
        assert all(r.problem["status"] == 422 for r in refused)
        assert len({r["addresses"][0]["ipAddress"] for r in ok}) == 10  # no address handed out twice
        driver = h.adapter.registry.driver(v)
        assert (await driver.capacity())["used"]["vcpus"] == 10
        assert len(await driver.inventory()) == 10


async def test_two_replicas_never_overbook(_mongo_uri: str) -> None:
    """Two adapter replicas (own clients, same database) share one usage document per VIM."""
    db = f"t{uuid.uuid4().hex[:10]}_vim_adapter"
    stores = [MongoStore(_mongo_uri, db) for _ in range(2)]
    try:
        sims = [SimulatedVim(s, SimConfig()) for s in stores]
        v = vim(vcpus=10)
        calls = [sims[i % 2].driver(v).allocate_compute(ComputeAllocate.model_validate(compute(v))) for i in range(20)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert sum(isinstance(r, dict) for r in results) == 10
        assert (await sims[0].driver(v).capacity())["used"]["vcpus"] == 10
    finally:
        for s in stores:
            await s.close()


async def test_injected_failures(_mongo_uri: str) -> None:
    async with running(_mongo_uri) as h:
        v = vim(failOn=["storage.allocate", "bad-vdu"])
        with pytest.raises(RemoteError) as exc:
            await h.request("storage.allocate", storage(v))
        assert exc.value.problem["status"] == 422 and "injected failure" in exc.value.problem["detail"]
        with pytest.raises(RemoteError) as exc:
            await h.request("compute.allocate", compute(v, vdu="bad-vdu"))
        assert "injected failure" in exc.value.problem["detail"]
        await h.request("compute.allocate", compute(v, vdu="good-vdu"))
        assert [r["attributes"]["vduId"] for r in await h.adapter.registry.driver(v).inventory()] == ["good-vdu"]


async def test_random_failures_are_transient_and_retried(_mongo_uri: str) -> None:
    async with running(_mongo_uri, sim_failure_rate=0.4) as h:
        h.units["vim_adapter"].ctx.app[vim_adapter.bootstrap.SIM_VIM].rng = random.Random(11)
        v = vim()
        rids = [str(uuid.uuid4()) for _ in range(6)]
        for rid in rids:  # redelivered by the bus until the simulated VIM answers
            assert (await h.request("compute.allocate", compute(v, rid)))["resourceId"] == rid
        assert sorted(r["resourceId"] for r in await h.adapter.registry.driver(v).inventory()) == sorted(rids)
    store = MongoStore(_mongo_uri, "unused")
    with pytest.raises(SimulatedVimError):  # raised before anything is written
        await SimulatedVim(store, SimConfig(failure_rate=1.0)).driver(v).allocate_compute(ComputeAllocate.model_validate(compute(v)))
    await store.close()


async def test_latency_is_added_to_each_call(_mongo_uri: str) -> None:
    store = MongoStore(_mongo_uri, f"t{uuid.uuid4().hex[:10]}_vim_adapter")
    try:
        driver = SimulatedVim(store, SimConfig(latency_ms=60)).driver(vim())
        loop = asyncio.get_running_loop()
        start = loop.time()
        got = await driver.allocate_compute(ComputeAllocate.model_validate(compute(driver.vim)))
        assert await driver.release_compute(got["resourceId"])
        assert loop.time() - start >= 0.12
    finally:
        await store.close()


async def test_bad_requests_are_refused(_mongo_uri: str) -> None:
    async with running(_mongo_uri) as h:
        with pytest.raises(RemoteError) as exc:
            await h.request("compute.allocate", compute({"vimId": "x", "vimType": "VENDOR.UNSUPPORTED"}))
        assert exc.value.problem["status"] == 422 and "unsupported vimType" in exc.value.problem["detail"]
        with pytest.raises(RemoteError) as exc:
            await h.request("network.allocate", network(vim(), cidr="not-a-cidr"))
        assert exc.value.problem["status"] == 422
        v = vim()
        vl = await h.request("network.allocate", network(v))
        with pytest.raises(RemoteError) as exc:  # releasing a VL as a server
            await h.request("compute.release", release(v, vl["resourceId"]))
        assert exc.value.problem["status"] == 422


async def test_resource_facts_go_through_the_outbox(_mongo_uri: str) -> None:
    async with running(_mongo_uri) as h:
        v = vim()
        req = message("compute.allocate", compute(v, vnf="vnf-9"), source="test")
        got = await h.client.request(req, timeout=10)
        await h.request("compute.release", release(v, got["resourceId"]))
        await eventually(lambda: len(h.facts) == 2)
        allocated, released = h.facts
        assert (allocated.type, released.type) == ("resource.allocated", "resource.released")
        assert allocated.payload == {"vimId": v["vimId"], "resourceId": got["resourceId"], "resourceType": "COMPUTE",
                                     "ownerId": "vnf-9", "vimResourceId": got["vimResourceId"], "zoneId": "zone-a"}
        assert allocated.causation_id == req.message_id and allocated.source == "vim_adapter"
        assert released.payload["resourceId"] == got["resourceId"]
        await h.request("compute.release", release(v, got["resourceId"]))  # nothing released: no fact
        await asyncio.sleep(0.2)
        assert len(h.facts) == 2
        assert not await h.adapter.records.pending()  # the relay emptied every outbox


async def test_http_inspection(_mongo_uri: str) -> None:
    async with running(_mongo_uri) as h:
        v, other = vim(vcpus=8), vim()
        c = await h.request("compute.allocate", compute(v, vcpus=3, vnf="vnf-a"))
        await h.request("storage.allocate", storage(v))
        await h.request("network.allocate", network(other, ownerId="vnf-b"))
        base = h.url("vim_adapter")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/magi/v1/vim_resources", params={"vimId": v["vimId"]}) as r:
                assert r.status == 200
                body = await r.json()
                assert sorted(x["type"] for x in body) == ["COMPUTE", "STORAGE"]
                assert not any(k.startswith("_") for x in body for k in x)
            async with http.get(f"{base}/magi/v1/vim_resources", params={"ownerId": "vnf-b"}) as r:
                assert [x["vimId"] for x in await r.json()] == [other["vimId"]]
            async with http.get(f"{base}/magi/v1/vim_resources/{c['resourceId']}") as r:
                one = await r.json()
                assert one["vimResourceId"] == c["vimResourceId"] and one["vcpus"] == 3 and one["state"] == "ACTIVE"
            async with http.get(f"{base}/magi/v1/vim_resources/nope") as r:
                assert r.status == 404 and r.content_type == "application/problem+json"
                assert (await r.json())["status"] == 404
            async with http.get(f"{base}/magi/v1/vim_resources", params={"color": "red"}) as r:
                assert r.status == 400 and r.content_type == "application/problem+json"
            async with http.get(f"{base}/magi/v1/vims/{v['vimId']}/capacity") as r:
                cap = await r.json()
                assert cap["total"]["vcpus"] == 8 and cap["used"]["vcpus"] == 3 and cap["free"]["vcpus"] == 5
            async with http.get(f"{base}/magi/v1/vims/unknown-vim/capacity") as r:
                assert r.status == 404 and r.content_type == "application/problem+json"
        known = await h.adapter.vims.get(v["vimId"])
        assert "accessInfo" not in known  # credentials are never stored


# -- monitoring -----------------------------------------------------------------------------
async def test_monitoring_inventory_from_facts(_mongo_uri: str) -> None:
    async with running(_mongo_uri, ("vim_adapter", "monitoring")) as h:
        v1, v2 = vim(), vim()
        c1 = await h.request("compute.allocate", compute(v1, vnf="vnf-x", vdu="web"))
        c2 = await h.request("compute.allocate", compute(v2, vnf="vnf-x", vdu="db"))
        vnfcs = [{"vnfcId": c["resourceId"], "vduId": vdu, "vimId": v["vimId"], "resourceId": c["resourceId"],
                  "vimResourceId": c["vimResourceId"], "zoneId": c["zoneId"]} for c, vdu, v in ((c1, "web", v1), (c2, "db", v2))]
        await h.publish("vnf.created", {"vnfInstanceId": "vnf-x"})
        await h.publish("lcmopocc.changed", {"vnfLcmOpOccId": "op-1", "vnfInstanceId": "vnf-x", "operation": "INSTANTIATE",
                                             "operationState": "COMPLETED", "notificationStatus": "RESULT"})
        await h.publish("vnf.instantiated", {"vnfInstanceId": "vnf-x", "vnfdId": "vnfd-1", "nsInstanceId": "ns-1",
                                             "vnfcs": vnfcs, "vimIds": [v1["vimId"], v2["vimId"]]})
        await h.publish("ns.instantiated", {"nsInstanceId": "ns-1", "nsdId": "nsd-1", "vnfInstanceIds": ["vnf-x"],
                                            "vimIds": [v1["vimId"], v2["vimId"]]})
        await h.publish("nslcmopocc.changed", {"nsLcmOpOccId": "nsop-1", "nsInstanceId": "ns-1",
                                               "operation": "INSTANTIATE", "operationState": "COMPLETED"})
        base = h.url("monitoring")
        async with aiohttp.ClientSession() as http:
            async def counted() -> bool:
                async with http.get(f"{base}/magi/v1/inventory/events") as r:
                    return (await r.json())["total"] == 7

            await eventually(counted)
            async with http.get(f"{base}/magi/v1/inventory") as r:
                inv = await r.json()
            assert set(inv) == {"nsInstances", "vnfInstances", "resources"}
            assert {x["id"] for x in inv["resources"]} >= {c1["resourceId"], c2["resourceId"]}
            async with http.get(f"{base}/magi/v1/inventory/vnf_instances/vnf-x") as r:
                vnf = await r.json()
            assert vnf["state"] == "INSTANTIATED" and vnf["vnfdId"] == "vnfd-1" and vnf["nsInstanceId"] == "ns-1"
            assert vnf["lastOpOcc"]["operationState"] == "COMPLETED" and len(vnf["vnfcs"]) == 2
            async with http.get(f"{base}/magi/v1/inventory/vims/{v1['vimId']}") as r:
                on_v1 = await r.json()
            assert [c["vduId"] for c in on_v1["vnfInstances"][0]["vnfcs"]] == ["web"]
            assert [x["id"] for x in on_v1["resources"]] == [c1["resourceId"]]
            assert [n["id"] for n in on_v1["nsInstances"]] == ["ns-1"]
            async with http.get(f"{base}/magi/v1/inventory", params={"vimId": v2["vimId"]}) as r:
                assert [x["id"] for x in (await r.json())["resources"]] == [c2["resourceId"]]
            async with http.get(f"{base}/magi/v1/inventory/vnf_instances/unknown") as r:
                assert r.status == 404 and r.content_type == "application/problem+json"

            # Termination and release empty the VIM's view.
            await h.request("compute.release", release(v1, c1["resourceId"]))
            await h.publish("vnf.terminated", {"vnfInstanceId": "vnf-x", "vnfdId": "vnfd-1"})
            await h.publish("ns.terminated", {"nsInstanceId": "ns-1"})

            async def emptied() -> bool:
                async with http.get(f"{base}/magi/v1/inventory/vims/{v1['vimId']}") as r:
                    body = await r.json()
                return not body["resources"] and not body["vnfInstances"] and not body["nsInstances"]

            await eventually(emptied)


async def test_monitoring_out_of_order_facts(_mongo_uri: str) -> None:
    async with running(_mongo_uri, ("monitoring",)) as h:
        rid, vnf = str(uuid.uuid4()), str(uuid.uuid4())
        fact = {"vimId": "vim-o", "resourceId": rid, "resourceType": "COMPUTE", "ownerId": vnf}
        await h.publish("resource.released", fact, time="2030-01-01T00:00:02.000Z")
        await h.publish("vnf.deleted", {"vnfInstanceId": vnf}, time="2030-01-01T00:00:05.000Z")
        inv = h.units["monitoring"].ctx.app[monitoring.api.INVENTORY]

        async def arrived() -> bool:
            return (await inv.event_counts())["total"] == 2

        await eventually(arrived)
        await h.publish("resource.allocated", fact, time="2030-01-01T00:00:01.000Z")  # older: must not resurrect
        await h.publish("vnf.instantiated", {"vnfInstanceId": vnf, "vnfcs": [], "vimIds": ["vim-o"]},
                        time="2030-01-01T00:00:03.000Z")

        async def all_in() -> bool:
            return (await inv.event_counts())["total"] == 4

        await eventually(all_in)
        res = await inv.get("resource", rid)
        assert res["state"] == "RELEASED" and res["releasedAt"] == "2030-01-01T00:00:02.000Z"
        assert (await inv.get("vnf", vnf))["state"] == "DELETED"
        view = await inv.view("vim-o")
        assert view == {"nsInstances": [], "vnfInstances": [], "resources": []}
        # A later re-allocation of the same id does count.
        await h.publish("resource.allocated", fact, time="2030-01-01T00:00:09.000Z")

        async def active() -> bool:
            return (await inv.get("resource", rid))["state"] == "ACTIVE"

        await eventually(active)


def test_monitoring_folds_keep_the_newest_state() -> None:
    t1, t2, t3 = "2030-01-01T00:00:01.000Z", "2030-01-01T00:00:02.000Z", "2030-01-01T00:00:03.000Z"
    doc = mon.vnf_instantiated(None, {"vnfInstanceId": "v", "vnfcs": [{"vimId": "a"}], "vimIds": ["b"]}, t2)
    assert doc["state"] == "INSTANTIATED" and doc["vimIds"] == ["a", "b"]
    assert mon.vnf_created(doc, {"vnfInstanceId": "v"}, t1)["state"] == "INSTANTIATED"  # late create keeps state
    assert mon.vnf_created(doc, {"vnfInstanceId": "v"}, t1)["createdAt"] == t1
    assert mon.vnf_terminated(doc, {"vnfInstanceId": "v"}, t1) == doc  # older termination ignored
    assert mon.vnf_terminated(doc, {"vnfInstanceId": "v"}, t3)["state"] == "NOT_INSTANTIATED"
    op = mon.vnf_op_occ(doc, {"vnfInstanceId": "v", "vnfLcmOpOccId": "o2", "operationState": "PROCESSING"}, t3)
    assert mon.vnf_op_occ(op, {"vnfInstanceId": "v", "vnfLcmOpOccId": "o1", "operationState": "COMPLETED"}, t2) == op
    r = mon.resource_allocated(None, {"resourceId": "r", "vimId": "a", "resourceType": "VL"}, t1)
    assert r["type"] == "VL" and r["state"] == "ACTIVE"
    assert mon.resource_released(r, {"resourceId": "r"}, t2)["state"] == "RELEASED"
    assert mon.resource_released(mon.resource_allocated(r, {"resourceId": "r"}, t3), {"resourceId": "r"}, t2)["state"] == "ACTIVE"
