"""Subscriptions and notification delivery shared by every MAGI API (SOL013 §5.9, §8.3.4).

One `SubscriptionManager` per API: it serves `{prefix}/subscriptions[/{id}]`, turns an emitted
event into one stored delivery per matching subscription, and POSTs them to the callbacks with
retries. Deliveries are documents, so a restart resumes them; a delivery is claimed under the
version check before it is sent, so several replicas can run the loop (at-least-once).
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from magi.aio import wait_event
from magi.api.app import json_response, read_model
from magi.api.problem import Problem, not_found
from magi.api.query import (
    QueryError,
    check_filter_attributes,
    check_known_params,
    link_header,
    matches,
    paginate,
    parse_filter,
)
from magi.notifications.callback import CallbackClient, CallbackError
from magi.notifications.schema import SubscriptionRequest
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore, NotFound, public

log = structlog.get_logger(__name__)

PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
MAX_BACKOFF = 300.0
PAGE_SIZE = 100
_IDS = uuid.UUID("6f1c2a52-3b8e-5d7a-9c41-0e5b7d2f8a63")  # namespace of the deterministic ids
_SELECTORS = ("all_fields", "fields", "exclude_fields", "exclude_default")


@dataclass(frozen=True)
class SubscriptionKind:
    """What differs between the APIs that share this machinery."""

    api_prefix: str  # "/vnflcm/v2"
    matches: Callable[[dict[str, Any] | None, dict[str, Any]], bool]  # (filter, notification) -> bool
    validate_filter: Callable[[dict[str, Any]], None]  # raises Problem(400)
    filter_attributes: set[str] | frozenset[str]  # for ?filter= on GET /subscriptions
    version: str | None = None  # Version header sent to the callback
    verbosity_types: frozenset[str] = frozenset()  # notification types a SHORT subscription shortens
    short_omit: frozenset[str] = frozenset()  # the large attributes SHORT leaves out


# ---------------------------------------------------------------- the manager


class SubscriptionManager:
    def __init__(self, store: MongoStore, kind: SubscriptionKind, *, base_url: Callable[[], str] | str,
                 retry_max: int = 8, backoff: float = 1.0, http: aiohttp.ClientSession | None = None,
                 callback_timeout: float = 5.0, poll_interval: float = 5.0, batch: int = 100,
                 retention: float = 7 * 86400.0, tls_context: ssl.SSLContext | None = None):
        self.kind = kind
        self.prefix = kind.api_prefix.rstrip("/")
        self._base_url = base_url
        self.retry_max = retry_max
        self.backoff = backoff
        self.poll_interval = poll_interval  # also picks up what other replicas emitted
        self.batch = batch
        self.retention = retention  # how long finished deliveries keep deduplicating re-emits
        self.lease = callback_timeout * 3 + 5  # a claimed delivery is retried after this if we died
        self.client = CallbackClient(http, timeout=callback_timeout, version=kind.version, tls_context=tls_context)
        self.subs = store.repository("subscriptions", [("_dedup", {"unique": True}), "_api"])
        self.deliveries = store.repository("notification_deliveries", [
            [("_api", 1), ("state", 1), ("nextAttemptAt", 1)], "subscriptionId",
            ("expireAt", {"expireAfterSeconds": 0}),
        ])
        self._indexed = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- helpers --------------------------------------------------------------------------
    def base(self) -> str:
        value = self._base_url() if callable(self._base_url) else self._base_url
        return value.rstrip("/")

    def href(self, subscription_id: str) -> str:
        return f"{self.base()}{self.prefix}/subscriptions/{subscription_id}"

    async def _ready(self) -> None:
        if not self._indexed:
            await self.subs.ensure_indexes()
            await self.deliveries.ensure_indexes()
            self._indexed = True

    def render(self, doc: dict[str, Any]) -> dict[str, Any]:
        body = public(doc) or {}  # drops the private `_auth`: credentials never leave
        body["_links"] = {"self": {"href": self.href(doc["id"])}}
        return body

    async def _find(self, subscription_id: str) -> dict[str, Any]:
        doc = await self.subs.find_one({"_id": subscription_id, "_api": self.prefix})
        if doc is None:
            raise not_found("subscription", subscription_id)
        return doc

    # -- HTTP -----------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(f"{self.prefix}/subscriptions", self._create)
        app.router.add_get(f"{self.prefix}/subscriptions", self._list)
        app.router.add_get(f"{self.prefix}/subscriptions/{{subscriptionId}}", self._get)
        app.router.add_delete(f"{self.prefix}/subscriptions/{{subscriptionId}}", self._delete)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        await self._ready()
        req: SubscriptionRequest = await read_model(request, SubscriptionRequest)
        if req.verbosity is not None and not self.kind.verbosity_types:
            raise Problem(400, "invalid request body: verbosity: not an attribute of this API's subscriptions")
        if req.filter is not None:
            self.kind.validate_filter(req.filter)
        auth = req.authentication.model_dump(exclude_none=True) if req.authentication else None
        tls_ok = self.client.can_tls() and req.callbackUri.lower().startswith("https:")
        if auth and set(auth["authType"]) == {"TLS_CERT"} and not tls_ok:
            raise Problem(422, "authType TLS_CERT needs an https callbackUri and a client certificate configured "
                               "on this producer; use BASIC or OAUTH2_CLIENT_CREDENTIALS")
        canonical = json.dumps([self.prefix, req.callbackUri, req.filter or {}], sort_keys=True, separators=(",", ":"))
        dedup = hashlib.sha256(canonical.encode()).hexdigest()
        existing = await self.subs.find_one({"_dedup": dedup})
        if existing is not None:
            return self._see_other(existing["id"])
        await self._test_callback(req.callbackUri, auth)
        doc: dict[str, Any] = {"id": str(uuid.uuid4())}
        if req.filter is not None:
            doc["filter"] = req.filter
        doc["callbackUri"] = req.callbackUri
        if self.kind.verbosity_types:
            doc["verbosity"] = req.verbosity or "FULL"
        doc.update({"_api": self.prefix, "_dedup": dedup, "_auth": auth, "_createdAt": time.time()})
        try:
            record = await self.subs.insert(doc)
        except AlreadyExists:  # a concurrent twin won the unique index
            twin = await self.subs.find_one({"_dedup": dedup})
            if twin is None:
                raise
            return self._see_other(twin["id"])
        log.info("subscription.created", api=self.prefix, subscription_id=doc["id"], callback=req.callbackUri)
        return json_response(self.render(record), 201, {"Location": self.href(doc["id"])})

    def _see_other(self, subscription_id: str) -> web.Response:
        return web.Response(status=303, headers={"Location": self.href(subscription_id)})

    async def _test_callback(self, uri: str, auth: dict[str, Any] | None) -> None:
        try:
            status = await self.client.call("GET", uri, auth)
        except CallbackError as exc:
            raise Problem(422, f"the callbackUri test failed: {exc}") from None
        if status != 204:
            raise Problem(422, f"the callbackUri test failed: GET {uri} answered {status}, expected 204")

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            check_known_params(query)
            selectors = [p for p in _SELECTORS if p in query]
            if selectors:  # SOL003/SOL005 define no attribute selectors on subscriptions
                raise QueryError(f"Unsupported query parameter(s): {', '.join(selectors)}")
            exprs = parse_filter(query["filter"]) if "filter" in query else []
            check_filter_attributes(exprs, self.kind.filter_attributes)
            items = [self.render(d) for d in await self.subs.find({"_api": self.prefix})]
            page, marker = paginate([i for i in items if matches(i, exprs)], page_size=PAGE_SIZE,
                                    marker=query.get("nextpage_opaque_marker"))
        except QueryError as exc:
            raise Problem(400, str(exc)) from None
        headers = {"Link": link_header(self.base() + request.path, query, marker)} if marker else None
        return json_response(page, 200, headers)

    async def _get(self, request: web.Request) -> web.Response:
        return json_response(self.render(await self._find(request.match_info["subscriptionId"])))

    async def _delete(self, request: web.Request) -> web.Response:
        doc = await self._find(request.match_info["subscriptionId"])
        try:
            await self.subs.delete(doc)
        except ConcurrencyError:  # deleted concurrently
            raise not_found("subscription", doc["id"]) from None
        await self._cancel_pending(doc["id"])
        log.info("subscription.deleted", api=self.prefix, subscription_id=doc["id"])
        return web.Response(status=204)

    async def _cancel_pending(self, subscription_id: str) -> None:
        for rec in await self.deliveries.find({"subscriptionId": subscription_id, "state": PENDING}):
            # In flight or changed: the delivery itself finds the subscription gone.
            with contextlib.suppress(ConcurrencyError, NotFound):
                await self.deliveries.replace(self._finished(rec, FAILED, "subscription deleted"))

    # -- emitting -------------------------------------------------------------------------
    async def emit(self, notification: dict[str, Any], *, key: str, at: float | None = None) -> int:
        """Queue `notification` for every matching subscription; returns how many were new.

        `key` names the event: emitting it again (a redelivered message) queues nothing more.
        The notification `id` is the same for every subscription (SOL003/SOL005 ask for that);
        the delivery documents are keyed by event and subscription. `at` (epoch seconds) is when
        the event happened: a subscriber gets its notifications in that order even when the
        events were emitted in another (facts consumed concurrently).
        """
        await self._ready()
        body = {k: v for k, v in notification.items() if k != "_match"}
        body["id"] = str(uuid.uuid5(_IDS, key))
        now = time.time() if at is None else min(at, time.time())
        queued = 0
        for sub in await self.subs.find({"_api": self.prefix}):
            try:
                if not self.kind.matches(sub.get("filter"), notification):
                    continue
            except Exception:  # one odd filter must not stop the others
                log.exception("notification.filter_error", api=self.prefix, subscription_id=sub["id"])
                continue
            delivery = {
                "id": str(uuid.uuid5(_IDS, f"{key}\n{sub['id']}")), "_api": self.prefix,
                "subscriptionId": sub["id"], "callbackUri": sub["callbackUri"],
                "body": self._body_for(sub, body), "attempts": 0, "nextAttemptAt": now, "createdAt": now,
                "state": PENDING, "lastError": None,
            }
            try:
                await self.deliveries.insert(delivery)
                queued += 1
            except AlreadyExists:
                pass
        if queued:
            self._wake.set()
        return queued

    def _body_for(self, sub: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(body)
        out["subscriptionId"] = sub["id"]
        links = dict(out.get("_links") or {})
        links["subscription"] = {"href": self.href(sub["id"])}
        out["_links"] = links
        if out.get("notificationType") in self.kind.verbosity_types:
            verbosity = sub.get("verbosity") or "FULL"
            out["verbosity"] = verbosity
            if verbosity == "SHORT":
                for name in self.kind.short_omit:
                    out.pop(name, None)
        return out

    # -- delivering -----------------------------------------------------------------------
    async def start(self) -> None:
        await self._ready()
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"notifications{self.prefix}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:  # let an attempt in flight finish; a cut one is retried after its lease
                await asyncio.wait_for(asyncio.shield(task), self.client.timeout + 1)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.client.close()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # an emit during the pass sets it again: no lost wake-up
            try:
                await self.deliver_due()
                delay = await self._next_delay()
            except Exception:  # store away: try again later
                log.exception("notification.loop_error", api=self.prefix)
                delay = self.poll_interval
            if self._stopping:
                break
            await wait_event(self._wake, delay)

    async def _next_delay(self) -> float:
        nxt = await self.deliveries.find({"_api": self.prefix, "state": PENDING}, sort="nextAttemptAt", limit=1)
        if not nxt:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, float(nxt[0]["nextAttemptAt"]) - time.time()))

    async def deliver_due(self) -> int:
        """One pass over the due deliveries; returns how many were delivered."""
        await self._ready()
        due = await self.deliveries.find(
            {"_api": self.prefix, "state": PENDING, "nextAttemptAt": {"$lte": time.time()}},
            sort="nextAttemptAt", limit=self.batch,
        )
        groups: dict[str, list[dict[str, Any]]] = {}
        for rec in sorted(due, key=lambda r: (r["nextAttemptAt"], r.get("createdAt", 0))):
            groups.setdefault(rec["subscriptionId"], []).append(rec)
        # Subscribers in parallel; one subscriber's notifications in order.
        counts = await asyncio.gather(*(self._deliver_group(sid, recs) for sid, recs in groups.items()))
        return sum(counts)

    async def _deliver_group(self, subscription_id: str, records: list[dict[str, Any]]) -> int:
        sub = await self.subs.find_one({"_id": subscription_id})
        delivered = 0
        for rec in records:
            delivered += await self._deliver_one(sub, rec)
        return delivered

    async def _deliver_one(self, sub: dict[str, Any] | None, rec: dict[str, Any]) -> int:
        if sub is None:
            with contextlib.suppress(ConcurrencyError, NotFound):
                await self.deliveries.replace(self._finished(rec, FAILED, "subscription deleted"))
            return 0
        claim = dict(rec, attempts=int(rec.get("attempts", 0)) + 1, nextAttemptAt=time.time() + self.lease)
        try:
            claim = await self.deliveries.replace(claim)
        except (ConcurrencyError, NotFound):  # another replica has it
            return 0
        try:
            status = await self.client.call("POST", rec["callbackUri"], sub.get("_auth"), rec["body"])
            error = None if 200 <= status < 300 else f"callback answered {status}"
        except CallbackError as exc:
            error = str(exc)
        attempts = claim["attempts"]
        if error is None:
            done = self._finished(claim, DELIVERED, None)
            done["deliveredAt"] = time.time()
        elif attempts >= self.retry_max:
            done = self._finished(claim, FAILED, error)
            log.warning("notification.failed", api=self.prefix, delivery_id=rec["id"], attempts=attempts, error=error)
        else:
            done = dict(claim, lastError=error,
                        nextAttemptAt=time.time() + min(MAX_BACKOFF, self.backoff * 2 ** (attempts - 1)))
        with contextlib.suppress(ConcurrencyError, NotFound):  # cancelled meanwhile
            await self.deliveries.replace(done)
        return 1 if error is None else 0

    def _finished(self, rec: dict[str, Any], state: str, error: str | None) -> dict[str, Any]:
        expire = datetime.now(timezone.utc) + timedelta(seconds=self.retention)
        return dict(rec, state=state, lastError=error, expireAt=expire)
