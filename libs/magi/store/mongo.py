"""MongoDB access shared by every service: one database per service, whole-document writes.

Writes replace whole documents under a version check (optimistic concurrency) instead of `$set`
partial updates: it is the subset that behaves the same on a real MongoDB replica set and on
the nx-27017 wire server used in tests (which turns `$set` booleans into 0/1 and `$push`ed
objects into strings). No multi-document transactions: a state change and the messages it must
send are one document (the `_outbox` field), relayed afterwards by `OutboxRelay`.
"""
from __future__ import annotations

import copy
import time
from datetime import datetime, timezone
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError

from magi.bus.envelope import Envelope



class StoreError(Exception):
    pass


class NotFound(StoreError):
    pass


class ConcurrencyError(StoreError):
    """The document changed since it was read: re-read and decide again."""


class AlreadyExists(StoreError):
    pass


class MongoStore:
    """One client per service; `db` is the service's own database."""

    def __init__(self, uri: str, database: str):
        self.client: AsyncMongoClient = AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)
        self.db = self.client[database]
        self.name = database
        self.repositories: list[Repository] = []

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self.client.close()

    def repository(self, collection: str, indexes: Iterable[Any] = ()) -> "Repository":
        for existing in self.repositories:
            if existing.name == collection:
                return existing
        repo = Repository(self, collection, list(indexes))
        self.repositories.append(repo)
        return repo

    async def ensure_indexes(self) -> None:
        for repo in self.repositories:
            await repo.ensure_indexes()


def public(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored document without MAGI's bookkeeping: every `_`-field but `_links`."""
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if not k.startswith("_") or k == "_links"}


class Repository:
    """Repository of one aggregate type, keyed by its string UUID `id`."""

    def __init__(self, store: MongoStore, collection: str, indexes: list[Any]):
        self.store = store
        self.name = collection
        self.col = store.db[collection]
        self.indexes = indexes

    async def ensure_indexes(self) -> None:
        await self.col.create_index([("_pending", ASCENDING)])
        for spec in self.indexes:
            if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict):
                await self.col.create_index(spec[0], **spec[1])
            else:
                await self.col.create_index(spec)

    async def insert(self, doc: dict[str, Any], outbox: Iterable[Envelope] = ()) -> dict[str, Any]:
        record = copy.deepcopy(doc)
        msgs = [m.model_dump(mode="json") for m in outbox]
        record.update({"_id": doc["id"], "_v": 1, "_outbox": msgs, "_pending": len(msgs), "_relayed": 0})
        try:
            await self.col.insert_one(record)
        except DuplicateKeyError as exc:
            raise AlreadyExists(f"{self.name} {doc['id']} exists") from exc
        if msgs:
            self._wake()
        return record

    async def get(self, id_: str) -> dict[str, Any]:
        doc = await self.col.find_one({"_id": id_})
        if doc is None or doc.get("_deleted"):
            raise NotFound(f"{self.name} {id_} not found")
        return doc

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        return await self.col.find_one(live(query))

    async def find(self, query: dict[str, Any] | None = None, sort: str = "_id", limit: int = 0) -> list[dict[str, Any]]:
        cursor = self.col.find(live(query)).sort(sort, ASCENDING)
        if limit:
            cursor = cursor.limit(limit)
        return [d async for d in cursor]

    async def replace(self, record: dict[str, Any], outbox: Iterable[Envelope] = ()) -> dict[str, Any]:
        """Write `record` (as read, then changed) if nobody wrote it since; append `outbox`."""
        new = copy.deepcopy(record)
        new.pop("_id", None)
        new["_v"] = record["_v"] + 1
        result = await self._write(record, new, [m.model_dump(mode="json") for m in outbox])
        if result.get("_pending"):
            self._wake()
        return result

    async def save(self, record: dict[str, Any], outbox: Iterable[Envelope] = ()) -> dict[str, Any]:
        """`replace`, then refresh the bookkeeping fields of `record` itself, so a caller that
        holds references into it (a workflow's progress) keeps working on the stored version."""
        saved = await self.replace(record, outbox)
        for key in ("_v", "_outbox", "_pending", "_relayed"):
            record[key] = saved[key]
        return record

    async def _write(self, record: dict[str, Any], new: dict[str, Any], msgs: list[dict[str, Any]]) -> dict[str, Any]:
        # The relay clears `_outbox` and bumps `_relayed`, not `_v`: a writer that races it is
        # not refused, it re-reads the outbox as the relay left it (so sent messages are not
        # written back and sent twice) and tries again.
        pending, relayed = list(record.get("_outbox") or []), record.get("_relayed", 0)
        for _ in range(10):
            new.update({"_outbox": pending + msgs, "_pending": len(pending) + len(msgs), "_relayed": relayed})
            result = await self.col.find_one_and_replace(
                {"_id": record["_id"], "_v": record["_v"], "_relayed": relayed}, new, return_document=ReturnDocument.AFTER
            )
            if result is not None:
                return result
            current = await self.col.find_one({"_id": record["_id"]})
            if current is None or current.get("_deleted"):
                raise NotFound(f"{self.name} {record['_id']} not found")
            if current["_v"] != record["_v"]:
                raise ConcurrencyError(f"{self.name} {record['_id']} changed concurrently")
            pending, relayed = list(current.get("_outbox") or []), current.get("_relayed", 0)
        raise ConcurrencyError(f"{self.name} {record['_id']} kept changing")

    async def delete(self, record: dict[str, Any], outbox: Iterable[Envelope] = ()) -> None:
        """Delete under the version check. Messages that must follow a deletion are kept in a
        tombstone document (`_deleted`) until the relay has sent them."""
        msgs = [m.model_dump(mode="json") for m in outbox]
        if msgs or record.get("_outbox"):
            await self._write(record, {"_v": record["_v"] + 1, "_deleted": True}, msgs)
            self._wake()
            return
        result = await self.col.find_one_and_delete({"_id": record["_id"], "_v": record["_v"]})
        if result is None:
            if await self.col.find_one({"_id": record["_id"]}) is None:
                raise NotFound(f"{self.name} {record['_id']} not found")
            raise ConcurrencyError(f"{self.name} {record['_id']} changed concurrently")

    # -- outbox support -------------------------------------------------------------------
    async def pending(self, limit: int = 100) -> list[dict[str, Any]]:
        cursor = self.col.find({"_pending": {"$gt": 0}}).limit(limit)
        return [d async for d in cursor]

    async def mark_sent(self, record: dict[str, Any]) -> bool:
        """Remove the messages of `record`'s outbox (as read, now published) from the stored
        document. A writer may have added messages since: those stay for the next pass."""
        sent = {m.get("message_id") for m in record.get("_outbox") or []}
        current = record
        for _ in range(10):
            cond = {"_id": current["_id"], "_v": current["_v"], "_relayed": current.get("_relayed", 0)}
            left = [m for m in current.get("_outbox") or [] if m.get("message_id") not in sent]
            if current.get("_deleted") and not left:
                if (await self.col.delete_one(cond)).deleted_count == 1:
                    return True
            else:
                res = await self.col.update_one(cond, {"$set": {"_outbox": left, "_pending": len(left)}, "$inc": {"_relayed": 1}})
                if res.matched_count == 1:
                    return True
            current = await self.col.find_one({"_id": record["_id"]})
            if current is None:
                return True
        return False

    def _wake(self) -> None:
        """Tell the relay this collection has messages to send (only writes that carry some)."""
        relay = getattr(self.store, "relay", None)
        if relay is not None:
            relay.wake(self)


