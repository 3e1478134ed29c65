"""Bootstrap shared by every service: wires settings → store, bus, outbox relay, HTTP app.

A service package exposes `build(ctx: ServiceContext) -> ServiceUnit`; `magi up` builds all
four in one process, `magi serve <service>` one of them.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from magi.api.app import ApiSettings, EtsiApi, create_app
from magi.bus.amqp import AmqpBus
from magi.bus.base import MessageBus
from magi.bus.memory import InMemoryBroker, InMemoryBus
from magi.config import MagiSettings
from magi.store.mongo import MongoStore, ProcessedMessages
from magi.store.outbox import OutboxRelay

log = structlog.get_logger(__name__)

Hook = Callable[[], Awaitable[None]]


@dataclass
class ServiceContext:
    """What a service's bootstrap receives: its settings, store, bus and an HTTP app to fill."""

    name: str
    settings: MagiSettings
    store: MongoStore
    bus: MessageBus
    app: web.Application
    relay: OutboxRelay

    @property
    def public_url(self) -> str:
        return self.settings.url(self.name)


@dataclass
class ServiceUnit:
    ctx: ServiceContext
    on_start: list[Hook] = field(default_factory=list)  # after bus and store are up
    on_stop: list[Hook] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def name(self) -> str:
        return self.ctx.name

    async def start(self, port: int | None = None) -> None:
        ctx = self.ctx
        await ctx.store.ensure_indexes()
        await ctx.bus.start()
        await ctx.relay.start()
        for hook in self.on_start:
            await hook()
        self.runner = web.AppRunner(ctx.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, ctx.settings.host, port if port is not None else ctx.settings.port(ctx.name))
        await site.start()
        self.port = self.runner.addresses[0][1]
        log.info("service.started", service=ctx.name, url=self.url)

    @property
    def url(self) -> str:
        """Where this unit listens (the bound port, also when started on port 0)."""
        return f"http://{self.ctx.settings.public_host}:{self.port}"

    async def stop(self, step_timeout: float = 10.0) -> None:
        """Stop in reverse order of start; a step that does not finish in time is logged and
        abandoned, so one stuck component cannot keep the service from stopping."""
        steps: list[tuple[str, Hook]] = []
        if self.runner is not None:
            steps.append(("http", self.runner.cleanup))
        steps += [(getattr(h, "__qualname__", "hook"), h) for h in reversed(self.on_stop)]
        steps += [("outbox", self.ctx.relay.stop), ("bus", self.ctx.bus.close), ("store", self.ctx.store.close)]
        for name, step in steps:
            try:
                await asyncio.wait_for(step(), step_timeout)
            except asyncio.TimeoutError:
                log.warning("service.stop_step_timed_out", service=self.ctx.name, step=name)
            except Exception as exc:
                log.warning("service.stop_step_failed", service=self.ctx.name, step=name, error=repr(exc))


def make_context(name: str, settings: MagiSettings, apis: list[EtsiApi], broker: InMemoryBroker | None = None) -> ServiceContext:
    if not settings.mongodb_uri:
        raise ValueError("MAGI_MONGODB_URI is not set")
    store = MongoStore(settings.mongodb_uri, f"{settings.db_prefix}_{name}")
    dedupe = ProcessedMessages(store)
    bus: MessageBus
    if settings.amqp_url:
        bus = AmqpBus(name, settings.amqp_url, prefetch=settings.prefetch, delivery_limit=settings.delivery_limit,
                      dedupe=dedupe, default_timeout=settings.request_timeout)
    else:
        if broker is None:
            raise ValueError("the in-process bus needs a shared broker: run the services with `magi up`")
        bus = InMemoryBus(name, broker, prefetch=settings.prefetch, dedupe=dedupe, default_timeout=settings.request_timeout)
    api_settings = ApiSettings(service=name, apis=apis, auth_tokens=settings.tokens(), strict_version=settings.strict_version,
                               ready_checks={"store": store.ping, "bus": bus.healthy})
    app = create_app(api_settings)
    relay = OutboxRelay(store, bus)
    return ServiceContext(name, settings, store, bus, app, relay)


SERVICES = ("nfvo", "vnfm", "vim_adapter", "monitoring")


def build_unit(name: str, settings: MagiSettings, broker: InMemoryBroker | None = None) -> ServiceUnit:
    import importlib

    module = importlib.import_module(f"{name}.bootstrap")
    ctx = make_context(name, settings, list(module.APIS), broker)
    return module.build(ctx)


async def run_forever(units: list[ServiceUnit]) -> None:
    for u in units:
        await u.start()
    try:
        await asyncio.Event().wait()
    finally:
        for u in reversed(units):
            await u.stop()
