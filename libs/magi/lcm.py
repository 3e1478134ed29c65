"""LCM operation occurrence state machine (SOL003 §5.6.2.2 for VNFs, SOL005 §6.6.2.2 for NSs).

Pure functions over the op-occ resource dict; the services store the result. The transition
tables are the specification's figures, and nothing else may change `operationState`.
"""
from __future__ import annotations

import copy
from typing import Any

from magi.bus.envelope import utcnow

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
