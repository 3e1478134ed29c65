"""Unit tests of the envelope, the catalog, topic routing and the op-occ state machine."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from magi.bus.base import topic_matches
from magi.bus.catalog import CATALOG, UnknownMessage, message
from magi.bus.envelope import Envelope, ReferencePoint
from magi.lcm import (NS_TRANSITIONS, VNF_TRANSITIONS, InvalidTransition, step_error, transition)


def test_message_takes_exchange_and_kind_from_catalog_and_validates_payload():
    m = message("compute.allocate", {"vimConnectionInfo": {"vimType": "MAGI.SIMULATED"}, "resourceId": "r", "vnfInstanceId": "v",
                                     "vduId": "VDU1", "virtualCompute": {}}, source="vnfm")
    assert m.reference_point == ReferencePoint.VI_VNFM and m.kind == "request" and m.schema_version == "1.0"
    with pytest.raises(ValidationError):
        message("compute.allocate", {"resourceId": "r"}, source="vnfm")
    with pytest.raises(UnknownMessage):
        message("compute.explode", {}, source="vnfm")


def test_envelope_round_trip_and_reply_correlation():
    m = message("vnf.create", {"vnfdId": "d"}, source="nfvo")
    again = Envelope.model_validate_json(m.model_dump_json())
    assert again == m
    r = m.reply("vnfm", {"id": "x"})
    assert r.kind == "reply" and r.correlation_id == m.message_id and r.causation_id == m.message_id


def test_catalog_names_follow_the_convention():
    for type_, spec in CATALOG.items():
        entity, verb = type_.split(".")
        if spec.kind == "fact":
            assert verb.endswith("ed") or verb in ("changed",), type_
        else:
            assert not verb.endswith("ed"), type_
        assert spec.reply or spec.kind == "fact"


@pytest.mark.parametrize("pattern,key,hit", [
    ("vnf.create", "vnf.create", True), ("vnf.*", "vnf.create", True), ("vnf.*", "vnf.create.reply", False),
    ("#", "a.b.c", True), ("vnf.#", "vnf", True), ("*.allocate", "compute.allocate", True), ("compute.*", "network.allocate", False),
])
def test_topic_matching_is_amqp_semantics(pattern, key, hit):
    assert topic_matches(pattern, key) is hit


def op(state):
    return {"id": "o", "operationState": state, "stateEnteredTime": "t", "isCancelPending": False}


def test_vnf_op_occ_transitions_follow_sol003():
    assert transition(op("STARTING"), "PROCESSING", VNF_TRANSITIONS)["operationState"] == "PROCESSING"
    failed = transition(op("PROCESSING"), "FAILED_TEMP", VNF_TRANSITIONS, error=step_error("allocate", "no capacity", 422))
    assert failed["error"]["detail"] == "step 'allocate' failed: no capacity" and failed["error"]["status"] == 422
    assert "error" not in transition(failed, "PROCESSING", VNF_TRANSITIONS)  # retry starts clean
    assert transition(failed, "ROLLING_BACK", VNF_TRANSITIONS)["operationState"] == "ROLLING_BACK"
    for bad_from, bad_to in [("COMPLETED", "PROCESSING"), ("STARTING", "COMPLETED"), ("FAILED", "PROCESSING"), ("ROLLED_BACK", "PROCESSING")]:
        with pytest.raises(InvalidTransition):
            transition(op(bad_from), bad_to, VNF_TRANSITIONS)


def test_ns_op_occ_has_no_starting_and_allows_partially_completed():
    assert "STARTING" not in NS_TRANSITIONS
    assert transition(op("PROCESSING"), "PARTIALLY_COMPLETED", NS_TRANSITIONS)["operationState"] == "PARTIALLY_COMPLETED"
    with pytest.raises(InvalidTransition):
        transition(op("PROCESSING"), "ROLLED_BACK", NS_TRANSITIONS)


async def _cancel_as_the_event_fires(wait) -> bool:
    """Whether a loop around `wait(event, timeout)` stops when cancelled just as its event fires."""
    import asyncio
    ev = asyncio.Event()

    async def loop():
        while True:
            await wait(ev, 10)
            ev.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    ev.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=1)
    return bool(done)


async def test_wait_event_keeps_a_cancel_that_arrives_with_the_event():
    """Background loops (outbox relay, notification sender, NS runner) wait with `wait_event`;
    with asyncio.wait_for on 3.11 a stop that coincides with a wake-up is lost and stop() hangs."""
    from magi.aio import wait_event
    assert await _cancel_as_the_event_fires(wait_event)
