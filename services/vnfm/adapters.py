"""VNFM adapters: how the VNFM reaches an NFVO (grants, VNFDs) and the VIM adapter.

Two NFVO adapters share one port: `BusNfvo` (MAGI's NFVO over Or-Vnfm messages) and `HttpNfvo`
(any SOL003 NFVO over HTTP: `POST /grant/v1/grants`, `GET /vnfpkgm/v2/onboarded_vnf_packages/…`),
so the VNFM works under an external NFVO exactly as under its own.
"""
from __future__ import annotations

import abc
import asyncio
from typing import Any

import aiohttp

from magi.bus.base import MessageBus
from magi.bus.catalog import message
from magi.bus.envelope import RemoteError
from magi.telemetry import current_traceparent


class GrantRejected(Exception):
    def __init__(self, problem: dict[str, Any]):
        self.problem = problem
        super().__init__(problem.get("detail", "grant rejected"))


class NfvoPort(abc.ABC):
    @abc.abstractmethod
    async def grant(self, request: dict[str, Any], *, key: str) -> dict[str, Any]:
        """The Grant for a GrantRequest; raises GrantRejected when the NFVO says no."""

    @abc.abstractmethod
    async def vnfd(self, vnfd_id: str) -> dict[str, Any]:
        """{"vnfd": <normalized Vnfd>, "vnfPkgId": …} of an onboarded package."""


class BusNfvo(NfvoPort):
    def __init__(self, bus: MessageBus, source: str = "vnfm"):
        self.bus, self.source = bus, source

    async def grant(self, request: dict[str, Any], *, key: str) -> dict[str, Any]:
        try:
            return await self.bus.request(message("grant.request", request, source=self.source, message_id=key))
        except RemoteError as exc:
            if exc.problem.get("status") in (403, 422, 409):
                raise GrantRejected(exc.problem) from exc
            raise

    async def vnfd(self, vnfd_id: str) -> dict[str, Any]:
        return await self.bus.request(message("vnfd.get", {"vnfdId": vnfd_id}, source=self.source))


class HttpNfvo(NfvoPort):
    """SOL003 client of an external NFVO. Grants answered 202 are polled until decided."""

    def __init__(self, base_url: str, token: str | None = None, poll_interval: float = 1.0, timeout: float = 300.0):
        self.base = base_url.rstrip("/")
        self.headers = {"Version": "1.5.0", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.poll_interval, self.timeout = poll_interval, timeout

    async def grant(self, request: dict[str, Any], *, key: str) -> dict[str, Any]:
        async with aiohttp.ClientSession(headers={**self.headers, **current_traceparent()}) as http:
            async with http.post(f"{self.base}/grant/v1/grants", json=request) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 201:
                    return body
                if resp.status == 403:
                    raise GrantRejected(body)
                if resp.status != 202:
                    raise RemoteError(body if isinstance(body, dict) else {"status": resp.status, "detail": str(body)})
                location = resp.headers["Location"]
            deadline = asyncio.get_running_loop().time() + self.timeout
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(self.poll_interval)
                async with http.get(location) as resp:
                    if resp.status == 200:
                        return await resp.json()
                    if resp.status == 403:
                        raise GrantRejected(await resp.json(content_type=None))
            raise TimeoutError(f"grant at {location} not decided in {self.timeout}s")

    async def vnfd(self, vnfd_id: str) -> dict[str, Any]:
        # MAGI's NFVO serves its normalized descriptor as an extension next to the SOL003 resource.
        headers = {**self.headers, "Version": "2.1.0"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{self.base}/vnfpkgm/v2/onboarded_vnf_packages/{vnfd_id}/magi_vnfd") as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200:
                    raise RemoteError(body if isinstance(body, dict) else {"status": resp.status, "detail": str(body)})
                return body


class VimClient:
    """Vi-Vnfm requests to the VIM adapter. Every request's message id is derived from the
    resource and the action, so a retried step is answered from the adapter's dedupe record."""

    def __init__(self, bus: MessageBus, source: str = "vnfm"):
        self.bus, self.source = bus, source

    async def allocate(self, kind: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
        return await self.bus.request(message(f"{kind}.allocate", payload, source=self.source, message_id=key))

    async def release(self, kind: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
        return await self.bus.request(message(f"{kind}.release", payload, source=self.source, message_id=key))
