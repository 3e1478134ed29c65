"""The OpenStack driver through the VIM adapter service: real openstacksdk, over HTTP, against the
fake cloud (tests/fake_openstack), with the adapter's bus handlers on the in-process bus and a
real MongoDB-wire server.

Covers a 2-VDU VNF (VL + subnet, 2 servers with ports, an attached volume, an anti-affinity server
group, security group rules) allocated and released, redelivery without duplicates, a fault at
each step followed by release leaving no orphan, quota exceeded, credentials kept out of logs and
API answers, application-credential auth and accessInfo fetched from the NFVO (vimaccess.get).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiohttp.web
import pytest
import structlog

import vim_adapter.api
import vim_adapter.bootstrap
from magi.bus.base import PermanentError
from magi.bus.catalog import message
from magi.bus.envelope import Envelope, RemoteError
from magi.bus.memory import InMemoryBroker, InMemoryBus
from magi.config import MagiSettings
from magi.runtime import ServiceUnit, make_context
from magi.secrets import SecretBox
from magi.store.embedded import EmbeddedMongo
from tests.fake_openstack import FakeOpenStack
from vim_adapter.drivers.openstack import OPENSTACK, OpenStackTransient
from vim_adapter.drivers.simulated import SIMULATED
from vim_adapter.service import VimAdapter

IMAGE = "cirros-0.5.2-x86_64-disk"
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
    def __init__(self, unit: ServiceUnit, cloud: FakeOpenStack, client: InMemoryBus, access_calls: list[str]):
        self.unit, self.cloud, self.client, self.access_calls = unit, cloud, client, access_calls
        self.adapter: VimAdapter = unit.ctx.app[vim_adapter.api.ADAPTER]
        self.vnf = f"vnf-{uuid.uuid4().hex[:8]}"

    def vim(self, app_credential: bool = False, with_access: bool = True) -> dict[str, Any]:
        vim = self.cloud.vim_connection_info(self.vim_id, app_credential=app_credential)
        if not with_access:
            vim = {k: v for k, v in vim.items() if k != "accessInfo"}
        return vim

    vim_id = "vim-os-1"

    async def request(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.client.request(message(type_, payload, source="test"), timeout=30)

    async def handle(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Straight into the service's handler: its exception, not a bus retry."""
        return await self.adapter.handle(message(type_, payload, source="test"))

    def magi_count(self) -> dict[str, int]:
        return {k: v for k, v in self.cloud.count().items() if v}


@contextlib.asynccontextmanager
async def lab(uri: str, build_seconds: float = 0.05, **settings: Any) -> AsyncIterator[Lab]:
    broker = InMemoryBroker()
    s = MagiSettings(mongodb_uri=uri, amqp_url=None, db_prefix=f"t{uuid.uuid4().hex[:10]}", host="127.0.0.1",
                     request_timeout=30, **{"drift_interval_seconds": 0, "openstack_retries": 2,
                                            "openstack_timeout_seconds": 20, **settings})
    async with FakeOpenStack(build_seconds=build_seconds) as cloud:
        unit = vim_adapter.bootstrap.build(make_context("vim_adapter", s, [], broker))
        access_calls: list[str] = []
        box = SecretBox.from_settings(s)

        async def vim_access(env: Envelope) -> dict[str, Any]:  # the NFVO's side of vimaccess.get
            access_calls.append(env.payload["vimId"])
            if env.payload["vimId"].startswith("unknown"):
                raise PermanentError(404, f"VIM {env.payload['vimId']} is not registered")
            conn = cloud.vim_connection_info(env.payload["vimId"])
            return {**conn, "accessInfo": box.seal(conn["accessInfo"])}  # as the NFVO answers: sealed

        nfvo = InMemoryBus("nfvo", broker)
        nfvo.on("vimaccess.get", vim_access)
        client = InMemoryBus("test", broker)
        await unit.start(port=0)
        await nfvo.start()
        await client.start()
        try:
            yield Lab(unit, cloud, client, access_calls)
        finally:
            await client.close()
            await nfvo.close()
            await unit.stop()


