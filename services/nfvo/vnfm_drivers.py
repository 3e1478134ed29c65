"""VNFM plug-ins of the NFVO: how an NS operation drives the VNFs' lifecycle.

`BusVnfm` drives MAGI's own VNFM over Or-Vnfm messages; `HttpSol003Vnfm` drives any vendor
VNFM through its SOL003 `/vnflcm/v2` API. Both implement `VnfmDriver`; the NS runner sees no
difference. Keys make every call idempotent across retries and NFVO restarts.
"""
from __future__ import annotations

import abc
from typing import Any

import aiohttp

from magi.bus.base import MessageBus
from magi.bus.catalog import message
from magi.bus.envelope import RemoteError
from magi.telemetry import current_traceparent


class VnfmDriver(abc.ABC):
    @abc.abstractmethod
    async def create_vnf(self, req: dict[str, Any], key: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def instantiate_vnf(self, vnf_id: str, req: dict[str, Any], key: str) -> str: ...

    @abc.abstractmethod
    async def terminate_vnf(self, vnf_id: str, req: dict[str, Any], key: str) -> str: ...

    @abc.abstractmethod
    async def delete_vnf(self, vnf_id: str, key: str) -> None: ...

    @abc.abstractmethod
    async def op_occ(self, op_id: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def rollback_op(self, op_id: str, key: str) -> None:
        """Roll back a FAILED_TEMP VNF op occ (releases what it created, frees the instance)."""


class BusVnfm(VnfmDriver):
    def __init__(self, bus: MessageBus, source: str = "nfvo"):
        self.bus, self.source = bus, source

    async def _ask(self, type_: str, payload: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        return await self.bus.request(message(type_, payload, source=self.source, message_id=key))

    async def create_vnf(self, req: dict[str, Any], key: str) -> dict[str, Any]:
        return await self._ask("vnf.create", req, key)

    async def instantiate_vnf(self, vnf_id: str, req: dict[str, Any], key: str) -> str:
        return (await self._ask("vnf.instantiate", {"vnfInstanceId": vnf_id, "request": req}, key))["vnfLcmOpOccId"]

    async def terminate_vnf(self, vnf_id: str, req: dict[str, Any], key: str) -> str:
        return (await self._ask("vnf.terminate", {"vnfInstanceId": vnf_id, "request": req}, key))["vnfLcmOpOccId"]

    async def delete_vnf(self, vnf_id: str, key: str) -> None:
        await self._ask("vnf.delete", {"vnfInstanceId": vnf_id}, key)

    async def op_occ(self, op_id: str) -> dict[str, Any]:
        return await self._ask("lcmopocc.get", {"vnfLcmOpOccId": op_id})

    async def rollback_op(self, op_id: str, key: str) -> None:
        await self._ask("lcmopocc.rollback", {"vnfLcmOpOccId": op_id}, key)


class HttpSol003Vnfm(VnfmDriver):
    """A vendor VNFM reached over SOL003. HTTP has no idempotency key, so a retried create may
    leave an orphan identifier on the VNFM; the NS op occ records each id as soon as it has it."""

    def __init__(self, base_url: str, token: str | None = None, version: str = "2.0.0"):
        self.base = base_url.rstrip("/") + "/vnflcm/v2"
        self.headers = {"Version": version, "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any, Any]:
        async with aiohttp.ClientSession(headers={**self.headers, **current_traceparent()}) as http:
            async with http.request(method, f"{self.base}{path}", json=body) as resp:
                data = await resp.json(content_type=None) if resp.content_length != 0 and resp.status != 204 else None
                if resp.status >= 400:
                    raise RemoteError(data if isinstance(data, dict) else {"status": resp.status, "detail": str(data)})
                return resp.status, data, resp.headers

    async def create_vnf(self, req: dict[str, Any], key: str) -> dict[str, Any]:
        return (await self._call("POST", "/vnf_instances", req))[1]

    async def _task(self, vnf_id: str, task: str, req: dict[str, Any]) -> str:
        _, _, headers = await self._call("POST", f"/vnf_instances/{vnf_id}/{task}", req)
        return headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    async def instantiate_vnf(self, vnf_id: str, req: dict[str, Any], key: str) -> str:
        return await self._task(vnf_id, "instantiate", req)

    async def terminate_vnf(self, vnf_id: str, req: dict[str, Any], key: str) -> str:
        return await self._task(vnf_id, "terminate", req)

    async def delete_vnf(self, vnf_id: str, key: str) -> None:
        await self._call("DELETE", f"/vnf_instances/{vnf_id}")

    async def op_occ(self, op_id: str) -> dict[str, Any]:
        return (await self._call("GET", f"/vnf_lcm_op_occs/{op_id}"))[1]

    async def rollback_op(self, op_id: str, key: str) -> None:
        await self._call("POST", f"/vnf_lcm_op_occs/{op_id}/rollback")
