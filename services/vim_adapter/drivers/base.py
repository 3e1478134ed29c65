"""The VIM driver port: what the adapter needs from any VIM, and the registry by vimType.

A driver instance speaks to ONE VIM (one `vimConnectionInfo`). Every call is idempotent on
MAGI's `resourceId`: allocating an existing id answers the existing resource, releasing a
missing one answers False. Drivers raise `PermanentError` for answers a retry cannot change
(no capacity, bad request) and any other exception for transient VIM trouble.
"""
from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from magi.bus.base import PermanentError
from magi.bus.catalog import ComputeAllocate, NetworkAllocate, StorageAllocate


class VimDriver(abc.ABC):
    def __init__(self, vim: dict[str, Any]):
        self.vim = vim
        self.vim_id: str = vim["vimId"]

    @abc.abstractmethod
    async def allocate_compute(self, req: ComputeAllocate) -> dict[str, Any]:
        """{resourceId, vimResourceId, zoneId, vimId, addresses}"""

    @abc.abstractmethod
    async def release_compute(self, resource_id: str, owner: str | None = None) -> bool:
        """Delete what the VIM holds for `resource_id`; `owner` (the VNF instance) also lets the
        driver delete what that owner's VNFCs shared and no longer use (server groups)."""

    @abc.abstractmethod
    async def allocate_network(self, req: NetworkAllocate) -> dict[str, Any]:
        """{resourceId, vimResourceId, zoneId, vimId}"""

    @abc.abstractmethod
    async def release_network(self, resource_id: str) -> bool: ...

    @abc.abstractmethod
    async def allocate_storage(self, req: StorageAllocate) -> dict[str, Any]:
        """{resourceId, vimResourceId, zoneId, vimId}"""

    @abc.abstractmethod
    async def release_storage(self, resource_id: str) -> bool: ...

    @abc.abstractmethod
    async def capacity(self) -> dict[str, Any]:
        """{vimId, total: {vcpus, memoryMb, storageGb}, used: {...}, free: {...}}"""

    @abc.abstractmethod
    async def inventory(self) -> list[dict[str, Any]]:
        """The resources the VIM holds, as the VIM sees them."""


DriverFactory = Callable[[dict[str, Any]], VimDriver]


class DriverRegistry:
    """vimType → factory of a driver bound to one VimConnectionInfo."""

    def __init__(self) -> None:
        self._factories: dict[str, DriverFactory] = {}

    def register(self, vim_type: str, factory: DriverFactory) -> None:
        self._factories[vim_type] = factory

    @property
    def vim_types(self) -> list[str]:
        return sorted(self._factories)

    def driver(self, vim: dict[str, Any]) -> VimDriver:
        if not isinstance(vim, dict) or not vim.get("vimId"):
            raise PermanentError(422, "vimConnectionInfo.vimId is required")
        vim_type = vim.get("vimType")
        factory = self._factories.get(vim_type or "")
        if factory is None:
            raise PermanentError(422, f"unsupported vimType {vim_type!r}; supported: {', '.join(self.vim_types)}")
        return factory(vim)
