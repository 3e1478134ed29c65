"""Drift end to end on the simulated VIM: the VIM adapter and monitoring over the in-process bus
on a real MongoDB-wire server. Resources are allocated over the bus, changed behind MAGI's back
with the simulator's out-of-band hooks, reconciled (on demand and periodically), and the
`resource.drifted` facts must become alarms in monitoring.

Works for any driver honouring the inventory contract: only the out-of-band hooks are simulator's.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

import monitoring.bootstrap
import vim_adapter.api
import vim_adapter.bootstrap
from magi.bus.catalog import message
from magi.bus.envelope import Envelope, ReferencePoint
from magi.bus.memory import InMemoryBroker, InMemoryBus
from magi.config import MagiSettings
from magi.runtime import ServiceUnit, make_context
from magi.store.embedded import EmbeddedMongo
from vim_adapter.drivers.simulated import SIMULATED, SimulatedVim

H = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def _mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if os.environ.get("MAGI_MONGODB_URI"):
        yield os.environ["MAGI_MONGODB_URI"]
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("nx"))
    yield server.start()
    server.stop()


class Lab:
    def __init__(self, units: dict[str, ServiceUnit], client: InMemoryBus, facts: list[Envelope], http: aiohttp.ClientSession):
        self.units, self.client, self.facts, self.http = units, client, facts, http
        self.sim: SimulatedVim = units["vim_adapter"].ctx.app[vim_adapter.bootstrap.SIM_VIM]

    def url(self, service: str) -> str:
        return self.units[service].url

    async def request(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.client.request(message(type_, payload, source="test"), timeout=10)

    async def call(self, method: str, service: str, path: str, expect: int = 200) -> Any:
        async with self.http.request(method, self.url(service) + path, headers=H) as r:
            body = await r.json(content_type=None)
            assert r.status == expect, (method, path, r.status, body)
            return body

    def drifted(self) -> list[dict[str, Any]]:
        return [f.payload for f in self.facts if f.type == "resource.drifted"]


@contextlib.asynccontextmanager
async def lab(uri: str, **settings: Any) -> AsyncIterator[Lab]:
    broker = InMemoryBroker()
    s = MagiSettings(mongodb_uri=uri, amqp_url=None, db_prefix=f"t{uuid.uuid4().hex[:10]}", host="127.0.0.1",
                     request_timeout=10, **{"drift_interval_seconds": 0, **settings})
    modules = {"vim_adapter": vim_adapter.bootstrap, "monitoring": monitoring.bootstrap}
    units = {name: m.build(make_context(name, s, [], broker)) for name, m in modules.items()}
    facts: list[Envelope] = []

    async def watch(env: Envelope) -> None:
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
        async with aiohttp.ClientSession() as http:
            yield Lab(units, client, facts, http)
    finally:
        await client.close()
        await watcher.close()
        for u in units.values():
            await u.stop()


async def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def vim() -> dict[str, Any]:
    return {"vimId": f"vim-{uuid.uuid4().hex[:8]}", "vimType": SIMULATED, "extra": {}}


async def allocate(lab: Lab, v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A small VNF's resources: a network, a server on it, a volume, and a spare server."""
    vl = await lab.request("network.allocate", {"vimConnectionInfo": v, "resourceId": str(uuid.uuid4()), "ownerId": "vnf-1",
                                                "vlId": "int", "cidr": "172.16.0.0/24"})
    def server(vdu: str) -> dict[str, Any]:
        return {"vimConnectionInfo": v, "resourceId": str(uuid.uuid4()), "vnfInstanceId": "vnf-1", "vduId": vdu,
                "virtualCompute": {"numVirtualCpu": 2, "virtualMemSizeMb": 1024},
                "networks": [{"cpdId": "eth0", "vlId": "int", "vimNetworkId": vl["vimResourceId"]}]}
    c1 = await lab.request("compute.allocate", server("vdu1"))
    c2 = await lab.request("compute.allocate", server("vdu2"))
    vol = await lab.request("storage.allocate", {"vimConnectionInfo": v, "resourceId": str(uuid.uuid4()),
                                                 "vnfInstanceId": "vnf-1", "storageId": "vol", "sizeGb": 10})
    return {"vl": vl, "c1": c1, "c2": c2, "vol": vol}


async def alarms(lab: Lab, query: str = "") -> list[dict[str, Any]]:
    return await lab.call("GET", "monitoring", f"/magi/v1/alarms{query}")