def vnf_requests(vim: dict[str, Any], vnf: str) -> dict[str, Any]:
    """A 2-VDU VNF: one internal VL, one volume for vdu1, both VDUs in an anti-affinity group."""
    vl, vol = f"vl-{uuid.uuid4().hex[:8]}", f"st-{uuid.uuid4().hex[:8]}"
    rules = [{"direction": "INGRESS", "protocol": "TCP", "portRangeMin": 22, "portRangeMax": 22, "cpdIds": ["eth0"]},
             {"direction": "INGRESS", "protocol": "ICMP"}]

    def vdu(n: int, volumes: list[str]) -> dict[str, Any]:
        return {"vimConnectionInfo": vim, "resourceId": f"c{n}-{uuid.uuid4().hex[:8]}", "vnfInstanceId": vnf,
                "vduId": f"vdu{n}", "virtualCompute": {"numVirtualCpu": 1, "virtualMemSizeMb": 512, "localDiskSizeGb": 1},
                "swImage": {"name": IMAGE}, "zoneId": "nova",
                "networks": [{"cpdId": "eth0", "vlId": "int", "vimNetworkId": vl}],
                "placementGroups": [{"groupId": "spread", "policy": "ANTI_AFFINITY", "scope": "NFVI_NODE"}],
                "securityGroupRules": rules, "volumes": volumes, "userData": "#cloud-config\n"}
    return {"network": {"vimConnectionInfo": vim, "resourceId": vl, "ownerId": vnf, "vlId": "int", "cidr": "192.168.50.0/24"},
            "storage": {"vimConnectionInfo": vim, "resourceId": vol, "vnfInstanceId": vnf, "storageId": "data", "sizeGb": 1.5},
            "computes": [vdu(1, [vol]), vdu(2, [])]}


async def instantiate(lab_: Lab, reqs: dict[str, Any], send: Any = None) -> list[dict[str, Any]]:
    send = send or lab_.request
    await send("network.allocate", reqs["network"])
    await send("storage.allocate", reqs["storage"])
    return [await send("compute.allocate", c) for c in reqs["computes"]]


async def terminate(lab_: Lab, reqs: dict[str, Any], send: Any = None) -> list[bool]:
    send = send or lab_.request
    vim = reqs["network"]["vimConnectionInfo"]
    out = []
    for kind, rid in [*(("compute", c["resourceId"]) for c in reqs["computes"]),
                      ("storage", reqs["storage"]["resourceId"]), ("network", reqs["network"]["resourceId"])]:
        out.append((await send(f"{kind}.release", {"vimConnectionInfo": vim, "resourceId": rid}))["released"])
    return out


