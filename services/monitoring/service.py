"""Monitoring application layer: applies facts to the inventory repositories."""
from __future__ import annotations

import asyncio
import random
from typing import Any

from pydantic import ValidationError

from magi.bus.base import PermanentError
from magi.bus.catalog import spec
from magi.bus.envelope import Envelope
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore, Repository, StoreError, public

from monitoring import domain


class Inventory:
    def __init__(self, store: MongoStore):
        self.repos: dict[str, Repository] = {
            "vnf": store.repository("vnf_inventory", ["state"]),
            "ns": store.repository("ns_inventory", ["state"]),
            "resource": store.repository("resource_inventory", ["vimId", "state"]),
        }
        # Counted once per handled message id (the bus dedupes); a crash between this write
        # and the dedupe record may count a message twice.
        self.events = store.repository("event_counts")

    async def on_fact(self, env: Envelope) -> None:
        inventory, key, fold = domain.FOLDS[env.type]
        try:
            payload = spec(env.type).payload.model_validate(env.payload).model_dump(mode="json")
        except ValidationError as exc:
            raise PermanentError(422, f"invalid {env.type} payload: {exc.errors()[0]['msg']}") from None
        if not isinstance(payload.get(key), str):
            raise PermanentError(422, f"{env.type} payload has no {key}")
        await self._apply(self.repos[inventory], payload[key], lambda doc: fold(doc, payload, env.time))
        await self._apply(self.events, env.type, lambda doc: domain.count(doc, env.type, env.time))

    @staticmethod
    async def _apply(repo: Repository, id_: str, change: Any) -> None:
        """Read, fold, write under the version check; again if someone wrote in between."""
        for attempt in range(100):
            doc = await repo.find_one({"_id": id_})
            new = change(doc)
            if doc is not None and new == doc:
                return
            try:
                await (repo.insert(new) if doc is None else repo.replace(new))
                return
            except (AlreadyExists, ConcurrencyError):
                await asyncio.sleep(random.random() * 0.002 * min(attempt + 1, 10))
        raise StoreError(f"{repo.name} {id_} too contended")

    # -- queries --------------------------------------------------------------------------
    async def _all(self, name: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [public(d) for d in await self.repos[name].find(query)]  # type: ignore[misc]

    async def view(self, vim_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        if vim_id is None:
            return domain.inventory(await self._all("vnf"), await self._all("ns"), await self._all("resource"))
        vnfs = await self._all("vnf", {"$or": [{"vimIds": vim_id}, {"vnfcs.vimId": vim_id}]})
        nss = await self._all("ns", {"vimIds": vim_id})
        return domain.inventory(vnfs, nss, await self._all("resource", {"vimId": vim_id}), vim_id)

    async def get(self, name: str, id_: str) -> dict[str, Any] | None:
        return public(await self.repos[name].find_one({"_id": id_}))

    async def event_counts(self) -> dict[str, Any]:
        docs = await self.events.find()
        return {"total": sum(d["count"] for d in docs), "byType": {d["type"]: d["count"] for d in docs}}


class Alarms:
    """Alarms raised and cleared by `resource.drifted` facts (docs/drift.md)."""

    FILTERS = ("vimId", "managedObjectId", "perceivedSeverity")

    def __init__(self, store: MongoStore, events: Repository | None = None):
        self.repo = store.repository("alarms", ["vimId", "managedObjectId", "perceivedSeverity"])
        self.events = events

    async def on_drift(self, env: Envelope) -> None:
        try:
            payload = spec(env.type).payload.model_validate(env.payload).model_dump(mode="json")
        except ValidationError as exc:
            raise PermanentError(422, f"invalid {env.type} payload: {exc.errors()[0]['msg']}") from None
        if payload["drift"] == "RESOLVED" and not (payload.get("expected") or {}).get("drift"):
            raise PermanentError(422, "a RESOLVED resource.drifted names the ended drift in expected.drift")
        t = payload.get("detectedAt") or env.time
        alarm_id = domain.alarm_target(payload)
        for attempt in range(100):
            doc = await self.repo.find_one({"_id": alarm_id})
            new = domain.drift_alarm(doc, payload, t)
            if new is None or new is doc or (doc is not None and new == doc):
                break
            try:
                await (self.repo.insert(new) if doc is None else self.repo.replace(new))
                break
            except (AlreadyExists, ConcurrencyError):
                await asyncio.sleep(random.random() * 0.002 * min(attempt + 1, 10))
        else:
            raise StoreError(f"alarm {alarm_id} too contended")
        if self.events is not None:
            await Inventory._apply(self.events, env.type, lambda d: domain.count(d, env.type, env.time))

    async def list(self, query: dict[str, str]) -> list[dict[str, Any]]:
        return [public(d) for d in await self.repo.find(query, sort="alarmRaisedTime")]  # type: ignore[misc]

    async def get(self, id_: str) -> dict[str, Any] | None:
        return public(await self.repo.find_one({"_id": id_}))
