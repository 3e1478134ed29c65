"""Shared state of the fake cloud: resources, clock, fault injection, quotas.

Time-driven transitions (BUILD -> ACTIVE, creating -> available, async deletes)
are kept as timers run lazily by ``tick()`` on every request and every read of
the resource dicts, so nothing runs in the background and tests stay
deterministic.
"""

from __future__ import annotations

import ast
import datetime as _dt
import hashlib
import json
import re
import time
import uuid
from http import HTTPStatus
from typing import Any, Callable

from aiohttp import web

PROJECT_ID = "5f0e8a1d4c3b4a2f9e7d6c5b4a392817"
PROJECT_NAME = "magi-project"
USER_ID = "9a8b7c6d5e4f4a3b8c2d1e0f9a8b7c6d"
USERNAME = "magi"
PASSWORD = "secret"
REGION = "RegionOne"
DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
APP_CRED_ID = "3c2b1a0f9e8d4c7b6a5f4e3d2c1b0a99"
APP_CRED_NAME = "magi-app-cred"
APP_CRED_SECRET = "app-secret"

KINDS = (
    "servers", "networks", "subnets", "ports", "volumes", "images", "flavors",
    "server_groups", "security_groups", "security_group_rules", "keypairs", "floatingips",
)


# the microversion a request asked for, as a (major, minor) tuple
MV = web.RequestKey("mv", tuple)


def new_id() -> str:
    return str(uuid.uuid4())


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def host_id(host: str) -> str:
    # Nova's hostId: sha224 of project id + host name, hiding the real host.
    return hashlib.sha224((PROJECT_ID + host).encode()).hexdigest()


def jresp(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    return web.json_response(body, status=status, headers=headers)


# Nova and Cinder wrap errors in a key named after the fault class.
_NOVA_FAULT = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
               404: "itemNotFound", 409: "conflictingRequest", 413: "overLimit",
               500: "computeFault", 503: "serviceUnavailable"}
_NEUTRON_TYPE = {400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden",
                 404: "HTTPNotFound", 409: "HTTPConflict", 500: "HTTPInternalServerError",
                 503: "HTTPServiceUnavailable"}


def error_body(service: str, status: int, message: str, kind: str | None = None) -> Any:
    if service in ("compute", "volume"):
        return {kind or _NOVA_FAULT.get(status, "computeFault"): {"message": message, "code": status}}
    if service == "network":
        return {"NeutronError": {"type": kind or _NEUTRON_TYPE.get(status, "HTTPError"),
                                 "message": message, "detail": ""}}
    if service == "identity":
        return {"error": {"code": status, "title": kind or HTTPStatus(status).phrase,
                          "message": message}}
    return None  # glance answers plain text


def error(service: str, status: int, message: str, kind: str | None = None) -> web.Response:
    body = error_body(service, status, message, kind)
    if body is None:
        return web.Response(status=status, text=f"{status}: {message}")
    return web.json_response(body, status=status)


class ApiError(Exception):
    """Raised by handlers; turned into the service's error shape by the middleware."""

    def __init__(self, status: int, message: str, kind: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def parse_bool(v: str) -> bool | str:
    low = v.lower()
    return {"true": True, "false": False}.get(low, v)


def loose_dict(raw: str) -> dict:
    """Cinder parses dict query parameters with literal_eval; accept JSON as well."""
    for parse in (json.loads, ast.literal_eval):
        try:
            val = parse(raw)
            if isinstance(val, dict):
                return val
        except (ValueError, SyntaxError):
            pass
    raise ApiError(400, f"Invalid filter: {raw}")


def match_tags(tags: list[str], query) -> bool:
    """Neutron/Nova tag filters: tags (all-of), tags-any, not-tags, not-tags-any."""
    have = set(tags or [])

    def values(key):
        out = []
        for v in query.getall(key, []):
            out += [t for t in v.split(",") if t]
        return out

    if (want := values("tags")) and not set(want) <= have:
        return False
    if (anyw := values("tags-any")) and not set(anyw) & have:
        return False
    if (nw := values("not-tags")) and set(nw) <= have:
        return False
    if (nany := values("not-tags-any")) and set(nany) & have:
        return False
    return True


class State:
    def __init__(self, build_seconds: float = 0.05):
        self.build_seconds = build_seconds
        self.res: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        self.counted: dict[str, set[str]] = {k: set() for k in KINDS}
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.injections: list[dict] = []
        self.build_failures: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []  # requests no route matched (debug aid)
        self.tokens: dict[str, dict] = {}
        self.app_credentials = {APP_CRED_ID: {"id": APP_CRED_ID, "name": APP_CRED_NAME,
                                              "secret": APP_CRED_SECRET, "user_id": USER_ID,
                                              "project_id": PROJECT_ID}}
        self.quota = {"cores": 20, "ram": 51200, "instances": 10, "volumes": 10,
                      "gigabytes": 1000, "server_groups": 10, "server_group_members": 10,
                      "key_pairs": 100, "networks": 100, "subnets": 100, "ports": 500,
                      "security_groups": 10, "security_group_rules": 100, "floatingips": 50}
        self.mac_seq = 0
        self.base_url = ""

    # --- resources -------------------------------------------------------
    def add(self, kind: str, obj: dict, counted: bool = True, key: str = "id") -> dict:
        self.res[kind][obj[key]] = obj
        if counted:
            self.counted[kind].add(obj[key])
        return obj

    def get(self, kind: str, rid: str, service: str = "compute", what: str | None = None) -> dict:
        obj = self.res[kind].get(rid)
        if obj is None:
            what = what or kind.rstrip("s").replace("_", " ").capitalize()
            raise ApiError(404, f"{what} {rid} could not be found.")
        return obj

    def remove(self, kind: str, rid: str) -> dict | None:
        self.counted[kind].discard(rid)
        return self.res[kind].pop(rid, None)

    def count(self) -> dict[str, int]:
        self.tick()
        return {k: len(self.counted[k] & set(self.res[k])) for k in KINDS}

    def next_mac(self) -> str:
        self.mac_seq += 1
        n = self.mac_seq
        return "fa:16:3e:%02x:%02x:%02x" % ((n >> 16) & 255, (n >> 8) & 255, n & 255)

    # --- clock -----------------------------------------------------------
    def later(self, fn: Callable[[], None], delay: float | None = None) -> None:
        self._seq += 1
        due = time.monotonic() + (self.build_seconds if delay is None else delay)
        self.timers.append((due, self._seq, fn))

    def tick(self) -> None:
        now = time.monotonic()
        while True:
            due = sorted(t for t in self.timers if t[0] <= now)
            if not due:
                return
            for t in due:
                self.timers.remove(t)
                t[2]()

    # --- fault injection -------------------------------------------------
    def take_injection(self, method: str, paths: tuple[str, ...]) -> dict | None:
        for inj in self.injections:
            if inj["method"] in (method, "*") and any(re.search(inj["path"], p) for p in paths):
                inj["times"] -= 1
                if inj["times"] <= 0:
                    self.injections.remove(inj)
                return inj
        return None

    # --- usage -----------------------------------------------------------
    def compute_usage(self) -> dict[str, int]:
        cores = ram = n = 0
        for s in self.res["servers"].values():
            fl = s["flavor"]
            cores += fl["vcpus"]
            ram += fl["ram"]
            n += 1
        return {"cores": cores, "ram": ram, "instances": n}

    def volume_usage(self) -> dict[str, int]:
        vols = list(self.res["volumes"].values())
        return {"volumes": len(vols), "gigabytes": sum(v["size"] for v in vols)}