async def test_two_vdu_vnf_instantiate_and_terminate(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as L:
        reqs = vnf_requests(L.vim(), L.vnf)
        driver = L.adapter._driver(L.vim())
        await driver.os.call("create keypair", lambda c: c.compute.create_keypair(
            name="ops", public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIfake ops"))
        reqs["computes"][0]["keyName"] = "ops"
        replies = await instantiate(L, reqs)
        cloud = L.cloud
        servers = [s for s in cloud.servers.values() if s["name"].startswith("magi-")]
        assert len(servers) == 2 and {s["status"] for s in servers} == {"ACTIVE"}
        by_id = {s["id"]: s for s in servers}
        for r, c in zip(replies, reqs["computes"]):
            s = by_id[r["vimResourceId"]]
            assert s["metadata"]["magi.rid"] == c["resourceId"] and f"magi.rid={c['resourceId']}" in s["tags"]
            assert r["vimId"] == L.vim_id and r["zoneId"] == "nova"
            assert r["addresses"][0]["ipAddress"].startswith("192.168.50.")
        groups = [g for g in cloud.server_groups.values() if g["name"] == f"magi-{L.vnf}-spread"]
        assert len(groups) == 1 and groups[0]["policies" if "policies" in groups[0] else "policy"] in (["anti-affinity"], "anti-affinity")
        assert len(groups[0]["members"]) == 2
        assert servers[0]["hostId"] != servers[1]["hostId"]  # anti-affinity honoured
        sgs = [g for g in cloud.security_groups.values() if g["name"].startswith("magi-")]
        assert len(sgs) == 2
        vol = next(v for v in cloud.volumes.values() if v["name"] == f"magi-{reqs['storage']['resourceId']}")
        assert vol["size"] == 2 and vol["status"] == "in-use"
        net = next(n for n in cloud.networks.values() if n["name"] == f"magi-{reqs['network']['resourceId']}")
        assert f"magi.owner={L.vnf}" in net["tags"]
        assert any(s["network_id"] == net["id"] and s["cidr"] == "192.168.50.0/24" for s in cloud.subnets.values())
        ports = [p for p in cloud.ports.values() if p["name"].startswith("magi-")]
        assert len(ports) == 2 and all(p["network_id"] == net["id"] for p in ports)

        inv = await L.adapter._driver(L.vim()).inventory()
        assert all(set(row) == {"vimResourceId", "resourceType", "resourceId", "ownerId", "name", "state", "zoneId",
                                "attributes"} for row in inv)
        mine = {(row["resourceType"], row["resourceId"]) for row in inv if row["ownerId"] == L.vnf}
        assert ("COMPUTE", reqs["computes"][0]["resourceId"]) in mine and ("STORAGE", reqs["storage"]["resourceId"]) in mine
        assert ("VL", reqs["network"]["resourceId"]) in mine and ("SUBNET", reqs["network"]["resourceId"]) in mine
        assert not any(row["name"] == "public" for row in inv)  # another project's shared network

        cap = await L.request("vim.capacity", {"vimConnectionInfo": L.vim()})
        assert cap["used"]["vcpus"] == 2 and cap["total"]["vcpus"] > 0 and "nova" in cap["zones"]
        assert cap["used"]["storageGb"] >= 2

        assert by_id[replies[0]["vimResourceId"]]["key_name"] == "ops"
        assert by_id[replies[0]["vimResourceId"]]["OS-EXT-SRV-ATTR:user_data"]  # base64 of the cloud-config

        assert await terminate(L, reqs) == [True, True, True, True]
        assert L.magi_count() == {"keypairs": 1}, L.magi_count()  # the operator's key pair is not MAGI's
        await driver.os.call("delete keypair", lambda c: c.compute.delete_keypair("ops"))
        assert L.magi_count() == {}, L.magi_count()


async def test_redelivered_allocation_creates_no_duplicate(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as L:
        reqs = vnf_requests(L.vim(), L.vnf)
        await instantiate(L, reqs)
        before = L.cloud.count()
        # Same messages again through the service (answered from its records) …
        again = await instantiate(L, reqs)
        # … and straight to the driver, as if the adapter crashed after the VIM call, also concurrently.
        driver = L.adapter._driver(L.vim())
        from magi.bus.catalog import ComputeAllocate, NetworkAllocate, StorageAllocate
        c0 = ComputeAllocate.model_validate(reqs["computes"][0])
        got = await asyncio.gather(driver.allocate_compute(c0), driver.allocate_compute(c0))
        assert got[0]["vimResourceId"] == got[1]["vimResourceId"] == again[0]["vimResourceId"]
        await driver.allocate_network(NetworkAllocate.model_validate(reqs["network"]))
        await driver.allocate_storage(StorageAllocate.model_validate(reqs["storage"]))
        assert L.cloud.count() == before
        # Two deliveries of a new resourceId at the same time make one server.
        c4 = {**reqs["computes"][1], "resourceId": f"c4-{uuid.uuid4().hex[:8]}", "placementGroups": []}
        both = await asyncio.gather(driver.allocate_compute(ComputeAllocate.model_validate(c4)),
                                    L.adapter._driver(L.vim()).allocate_compute(ComputeAllocate.model_validate(c4)))
        assert both[0]["vimResourceId"] == both[1]["vimResourceId"]
        assert sum(1 for s in L.cloud.servers.values() if s["name"] == f"magi-{c4['resourceId']}") == 1
        assert sum(1 for p in L.cloud.ports.values() if p["name"].startswith(f"magi-{c4['resourceId']}")) == 1
        await driver.release_compute(c4["resourceId"])
        # A server still BUILDing is found and waited for, not duplicated.
        c3 = {**reqs["computes"][1], "resourceId": f"c3-{uuid.uuid4().hex[:8]}", "placementGroups": []}
        first = asyncio.create_task(driver.allocate_compute(ComputeAllocate.model_validate(c3)))
        while not any(s["name"] == f"magi-{c3['resourceId']}" for s in L.cloud.servers.values()):
            await asyncio.sleep(0.005)
        second = await L.request("compute.allocate", c3)
        assert second["vimResourceId"] == (await first)["vimResourceId"]
        assert sum(1 for s in L.cloud.servers.values() if s["name"] == f"magi-{c3['resourceId']}") == 1
        await L.request("compute.release", {"vimConnectionInfo": L.vim(), "resourceId": c3["resourceId"]})
        await terminate(L, reqs)
        assert L.magi_count() == {}, L.magi_count()


FAULTS = [  # (step, how to inject it, which allocation fails)
    ("port create", lambda c: c.inject("POST", r"/ports$", status=400), "compute"),
    ("security group create", lambda c: c.inject("POST", r"/security-groups$", status=400), "compute"),
    ("security group rule create", lambda c: c.inject("POST", r"/security-group-rules$", status=400), "compute"),
    ("server group create", lambda c: c.inject("POST", r"/os-server-groups$", status=400), "compute"),
    ("server create", lambda c: c.inject("POST", r"/servers$", status=400), "compute"),
    ("server create 5xx beyond retries", lambda c: c.inject("POST", r"/servers$", status=503, times=3), "compute"),
    ("server BUILD to ERROR", lambda c: c.fail_builds(times=1), "compute"),
    ("volume attach", lambda c: c.inject("POST", r"/os-volume_attachments$", status=400), "compute"),
    ("network create", lambda c: c.inject("POST", r"/networks$", status=400), "network"),
    ("subnet create", lambda c: c.inject("POST", r"/subnets$", status=400), "network"),
    ("volume create", lambda c: c.inject("POST", r"/volumes$", status=400), "storage"),
]


@pytest.mark.parametrize("step,inject,fails", FAULTS, ids=[f[0] for f in FAULTS])
async def test_fault_at_each_step_then_release_leaves_no_orphan(_mongo_uri: str, step: str, inject: Any, fails: str) -> None:
    async with lab(_mongo_uri) as L:
        reqs = vnf_requests(L.vim(), L.vnf)
        untouched = L.cloud.oob_create("networks", name="not-magi")  # never touched by MAGI's releases
        kinds = {"network": [("network.allocate", reqs["network"])], "storage": [("storage.allocate", reqs["storage"])],
                 "compute": [("compute.allocate", reqs["computes"][0])]}
        order = ["network", "storage", "compute"]
        for kind in order:
            if kind == fails:
                inject(L.cloud)
                with pytest.raises((PermanentError, OpenStackTransient)):
                    await L.handle(*kinds[kind][0])
                break
            await L.handle(*kinds[kind][0])
        await terminate(L, reqs, send=L.handle)
        assert untouched["id"] in L.cloud.networks
        L.cloud.oob_delete("networks", untouched["id"])
        assert L.magi_count() == {}, (step, L.magi_count())


async def test_rollback_of_a_portless_vnfc_removes_its_server_group(_mongo_uri: str) -> None:
    """A VNFC with no ports and no security group whose server never got built leaves nothing
    tagged with its id; the release names the owner (the VNF instance), so its empty server group
    goes too."""
    async with lab(_mongo_uri) as L:
        lone = {**vnf_requests(L.vim(), L.vnf)["computes"][1], "networks": [], "securityGroupRules": []}
        L.cloud.inject("POST", r"/servers$", status=400)
        with pytest.raises(PermanentError):
            await L.handle("compute.allocate", lone)
        assert L.magi_count() == {"server_groups": 1}, L.magi_count()
        await L.handle("compute.release", {"vimConnectionInfo": L.vim(), "resourceId": lone["resourceId"], "ownerId": L.vnf})
        assert L.magi_count() == {}, L.magi_count()


async def test_retry_on_5xx_then_success(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as L:
        reqs = vnf_requests(L.vim(), L.vnf)
        L.cloud.inject("POST", r"/networks$", status=503, times=1)
        L.cloud.inject("POST", r"/servers$", status=409, times=1)
        await instantiate(L, reqs)
        assert sum(1 for s in L.cloud.servers.values() if s["name"].startswith("magi-")) == 2
        await terminate(L, reqs)
        assert L.magi_count() == {}


async def test_quota_exceeded_is_a_clear_permanent_error(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as L:
        L.cloud.set_quota(cores=1)
        reqs = vnf_requests(L.vim(), L.vnf)
        big = {**reqs["computes"][1], "networks": [], "placementGroups": [], "securityGroupRules": [],
               "virtualCompute": {"numVirtualCpu": 2, "virtualMemSizeMb": 1024}}
        with pytest.raises(RemoteError) as exc:
            await L.request("compute.allocate", big)
        assert exc.value.problem["status"] == 403
        assert f"insufficient capacity on VIM {L.vim_id}" in exc.value.problem["detail"]
        await L.request("compute.release", {"vimConnectionInfo": L.vim(), "resourceId": big["resourceId"]})
        L.cloud.set_quota(gigabytes=1)  # Cinder answers 413
        with pytest.raises(RemoteError) as exc:
            await L.request("storage.allocate", reqs["storage"])
        assert exc.value.problem["status"] == 403 and "insufficient capacity" in exc.value.problem["detail"]
        L.cloud.set_quota(networks=0)  # Neutron answers 409 OverQuota: not retried
        with pytest.raises(RemoteError) as exc:
            await L.request("network.allocate", reqs["network"])
        assert exc.value.problem["status"] == 403 and "insufficient capacity" in exc.value.problem["detail"]
        assert L.magi_count() == {}


async def test_credentials_never_in_logs_nor_api(_mongo_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with lab(_mongo_uri) as L:
        vim = L.vim()
        secrets = [v for k, v in vim["accessInfo"].items() if k in ("password",)]
        assert secrets
        reqs = vnf_requests(vim, L.vnf)
        with structlog.testing.capture_logs() as logs:
            await instantiate(L, reqs)
            async with aiohttp.ClientSession() as http:
                bodies = []
                for path in ["/magi/v1/vim_resources", f"/magi/v1/vim_resources/{reqs['computes'][0]['resourceId']}",
                             f"/magi/v1/vims/{L.vim_id}/capacity"]:
                    async with http.get(L.unit.url + path, headers=H) as r:
                        assert r.status == 200, (path, r.status, await r.text())
                        bodies.append(await r.text())
            await terminate(L, reqs)
        dumped = json.dumps(logs, default=str) + "\n".join(r.getMessage() for r in caplog.records) + "".join(bodies)
        assert logs, "nothing logged"
        for secret in secrets:
            assert secret not in dumped
        assert "accessInfo" not in "".join(bodies)
        known = await L.adapter.vims.find_one({"_id": L.vim_id})
        assert "accessInfo" not in known


async def test_application_credential_auth(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as L:
        L.vim_id = "vim-os-app"
        reqs = vnf_requests(L.vim(app_credential=True), L.vnf)
        assert reqs["network"]["vimConnectionInfo"]["vimType"] == OPENSTACK
        assert "applicationCredentialId" in reqs["network"]["vimConnectionInfo"]["accessInfo"]
        await instantiate(L, reqs)
        assert sum(1 for s in L.cloud.servers.values() if s["name"].startswith("magi-")) == 2
        await terminate(L, reqs)
        assert L.magi_count() == {}


async def test_access_info_fetched_from_the_nfvo(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as L:
        bare = L.vim(with_access=False)
        assert "accessInfo" not in bare
        reqs = vnf_requests(bare, L.vnf)
        await instantiate(L, reqs)
        cap = await L.request("vim.capacity", {"vimConnectionInfo": bare})
        assert cap["vimId"] == L.vim_id
        await terminate(L, reqs)
        assert L.access_calls == [L.vim_id]  # asked once, then cached
        assert L.magi_count() == {}
        with pytest.raises(RemoteError) as exc:  # the NFVO does not know it: refused, not retried
            await L.request("vim.capacity", {"vimConnectionInfo": {**bare, "vimId": "unknown-vim"}})
        assert exc.value.problem["status"] == 404 and "not registered" in exc.value.problem["detail"]


async def test_time_per_vdu_openstack_vs_simulated(_mongo_uri: str) -> None:
    """Measured, not asserted: what the OpenStack path (HTTP, thread pool, polling) adds per VDU."""
    async with lab(_mongo_uri) as L:
        per: dict[str, float] = {}
        for name, vim in [("simulated", {"vimId": "vim-sim-timing", "vimType": SIMULATED}), ("openstack", L.vim())]:
            reqs = vnf_requests(vim, L.vnf)
            await L.request("network.allocate", reqs["network"])
            await L.request("storage.allocate", reqs["storage"])
            t0 = time.perf_counter()
            for c in reqs["computes"]:
                await L.request("compute.allocate", c)
            per[name] = (time.perf_counter() - t0) / len(reqs["computes"])
            await terminate(L, reqs)
        ratio = per["openstack"] / per["simulated"]
        print(f"\nper-VDU compute.allocate: simulated {per['simulated'] * 1000:.1f} ms, "
              f"openstack (fake cloud, 0.05 s build) "
              f"{per['openstack'] * 1000:.1f} ms, ratio {ratio:.1f}x, OpenStack adds {(per['openstack'] - per['simulated']) * 1000:.1f} ms/VDU")
        assert L.magi_count() == {}


async def test_flavor_choice_hint_creation_and_no_fit(_mongo_uri: str) -> None:
    async with lab(_mongo_uri) as L:
        base = {"vimConnectionInfo": L.vim(), "vnfInstanceId": L.vnf, "vduId": "v", "swImage": {"name": IMAGE}}
        rid = f"f-{uuid.uuid4().hex[:8]}"
        got = await L.request("compute.allocate", {**base, "resourceId": rid,
                                                   "virtualCompute": {"numVirtualCpu": 2, "virtualMemSizeMb": 3000}})
        assert L.cloud.servers[got["vimResourceId"]]["flavor"]["original_name"] == "m1.medium"
        hinted = f"h-{uuid.uuid4().hex[:8]}"
        got = await L.request("compute.allocate", {**base, "resourceId": hinted,
                                                   "virtualCompute": {"numVirtualCpu": 1, "flavorHint": "m1.large"}})
        assert L.cloud.servers[got["vimResourceId"]]["flavor"]["original_name"] == "m1.large"
        huge = {"numVirtualCpu": 3, "virtualMemSizeMb": 1024, "localDiskSizeGb": 200}
        with pytest.raises(RemoteError) as exc:
            await L.request("compute.allocate", {**base, "resourceId": f"n-{uuid.uuid4().hex[:8]}", "virtualCompute": huge})
        assert exc.value.problem["status"] == 422 and "no flavor fits" in exc.value.problem["detail"]
        made = f"m-{uuid.uuid4().hex[:8]}"
        vim = {**L.vim(), "extra": {"createFlavors": True}}
        got = await L.request("compute.allocate", {**base, "vimConnectionInfo": vim, "resourceId": made, "virtualCompute": huge})
        assert L.cloud.servers[got["vimResourceId"]]["flavor"]["original_name"] == "magi-3-1024-200"
        for r in (rid, hinted, made):
            await L.request("compute.release", {"vimConnectionInfo": L.vim(), "resourceId": r})
        assert L.magi_count() in ({}, {"flavors": 1}), L.magi_count()  # MAGI's flavor stays, shared


async def test_image_by_checksum_or_uploaded_from_url(_mongo_uri: str) -> None:
    payload = b"not really a qcow2 image" * 100
    import hashlib
    app = aiohttp.web.Application()

    async def serve(_: Any) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=payload)
    app.router.add_get("/img.qcow2", serve)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/img.qcow2"
    try:
        async with lab(_mongo_uri) as L:
            base = {"vimConnectionInfo": L.vim(), "vnfInstanceId": L.vnf, "vduId": "v",
                    "virtualCompute": {"numVirtualCpu": 1, "virtualMemSizeMb": 512}}
            wrong = {"name": IMAGE, "checksum": {"algorithm": "sha-512", "hash": "00" * 64}}
            with pytest.raises(RemoteError) as exc:
                await L.request("compute.allocate", {**base, "resourceId": f"i-{uuid.uuid4().hex[:8]}", "swImage": wrong})
            assert exc.value.problem["status"] == 422 and IMAGE in exc.value.problem["detail"]
            sw = {"name": "vnf-image-1", "imageUrl": url, "diskFormat": "qcow2",
                  "checksum": {"algorithm": "SHA-256", "hash": hashlib.sha256(payload).hexdigest()}}  # Glance keeps md5/sha512
            bad = {**sw, "name": "vnf-image-bad", "checksum": {"algorithm": "SHA-256", "hash": "ab" * 32}}
            with pytest.raises(RemoteError) as exc:
                await L.request("compute.allocate", {**base, "resourceId": f"b-{uuid.uuid4().hex[:8]}", "swImage": bad})
            assert exc.value.problem["status"] == 422 and "checksum mismatch" in exc.value.problem["detail"]
            rid = f"u-{uuid.uuid4().hex[:8]}"
            got = await L.request("compute.allocate", {**base, "resourceId": rid, "swImage": sw})
            imgs = [i for i in L.cloud.images.values() if i["name"] == "vnf-image-1"]
            assert len(imgs) == 1 and "MAGI" in imgs[0]["tags"]
            assert L.cloud.servers[got["vimResourceId"]]["image"]["id"] == imgs[0]["id"]
            rid2 = f"u-{uuid.uuid4().hex[:8]}"  # the second VNFC finds the uploaded image
            await L.request("compute.allocate", {**base, "resourceId": rid2, "swImage": sw})
            assert len([i for i in L.cloud.images.values() if i["name"] == "vnf-image-1"]) == 1
            sw3 = {**sw, "name": "vnf-image-2", "checksum": None}  # two VNFCs at once upload it once
            rid3, rid4 = f"u-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
            await asyncio.gather(*(L.request("compute.allocate", {**base, "resourceId": r, "swImage": sw3}) for r in (rid3, rid4)))
            assert len([i for i in L.cloud.images.values() if i["name"] == "vnf-image-2"]) == 1
            for r in (rid, rid2, rid3, rid4):
                await L.request("compute.release", {"vimConnectionInfo": L.vim(), "resourceId": r})
            assert L.magi_count() in ({}, {"images": 2}), L.magi_count()  # the uploaded images stay for reuse
    finally:
        await runner.cleanup()


async def test_wait_for_active_times_out_as_a_transient_error(_mongo_uri: str) -> None:
    async with lab(_mongo_uri, build_seconds=1.5, openstack_timeout_seconds=0.3) as L:
        req = {"vimConnectionInfo": L.vim(), "vnfInstanceId": L.vnf, "vduId": "v", "resourceId": f"t-{uuid.uuid4().hex[:8]}",
               "virtualCompute": {"numVirtualCpu": 1, "virtualMemSizeMb": 512}, "swImage": {"name": IMAGE}}
        t0 = time.perf_counter()
        with pytest.raises(OpenStackTransient, match="ACTIVE"):
            await L.handle("compute.allocate", req)
        assert time.perf_counter() - t0 < 1.4
        assert sum(1 for s in L.cloud.servers.values() if s["name"] == f"magi-{req['resourceId']}") == 1
        for _ in range(100):  # the bus would redeliver the release until the slow delete is done
            try:
                await L.handle("compute.release", {"vimConnectionInfo": L.vim(), "resourceId": req["resourceId"]})
                break
            except OpenStackTransient:
                pass
        assert L.magi_count() == {}
