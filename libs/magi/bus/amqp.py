"""RabbitMQ adapter (aio-pika).

Topology: one durable topic exchange per reference point (`or-vnfm`, `vi-vnfm`, `or-vi`) and
`magi-facts`; one durable quorum queue per consuming service (`magi.<service>`, replicas compete)
bound with the service's patterns; quorum `x-delivery-limit` bounds redelivery, after which the
broker dead-letters to `magi.dlx` → `magi.dead-letters`. Persistent messages, publisher
confirms, manual ack only after the handler's result is stored, bounded prefetch. Replies use
RabbitMQ's direct reply-to, so a request costs no queue declaration.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage

from magi.bus.base import MessageBus, PermanentError
from magi.bus.envelope import BusError, Envelope, ReferencePoint, RequestTimeout
from magi.telemetry import inject_trace

log = structlog.get_logger(__name__)

DLX = "magi.dlx"
DEAD_LETTER_QUEUE = "magi.dead-letters"
REPLY_TO = "amq.rabbitmq.reply-to"


class AmqpBus(MessageBus):
    def __init__(self, service: str, url: str, prefetch: int = 16, delivery_limit: int = 5, **kw: Any):
        super().__init__(service, **kw)
        self.url = url
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.queue_name = f"magi.{service}"
        self._conn: aio_pika.abc.AbstractRobustConnection | None = None
        self._pub: aio_pika.abc.AbstractChannel | None = None
        self._exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        self._replies: dict[str, asyncio.Future[Envelope]] = {}
        self._inflight: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._conn = await aio_pika.connect_robust(self.url, client_properties={"connection_name": f"magi-{self.service}"})
        # Publishing channel: confirms on, and it also consumes direct replies (RabbitMQ requires
        # the reply-to consumer and the publisher to share the channel).
        self._pub = await self._conn.channel(publisher_confirms=True, on_return_raises=True)
        await self._declare(self._pub)
        reply_queue = await self._pub.get_queue(REPLY_TO, ensure=False)
        await reply_queue.consume(self._on_reply, no_ack=True)
        if self.bindings:
            consume = await self._conn.channel()
            await consume.set_qos(prefetch_count=self.prefetch)
            queue = await consume.declare_queue(
                self.queue_name,
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-delivery-limit": self.delivery_limit,
                    "x-dead-letter-exchange": DLX,
                },
            )
            exchanges = {rp.value: await consume.get_exchange(rp.value) for rp in ReferencePoint}
            for b in self.bindings:
                await queue.bind(exchanges[b.exchange.value], routing_key=b.pattern)
            await queue.consume(self._on_message)

    async def _declare(self, channel: aio_pika.abc.AbstractChannel) -> None:
        for rp in ReferencePoint:
            self._exchanges[rp.value] = await channel.declare_exchange(rp.value, aio_pika.ExchangeType.TOPIC, durable=True)
        dlx = await channel.declare_exchange(DLX, aio_pika.ExchangeType.FANOUT, durable=True)
        dlq = await channel.declare_queue(DEAD_LETTER_QUEUE, durable=True)
        await dlq.bind(dlx)

    async def close(self) -> None:
        for t in list(self._inflight):
            try:
                await asyncio.wait_for(asyncio.shield(t), 5)
            except Exception:
                pass
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def healthy(self) -> bool:
        return self._conn is not None and not self._conn.is_closed

    def _message(self, envelope: Envelope, **kw: Any) -> aio_pika.Message:
        inject_trace(envelope)
        headers = {k: v for k, v in {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}.items() if v}
        return aio_pika.Message(
            body=envelope.model_dump_json().encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.message_id,
            correlation_id=envelope.correlation_id,
            type=envelope.type,
            app_id=envelope.source,
            headers=headers,
            **kw,
        )

    async def publish(self, envelope: Envelope) -> None:
        if self._pub is None:
            raise BusError("bus not started")
        # Facts go to whoever follows them, possibly nobody: not mandatory.
        await self._exchanges[envelope.reference_point.value].publish(self._message(envelope), routing_key=envelope.type, mandatory=False)

    async def _request(self, envelope: Envelope, timeout: float) -> Envelope:
        if self._pub is None:
            raise BusError("bus not started")
        fut: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._replies[envelope.correlation_id] = fut
        try:
            # A request not taken up within its timeout expires: the requester has given up on it.
            msg = self._message(envelope, reply_to=REPLY_TO, expiration=timeout)
            await self._exchanges[envelope.reference_point.value].publish(msg, routing_key=envelope.type, mandatory=True)
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"no reply to {envelope.type} within {timeout}s") from None
        except aio_pika.exceptions.DeliveryError as exc:
            raise BusError(f"{envelope.type}: no service consumes it ({exc})") from exc
        finally:
            self._replies.pop(envelope.correlation_id, None)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        try:
            env = Envelope.model_validate_json(message.body)
        except Exception:
            return
        fut = self._replies.get(env.correlation_id or "")
        if fut is not None and not fut.done():
            fut.set_result(env)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task:
            self._inflight.add(task)
        try:
            try:
                env = Envelope.model_validate_json(message.body)
            except Exception as exc:
                log.error("bus.malformed", error=str(exc), routing_key=message.routing_key)
                await message.reject(requeue=False)
                return
            try:
                reply = await self.dispatch(message.exchange, env)
            except PermanentError:
                await message.reject(requeue=False)
                return
            except Exception as exc:
                log.warning("bus.handler_failed", type=env.type, error=repr(exc), redelivered=message.redelivered)
                await asyncio.sleep(0.2)  # no hot loop while a dependency is away
                await message.nack(requeue=True)
                return
            if reply is not None and message.reply_to:
                try:
                    await self._pub.default_exchange.publish(self._message(reply), routing_key=message.reply_to, mandatory=False)
                except Exception as exc:  # the requester gave up; the result is stored, a retry is answered from it
                    log.info("bus.reply_dropped", type=env.type, error=str(exc))
            await message.ack()
        finally:
            if task:
                self._inflight.discard(task)
