"""Store suite: runs against whatever MAGI_MONGODB_URI points to (nx-27017 here, MongoDB in a lab)."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from magi.bus.catalog import message
from magi.bus.memory import InMemoryBroker, InMemoryBus
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore, NotFound, ProcessedMessages, public
from magi.store.outbox import OutboxRelay


@pytest.fixture
async def store(mongo_uri):
    s = MongoStore(mongo_uri, f"t{uuid.uuid4().hex[:10]}")
    yield s
    await s.close()


def fact(i: int = 0):
    return message("vnf.created", {"vnfInstanceId": f"v{i}"}, source="test")


async def test_insert_get_replace_delete_roundtrip_keeps_types(store):
    repo = store.repository("things")
    await store.ensure_indexes()
    doc = {"id": str(uuid.uuid4()), "flag": False, "nested": {"on": True, "n": [1, 2]}, "_links": {"self": {"href": "x"}}}
    await repo.insert(doc)
    got = await repo.get(doc["id"])
    assert public(got) == doc and got["_v"] == 1
    got["flag"] = True
    saved = await repo.replace(got)
    assert saved["_v"] == 2 and (await repo.get(doc["id"]))["flag"] is True  # a real bool, not 1
    with pytest.raises(AlreadyExists):
        await repo.insert(doc)
    await repo.delete(saved)
    with pytest.raises(NotFound):
        await repo.get(doc["id"])


async def test_optimistic_concurrency_no_lost_update(store):
    repo = store.repository("counters")
    await repo.insert({"id": "c", "n": 0})

    async def bump():
        while True:
            d = await repo.get("c")
            d["n"] += 1
            try:
                await repo.replace(d)
                return
            except ConcurrencyError:
                await asyncio.sleep(0)

    await asyncio.gather(*(bump() for _ in range(30)))
    assert (await repo.get("c"))["n"] == 30


async def test_stale_write_is_refused(store):
    repo = store.repository("stale")
    await repo.insert({"id": "a", "x": 1})
    one, two = await repo.get("a"), await repo.get("a")
    one["x"] = 2
    await repo.replace(one)
    two["x"] = 3
    with pytest.raises(ConcurrencyError):
        await repo.replace(two)


async def test_outbox_relays_each_message_once_even_when_writers_race(store):
    repo = store.repository("agg")
    broker = InMemoryBroker()
    got: list[str] = []
    follower = InMemoryBus("monitoring", broker, prefetch=1)

    async def record(env):
        got.append(env.message_id)

    follower.on("vnf.created", record)
    sender = InMemoryBus("vnfm", broker)
    await follower.start()
    await sender.start()
    relay = OutboxRelay(store, sender, poll_interval=0.05)
    sent = [fact(0)]
    await repo.insert({"id": "a", "n": 0}, outbox=sent)
    await relay.start()
    for i in range(1, 20):  # writers append messages while the relay clears the outbox
        d = await repo.get("a")
        d["n"] = i
        m = fact(i)
        sent.append(m)
        await repo.replace(d, outbox=[m])
        await asyncio.sleep(0.01 * (i % 3))
    for _ in range(100):
        if len(set(got)) == len(sent) and (await repo.get("a"))["_pending"] == 0:
            break
        await asyncio.sleep(0.05)
    await relay.stop()
    await sender.close()
    await follower.close()
    assert sorted(set(got)) == sorted(m.message_id for m in sent)
    assert len(got) == len(sent), "a relayed message was sent again"


async def test_outbox_survives_a_crash_before_relay(store):
    """Stored but never published (the process died): a new relay sends it."""
    repo = store.repository("crash")
    await repo.insert({"id": "a"}, outbox=[fact(7)])
    broker = InMemoryBroker()
    got = []
    follower = InMemoryBus("monitoring", broker)

    async def record(env):
        got.append(env.payload["vnfInstanceId"])

    follower.on("vnf.created", record)
    await follower.start()
    bus = InMemoryBus("vnfm", broker)
    await bus.start()
    relay = OutboxRelay(store, bus)
    assert await relay.flush() == 1
    await asyncio.sleep(0.1)
    assert got == ["v7"] and await relay.flush() == 0
    await bus.close()
    await follower.close()


async def test_outbox_relay_scans_only_the_collections_written_with_messages(store, monkeypatch):
    """A write without messages wakes nobody; one with messages gets its collection scanned (and
    only it) at once; the periodic pass scans all of them for what a crash left behind."""
    quiet, busy = store.repository("quiet"), store.repository("busy")
    scanned: list[str] = []
    real_pending = type(quiet).pending

    async def pending(self, limit=100):
        scanned.append(self.name)
        return await real_pending(self, limit)

    monkeypatch.setattr(type(quiet), "pending", pending)
    published: list[str] = []

    class Bus:
        async def publish(self, env):
            published.append(env.message_id)

    relay = OutboxRelay(store, Bus(), poll_interval=3600)  # no periodic pass during the test
    await relay.start()
    for _ in range(100):  # the first pass at start scans everything
        if {"quiet", "busy"} <= set(scanned):
            break
        await asyncio.sleep(0.01)
    scanned.clear()
    await quiet.insert({"id": "q"})
    d = await quiet.get("q")
    await quiet.replace(d)
    await asyncio.sleep(0.1)
    assert scanned == [] and published == []
    m = fact(3)
    await busy.insert({"id": "b"}, outbox=[m])
    for _ in range(100):
        if published:
            break
        await asyncio.sleep(0.01)
    await relay.stop()
    assert published == [m.message_id] and set(scanned) == {"busy"}


async def test_delete_with_outbox_keeps_a_tombstone_until_relayed(store):
    repo = store.repository("tomb")
    await repo.insert({"id": "a"})
    await repo.delete(await repo.get("a"), outbox=[fact(1)])
    with pytest.raises(NotFound):
        await repo.get("a")
    assert await repo.find() == []
    broker = InMemoryBroker()
    bus = InMemoryBus("vnfm", broker)
    await bus.start()
    assert await OutboxRelay(store, bus).flush() == 1
    assert await repo.col.find_one({"_id": "a"}) is None
    await bus.close()


async def test_processed_messages_dedupe(store):
    p = ProcessedMessages(store)
    assert await p.get("m1") is None
    await p.put("m1", {"ok": True})
    await p.put("m1", {"ok": False})  # the first answer stays
    assert await p.get("m1") == {"reply": {"ok": True}}


async def test_unique_index_enforced(store):
    repo = store.repository("uniq", [([("name", 1)], {"unique": True})])
    await store.ensure_indexes()
    await repo.insert({"id": "1", "name": "a"})
    with pytest.raises(AlreadyExists):
        await repo.insert({"id": "2", "name": "a"})


async def test_content_store_chunks_large_packages(store):
    """Package bytes beyond one document's 16 MB limit are stored in chunks and read back whole."""
    from nfvo.content import ContentStore

    content = ContentStore(store)
    data = bytes(range(256)) * (70 * 1024 * 1024 // 256 // 4)  # 17.5 MB
    await content.put("pkg", data, "big.zip")
    got = await content.find("pkg")
    assert got["data"] == data and got["filename"] == "big.zip"
    await content.put("pkg", b"small", None)  # replacing leaves no stale chunk behind
    assert (await content.find("pkg"))["data"] == b"small"
    assert await content.coll.count_documents({"key": "pkg"}) == 1
    await content.delete("pkg")
    assert await content.find("pkg") is None


async def test_content_stored_before_chunk_size_was_recorded_reads_back(store):
    """Contents written by earlier NFVOs (4 MB chunks, no `chunkSize` in the head) stream whole and by range."""
    from bson import Binary
    from nfvo.content import ContentStore

    content = ContentStore(store)
    data = bytes(range(256)) * (9 * 1024 * 1024 // 256)  # 9 MiB: three old-style chunks
    size = 4 * 1024 * 1024
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    for i, part in enumerate(parts):
        await content.coll.insert_one({"_id": f"old#{i}", "key": "old", "n": i, "data": Binary(part)})
    await content.coll.insert_one({"_id": "old", "filename": "old.zip", "chunks": len(parts), "length": len(data)})
    head = await content.head("old")
    assert b"".join([p async for p in content.stream("old", head)]) == data
    first, last = size - 10, size + 10  # across a chunk boundary
    assert b"".join([p async for p in content.stream("old", head, first, last)]) == data[first:last + 1]
    with await content.download("old", "package old") as up:
        assert up.size == len(data) and up.rewind().read() == data


async def test_a_fresh_claim_holds_the_instance_before_its_op_occ_is_written(store, monkeypatch):
    """Two LCM requests on one instance: the second, arriving between the first's claim and the
    insert of its op occ, is refused; a claim orphaned by a crash frees the instance after the grace."""
    from magi import lcm
    from magi.api.problem import Problem
    instances, op_occs = store.repository("instances"), store.repository("op_occs")
    inst = {"id": str(uuid.uuid4()), "state": "NOT_INSTANTIATED"}
    await instances.insert(inst)

    async def blocking(i):
        return await lcm.holding_op(op_occs, i, lcm.BLOCKING)

    await lcm.claim(instances, await instances.get(inst["id"]), "op-1", state_key="state", label="VNF instance", blocking=blocking)
    with pytest.raises(Problem) as refused:  # op-1's op occ is not stored yet
        await lcm.claim(instances, await instances.get(inst["id"]), "op-2", state_key="state", label="VNF instance", blocking=blocking)
    assert refused.value.status == 409 and "op-1" in refused.value.detail

    monkeypatch.setattr(lcm, "CLAIM_GRACE_SECONDS", 0.0)  # op-1's writer crashed: the claim no longer holds
    await lcm.claim(instances, await instances.get(inst["id"]), "op-3", state_key="state", label="VNF instance", blocking=blocking)
    assert (await instances.get(inst["id"]))["_opOccId"] == "op-3"


async def test_unique_claims_one_winner_and_takeover_of_a_dead_holder(store):
    from magi.store.mongo import UniqueClaims
    claims = UniqueClaims(store, "claims")
    alive = {"a", "b", "c", "d", "e", "f"}

    async def holds(owner, _age):
        return owner in alive

    got = await asyncio.gather(*(claims.claim("vnfd-1", o, holds) for o in sorted(alive)))
    winners = [o for o, g in zip(sorted(alive), got) if g is None]
    assert len(winners) == 1 and all(g in (None, winners[0]) for g in got)
    assert await claims.claim("vnfd-1", winners[0], holds) is None  # the holder again: still its own
    alive.discard(winners[0])  # the holder went away without releasing
    alive.add("z")
    assert await claims.claim("vnfd-1", "z", holds) is None
    await claims.release("vnfd-1", winners[0])  # a stale owner's release does not free it
    assert await claims.claim("vnfd-1", "y", holds) == "z"
    await claims.release("vnfd-1", "z")
    assert await claims.claim("vnfd-1", "y", holds) is None
