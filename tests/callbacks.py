"""A real HTTP notification consumer for tests: answers the callback test GET with 204 and
records every notification POSTed to it."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from magi.store.embedded import free_port


class CallbackServer:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/notify"
        self.runner: web.AppRunner | None = None

    async def __aenter__(self) -> "CallbackServer":
        app = web.Application()

        async def get(_: web.Request) -> web.Response:
            return web.Response(status=204)

        async def post(request: web.Request) -> web.Response:
            self.received.append(await request.json())
            return web.Response(status=204)

        app.router.add_get("/notify", get)
        app.router.add_post("/notify", post)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.runner.cleanup()

    async def wait_for(self, pred, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [n for n in self.received if pred(n)]
            if hits:
                return hits
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching notification; received {[n.get('notificationType') for n in self.received]}")
