"""asyncio helpers shared by the services' background loops."""
from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; True if it fired.

    Not `asyncio.wait_for`: on Python 3.11 it swallows a cancel that arrives just as the event
    fires, and a loop being stopped runs on. `asyncio.timeout` keeps the cancel."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False
