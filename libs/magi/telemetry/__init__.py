"""Logs, traces and metrics, set up once per process and used by every service.

structlog writes JSON (a readable console on a terminal); each line carries the service, the
trace id and the ETSI ids bound with `bind_ids`. OpenTelemetry spans cross HTTP (W3C
`traceparent` header) and the bus (the envelope's `traceparent`, also copied into AMQP headers).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind

if TYPE_CHECKING:
    from magi.bus.envelope import Envelope

_configured = False
ETSI_IDS = ("nsInstanceId", "vnfInstanceId", "lcmOpOccId", "nsLcmOpOccId", "vnfLcmOpOccId", "grantId", "vnfPkgId")


def _add_trace_ids(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event


def redact_secrets(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: credentials (accessInfo, passwords, tokens …) never reach a log line."""
    from magi.secrets import redact

    return redact(event)


def setup_logging(level: str = "INFO", json_logs: bool | None = None) -> None:
    global _configured
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def setup_tracing(exporter: SpanExporter | None = None) -> TracerProvider:
    """Install one tracer provider for the process (the services of `magi up` share it).

    OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; tests pass an in-memory exporter."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "magi")}))
        trace.set_tracer_provider(provider)
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def tracer(service: str) -> trace.Tracer:
    return trace.get_tracer(f"magi.{service}")


def inject_trace(envelope: "Envelope") -> None:
    """Copy the current trace context into the envelope (kept if already set by the outbox)."""
    if envelope.traceparent:
        return
    carrier: dict[str, str] = {}
    inject(carrier)
    envelope.traceparent = carrier.get("traceparent")
    envelope.tracestate = carrier.get("tracestate")


def current_traceparent() -> dict[str, str]:
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


@contextlib.contextmanager
def consume_span(service: str, exchange: str, envelope: "Envelope") -> Iterator[None]:
    carrier = {k: v for k, v in {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}.items() if v}
    token = otel_context.attach(extract(carrier))
    try:
        with tracer(service).start_as_current_span(
            f"{envelope.type} process",
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.destination.name": exchange,
                "messaging.message.id": envelope.message_id,
                "messaging.rabbitmq.destination.routing_key": envelope.type,
                "magi.service": service,
            },
        ):
            with structlog.contextvars.bound_contextvars(service=service, **ids_in(envelope.payload)):
                yield
    finally:
        otel_context.detach(token)


def ids_in(payload: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in payload.items() if k in ETSI_IDS and isinstance(v, str)}


def bind_ids(**ids: str | None) -> None:
    """Bind ETSI ids (nsInstanceId, vnfInstanceId, lcmOpOccId …) to every later log line."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v})
