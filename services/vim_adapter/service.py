"""VIM adapter application layer: requests → driver calls → records whose writes carry the facts.

`vim_resources` is the adapter's own record of what it allocated, whatever the driver: the
`resource.allocated` fact is in the same write as the record's insert and `resource.released`
in the same write as its deletion, so monitoring hears of every resource exactly as recorded.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import ValidationError

from magi.bus.base import PermanentError
from magi.bus.catalog import ResourceRelease, VimRef, message
from magi.bus.envelope import Envelope, RemoteError
from magi.secrets import SecretBox, SecretError
from magi.store.mongo import AlreadyExists, ConcurrencyError, MongoStore, NotFound, StoreError, public

from vim_adapter import domain
from vim_adapter.drivers.base import DriverRegistry, VimDriver

log = structlog.get_logger(__name__)
# Asks the NFVO for a VIM's VimConnectionInfo with credentials (`vimaccess.get`).
AccessLookup = Callable[[str], Awaitable[dict[str, Any]]]
ACCESS_TTL = 60.0  # seconds an answer of the NFVO is reused


class VimAdapter:
    def __init__(self, store: MongoStore, registry: DriverRegistry, source: str = "vim_adapter",
                 access: AccessLookup | None = None, credentialed_types: frozenset[str] = frozenset(),
                 box: SecretBox | None = None):
        self.registry = registry
        self.source = source
        self.access = access
        self.credentialed_types = credentialed_types
        self.box = box  # opens the sealed accessInfo the NFVO answers with
        self._access_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self.records = store.repository("vim_resources", ["vimId", "ownerId"])
        # The VIMs requests named (credentials left out), so HTTP can ask a driver for capacity.
        self.vims = store.repository("vims")

    async def handle(self, env: Envelope) -> dict[str, Any]:
        action, kind = domain.REQUESTS[env.type]
        if action == "allocate":
            return await self.allocate(kind, env)
        return await self.release(kind, env)

    def _driver(self, vim: dict[str, Any]) -> VimDriver:
        return self.registry.driver(vim)

    async def _resolved(self, vim: dict[str, Any]) -> dict[str, Any]:
        """The VimConnectionInfo with its credentials: as given, or from the NFVO (cached briefly)."""
        if isinstance(vim, dict) and SecretBox.is_sealed(vim.get("accessInfo")):
            return {**vim, "accessInfo": self._open(vim.get("vimId") or "", vim["accessInfo"])}
        if not isinstance(vim, dict) or not domain.needs_access(vim, self.credentialed_types):
            return vim
        vim_id = vim.get("vimId") or ""
        hit = self._access_cache.get(vim_id)
        if hit is not None and hit[0] > time.monotonic():
            return domain.with_access(vim, hit[1])
        if self.access is None:
            raise PermanentError(422, f"VIM {vim_id}: vimConnectionInfo has no accessInfo and no NFVO to ask")
        try:
            answer = await self.access(vim_id)
        except RemoteError as exc:  # the NFVO refused (unknown VIM …): a retry will not change it
            p = exc.problem or {}
            raise PermanentError(int(p.get("status") or 422), f"VIM {vim_id}: credentials: {p.get('detail', 'refused')}") from None
        if not answer.get("accessInfo"):
            raise PermanentError(422, f"VIM {vim_id}: the NFVO has no credentials for it")
        answer = {**answer, "accessInfo": self._open(vim_id, answer["accessInfo"])}
        self._access_cache[vim_id] = (time.monotonic() + ACCESS_TTL, answer)
        return domain.with_access(vim, answer)

    def _open(self, vim_id: str, access: Any) -> Any:
        """Sealed credentials (from the NFVO or the VNFM: they cross the bus only sealed) opened."""
        if not SecretBox.is_sealed(access):
            return access
        if self.box is None:
            raise PermanentError(422, f"VIM {vim_id}: sealed credentials and no key to open them")
        try:
            return self.box.open(access)
        except SecretError as exc:
            raise PermanentError(422, f"VIM {vim_id}: {exc} (every MAGI service needs the same key)") from None

    async def _driver_for(self, vim: dict[str, Any]) -> VimDriver:
        self.registry.driver(vim)  # 422 for an unknown vimType before asking anyone for credentials
        return self._driver(await self._resolved(vim))

    async def handle_capacity(self, env: Envelope) -> dict[str, Any]:
        """`vim.capacity` (Or-Vi): the driver's view of quotas and usage."""
        vim = _parse(VimRef, env.payload).vimConnectionInfo
        driver = await self._driver_for(vim)
        await self._remember(vim)
        return await driver.capacity()

    async def allocate(self, kind: str, env: Envelope) -> dict[str, Any]:
        req = _parse(domain.KINDS[kind][1], env.payload)
        vim = req.vimConnectionInfo  # type: ignore[attr-defined]
        driver = await self._driver_for(vim)
        await self._remember(vim)
        rid = req.resourceId  # type: ignore[attr-defined]
        if (found := await self._record(rid, vim["vimId"])) is not None:
            return domain.allocate_reply(found)
        got = await getattr(driver, f"allocate_{kind}")(req)
        record = domain.resource_record(kind, req, got)
        fact = message("resource.allocated", domain.resource_fact(record), source=self.source, causation_id=env.message_id)
        try:
            await self.records.insert(record, outbox=[fact])
        except AlreadyExists:  # a concurrent request for the same resource recorded it first
            if (found := await self._record(rid, vim["vimId"])) is None:
                raise StoreError(f"resource {rid} is being released; retry") from None
            return domain.allocate_reply(found)
        return domain.allocate_reply(record)

    async def release(self, kind: str, env: Envelope) -> dict[str, Any]:
        req = _parse(ResourceRelease, env.payload)
        driver = await self._driver_for(req.vimConnectionInfo)
        record = await self.records.find_one({"_id": req.resourceId})
        if kind == "compute":
            released = await driver.release_compute(req.resourceId, owner=req.ownerId)
        else:
            released = await getattr(driver, f"release_{kind}")(req.resourceId)
        if record is None:
            return domain.release_reply(req.resourceId, released)
        fact = message("resource.released", domain.resource_fact(record), source=self.source, causation_id=env.message_id)
        try:
            await self.records.delete(record, outbox=[fact])
        except ConcurrencyError:  # a concurrent release deleted the record and sent the fact
            return domain.release_reply(req.resourceId, False)
        # True even if the driver found nothing: a crashed earlier attempt freed it, this one recorded it.
        return domain.release_reply(req.resourceId, True)

    async def _record(self, rid: str, vim_id: str) -> dict[str, Any] | None:
        found = await self.records.find_one({"_id": rid})
        if found is not None and found["vimId"] != vim_id:
            raise PermanentError(409, f"resource {rid} already exists on VIM {found['vimId']}")
        return found

    async def _remember(self, vim: dict[str, Any]) -> None:
        info = {"id": vim["vimId"], **domain.public_vim(vim)}
        known = await self.vims.find_one({"_id": vim["vimId"]})
        try:
            if known is None:
                await self.vims.insert(info)
            elif public(known) != info:
                await self.vims.replace({**info, "_id": known["_id"], "_v": known["_v"]})
        except (AlreadyExists, ConcurrencyError):
            pass  # a concurrent request wrote it; any recent copy will do for inspection

    # -- inspection -----------------------------------------------------------------------
    async def list_resources(self, query: dict[str, str]) -> list[dict[str, Any]]:
        return [public(d) for d in await self.records.find(query)]  # type: ignore[misc]

    async def get_resource(self, rid: str) -> dict[str, Any]:
        return public(await self.records.get(rid))  # type: ignore[return-value]

    async def capacity(self, vim_id: str) -> dict[str, Any]:
        known = await self.vims.find_one({"_id": vim_id})
        if known is None:
            raise NotFound(f"VIM {vim_id} is not known")
        vim = {k: v for k, v in public(known).items() if k != "id"}  # type: ignore[union-attr]
        return await (await self._driver_for(vim)).capacity()


def _parse(model: type, payload: dict[str, Any]) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "/".join(str(x) for x in err["loc"]) or "payload"
        raise PermanentError(400, f"invalid {model.__name__}: {where}: {err['msg']}") from None
