"""In-process bus: the same semantics as AmqpBus for one process (`magi up`, unit tests).

One queue per service, topic bindings, bounded concurrency (prefetch), bounded redelivery then a
dead-letter list, request/reply with timeouts. Nothing survives the process: on restart the
services recover unfinished operations from their stores.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from magi.bus.base import MessageBus, PermanentError, topic_matches, wait_closed
from magi.bus.envelope import Envelope, RequestTimeout
from magi.telemetry import inject_trace

log = structlog.get_logger(__name__)


class InMemoryBroker:
    def __init__(self, max_redeliveries: int = 5):
        self.buses: list[InMemoryBus] = []
        self.replies: dict[str, asyncio.Future[Envelope]] = {}
        self.dead_letters: list[tuple[str, Envelope, str]] = []
        self.max_redeliveries = max_redeliveries
        self._turn = 0

    def route(self, exchange: str, envelope: Envelope) -> int:
        # Like RabbitMQ: one copy per service queue; replicas of one service compete for it.
        takers: dict[str, list[InMemoryBus]] = {}
        for bus in self.buses:
            if any(b.exchange == exchange and topic_matches(b.pattern, envelope.type) for b in bus.bindings):
                takers.setdefault(bus.service, []).append(bus)
        for replicas in takers.values():
            self._turn += 1
            replicas[self._turn % len(replicas)].queue.put_nowait((exchange, envelope.model_copy(deep=True), 0))
        return len(takers)


class InMemoryBus(MessageBus):
    def __init__(self, service: str, broker: InMemoryBroker, prefetch: int = 16, **kw: Any):
        super().__init__(service, **kw)
        self.broker = broker
        self.prefetch = prefetch
        self.queue: asyncio.Queue[tuple[str, Envelope, int]] = asyncio.Queue()
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        if self not in self.broker.buses:
            self.broker.buses.append(self)
        for i in range(self.prefetch):
            self._tasks.add(asyncio.create_task(self._worker(), name=f"bus-{self.service}-{i}"))

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.broker.buses.remove(self)
        await wait_closed(self._tasks)
        self._tasks.clear()

    async def healthy(self) -> bool:
        return bool(self._tasks)

    async def publish(self, envelope: Envelope) -> None:
        inject_trace(envelope)
        if self.broker.route(envelope.reference_point.value, envelope) == 0 and envelope.kind == "request":
            log.warning("bus.unroutable", type=envelope.type)

    async def _request(self, envelope: Envelope, timeout: float) -> Envelope:
        fut: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self.broker.replies[envelope.correlation_id] = fut
        try:
            await self.publish(envelope)
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"no reply to {envelope.type} within {timeout}s") from None
        finally:
            self.broker.replies.pop(envelope.correlation_id, None)

    async def _worker(self) -> None:
        while True:
            exchange, envelope, attempt = await self.queue.get()
            try:
                reply = await self.dispatch(exchange, envelope)
                if reply is not None:
                    fut = self.broker.replies.get(reply.correlation_id)
                    if fut is not None and not fut.done():
                        fut.set_result(reply)
            except asyncio.CancelledError:
                raise
            except PermanentError as exc:
                self.broker.dead_letters.append((exchange, envelope, exc.detail))
            except Exception as exc:
                log.warning("bus.handler_failed", type=envelope.type, error=repr(exc), attempt=attempt)
                if attempt + 1 >= self.broker.max_redeliveries:
                    self.broker.dead_letters.append((exchange, envelope, repr(exc)))
                else:
                    await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
                    self.queue.put_nowait((exchange, envelope, attempt + 1))