def live(query: dict[str, Any] | None = None) -> dict[str, Any]:
    """Query that leaves out deletion tombstones."""
    q = dict(query or {})
    q["_deleted"] = {"$exists": False}
    return q


class ProcessedMessages:
    """Message ids a consumer has handled, with the reply it gave: makes handlers idempotent."""

    RETENTION_SECONDS = 7 * 86400  # longer than any redelivery or retry window

    def __init__(self, store: MongoStore):
        self.col = store.db["processed_messages"]
        self._indexed = False

    async def get(self, message_id: str) -> dict[str, Any] | None:
        doc = await self.col.find_one({"_id": message_id})
        return None if doc is None else {"reply": doc.get("reply")}

    async def put(self, message_id: str, reply: dict[str, Any] | None) -> None:
        if not self._indexed:
            await self.col.create_index("at", expireAfterSeconds=self.RETENTION_SECONDS)
            self._indexed = True
        try:
            await self.col.insert_one({"_id": message_id, "reply": reply, "at": datetime.now(timezone.utc)})
        except DuplicateKeyError:
            pass


class UniqueClaims:
    """A key (a vnfdId, an nsdId) held by one owner across every replica of a service.

    Insert-first on the unique `_id` (enforced by MongoDB and by nx-27017 alike), so two writers
    racing for one key cannot both win, whichever process they run in. A claim whose owner no
    longer holds it (deleted, failed, crashed) is taken over by a compare-and-swap on the owner."""

    def __init__(self, store: MongoStore, collection: str):
        self.col = store.db[collection]

    async def claim(self, key: str, owner: str, holds: Callable[[str, float], Awaitable[bool]]) -> str | None:
        """Claim `key` for `owner`. Returns None when `owner` holds it now, else the holder's id.
        `holds(holder, age_seconds)` says whether the current holder still holds it."""
        holder = ""
        for _ in range(5):
            try:
                await self.col.insert_one({"_id": key, "owner": owner, "at": time.time()})
                return None
            except DuplicateKeyError:
                pass
            doc = await self.col.find_one({"_id": key})
            if doc is None:
                continue  # released meanwhile: insert again
            holder = doc["owner"]
            if holder == owner:
                return None
            if await holds(holder, time.time() - float(doc.get("at") or 0)):
                return holder
            took = await self.col.update_one({"_id": key, "owner": holder}, {"$set": {"owner": owner, "at": time.time()}})
            if took.matched_count == 1:
                return None
        return holder or None

    async def release(self, key: str, owner: str) -> None:
        await self.col.delete_one({"_id": key, "owner": owner})
