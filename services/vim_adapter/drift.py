"""Drift reconciliation: what the VIM holds against what the VIM adapter recorded (docs/drift.md).

The inventory contract every driver honours — `VimDriver.inventory()` returns one dict per
resource the VIM holds in MAGI's project, with exactly these keys:

    vimResourceId  the VIM's id of the resource
    resourceType   COMPUTE | VL | STORAGE | PORT | SUBNET | SECURITY_GROUP | SERVER_GROUP
    resourceId     MAGI's resourceId (from the tag/metadata MAGI set) or None if MAGI did not create it
    ownerId        the VNF/NS instance MAGI created it for, or None
    name           the VIM's name of the resource
    state          the VIM's status string (ACTIVE, ERROR, SHUTOFF, available, in-use, ...)
    zoneId         availability zone or None
    attributes     a small dict of comparable attributes (vcpus, memoryMb, sizeGb, cidr, ...)

`compare` and `merge` are pure: one reconciliation is `compare(records, inventory)` → the drift
found now, then `merge(previous report items, found, now)` → the report's open items and the
items that are NEW, CHANGED or RESOLVED. Only those three send a `resource.drifted` fact, in the
same write as the report (the store's outbox), so a periodic reconcile of an unchanged VIM sends
nothing.
"""
from __future__ import annotations

import asyncio
import inspect
import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog

from magi.bus.catalog import message
from magi.bus.envelope import utcnow
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore, NotFound, StoreError, public

log = structlog.get_logger(__name__)

VANISHED, STATE_CHANGED, MODIFIED, UNMANAGED, RESOLVED = "VANISHED", "STATE_CHANGED", "MODIFIED", "UNMANAGED", "RESOLVED"
DRIFTS = (VANISHED, STATE_CHANGED, MODIFIED, UNMANAGED)
INVENTORY_KEYS = ("vimResourceId", "resourceType", "resourceId", "ownerId", "name", "state", "zoneId", "attributes")

# The state a healthy resource of each kind is in (compared case-insensitively).
HEALTHY: dict[str, frozenset[str]] = {
    "COMPUTE": frozenset({"ACTIVE"}),
    "VL": frozenset({"ACTIVE"}),
    "STORAGE": frozenset({"AVAILABLE", "IN-USE"}),
}
# On the way to a healthy state (an operation in progress): not drift, looked at next time.
TRANSITIONAL = frozenset({"BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING", "REBOOT", "HARD_REBOOT",
                          "PASSWORD", "CREATING", "ATTACHING", "DETACHING", "EXTENDING", "DOWNLOADING",
                          "RESERVED", "RETYPING", "BACKING-UP", "RESTORING-BACKUP"})
# Record field → inventory attribute compared for MODIFIED, per kind (only where the record has it).
COMPARED: dict[str, tuple[str, ...]] = {
    "COMPUTE": ("vcpus", "memoryMb"),
    "VL": ("cidr",),
    "STORAGE": ("sizeGb",),
}


# -- pure functions -----------------------------------------------------------------------
def healthy(resource_type: str, state: str | None) -> bool:
    ok = HEALTHY.get(resource_type)
    if ok is None or state is None:
        return True  # a kind without a status (SUBNET, SECURITY_GROUP, ...) cannot be unhealthy
    s = state.upper()
    return s in ok or s in TRANSITIONAL


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def item_key(drift: str, vim_resource_id: str | None, resource_id: str | None) -> str:
    """One open item per (drift, resource): the dedupe key the report and monitoring share."""
    return f"{drift}:{vim_resource_id or resource_id}"


def _item(drift: str, resource_type: str, vim_resource_id: str | None, resource_id: str | None, owner_id: str | None,
          expected: dict[str, Any] | None, observed: dict[str, Any] | None) -> dict[str, Any]:
    return {"key": item_key(drift, vim_resource_id, resource_id), "drift": drift, "resourceType": resource_type,
            "vimResourceId": vim_resource_id, "resourceId": resource_id, "ownerId": owner_id,
            "expected": expected, "observed": observed}


