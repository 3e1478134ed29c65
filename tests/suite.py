"""Run the four MAGI services in the test process (in-process bus or RabbitMQ) and talk to them
over real HTTP, the way a lab's OSS would."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import aiohttp

from magi.bus.memory import InMemoryBroker
from magi.config import MagiSettings
from magi.runtime import SERVICES, ServiceUnit, build_unit, make_context
from tests.conftest import ports
from tests.unit.pkgfactory import make_nsd_yaml, make_vnf_csar

H = {"Version": "2.0.0", "Accept": "application/json"}


class Suite:
    def __init__(self, settings: MagiSettings, units: list[ServiceUnit], broker: InMemoryBroker | None):
        self.settings, self.units, self.broker = settings, units, broker
        # where the tests reach the services: their ports here, whatever public URLs they announce
        local = f"http://{settings.public_host}"
        self.nfvo = f"{local}:{settings.port('nfvo')}"
        self.vnfm = f"{local}:{settings.port('vnfm')}"
        self.vim = f"{local}:{settings.port('vim_adapter')}"
        self.monitoring = f"{local}:{settings.port('monitoring')}"
        self.http: aiohttp.ClientSession | None = None

    def unit(self, name: str) -> ServiceUnit:
        return next(u for u in self.units if u.name == name)

    async def req(self, method: str, url: str, *, json: Any = None, data: bytes | None = None,
                  headers: dict[str, str] | None = None, expect: int | None = None) -> tuple[int, Any, Any]:
        hdrs = {**H, **(headers or {})}
        async with self.http.request(method, url, json=json, data=data, headers=hdrs) as r:
            raw = await r.read()
            body = None
            if raw and (r.content_type or "").endswith("json"):
                import json as _j
                body = _j.loads(raw)
            if expect is not None:
                assert r.status == expect, f"{method} {url} → {r.status} {raw[:500]!r}"
            return r.status, body, r.headers

    async def wait_op(self, href: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            _, op, _ = await self.req("GET", href, expect=200)
            if op["operationState"] in states:
                return op
            assert time.monotonic() < deadline, f"{href} stuck in {op['operationState']}"
            await asyncio.sleep(0.05)

    async def onboard(self, vnfd_id: str, nsd_id: str, **csar: Any) -> tuple[str, str]:
        _, pkg, _ = await self.req("POST", f"{self.nfvo}/vnfpkgm/v2/vnf_packages", json={}, expect=201)
        await self.req("PUT", f"{self.nfvo}/vnfpkgm/v2/vnf_packages/{pkg['id']}/package_content", data=make_vnf_csar(vnfd_id, **csar),
                       headers={"Content-Type": "application/zip"}, expect=202)
        deadline = time.monotonic() + 30
        while True:
            _, p, _ = await self.req("GET", f"{self.nfvo}/vnfpkgm/v2/vnf_packages/{pkg['id']}", expect=200)
            if p["onboardingState"] in ("ONBOARDED", "ERROR"):
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert p["onboardingState"] == "ONBOARDED", p
        _, nsd, _ = await self.req("POST", f"{self.nfvo}/nsd/v2/ns_descriptors", json={}, expect=201)
        await self.req("PUT", f"{self.nfvo}/nsd/v2/ns_descriptors/{nsd['id']}/nsd_content", data=make_nsd_yaml(nsd_id, vnfd_id),
                       headers={"Content-Type": "application/yaml"}, expect=204)
        return pkg["id"], nsd["id"]


@asynccontextmanager
async def running_suite(mongo_uri: str, db_prefix: str, amqp_url: str | None = None, *, vnfm_under_external_nfvo: bool = False,
                        **overrides: Any) -> AsyncIterator[Suite]:
    """The four services in this process. With `vnfm_under_external_nfvo`, the VNFM reaches the
    NFVO only through its SOL003 HTTP APIs, as it would under a vendor's NFVO."""
    import nfvo.bootstrap as nb

    settings = MagiSettings(mongodb_uri=mongo_uri, amqp_url=amqp_url, db_prefix=db_prefix, host="127.0.0.1",
                            notification_backoff=0.05, **ports(), **overrides)
    if vnfm_under_external_nfvo:
        settings.external_nfvo_url = settings.url("nfvo")
    broker = None if amqp_url else InMemoryBroker()
    units = []
    for name in SERVICES:
        if name == "nfvo":
            units.append(nb.build(make_context("nfvo", settings, list(nb.APIS), broker), register_default_vim=True))
        else:
            units.append(build_unit(name, settings, broker))
    suite = Suite(settings, units, broker)
    started = []
    try:
        for u in units:
            await u.start()
            started.append(u)
        async with aiohttp.ClientSession() as http:
            suite.http = http
            yield suite
    finally:
        for u in reversed(started):
            await u.stop()
