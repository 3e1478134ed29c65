"""The VIM adapter's allocate/release round trip over a real RabbitMQ (AmqpBus).

Service and queue names are unique per run so the test neither competes with a running
`magi.vim_adapter` queue nor leaves queues behind.
"""
from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import aio_pika
import pytest

import vim_adapter.bootstrap
from magi.bus.amqp import AmqpBus
from magi.bus.catalog import message
from magi.bus.envelope import Envelope, ReferencePoint, RemoteError
from magi.config import MagiSettings
from magi.api.app import ApiSettings, create_app
from magi.runtime import ServiceContext
from magi.store.embedded import EmbeddedMongo
from magi.store.mongo import MongoStore, ProcessedMessages
from magi.store.outbox import OutboxRelay
from vim_adapter.drivers.simulated import SIMULATED

pytestmark = pytest.mark.amqp
AMQP_URL = os.environ.get("MAGI_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture(scope="module")
def _mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if os.environ.get("MAGI_MONGODB_URI"):
        yield os.environ["MAGI_MONGODB_URI"]
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("nx"))
    yield server.start()
    server.stop()


def _context(settings: MagiSettings, queue_service: str) -> ServiceContext:
    """make_context's wiring, but the AmqpBus gets a unique service (hence queue) name while
    the service keeps its own name (ports, URLs and fact `source` derive from it)."""
    store = MongoStore(settings.mongodb_uri or "", f"{settings.db_prefix}_vim_adapter")
    bus = AmqpBus(queue_service, AMQP_URL, dedupe=ProcessedMessages(store), default_timeout=settings.request_timeout)
    app = create_app(ApiSettings(service="vim_adapter", ready_checks={"store": store.ping, "bus": bus.healthy}))
    return ServiceContext("vim_adapter", settings, store, bus, app, OutboxRelay(store, bus))


async def _delete_queues(names: list[str]) -> None:
    conn = await aio_pika.connect_robust(AMQP_URL)
    try:
        for name in names:
            channel = await conn.channel()
            try:
                queue = await channel.get_queue(name, ensure=True)
                await queue.delete(if_unused=False, if_empty=False)
            except aio_pika.exceptions.ChannelClosed:
                pass  # never declared
    finally:
        await conn.close()


async def test_allocate_release_round_trip_over_rabbitmq(_mongo_uri: str, amqp_url: str) -> None:
    # `amqp_url` (conftest) skips without a broker, and fails under CI=true.
    run = uuid.uuid4().hex[:10]
    settings = MagiSettings(mongodb_uri=_mongo_uri, amqp_url=AMQP_URL, db_prefix=f"it{run}", host="127.0.0.1",
                            request_timeout=15)
    name = f"vim_adapter_it_{run}"
    unit = vim_adapter.bootstrap.build(_context(settings, name))
    facts: dict[str, Envelope] = {}

    async def watch(env: Envelope) -> None:
        facts[env.message_id] = env  # keyed by id: the outbox is at-least-once

    follower = AmqpBus(f"it_facts_{run}", AMQP_URL)
    follower.bind(ReferencePoint.FACTS, "resource.*", watch)
    client = AmqpBus(f"it_client_{run}", AMQP_URL, default_timeout=15)
    try:
        await unit.start(port=0)
        await follower.start()
        await client.start()

        async def request(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
            return await client.request(message(type_, payload, source="it"))

        vim = {"vimId": f"vim-it-{run}", "vimType": SIMULATED, "extra": {"vcpus": 4}}
        vl = await request("network.allocate", {"vimConnectionInfo": vim, "resourceId": str(uuid.uuid4()),
                                                "ownerId": "vnf-it", "vlId": "int", "cidr": "172.16.0.0/24"})
        rid = str(uuid.uuid4())
        alloc = {"vimConnectionInfo": vim, "resourceId": rid, "vnfInstanceId": "vnf-it", "vduId": "vdu1",
                 "virtualCompute": {"numVirtualCpu": 3, "virtualMemSizeMb": 2048},
                 "networks": [{"cpdId": "eth0", "vlId": "int", "vimNetworkId": vl["vimResourceId"]}]}
        got = await request("compute.allocate", alloc)
        assert got["vimId"] == vim["vimId"] and got["addresses"][0]["ipAddress"] == "172.16.0.2"
        assert await request("compute.allocate", alloc) == got  # idempotent on resourceId

        # A request replayed with the same message id is answered from the dedupe record.
        replay = message("compute.allocate", {**alloc, "resourceId": str(uuid.uuid4())}, source="it")
        with pytest.raises(RemoteError) as exc:
            await client.request(replay)
        assert exc.value.problem["status"] == 422  # 3 of 4 vCPUs are taken
        with pytest.raises(RemoteError):
            await client.request(message("compute.allocate", replay.payload, source="it", message_id=replay.message_id))

        released = await request("compute.release", {"vimConnectionInfo": vim, "resourceId": rid})
        assert released == {"resourceId": rid, "released": True}
        assert (await request("compute.release", {"vimConnectionInfo": vim, "resourceId": rid}))["released"] is False
        assert (await request("network.release", {"vimConnectionInfo": vim, "resourceId": vl["resourceId"]}))["released"]

        deadline = asyncio.get_running_loop().time() + 10
        while len(facts) < 4 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        kinds = sorted((f.type, f.payload["resourceType"]) for f in facts.values())
        assert kinds == [("resource.allocated", "COMPUTE"), ("resource.allocated", "VL"),
                         ("resource.released", "COMPUTE"), ("resource.released", "VL")]
        assert all(f.payload["vimId"] == vim["vimId"] and f.source == "vim_adapter" for f in facts.values())
    finally:
        await client.close()
        await follower.close()
        await unit.stop()
        await _delete_queues([f"magi.{name}", f"magi.it_facts_{run}"])