async def test_each_drift_is_reported_alarmed_and_cleared(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as lb:
        v = vim()
        vid = v["vimId"]
        res = await allocate(lb, v)
        report = await lb.call("POST", "vim_adapter", f"/magi/v1/vims/{vid}/reconcile")
        assert report["vimId"] == vid and report["items"] == [] and report["lastReconciledAt"]

        # Behind MAGI's back: a server shut off, another deleted, the volume resized, a stranger created.
        await lb.sim.oob_set_state(vid, res["c1"]["vimResourceId"], "SHUTOFF")
        await lb.sim.oob_delete(vid, res["c2"]["vimResourceId"])
        await lb.sim.oob_modify(vid, res["vol"]["vimResourceId"], sizeGb=20)
        stranger = await lb.sim.oob_create(vid, "COMPUTE", name="handmade", vcpus=1)

        report = await lb.call("POST", "vim_adapter", f"/magi/v1/vims/{vid}/reconcile")
        got = {(i["drift"], i["vimResourceId"]) for i in report["items"]}
        assert got == {("STATE_CHANGED", res["c1"]["vimResourceId"]), ("VANISHED", res["c2"]["vimResourceId"]),
                       ("MODIFIED", res["vol"]["vimResourceId"]), ("UNMANAGED", stranger)}
        assert all(i["status"] == "OPEN" and i["firstSeen"] == i["lastSeen"] for i in report["items"])
        assert report == await lb.call("GET", "vim_adapter", f"/magi/v1/vims/{vid}/drift")
        assert len(await lb.call("GET", "vim_adapter", f"/magi/v1/drift?vimId={vid}")) == 4
        assert [i["vimResourceId"] for i in await lb.call("GET", "vim_adapter", "/magi/v1/drift?drift=UNMANAGED")] == [stranger]
        await lb.call("GET", "vim_adapter", "/magi/v1/drift?drift=NOPE", expect=400)

        async def four_alarms() -> list[dict[str, Any]]:
            found = await alarms(lb, f"?vimId={vid}")
            return found if len(found) == 4 else []
        raised = {a["rootCauseFaultyResource"]["faultyResource"]["resourceId"]: a for a in await eventually(four_alarms)}
        assert raised[res["c1"]["vimResourceId"]]["perceivedSeverity"] == "MAJOR"
        assert raised[res["c1"]["vimResourceId"]]["probableCause"] == "server went to SHUTOFF outside MAGI"
        assert raised[res["c2"]["vimResourceId"]]["perceivedSeverity"] == "CRITICAL"
        assert raised[res["vol"]["vimResourceId"]]["perceivedSeverity"] == "MINOR"
        assert raised[res["vol"]["vimResourceId"]]["rootCauseFaultyResource"]["faultyResourceType"] == "STORAGE"
        assert raised[stranger]["perceivedSeverity"] == "WARNING" and raised[stranger]["managedObjectId"] == vid
        assert all(a["managedObjectId"] == "vnf-1" for k, a in raised.items() if k != stranger)
        assert len(await alarms(lb, "?managedObjectId=vnf-1&perceivedSeverity=CRITICAL")) == 1
        one = raised[res["c1"]["vimResourceId"]]
        assert await lb.call("GET", "monitoring", f"/magi/v1/alarms/{one['id']}") == one
        await lb.call("GET", "monitoring", "/magi/v1/alarms/nope", expect=404)

        # A second reconcile finds the same drift: no new fact.
        sent = len(lb.drifted())
        assert sent == 4
        again = await lb.call("POST", "vim_adapter", f"/magi/v1/vims/{vid}/reconcile")
        assert {i["key"] for i in again["items"]} == {i["key"] for i in report["items"]}
        await asyncio.sleep(0.3)
        assert len(lb.drifted()) == sent

        # The server goes from SHUTOFF to ERROR: the same alarm, now CRITICAL.
        await lb.sim.oob_set_state(vid, res["c1"]["vimResourceId"], "ERROR")
        await lb.call("POST", "vim_adapter", f"/magi/v1/vims/{vid}/reconcile")

        async def critical() -> bool:
            a = await lb.call("GET", "monitoring", f"/magi/v1/alarms/{one['id']}")
            return a["perceivedSeverity"] == "CRITICAL" and a["alarmChangedTime"] is not None
        await eventually(critical)

        # Restored: the server is ACTIVE again, the volume back to 10 GB, the stranger deleted,
        # and the vanished server's record released by MAGI.
        await lb.sim.oob_set_state(vid, res["c1"]["vimResourceId"], "ACTIVE")
        await lb.sim.oob_modify(vid, res["vol"]["vimResourceId"], sizeGb=10)
        await lb.sim.oob_delete(vid, stranger)
        await lb.request("compute.release", {"vimConnectionInfo": v, "resourceId": res["c2"]["resourceId"]})
        report = await lb.call("POST", "vim_adapter", f"/magi/v1/vims/{vid}/reconcile")
        assert report["items"] == [] and len(report["resolved"]) == 4
        assert await lb.call("GET", "vim_adapter", f"/magi/v1/drift?vimId={vid}") == []

        async def cleared() -> bool:
            found = await alarms(lb, f"?vimId={vid}")
            return len(found) == 4 and all(a["perceivedSeverity"] == "CLEARED" and a["alarmClearedTime"] for a in found)
        await eventually(cleared)
        assert sum(1 for p in lb.drifted() if p["drift"] == "RESOLVED") == 4


async def test_unknown_vim_and_vim_errors(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as lb:
        await lb.call("POST", "vim_adapter", "/magi/v1/vims/nope/reconcile", expect=404)
        await lb.call("GET", "vim_adapter", "/magi/v1/vims/nope/drift", expect=404)
        v = vim()
        await allocate(lb, v)
        assert (await lb.call("GET", "vim_adapter", f"/magi/v1/vims/{v['vimId']}/drift"))["items"] == []

        async def broken() -> list[dict[str, Any]]:
            raise RuntimeError("VIM unreachable")
        sim_driver = lb.sim.driver
        lb.units["vim_adapter"].ctx.app[vim_adapter.api.ADAPTER].registry.register(
            SIMULATED, lambda info: type("Broken", (), {"inventory": staticmethod(broken)})())
        try:
            problem = await lb.call("POST", "vim_adapter", f"/magi/v1/vims/{v['vimId']}/reconcile", expect=502)
            assert "VIM unreachable" in problem["detail"]
            report = await lb.call("GET", "vim_adapter", f"/magi/v1/vims/{v['vimId']}/drift")
            assert "VIM unreachable" in report["lastError"] and report["lastErrorAt"]
        finally:
            lb.units["vim_adapter"].ctx.app[vim_adapter.api.ADAPTER].registry.register(SIMULATED, sim_driver)
        report = await lb.call("POST", "vim_adapter", f"/magi/v1/vims/{v['vimId']}/reconcile")
        assert report["lastError"] is None


async def test_periodic_reconcile_finds_drift_without_a_request(_mongo_uri: str) -> None:
    async with lab(_mongo_uri, drift_interval_seconds=0.2) as lb:
        v = vim()
        res = await allocate(lb, v)
        await lb.sim.oob_set_state(v["vimId"], res["c1"]["vimResourceId"], "ERROR")

        async def alarmed() -> list[dict[str, Any]]:
            return await alarms(lb, f"?vimId={v['vimId']}&perceivedSeverity=CRITICAL")
        [alarm] = await eventually(alarmed, timeout=10)
        assert alarm["probableCause"] == "server went to ERROR outside MAGI"
        await asyncio.sleep(1.0)  # several more rounds: still one fact
        assert len(lb.drifted()) == 1
        await lb.sim.oob_set_state(v["vimId"], res["c1"]["vimResourceId"], "ACTIVE")

        async def cleared() -> bool:
            return (await lb.call("GET", "monitoring", f"/magi/v1/alarms/{alarm['id']}"))["perceivedSeverity"] == "CLEARED"
        await eventually(cleared, timeout=10)


async def test_drift_of_an_instantiated_ns_through_the_running_suite(mongo_uri: str, db_prefix: str) -> None:
    """The four services: an NS instantiated over SOL005, one of its servers shut off behind
    MAGI's back; the alarm names the VNF instance that owns the server."""
    from tests.suite import running_suite

    async with running_suite(mongo_uri, db_prefix) as s:
        nsd_id = str(uuid.uuid4())
        await s.onboard(str(uuid.uuid4()), nsd_id)
        _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": "d", "nsDescription": "d"}, expect=201)
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=202)
        assert (await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"}))["operationState"] == "COMPLETED"
        _, resources, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources?type=COMPUTE", expect=200)
        server = resources[0]
        sim = s.unit("vim_adapter").ctx.app[vim_adapter.bootstrap.SIM_VIM]
        await sim.oob_set_state(server["vimId"], server["vimResourceId"], "SHUTOFF")
        _, report, _ = await s.req("POST", f"{s.vim}/magi/v1/vims/{server['vimId']}/reconcile", expect=200)
        assert [(i["drift"], i["resourceId"]) for i in report["items"]] == [("STATE_CHANGED", server["id"])]

        async def alarmed() -> list[dict[str, Any]]:
            _, found, _ = await s.req("GET", f"{s.monitoring}/magi/v1/alarms?managedObjectId={server['ownerId']}", expect=200)
            return found
        [alarm] = await eventually(alarmed)
        assert alarm["perceivedSeverity"] == "MAJOR" and alarm["managedObjectId"] == server["vnfInstanceId"]
