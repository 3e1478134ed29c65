"""The one message envelope every MAGI service sends and receives.

Named after the ETSI reference points: a message travels on the exchange of its reference
point (or-vnfm, vi-vnfm, or-vi) or on the facts exchange that monitoring follows. Routing keys
are `<entity>.<verb>` for requests and `<entity>.<past participle>` for facts.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = "1.0"


class ReferencePoint(StrEnum):
    OR_VNFM = "or-vnfm"
    VI_VNFM = "vi-vnfm"
    OR_VI = "or-vi"
    FACTS = "magi-facts"


MessageKind = Literal["request", "reply", "fact"]


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(timestamp: str) -> float:
    """Seconds since the epoch of a `utcnow()` timestamp (an envelope's `time`)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def new_id() -> str:
    return str(uuid.uuid4())


class Envelope(BaseModel):
    message_id: str = Field(default_factory=new_id)
    type: str  # routing key, e.g. "vnf.instantiate" or "lcmopocc.changed"
    kind: MessageKind = "fact"
    reference_point: ReferencePoint
    correlation_id: str | None = None  # request/reply pairing, and the operation a fact belongs to
    causation_id: str | None = None  # the message that caused this one
    source: str  # the sending service
    time: str = Field(default_factory=utcnow)
    schema_version: str = SCHEMA_VERSION
    traceparent: str | None = None  # W3C trace context
    tracestate: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    def reply(self, source: str, payload: dict[str, Any]) -> "Envelope":
        return Envelope(
            type=f"{self.type}.reply",
            kind="reply",
            reference_point=self.reference_point,
            correlation_id=self.correlation_id or self.message_id,
            causation_id=self.message_id,
            source=source,
            payload=payload,
        )


class BusError(Exception):
    """A bus-level failure: timeout, broker gone, handler refused."""


class RequestTimeout(BusError):
    pass


class RemoteError(BusError):
    """The handler on the other side answered with a ProblemDetails."""

    def __init__(self, problem: dict[str, Any]):
        self.problem = problem
        super().__init__(problem.get("detail") or problem.get("title") or "remote error")
