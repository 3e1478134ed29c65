"""Subscriptions + notification delivery (magi.notifications) against nx-27017 and a real callback server."""
from __future__ import annotations

import asyncio
import base64
import inspect
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import magi.notifications.subscriptions as subscriptions_module
from magi.api.app import ApiSettings, EtsiApi, create_app
from magi.api.problem import Problem
from magi.notifications import DELIVERED, FAILED, PENDING, SubscriptionManager
from magi.notifications.filters import nsd_kind, nslcm_kind, vnflcm_kind
from magi.store.embedded import EmbeddedMongo, free_port
from magi.store.mongo import MongoStore

BASE = "http://vnfm.example"
PREFIX = "/vnflcm/v2/subscriptions"
NOW = "2026-11-26T10:00:00Z"


@pytest.fixture(scope="module")
def _mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("MAGI_MONGODB_URI"):
        yield os.environ["MAGI_MONGODB_URI"]
        return
    mongo = EmbeddedMongo(tmp_path_factory.mktemp("nx"))
    uri = mongo.start()
    try:
        yield uri
    finally:
        mongo.stop()


@dataclass
class Callback:
    """The subscriber: answers GET with `get_status`, POSTs with `post_statuses` then `post_default`."""

    get_status: int = 204
    post_default: int = 204
    post_statuses: list[int] = field(default_factory=list)
    gets: list[dict[str, str]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    server: TestServer | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cb", self._get)
        app.router.add_post("/cb", self._post)
        app.router.add_post("/token", self._token)
        return app

    def url(self, path: str = "/cb") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def _get(self, request: web.Request) -> web.Response:
        self.gets.append(dict(request.headers))
        return web.Response(status=self.get_status)

    async def _post(self, request: web.Request) -> web.Response:
        self.posts.append({"headers": dict(request.headers), "body": await request.json(), "query": request.query_string})
        return web.Response(status=self.post_statuses.pop(0) if self.post_statuses else self.post_default)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests.append({"headers": dict(request.headers), "form": dict(await request.post())})
        return web.json_response({"access_token": f"tok-{len(self.token_requests)}", "token_type": "bearer",
                                  "expires_in": 3600})


@dataclass
class Env:
    store: MongoStore
    client: TestClient
    callback: Callback
    manager: SubscriptionManager
    make_manager: Callable[..., SubscriptionManager]


@pytest.fixture
async def env(_mongo_uri: str) -> AsyncIterator[Env]:
    store = MongoStore(_mongo_uri, f"notif_{uuid.uuid4().hex[:12]}")
    callback = Callback()
    callback.server = TestServer(callback.app())
    await callback.server.start_server()
    managers: list[SubscriptionManager] = []

    def make_manager(**kw: Any) -> SubscriptionManager:
        kw.setdefault("backoff", 0.01)
        kw.setdefault("callback_timeout", 2.0)
        mgr = SubscriptionManager(store, kw.pop("kind", vnflcm_kind()), base_url=BASE, **kw)
        managers.append(mgr)
        return mgr

    manager = make_manager()
    app = create_app(ApiSettings(service="test", apis=[EtsiApi("vnflcm", "v2", ("2.0.0",))]))
    manager.add_routes(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Env(store, client, callback, manager, make_manager)
    finally:
        for mgr in managers:
            await mgr.stop()
        await client.close()
        await callback.server.close()
        await store.client.drop_database(store.name)
        await store.close()


async def subscribe(env: Env, body: dict[str, Any] | None = None, **extra: Any) -> tuple[int, dict[str, Any], Any]:
    payload = body if body is not None else {"callbackUri": env.callback.url(), **extra}
    resp = await env.client.post(PREFIX, json=payload, headers={"Version": "2.0.0"}, allow_redirects=False)
    data = await resp.json() if resp.status not in (204, 303) else None
    return resp.status, dict(resp.headers), data


def creation(instance_id: str = "vnf-1", **match: Any) -> dict[str, Any]:
    return {"notificationType": "VnfIdentifierCreationNotification", "timeStamp": NOW, "vnfInstanceId": instance_id,
            "_links": {"vnfInstance": {"href": f"{BASE}/vnflcm/v2/vnf_instances/{instance_id}"}}, "_match": match}


def op_occ(operation: str = "INSTANTIATE", state: str = "COMPLETED", **extra: Any) -> dict[str, Any]:
    return {"notificationType": "VnfLcmOperationOccurrenceNotification", "timeStamp": NOW, "vnfInstanceId": "vnf-1",
            "notificationStatus": "RESULT", "operation": operation, "operationState": state, "vnfLcmOpOccId": "op-1",
            "isAutomaticInvocation": False, "_links": {}, **extra}


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def delivery(env: Env, mgr: SubscriptionManager | None = None) -> dict[str, Any]:
    docs = await (mgr or env.manager).deliveries.find({})
    assert len(docs) == 1, docs
    return docs[0]


BASIC = {"authType": ["BASIC"], "paramsBasic": {"userName": "nfvo", "password": "s3cret"}}


# ---------------------------------------------------------------- the REST resource


async def test_create_returns_201_with_location_and_no_credentials(env: Env) -> None:
    flt = {"notificationTypes": ["VnfLcmOperationOccurrenceNotification"], "operationStates": ["COMPLETED"]}
    status, headers, body = await subscribe(env, filter=flt, authentication=BASIC)
    assert status == 201, body
    assert headers["Location"] == f"{BASE}{PREFIX}/{body['id']}"
    assert body == {"id": body["id"], "filter": flt, "callbackUri": env.callback.url(), "verbosity": "FULL",
                    "_links": {"self": {"href": headers["Location"]}}}
    assert headers["Version"] == "2.0.0"
    # The callback was tested with GET, authenticated as asked.
    assert len(env.callback.gets) == 1
    expected = "Basic " + base64.b64encode(b"nfvo:s3cret").decode()
    assert env.callback.gets[0]["Authorization"] == expected
    assert env.callback.gets[0]["Version"] == "2.0.0"
    got = await env.client.get(f"{PREFIX}/{body['id']}")
    assert got.status == 200 and await got.json() == body
    stored = await env.manager.subs.get(body["id"])
    assert stored["_auth"]["paramsBasic"]["password"] == "s3cret"  # kept, but only privately


@pytest.mark.parametrize("case", ["non_204", "unreachable"])
async def test_create_fails_422_when_the_callback_test_fails(env: Env, case: str) -> None:
    if case == "non_204":
        env.callback.get_status = 200
        uri = env.callback.url()
    else:
        uri = f"http://127.0.0.1:{free_port()}/cb"
    status, headers, body = await subscribe(env, {"callbackUri": uri})
    assert status == 422
    assert headers["Content-Type"].startswith("application/problem+json")
    assert body["status"] == 422 and uri in body["detail"]
    assert ("answered 200" in body["detail"]) == (case == "non_204")
    assert await env.manager.subs.find({}) == []


@pytest.mark.parametrize("payload", [
    {},
    {"callbackUri": "/relative/cb"},
    {"callbackUri": "ftp://host/cb"},
    {"callbackUri": 42},
    {"callbackUri": "CB", "filter": []},
    {"callbackUri": "CB", "authentication": {"authType": ["KERBEROS"]}},
    {"callbackUri": "CB", "authentication": {"authType": []}},
    {"callbackUri": "CB", "authentication": {"authType": ["BASIC"]}},
    {"callbackUri": "CB", "authentication": {"authType": ["OAUTH2_CLIENT_CREDENTIALS"], "paramsBasic": BASIC["paramsBasic"]}},
    {"callbackUri": "CB", "authentication": {"authType": ["OAUTH2_CLIENT_CREDENTIALS"], "paramsOauth2ClientCredentials":
                                             {"clientId": "a", "clientPassword": "b", "tokenEndpoint": "token"}}},
    {"callbackUri": "CB", "filter": {"notificationTypes": ["VnfPackageOnboardingNotification"]}},
    {"callbackUri": "CB", "filter": {"operationTypes": ["EXPLODE"]}},
    {"callbackUri": "CB", "filter": {"operationStates": ["DONE"]}},
    {"callbackUri": "CB", "filter": {"vnfInstanceSubscriptionFilter": {"vnfdId": ["x"]}}},
    {"callbackUri": "CB", "filter": {"notificationTypes": ["VnfIdentifierCreationNotification"], "operationTypes": ["HEAL"]}},
    {"callbackUri": "CB", "verbosity": "LOUD"},
    {"callbackUri": "CB", "unknown": 1},
])
async def test_create_rejects_invalid_bodies_with_400(env: Env, payload: dict[str, Any]) -> None:
    if payload.get("callbackUri") == "CB":
        payload = {**payload, "callbackUri": env.callback.url()}
    status, headers, body = await subscribe(env, payload)
    assert status == 400, body
    assert headers["Content-Type"].startswith("application/problem+json") and body["detail"]
    assert env.callback.gets == []  # rejected before the callback test


async def test_create_rejects_malformed_json(env: Env) -> None:
    resp = await env.client.post(PREFIX, data=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and resp.content_type == "application/problem+json"


async def test_duplicate_answers_303_with_the_existing_location(env: Env) -> None:
    flt = {"vnfInstanceSubscriptionFilter": {"vnfdIds": ["d1"]}}
    status, headers, body = await subscribe(env, filter=flt)
    assert status == 201
    again, again_headers, _ = await subscribe(env, filter=flt, authentication=BASIC)
    assert again == 303 and again_headers["Location"] == headers["Location"]
    other, _, _ = await subscribe(env, filter={"vnfInstanceSubscriptionFilter": {"vnfdIds": ["d2"]}})
    assert other == 201
    assert len(await env.manager.subs.find({})) == 2


async def test_list_with_filter_paging_and_query_errors(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    for i in range(3):
        flt = {"notificationTypes": ["VnfIdentifierCreationNotification"]} if i == 0 else None
        extra = {"filter": flt} if flt else {}
        status, _, body = await subscribe(env, {"callbackUri": env.callback.url(f"/cb?n={i}"), **extra})
        assert status == 201, body
        ids.append(body["id"])
    resp = await env.client.get(PREFIX)
    listed = await resp.json()
    assert resp.status == 200 and sorted(s["id"] for s in listed) == sorted(ids)
    assert all("authentication" not in s and "_auth" not in s for s in listed)

    resp = await env.client.get(PREFIX, params={"filter": f"(eq,callbackUri,{env.callback.url('/cb?n=1')})"})
    assert [s["id"] for s in await resp.json()] == [ids[1]]
    resp = await env.client.get(PREFIX, params={"filter": "(cont,filter/notificationTypes,Creation)"})
    assert [s["id"] for s in await resp.json()] == [ids[0]]

    monkeypatch.setattr(subscriptions_module, "PAGE_SIZE", 2)
    first = await env.client.get(PREFIX)
    assert len(await first.json()) == 2 and 'rel="next"' in first.headers["Link"]
    link = first.headers["Link"].split(">")[0].lstrip("<")
    assert link.startswith(f"{BASE}{PREFIX}?nextpage_opaque_marker=")
    second = await env.client.get(PREFIX + link[len(BASE + PREFIX):])
    page2 = await second.json()
    assert len(page2) == 1 and "Link" not in second.headers
    assert sorted(s["id"] for s in await first.json() + page2) == sorted(ids)

    for params in ({"unknown": "1"}, {"filter": "(eq,secret,1)"}, {"filter": "(eq,id"}, {"all_fields": ""},
                   {"nextpage_opaque_marker": "!!"}):
        bad = await env.client.get(PREFIX, params=params)
        assert bad.status == 400 and bad.content_type == "application/problem+json", params


async def test_get_delete_and_404(env: Env) -> None:
    missing = await env.client.get(f"{PREFIX}/{uuid.uuid4()}")
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    _, headers, body = await subscribe(env)
    url = f"{PREFIX}/{body['id']}"
    assert (await env.client.delete(url)).status == 204
    assert (await env.client.get(url)).status == 404
    gone = await env.client.delete(url)
    assert gone.status == 404 and (await gone.json())["status"] == 404


# ---------------------------------------------------------------- delivery


async def test_emit_is_delivered_with_ids_and_links(env: Env) -> None:
    _, _, sub = await subscribe(env)
    await env.manager.start()
    assert await env.manager.emit(creation(vnfdId="d1"), key="vnf-1/created") == 1
    await eventually(lambda: len(env.callback.posts) == 1)
    post = env.callback.posts[0]
    assert post["headers"]["Content-Type"] == "application/json" and post["headers"]["Version"] == "2.0.0"
    body = post["body"]
    assert "_match" not in body
    assert body["subscriptionId"] == sub["id"] and body["notificationType"] == "VnfIdentifierCreationNotification"
    assert body["_links"]["subscription"]["href"] == sub["_links"]["self"]["href"]
    assert body["_links"]["vnfInstance"]["href"].endswith("/vnf_instances/vnf-1")
    assert uuid.UUID(body["id"])
    await eventually(lambda: env.manager.deliveries.find({"state": DELIVERED}))
    doc = await delivery(env)
    assert doc["attempts"] == 1 and doc["lastError"] is None and doc["callbackUri"] == env.callback.url()


async def test_filter_mismatch_is_not_delivered(env: Env) -> None:
    await subscribe(env, filter={"vnfInstanceSubscriptionFilter": {"vnfdIds": ["d1"]},
                                 "notificationTypes": ["VnfLcmOperationOccurrenceNotification"],
                                 "operationTypes": ["INSTANTIATE"]})
    mgr = env.manager
    assert await mgr.emit(op_occ(_match={"vnfdId": "d2"}), key="a") == 0
    assert await mgr.emit(op_occ("TERMINATE", _match={"vnfdId": "d1"}), key="b") == 0
    assert await mgr.emit(creation(vnfdId="d1"), key="c") == 0
    assert await mgr.deliver_due() == 0 and env.callback.posts == []
    assert await mgr.emit(op_occ(_match={"vnfdId": "d1"}), key="d") == 1
    assert await mgr.deliver_due() == 1 and len(env.callback.posts) == 1


async def test_failing_callback_is_retried_until_delivered(env: Env) -> None:
    await subscribe(env)
    env.callback.post_statuses = [500, 503]
    await env.manager.start()
    await env.manager.emit(creation(), key="retry")
    await eventually(lambda: env.manager.deliveries.find({"state": DELIVERED}))
    assert len(env.callback.posts) == 3
    doc = await delivery(env)
    assert doc["attempts"] == 3 and doc["lastError"] is None


async def test_delivery_fails_after_retry_max(env: Env) -> None:
    mgr = env.make_manager(retry_max=2)
    await subscribe(env)
    env.callback.post_default = 500
    await mgr.emit(creation(), key="doomed")
    await mgr.start()
    await eventually(lambda: mgr.deliveries.find({"state": FAILED}))
    doc = await delivery(env, mgr)
    assert doc["attempts"] == 2 and "500" in doc["lastError"] and len(env.callback.posts) == 2


async def test_pending_delivery_survives_a_restart(env: Env) -> None:
    await subscribe(env)
    env.callback.post_default = 503
    first = env.make_manager(backoff=0.05)
    await first.start()
    await first.emit(creation(), key="survivor")
    await eventually(lambda: len(env.callback.posts) >= 1)
    await first.stop()
    doc = await delivery(env)
    assert doc["state"] == PENDING and doc["attempts"] >= 1
    env.callback.post_default = 204
    second = env.make_manager()  # a new process: nothing in memory
    await second.start()
    await eventually(lambda: second.deliveries.find({"state": DELIVERED}))
    assert env.callback.posts[-1]["body"]["id"] == env.callback.posts[0]["body"]["id"]


async def test_same_key_is_delivered_once(env: Env) -> None:
    await subscribe(env)
    assert await env.manager.emit(creation(), key="evt-1") == 1
    assert await env.manager.emit(creation(), key="evt-1") == 0  # a redelivered message
    assert await env.manager.deliver_due() == 1
    assert await env.manager.emit(creation(), key="evt-1") == 0  # also after delivery
    assert await env.manager.deliver_due() == 0
    assert len(env.callback.posts) == 1


async def test_one_notification_id_across_subscriptions(env: Env) -> None:
    await subscribe(env, {"callbackUri": env.callback.url("/cb?s=1")})
    await subscribe(env, {"callbackUri": env.callback.url("/cb?s=2")})
    assert await env.manager.emit(creation(), key="fan-out") == 2
    assert await env.manager.deliver_due() == 2
    bodies = [p["body"] for p in env.callback.posts]
    assert len({b["id"] for b in bodies}) == 1 and len({b["subscriptionId"] for b in bodies}) == 2


async def test_basic_auth_header_is_sent(env: Env) -> None:
    await subscribe(env, authentication=BASIC)
    await env.manager.emit(creation(), key="auth")
    assert await env.manager.deliver_due() == 1
    assert env.callback.posts[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"nfvo:s3cret").decode()


async def test_oauth2_token_is_fetched_and_cached(env: Env) -> None:
    params = {"clientId": "magi", "clientPassword": "pw", "tokenEndpoint": env.callback.url("/token")}
    status, _, body = await subscribe(env, authentication={"authType": ["OAUTH2_CLIENT_CREDENTIALS"],
                                                           "paramsOauth2ClientCredentials": params})
    assert status == 201 and "authentication" not in body
    assert env.callback.gets[0]["Authorization"] == "Bearer tok-1"
    await env.manager.emit(creation(), key="o1")
    await env.manager.emit(creation("vnf-2"), key="o2")
    assert await env.manager.deliver_due() == 2
    assert [p["headers"]["Authorization"] for p in env.callback.posts] == ["Bearer tok-1", "Bearer tok-1"]
    assert len(env.callback.token_requests) == 1
    req = env.callback.token_requests[0]
    assert req["form"] == {"grant_type": "client_credentials"}
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(b"magi:pw").decode()


async def test_deleting_the_subscription_stops_its_deliveries(env: Env) -> None:
    _, _, sub = await subscribe(env)
    env.callback.post_default = 503
    await env.manager.emit(creation(), key="x")
    assert await env.manager.deliver_due() == 0 and len(env.callback.posts) == 1
    assert (await env.client.delete(f"{PREFIX}/{sub['id']}")).status == 204
    await asyncio.sleep(0.05)
    assert await env.manager.deliver_due() == 0 and len(env.callback.posts) == 1
    doc = await delivery(env)
    assert doc["state"] == FAILED and doc["lastError"] == "subscription deleted"


async def test_short_verbosity_omits_change_details(env: Env) -> None:
    await subscribe(env, verbosity="SHORT")
    await env.manager.emit(op_occ(affectedVnfcs=[{"id": "c1"}], changedInfo={"vnfInstanceName": "n"}), key="s")
    assert await env.manager.deliver_due() == 1
    body = env.callback.posts[0]["body"]
    assert body["verbosity"] == "SHORT" and "affectedVnfcs" not in body and "changedInfo" not in body
    assert body["isAutomaticInvocation"] is False  # booleans survive the store


# ---------------------------------------------------------------- filters (pure)


def test_vnf_filter_products_versions_and_names() -> None:
    kind = vnflcm_kind()
    flt = {"vnfInstanceSubscriptionFilter": {"vnfProductsFromProviders": [{
        "vnfProvider": "ACME", "vnfProducts": [{"vnfProductName": "fw",
                                                "versions": [{"vnfSoftwareVersion": "1.0", "vnfdVersions": ["2"]}]}]}],
        "vnfInstanceNames": ["edge-fw"]}}
    kind.validate_filter(flt)
    facts = {"vnfProvider": "ACME", "vnfProductName": "fw", "vnfSoftwareVersion": "1.0", "vnfdVersion": "2",
             "vnfInstanceName": "edge-fw"}
    assert kind.matches(flt, creation(**facts))
    assert not kind.matches(flt, creation(**{**facts, "vnfdVersion": "3"}))
    assert not kind.matches(flt, creation(**{**facts, "vnfProvider": "Other"}))
    assert not kind.matches(flt, creation(**{**facts, "vnfInstanceName": "core-fw"}))
    assert kind.matches(None, creation()) and kind.matches({}, creation())
    assert kind.matches({"vnfInstanceSubscriptionFilter": {"vnfInstanceIds": ["vnf-1"]}}, creation())
    assert kind.matches({"operationStates": ["FAILED"]}, creation())  # op-occ attributes only constrain op occs
    assert not kind.matches({"operationStates": ["FAILED"]}, op_occ())


def test_ns_filter_matching_and_validation() -> None:
    kind = nslcm_kind()
    change = {"notificationType": "NsChangeNotification", "nsInstanceId": "ns-1", "nsComponentType": "VNF",
              "lcmOpNameImpactingNsComponent": "VNF_INSTANTIATE", "lcmOpOccStatusImpactingNsComponent": "COMPLETED",
              "_match": {"nsdId": "nsd-1", "nsInstanceName": "core", "vnfdIds": ["d1", "d2"]}}
    flt = {"nsInstanceSubscriptionFilter": {"vnfdIds": ["d2"]}, "notificationTypes": ["NsChangeNotification"],
           "nsComponentTypes": ["VNF"], "lcmOpOccStatusImpactingNsComponent": ["COMPLETED"]}
    kind.validate_filter(flt)
    assert kind.matches(flt, change)
    assert not kind.matches({**flt, "nsComponentTypes": ["PNF"]}, change)
    assert not kind.matches({"nsInstanceSubscriptionFilter": {"nsdIds": ["nsd-2"]}}, change)
    op = {"notificationType": "NsLcmOperationOccurrenceNotification", "nsInstanceId": "ns-1", "operation": "SCALE",
          "operationState": "PROCESSING"}
    legacy = {"notificationTypes": ["NsLcmOperationOccurenceNotification"], "operationTypes": ["SCALE"]}
    kind.validate_filter(legacy)  # the YAML's misspelling is accepted as an alias
    assert kind.matches(legacy, op) and not kind.matches(legacy, change)
    shortage = {"notificationType": "NsLcmCapacityShortageNotification", "status": "LCM_SHORTAGE_END",
                "affectedOpOccs": [{"affectedNsId": "ns-7"}], "_match": {"instances": [{"nsInstanceId": "ns-7"}]}}
    assert kind.matches({"affectedNsInstanceIds": ["ns-7"]}, shortage)
    assert kind.matches({"nsInstanceSubscriptionFilter": {"nsInstanceIds": ["ns-7"]}}, shortage)
    assert not kind.matches({"nsInstanceSubscriptionFilter": {"nsInstanceIds": ["ns-1"]}}, shortage)
    for bad in ({"notificationTypes": ["VnfLcmOperationOccurrenceNotification"]}, {"operationStates": ["STARTING"]},
                {"lcmOpOccStatusImpactingNsComponent": ["VNF_INSTANTIATE"]}, {"nsComponentTypes": "VNF"},
                {"notificationTypes": ["NsIdentifierCreationNotification"], "nsComponentTypes": ["VNF"]}):
        with pytest.raises(Problem) as err:
            kind.validate_filter(bad)
        assert err.value.status == 400
    assert "filter/nsInstanceSubscriptionFilter/nsdIds" in kind.filter_attributes


def test_nsdm_filter_matching_and_validation() -> None:
    kind = nsd_kind()
    onboarded = {"notificationType": "NsdOnBoardingNotification", "nsdInfoId": "info-1", "nsdId": "nsd-1",
                 "_match": {"nsdName": "core", "nsdVersion": "1.0", "nsdDesigner": "ACME", "vnfPkgIds": ["p1", "p2"],
                            "pnfdInfoIds": ["pi-1"], "pnfdId": ["pnfd-1"], "nsdOnboardingState": "ONBOARDED",
                            "nsdOperationalState": "ENABLED", "nsdUsageState": "NOT_IN_USE"}}
    pnfd = {"notificationType": "PnfdOnBoardingNotification", "pnfdInfoId": "pi-1", "pnfdId": "pnfd-1",
            "_match": {"pnfdProvider": "ACME", "pnfdInfoIds": ["pi-1"], "pnfdOnboardingState": "ONBOARDED",
                       "pnfdUsageState": "NOT_IN_USE"}}
    flt = {"notificationTypes": ["NsdOnBoardingNotification"], "nsdId": ["nsd-1"], "vnfPkgIds": ["p2", "p9"],
           "nsdDesigner": ["ACME"]}
    kind.validate_filter(flt)
    assert kind.matches(flt, onboarded)
    assert not kind.matches({**flt, "nsdId": ["nsd-2"]}, onboarded)
    assert not kind.matches({**flt, "vnfPkgIds": ["p9"]}, onboarded)
    assert not kind.matches({**flt, "notificationTypes": ["NsdDeletionNotification"]}, onboarded)
    assert kind.matches(None, onboarded) and kind.matches({}, pnfd)
    # attributes are facts of the subject: a PNFD notification has no nsdId, an NSD one no pnfdProvider
    assert not kind.matches({"nsdId": ["nsd-1"]}, pnfd)
    assert not kind.matches({"pnfdProvider": ["ACME"]}, onboarded) and kind.matches({"pnfdProvider": ["ACME"]}, pnfd)
    # NOTE 3: pnfdId / pnfdInfoIds select the PNFD and the NSDs referencing it
    for attr, value in (("pnfdId", "pnfd-1"), ("pnfdInfoIds", "pi-1")):
        assert kind.matches({attr: [value]}, onboarded) and kind.matches({attr: [value]}, pnfd)
        assert not kind.matches({attr: ["other"]}, onboarded) and not kind.matches({attr: ["other"]}, pnfd)
    # the YAML's and the bodies' other spellings of the onboarding types are aliases
    failure = {"notificationType": "NsdOnBoardingFailureNotification", "nsdInfoId": "info-2",
               "onboardingFailureDetails": {"status": 422, "detail": "x"}, "_match": {"nsdOnboardingState": "ERROR"}}
    legacy = {"notificationTypes": ["NsdOnboardingFailureNotification", "PnfdOnboardingNotification"]}
    kind.validate_filter(legacy)
    assert kind.matches(legacy, failure) and kind.matches(legacy, pnfd) and not kind.matches(legacy, onboarded)
    assert kind.matches({"nsdOnboardingState": ["ERROR"]}, failure)
    assert not kind.matches({"nsdOnboardingState": ["ONBOARDED"]}, failure)
    for bad in ({"notificationTypes": ["VnfPackageOnboardingNotification"]}, {"nsdUsageState": ["BUSY"]},
                {"pnfdOnboardingState": ["ONBOARDING"]}, {"nsdId": "nsd-1"}, {"vnfdId": ["x"]}):
        with pytest.raises(Problem) as err:
            kind.validate_filter(bad)
        assert err.value.status == 400
    assert {"filter/nsdId", "filter/pnfdInfoIds", "filter/notificationTypes"} <= kind.filter_attributes
    assert "verbosity" not in kind.filter_attributes and not kind.verbosity_types
