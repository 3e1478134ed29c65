"""SOL005 package and descriptor notifications, carried by the outbox.

A notification is decided with the state change it reports and stored in the same write, as a
`vnfpkg.changed` / `nsd.changed` fact; the NFVO consumes its own fact and queues one delivery
per matching subscription. A crash between the change and the queueing loses nothing, and the
fact's id (from the event key) keeps a relayed-twice fact from notifying twice.
"""
from __future__ import annotations

import uuid
from typing import Any

from magi.bus.catalog import message
from magi.bus.envelope import Envelope

_IDS = uuid.UUID("6d61672d-6e6f-7469-6365-000000000000")


def descriptor_notice(type_: str, key: str, notification: dict[str, Any]) -> Envelope:
    return message(type_, {"key": key, "notification": notification}, source="nfvo",
                   message_id=str(uuid.uuid5(_IDS, key)))
