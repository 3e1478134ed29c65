"""The bus over the real RabbitMQ: topology, request/reply, dedupe, dead-lettering, redelivery."""
from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest

from magi.bus.amqp import DEAD_LETTER_QUEUE, AmqpBus
from magi.bus.base import PermanentError
from magi.bus.catalog import message
from magi.bus.envelope import RemoteError, RequestTimeout
from magi.store.mongo import MongoStore, ProcessedMessages

pytestmark = pytest.mark.amqp


@pytest.fixture
async def names(amqp_url):
    created = []

    def name(base: str) -> str:
        n = f"{base}-{uuid.uuid4().hex[:6]}"
        created.append(f"magi.{n}")
        return n

    yield name
    conn = await aio_pika.connect(amqp_url)
    ch = await conn.channel()
    for q in created:
        try:
            await ch.queue_delete(q)
        except Exception:
            ch = await conn.channel()
    await conn.close()


async def test_request_reply_and_problem_and_timeout(amqp_url, names, mongo_uri):
    store = MongoStore(mongo_uri, f"t{uuid.uuid4().hex[:8]}")
    server = AmqpBus(names("vnfm"), amqp_url, dedupe=ProcessedMessages(store))
    calls = []

    async def get_op(env):
        calls.append(env.message_id)
        if env.payload["vnfLcmOpOccId"] == "missing":
            raise PermanentError(404, "no such op occ")
        return {"id": env.payload["vnfLcmOpOccId"], "operationState": "COMPLETED"}

    server.on("lcmopocc.get", get_op)
    client = AmqpBus(names("nfvo"), amqp_url)
    await server.start()
    await client.start()
    try:
        reply = await client.request(message("lcmopocc.get", {"vnfLcmOpOccId": "x"}, source="nfvo"), timeout=5)
        assert reply == {"id": "x", "operationState": "COMPLETED"}
        with pytest.raises(RemoteError) as exc:
            await client.request(message("lcmopocc.get", {"vnfLcmOpOccId": "missing"}, source="nfvo"), timeout=5)
        assert exc.value.problem["status"] == 404
        # the same message id twice: the handler runs once, both get the answer
        m = message("lcmopocc.get", {"vnfLcmOpOccId": "y"}, source="nfvo", message_id=str(uuid.uuid4()))
        r1 = await client.request(m, timeout=5)
        m2 = message("lcmopocc.get", {"vnfLcmOpOccId": "y"}, source="nfvo", message_id=m.message_id)
        r2 = await client.request(m2, timeout=5)
        assert r1 == r2 and calls.count(m.message_id) == 1
        assert await server.healthy() and await client.healthy()
    finally:
        await client.close()
        await server.close()
        await store.close()
    # with nobody consuming that type, a request times out cleanly
    lonely = AmqpBus(names("lonely"), amqp_url)
    await lonely.start()
    try:
        with pytest.raises(Exception) as exc:
            await lonely.request(message("vnfd.get", {"vnfdId": "z"}, source="x"), timeout=0.5)
        assert isinstance(exc.value, (RequestTimeout,)) or "consumes" in str(exc.value)
    finally:
        await lonely.close()


async def test_failing_fact_handler_is_redelivered_then_dead_lettered(amqp_url, names):
    svc = names("monitoring")
    attempts = []
    bus = AmqpBus(svc, amqp_url, delivery_limit=2)

    async def boom(env):
        attempts.append(env.message_id)
        raise RuntimeError("transient")

    bus.on("vnf.deleted", boom)
    sender = AmqpBus(names("sender"), amqp_url)
    await bus.start()
    await sender.start()
    conn = await aio_pika.connect(amqp_url)
    ch = await conn.channel()
    dlq = await ch.declare_queue(DEAD_LETTER_QUEUE, durable=True)
    await dlq.purge()
    try:
        m = message("vnf.deleted", {"vnfInstanceId": "gone"}, source="vnfm")
        await sender.publish(m)
        for _ in range(60):
            msg = await dlq.get(fail=False)
            if msg is not None:
                await msg.ack()
                assert msg.message_id == m.message_id
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("message never dead-lettered")
        assert attempts.count(m.message_id) >= 2  # redelivered before it was given up
    finally:
        await conn.close()
        await sender.close()
        await bus.close()


async def test_facts_reach_every_following_service_once(amqp_url, names):
    a_got, b_got = [], []
    a, b = AmqpBus(names("fa"), amqp_url), AmqpBus(names("fb"), amqp_url)

    async def ha(env):
        a_got.append(env.message_id)

    async def hb(env):
        b_got.append(env.message_id)

    a.on("vnf.created", ha)
    b.on("vnf.created", hb)
    sender = AmqpBus(names("s"), amqp_url)
    for x in (a, b, sender):
        await x.start()
    try:
        m = message("vnf.created", {"vnfInstanceId": "v"}, source="vnfm")
        await sender.publish(m)
        for _ in range(50):
            if a_got and b_got:
                break
            await asyncio.sleep(0.05)
        assert a_got == [m.message_id] and b_got == [m.message_id]
    finally:
        for x in (a, b, sender):
            await x.close()
