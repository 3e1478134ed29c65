"""The message bus port: what services need from messaging, whatever carries it.

Two adapters implement it: `AmqpBus` (RabbitMQ, production and multi-process tests) and
`InMemoryBus` (one process: `magi up` on embedded defaults and unit tests).
"""
from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from magi.bus.envelope import Envelope, ReferencePoint, RemoteError

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope], Awaitable[dict[str, Any] | None]]


class PermanentError(Exception):
    """A handler's answer that retrying cannot change (bad payload, wrong state).

    For a request it becomes a ProblemDetails reply; for a fact the message is dead-lettered."""

    def __init__(self, status: int, detail: str, title: str | None = None):
        self.status = status
        self.detail = detail
        self.title = title
        super().__init__(detail)

    def problem(self) -> dict[str, Any]:
        p: dict[str, Any] = {"status": self.status, "detail": self.detail}
        if self.title:
            p["title"] = self.title
        return p


@dataclass
class Binding:
    exchange: ReferencePoint
    pattern: str  # topic pattern: "*" one word, "#" zero or more
    handler: Handler


def topic_matches(pattern: str, key: str) -> bool:
    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and (p[0] == "*" or p[0] == k[0]) and match(p[1:], k[1:])

    return match(pattern.split("."), key.split("."))


class Deduplicator(abc.ABC):
    @abc.abstractmethod
    async def get(self, message_id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def put(self, message_id: str, reply: dict[str, Any] | None) -> None: ...


class MessageBus(abc.ABC):
    """Bind handlers before `start()`; publish and request after."""

    def __init__(self, service: str, dedupe: Deduplicator | None = None, default_timeout: float = 30.0):
        self.service = service
        self.dedupe = dedupe
        self.default_timeout = default_timeout
        self.bindings: list[Binding] = []

    def bind(self, exchange: ReferencePoint, pattern: str, handler: Handler) -> None:
        self.bindings.append(Binding(exchange, pattern, handler))

    def on(self, type_: str, handler: Handler) -> None:
        """Consume one catalogued message type (requests or facts) with `handler`."""
        from magi.bus.catalog import spec

        self.bind(spec(type_).exchange, type_, handler)

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, envelope: Envelope) -> None:
        """Send a fact or a one-way request, persistently; returns once the broker has it."""

    @abc.abstractmethod
    async def _request(self, envelope: Envelope, timeout: float) -> Envelope: ...

    @abc.abstractmethod
    async def healthy(self) -> bool: ...

    async def request(self, envelope: Envelope, timeout: float | None = None) -> dict[str, Any]:
        """Send a request and wait for its reply payload; raises RemoteError or RequestTimeout."""
        envelope.kind = "request"
        envelope.correlation_id = envelope.correlation_id or envelope.message_id
        reply = await self._request(envelope, timeout or self.default_timeout)
        if "problem" in reply.payload:
            raise RemoteError(reply.payload["problem"])
        return reply.payload

    async def dispatch(self, exchange: str, envelope: Envelope) -> Envelope | None:
        """Run the handler bound for this message, once per message id. Returns the reply to
        send (for requests). Raises on transient failure so the adapter redelivers."""
        handler = next(
            (b.handler for b in self.bindings if b.exchange == exchange and topic_matches(b.pattern, envelope.type)),
            None,
        )
        if handler is None:
            log.warning("bus.no_handler", type=envelope.type, exchange=exchange)
            return None
        if self.dedupe is not None:
            seen = await self.dedupe.get(envelope.message_id)
            if seen is not None:
                log.info("bus.duplicate", message_id=envelope.message_id, type=envelope.type)
                return envelope.reply(self.service, seen["reply"] or {}) if envelope.kind == "request" else None
        from magi.telemetry import consume_span  # late import: telemetry imports the bus envelope

        with consume_span(self.service, exchange, envelope):
            try:
                result = await handler(envelope)
                payload = result or {}
            except PermanentError as exc:
                log.warning("bus.rejected", type=envelope.type, detail=exc.detail)
                payload = {"problem": exc.problem()}
                if envelope.kind != "request":
                    raise
        if self.dedupe is not None:
            await self.dedupe.put(envelope.message_id, payload)
        return envelope.reply(self.service, payload) if envelope.kind == "request" else None


async def wait_closed(tasks: set[asyncio.Task]) -> None:
    for t in list(tasks):
        t.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
