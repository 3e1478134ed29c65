"""LCM operation occurrences, shared by the VNFM and the NFVO.

The state machine (SOL003 §5.6.2.2 for VNFs, SOL005 §6.6.2.2 for NSs) is pure functions over
the op-occ resource dict; the transition tables are the specification's figures, and nothing
else changes `operationState`. `OpOccRunner` and `claim` are the running side: leases,
resumption after a crash, and the one-operation-per-instance rule.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog

from magi.api.problem import Problem
from magi.bus.envelope import Envelope, new_id, utcnow
from magi.store.mongo import ConcurrencyError, NotFound, Repository

log = structlog.get_logger(__name__)

STARTING, PROCESSING, COMPLETED = "STARTING", "PROCESSING", "COMPLETED"
FAILED_TEMP, FAILED, ROLLING_BACK, ROLLED_BACK = "FAILED_TEMP", "FAILED", "ROLLING_BACK", "ROLLED_BACK"
PARTIALLY_COMPLETED = "PARTIALLY_COMPLETED"

VNF_TRANSITIONS: dict[str, set[str]] = {
    STARTING: {PROCESSING, ROLLED_BACK, FAILED_TEMP},  # grant rejected or cancelled → ROLLED_BACK
    PROCESSING: {COMPLETED, FAILED_TEMP},
    FAILED_TEMP: {PROCESSING, ROLLING_BACK, FAILED},  # retry, rollback, fail
    ROLLING_BACK: {ROLLED_BACK, FAILED_TEMP},
    COMPLETED: set(),
    FAILED: set(),
    ROLLED_BACK: set(),
}

NS_TRANSITIONS: dict[str, set[str]] = {
    PROCESSING: {COMPLETED, PARTIALLY_COMPLETED, FAILED_TEMP},
    FAILED_TEMP: {PROCESSING, ROLLING_BACK, FAILED, PARTIALLY_COMPLETED},  # retry, rollback, fail, continue
    ROLLING_BACK: {ROLLED_BACK, FAILED_TEMP},
    COMPLETED: set(),
    PARTIALLY_COMPLETED: set(),
    FAILED: set(),
    ROLLED_BACK: set(),
}

TERMINAL = {COMPLETED, FAILED, ROLLED_BACK, PARTIALLY_COMPLETED}
# States in which the op occ holds its instance: no other operation may start (409).
BLOCKING = {STARTING, PROCESSING, FAILED_TEMP, ROLLING_BACK}
# States in which a worker is (or should be) driving the op occ.
ACTIVE = {STARTING, PROCESSING, ROLLING_BACK}


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str):
        self.current, self.target = current, target
        super().__init__(f"operation occurrence is {current}; it cannot go to {target}")


def transition(op: dict[str, Any], target: str, table: dict[str, set[str]], *, error: dict[str, Any] | None = None) -> dict[str, Any]:
    current = op["operationState"]
    if target not in table.get(current, set()):
        raise InvalidTransition(current, target)
    new = copy.deepcopy(op)
    new["operationState"] = target
    new["stateEnteredTime"] = utcnow()
    if target == FAILED_TEMP:
        new["error"] = error or {"status": 500, "detail": "operation failed"}
    elif error is None and target in (PROCESSING, ROLLING_BACK):
        new.pop("error", None)  # a retry starts clean; the last error stays on FAILED/ROLLED_BACK
    if target in TERMINAL | {FAILED_TEMP}:
        new["isCancelPending"] = False
    return new


def step_error(step: str, cause: str, status: int = 500, title: str | None = None) -> dict[str, Any]:
    """The ProblemDetails an op occ carries in FAILED_TEMP: which step failed and why."""
    return {"status": status, "title": title or "LCM operation step failed", "detail": f"step '{step}' failed: {cause}", "step": step}


# -- running op occs: leases, resumption, claiming an instance ---------------------------------


class OpOccRunner:
    """Drives operation occurrences in the background, one task per op occ, each under a lease
    kept in its `_work.lease`. A runner that dies stops renewing; after `lease_seconds` any
    runner (this process restarted, or another replica) resumes the op occ from its `_work`."""

    def __init__(self, op_occs: Repository, active: Iterable[str], drive: Callable[[dict[str, Any]], Awaitable[None]],
                 *, name: str, lease_seconds: float = 30.0):
        self.op_occs, self.active, self.drive, self.name = op_occs, set(active), drive, name
        self.worker = new_id()
        self.lease_seconds = lease_seconds
        self._running: dict[str, asyncio.Task] = {}
        self._recovery: asyncio.Task | None = None

    def kick(self, op_id: str) -> None:
        if op_id not in self._running:
            self._running[op_id] = asyncio.create_task(self._run(op_id), name=f"{self.name}-{op_id}")

    async def start(self) -> None:
        self._recovery = asyncio.create_task(self._recover_loop(), name=f"{self.name}-recovery")

    async def stop(self) -> None:
        tasks = list(self._running.values()) + ([self._recovery] if self._recovery else [])
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def save(self, op: dict[str, Any], outbox: Iterable[Envelope] = ()) -> dict[str, Any]:
        """Store progress and renew the lease (in place: references into `op` stay valid)."""
        op["_work"]["lease"] = {"owner": self.worker, "until": time.time() + self.lease_seconds}
        return await self.op_occs.save(op, outbox=outbox)

    def _held_elsewhere(self, op: dict[str, Any]) -> bool:
        lease = op["_work"].get("lease") or {}
        return lease.get("owner") not in (None, self.worker) and lease.get("until", 0) > time.time()

    async def _recover_loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                now = time.time()
                for op in await self.op_occs.find({"operationState": {"$in": sorted(self.active)}}):
                    if (op["_work"].get("lease") or {}).get("until", 0) < now and op["id"] not in self._running:
                        log.info("lcm.resume", opOccId=op["id"], runner=self.name)
                        self.kick(op["id"])
            await asyncio.sleep(self.lease_seconds / 3)

    async def _run(self, op_id: str) -> None:
        try:
            op = await self.op_occs.get(op_id)
            if op["operationState"] not in self.active or self._held_elsewhere(op):
                return
            await self.drive(await self.save(op))
        except ConcurrencyError:
            log.info("lcm.lost_lease", opOccId=op_id, runner=self.name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("lcm.runner_crashed", opOccId=op_id, runner=self.name)
        finally:
            self._running.pop(op_id, None)


# How long a claim whose op occ is not yet stored (it is inserted right after the claim) still
# holds the instance: long enough for that insert, short enough that a crash between the two
# writes does not lock the instance for good.
CLAIM_GRACE_SECONDS = 30.0


async def holding_op(op_occs: Repository, inst: dict[str, Any], states: set[str]) -> dict[str, Any] | None:
    """The op occ that holds `inst` (its `_opOccId`) if it is in one of `states`, else None.

    A claim made moments ago whose op occ is not written yet counts as holding (STARTING):
    without this, a request arriving between another's claim and its insert would claim too."""
    op_id = inst.get("_opOccId")
    if not op_id:
        return None
    try:
        op = await op_occs.get(op_id)
    except NotFound:
        if time.time() - float(inst.get("_claimedAt") or 0) < CLAIM_GRACE_SECONDS:
            return {"id": op_id, "operationState": STARTING}
        return None
    return op if op["operationState"] in states else None


async def claim(instances: Repository, inst: dict[str, Any], op_id: str, *, state_key: str, label: str,
                blocking: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]) -> None:
    """Make `op_id` the operation holding the instance (`_opOccId`), or raise a 409 Problem.

    A concurrent bookkeeping write (the previous operation freeing it) is retried; a competing
    claim, or a change of state meanwhile, is a conflict."""
    state = inst[state_key]
    for _ in range(5):
        busy = await blocking(inst)
        if busy:
            raise Problem(409, f"{label} {inst['id']} has operation {busy['id']} in state {busy['operationState']}")
        seen = inst.get("_opOccId")
        inst["_opOccId"], inst["_claimedAt"] = op_id, time.time()
        try:
            await instances.replace(inst)
            return
        except ConcurrencyError:
            inst = await instances.get(inst["id"])
            if inst.get("_opOccId") not in (seen, None):
                raise Problem(409, f"{label} {inst['id']} was claimed by operation {inst['_opOccId']}") from None
            if inst[state_key] != state:
                raise Problem(409, f"{label} {inst['id']} changed to {inst[state_key]} meanwhile") from None
    raise Problem(409, f"{label} {inst['id']} is being changed by other requests; try again")
