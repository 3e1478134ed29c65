"""Relays the messages stored in documents' `_outbox` to the bus, then clears them.

At-least-once: a crash after publishing and before clearing re-publishes the same message ids,
which consumers drop (ProcessedMessages).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import structlog

from magi.aio import wait_event
from magi.bus.base import MessageBus
from magi.bus.envelope import Envelope
from magi.store.mongo import MongoStore

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(self, store: MongoStore, bus: MessageBus, poll_interval: float = 2.0):
        self.store = store
        self.bus = bus
        self.poll_interval = poll_interval
        self._event = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        # A wake-up names the repository that has messages: only that one is scanned then. Every
        # poll_interval (and at start) all are, for what a crash left behind.
        self._dirty: set[Any] = set()
        self._full = True
        store.relay = self  # repositories wake the relay after each write that carries messages

    def wake(self, repository: Any = None) -> None:
        if repository is None:
            self._full = True
        else:
            self._dirty.add(repository)
        self._event.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self.store.name}")

    async def stop(self) -> None:
        # The flag as well as the cancel: Python 3.11's wait_for swallows a cancel that arrives as
        # the awaited event fires (a write waking the relay), and the loop would run on.
        self._stopping = True
        task, self._task = self._task, None
        if task:
            task.cancel()
            self._event.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def flush(self, repositories: Iterable[Any] | None = None) -> int:
        """Publish the pending messages of `repositories` (default: all of the store's)."""
        sent = 0
        for repo in list(self.store.repositories if repositories is None else repositories):
            for record in await repo.pending():
                for raw in record.get("_outbox") or []:
                    await self.bus.publish(Envelope.model_validate(raw))
                    sent += 1
                await repo.mark_sent(record)  # a concurrent writer keeps the list: re-sent, deduped
        return sent

    async def _run(self) -> None:
        while not self._stopping:
            if not self._full and not self._dirty:  # nothing named: wait for a wake-up or the poll
                if not await wait_event(self._event, self.poll_interval):
                    self._full = True
            if self._stopping:
                break
            self._event.clear()
            repos = None if self._full else list(self._dirty)
            self._full = False
            self._dirty.clear()
            try:
                await self.flush(repos)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or store away: keep the messages, try again later
                log.warning("outbox.relay_failed", error=str(exc))
                self._full = True
                await asyncio.sleep(min(self.poll_interval, 1.0))