def compare(records: list[dict[str, Any]], inventory: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The drift between the adapter's records (vim_resources of one VIM) and the VIM's inventory.

    A record matches the inventory entry with its vimResourceId (else the one carrying its
    resourceId). VANISHED: no entry. STATE_CHANGED: the entry's state is not healthy for its kind.
    MODIFIED: an attribute the record holds differs. UNMANAGED: an entry no record matches that
    carries no MAGI ownership (resourceId and ownerId both None; a PORT or SUBNET MAGI tagged with
    its network's ids is MAGI's).
    """
    by_vim_id = {r["vimResourceId"]: r for r in inventory if r.get("vimResourceId")}
    by_rid = {r["resourceId"]: r for r in inventory if r.get("resourceId")}
    matched: set[str] = set()
    found: list[dict[str, Any]] = []
    for rec in sorted(records, key=lambda r: r["id"]):
        rtype, vrid, rid, owner = rec["type"], rec.get("vimResourceId"), rec["id"], rec.get("ownerId")
        seen = (by_vim_id.get(vrid) if vrid else None) or by_rid.get(rid)
        if seen is None:
            found.append(_item(VANISHED, rtype, vrid, rid, owner, {"state": rec.get("state", "ACTIVE")}, None))
            continue
        if seen.get("vimResourceId"):
            matched.add(seen["vimResourceId"])
        vrid = vrid or seen.get("vimResourceId")
        if not healthy(rtype, seen.get("state")):
            want = sorted(HEALTHY[rtype])[0] if rtype != "STORAGE" else "available"
            found.append(_item(STATE_CHANGED, rtype, vrid, rid, owner, {"state": want}, {"state": seen.get("state")}))
        attrs = seen.get("attributes") or {}
        diff = [k for k in COMPARED.get(rtype, ()) if rec.get(k) is not None and k in attrs and not _same(rec[k], attrs[k])]
        if diff:
            found.append(_item(MODIFIED, rtype, vrid, rid, owner, {k: rec[k] for k in diff}, {k: attrs[k] for k in diff}))
    for res in inventory:
        if res.get("vimResourceId") in matched or res.get("resourceId") or res.get("ownerId"):
            continue
        observed = {"name": res.get("name"), "state": res.get("state"), "zoneId": res.get("zoneId"),
                    "attributes": res.get("attributes") or {}}
        found.append(_item(UNMANAGED, res["resourceType"], res.get("vimResourceId"), None, None, None, observed))
    return found


def merge(previous: list[dict[str, Any]], found: list[dict[str, Any]], now: str) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
    """(the report's open items, [(NEW | CHANGED | RESOLVED, item)] to announce).

    An item found again keeps its firstSeen and gets lastSeen = now; if what is observed
    changed (SHUTOFF → ERROR) it is CHANGED. An open item not found any more is RESOLVED.
    """
    before = {i["key"]: i for i in previous}
    items, events = [], []
    for f in found:
        old = before.pop(f["key"], None)
        if old is None:
            item = {**f, "status": "OPEN", "firstSeen": now, "lastSeen": now}
            events.append(("NEW", item))
        else:
            item = {**old, **f, "status": "OPEN", "firstSeen": old["firstSeen"], "lastSeen": now}
            if old.get("observed") != f.get("observed") or old.get("expected") != f.get("expected"):
                events.append(("CHANGED", item))
        items.append(item)
    for old in before.values():
        events.append((RESOLVED, {**old, "status": RESOLVED, "resolvedAt": now}))
    return items, events


def drift_fact(vim_id: str, event: str, item: dict[str, Any], now: str) -> dict[str, Any]:
    """The DriftFact of an event. RESOLVED: drift is RESOLVED, `expected` names the drift that
    ended ({"drift": "STATE_CHANGED"}), `observed` is None."""
    base = {"vimId": vim_id, "resourceType": item["resourceType"], "vimResourceId": item.get("vimResourceId"),
            "resourceId": item.get("resourceId"), "ownerId": item.get("ownerId"), "detectedAt": now}
    if event == RESOLVED:
        return {**base, "drift": RESOLVED, "expected": {"drift": item["drift"]}, "observed": None}
    return {**base, "drift": item["drift"], "expected": item.get("expected"), "observed": item.get("observed")}


def empty_report(vim_id: str) -> dict[str, Any]:
    return {"id": vim_id, "vimId": vim_id, "items": [], "resolved": [], "lastReconciledAt": None,
            "lastError": None, "lastErrorAt": None}


def lease_free(lease: dict[str, Any] | None, holder: str, now: datetime) -> bool:
    if lease is None or lease.get("holder") == holder:
        return True
    return datetime.fromisoformat(lease["expiresAt"].replace("Z", "+00:00")) <= now


class VimUnknown(NotFound):
    pass


class VimError(StoreError):
    """The VIM's inventory could not be read; the report carries lastError."""


# -- the reconciler -----------------------------------------------------------------------
class DriftReconciler:
    """Reconciles one VIM on demand and every VIM the adapter knows every `interval` seconds."""

    KEEP_RESOLVED = 50  # recently resolved items kept in the report, newest first

    def __init__(self, store: MongoStore, adapter: Any, interval: float, source: str = "vim_adapter"):
        self.adapter = adapter
        self.interval = interval
        self.source = source
        self.reports = store.repository("drift_reports")
        self.leases = store.repository("drift_leases")
        self.holder = str(uuid.uuid4())  # this replica
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle (aiohttp app signals) ---------------------------------------------------
    async def start(self, _app: Any = None) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="drift-reconciler")

    async def stop(self, _app: Any = None) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            # Jitter de-synchronises replicas; the lease makes one of them do each round.
            await asyncio.sleep(self.interval * random.uniform(0.8, 1.2))
            try:
                await self.reconcile_all()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the loop die
                log.warning("drift.round_failed", error=repr(exc))

    async def reconcile_all(self) -> None:
        for vim in await self.adapter.vims.find():
            vim_id = vim["_id"]
            try:
                if await self._lease(vim_id):
                    await self.reconcile(vim_id)
            except VimError:
                pass  # logged and recorded in the report
            except Exception as exc:
                log.warning("drift.reconcile_failed", vimId=vim_id, error=repr(exc))

    async def _lease(self, vim_id: str) -> bool:
        now = datetime.now(timezone.utc)
        lease = await self.leases.find_one({"_id": vim_id})
        if not lease_free(lease, self.holder, now):
            return False
        until = (now + timedelta(seconds=self.interval * 0.75)).isoformat().replace("+00:00", "Z")
        doc = {"id": vim_id, "holder": self.holder, "expiresAt": until}
        try:
            if lease is None:
                await self.leases.insert(doc)
            else:
                await self.leases.replace({**doc, "_id": lease["_id"], "_v": lease["_v"]})
        except (AlreadyExists, ConcurrencyError):
            return False  # another replica took it
        return True

    # -- one VIM ----------------------------------------------------------------------------
    async def _driver(self, vim: dict[str, Any]) -> Any:
        # The adapter's own lookup, credentials resolved as for a request (asked from the NFVO
        # when the remembered VimConnectionInfo has none); `_driver` where there is no resolver.
        lookup = getattr(self.adapter, "_driver_for", None) or self.adapter._driver
        driver = lookup(vim)
        return await driver if inspect.isawaitable(driver) else driver

    async def reconcile(self, vim_id: str) -> dict[str, Any]:
        known = await self.adapter.vims.find_one({"_id": vim_id})
        if known is None:
            raise VimUnknown(f"VIM {vim_id} is not known")
        started = utcnow()
        try:
            driver = await self._driver(public(known))  # type: ignore[arg-type]
            inventory = await driver.inventory()
        except Exception as exc:
            log.warning("drift.inventory_failed", vimId=vim_id, error=repr(exc))
            await self._write(vim_id, lambda report: {**report, "lastError": f"{type(exc).__name__}: {exc}", "lastErrorAt": utcnow()})
            raise VimError(f"VIM {vim_id}: inventory failed: {exc}") from exc
        # Records created after the inventory was read may not be in it yet (an allocation in flight).
        records = [r for r in await self.adapter.records.find({"vimId": vim_id}) if (r.get("createdAt") or "") <= started]
        found = compare(records, inventory)
        if any(f["drift"] == VANISHED for f in found):
            # A release deletes the VIM resource, then the record: a record gone meanwhile did not vanish.
            still = {r["_id"] for r in await self.adapter.records.find({"vimId": vim_id})}
            found = [f for f in found if f["drift"] != VANISHED or f["resourceId"] in still]
        now = utcnow()

        def apply(report: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            items, events = merge(report.get("items") or [], found, now)
            resolved = [i for e, i in events if e == RESOLVED]
            new = {**report, "items": items, "resolved": (resolved + list(report.get("resolved") or []))[: self.KEEP_RESOLVED],
                   "lastReconciledAt": now, "lastError": None, "lastErrorAt": None}
            facts = [message("resource.drifted", drift_fact(vim_id, e, i, now), source=self.source) for e, i in events]
            return new, facts

        report = await self._write(vim_id, apply)
        return _view(report)

    async def _write(self, vim_id: str, change: Any) -> dict[str, Any]:
        """Read-change-write the report under the version check; the facts go in the same write."""
        for attempt in range(50):
            doc = await self.reports.find_one({"_id": vim_id})
            base = doc if doc is not None else empty_report(vim_id)
            out = change(base)
            new, facts = out if isinstance(out, tuple) else (out, [])
            try:
                if doc is None:
                    return await self.reports.insert(new, outbox=facts)
                return await self.reports.replace(new, outbox=facts)
            except (AlreadyExists, ConcurrencyError):
                await asyncio.sleep(random.random() * 0.005 * min(attempt + 1, 10))
        raise StoreError(f"drift report of VIM {vim_id} too contended")

    # -- queries ----------------------------------------------------------------------------
    async def report(self, vim_id: str) -> dict[str, Any]:
        doc = await self.reports.find_one({"_id": vim_id})
        if doc is not None:
            return _view(doc)
        if await self.adapter.vims.find_one({"_id": vim_id}) is None:
            raise VimUnknown(f"VIM {vim_id} is not known")
        return _view(empty_report(vim_id))

    async def open_items(self, vim_id: str | None = None, drift: str | None = None) -> list[dict[str, Any]]:
        docs = await self.reports.find({"_id": vim_id} if vim_id else None)
        return [{"vimId": d["vimId"], **i} for d in docs for i in d.get("items") or []
                if drift is None or i["drift"] == drift]


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    view = public(doc) or {}
    view.pop("id", None)
    return view


def install(ctx: Any, adapter: Any) -> DriftReconciler:
    """Wire the reconciler into a VIM adapter unit: its API, and the periodic loop started and
    stopped with the unit's HTTP app (after the bus and the store are up, before they close)."""
    from vim_adapter import api

    reconciler = DriftReconciler(ctx.store, adapter, ctx.settings.drift_interval_seconds, source=ctx.name)
    api.add_drift_routes(ctx.app, reconciler)
    ctx.app.on_startup.append(reconciler.start)
    ctx.app.on_cleanup.append(reconciler.stop)
    return reconciler
