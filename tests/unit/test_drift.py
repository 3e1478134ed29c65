"""Drift reconciliation's pure functions (vim_adapter.drift) and the drift alarm fold (monitoring.domain)."""
from __future__ import annotations

from typing import Any

from monitoring import domain as mon
from vim_adapter.drift import compare, drift_fact, healthy, lease_free, merge

from datetime import datetime, timezone


def rec(rid: str, type_: str = "COMPUTE", vrid: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"id": rid, "vimId": "vim-1", "type": type_, "vimResourceId": vrid or f"v-{rid}", "ownerId": "vnf-1",
            "state": "ACTIVE", **kw}


def inv(vrid: str, type_: str = "COMPUTE", rid: str | None = None, state: str = "ACTIVE", owner: str | None = "vnf-1",
        **attrs: Any) -> dict[str, Any]:
    return {"vimResourceId": vrid, "resourceType": type_, "resourceId": rid, "ownerId": owner, "name": "n",
            "state": state, "zoneId": "zone-a", "attributes": attrs}


def test_no_drift_when_everything_matches() -> None:
    records = [rec("c1", vcpus=2, memoryMb=1024), rec("s1", "STORAGE", sizeGb=10), rec("n1", "VL", cidr="10.1.0.0/24")]
    inventory = [inv("v-c1", rid="c1", vcpus=2, memoryMb=1024), inv("v-s1", "STORAGE", "s1", "in-use", sizeGb=10.0),
                 inv("v-n1", "VL", "n1", cidr="10.1.0.0/24"),
                 inv("port-1", "PORT", None, "DOWN", owner="vnf-1"),  # MAGI-tagged port of a MAGI network
                 inv("sub-1", "SUBNET", "n1", "")]
    assert compare(records, inventory) == []


def test_vanished() -> None:
    [item] = compare([rec("c1")], [])
    assert item["drift"] == "VANISHED" and item["resourceId"] == "c1" and item["vimResourceId"] == "v-c1"
    assert item["observed"] is None and item["ownerId"] == "vnf-1" and item["key"] == "VANISHED:v-c1"


def test_matched_by_resource_id_when_the_vim_id_changed() -> None:
    assert compare([rec("c1")], [inv("other", rid="c1")]) == []


def test_state_changed_per_kind() -> None:
    found = compare([rec("c1"), rec("s1", "STORAGE"), rec("n1", "VL")],
                    [inv("v-c1", rid="c1", state="SHUTOFF"), inv("v-s1", "STORAGE", "s1", "error"),
                     inv("v-n1", "VL", "n1", "DOWN")])
    assert {(f["resourceId"], f["drift"], f["observed"]["state"]) for f in found} == {
        ("c1", "STATE_CHANGED", "SHUTOFF"), ("s1", "STATE_CHANGED", "error"), ("n1", "STATE_CHANGED", "DOWN")}
    assert next(f for f in found if f["resourceId"] == "s1")["expected"] == {"state": "available"}


def test_transitional_and_stateless_kinds_are_healthy() -> None:
    assert healthy("COMPUTE", "BUILD") and healthy("STORAGE", "available") and healthy("STORAGE", "IN-USE")
    assert healthy("SUBNET", None) and healthy("SECURITY_GROUP", "whatever")
    assert not healthy("COMPUTE", "ERROR") and not healthy("STORAGE", "error_deleting")


def test_modified_only_where_the_record_has_the_attribute() -> None:
    found = compare([rec("c1", vcpus=2, memoryMb=1024), rec("s1", "STORAGE")],
                    [inv("v-c1", rid="c1", vcpus=4, memoryMb=1024), inv("v-s1", "STORAGE", "s1", "available", sizeGb=99)])
    assert len(found) == 1
    assert found[0]["drift"] == "MODIFIED" and found[0]["expected"] == {"vcpus": 2} and found[0]["observed"] == {"vcpus": 4}


def test_state_changed_and_modified_together() -> None:
    found = compare([rec("c1", vcpus=2)], [inv("v-c1", rid="c1", state="ERROR", vcpus=8)])
    assert sorted(f["drift"] for f in found) == ["MODIFIED", "STATE_CHANGED"]


def test_unmanaged_only_without_magi_ownership() -> None:
    found = compare([], [inv("x1", owner=None, vcpus=1), inv("p1", "PORT", None, owner="ns-1"),
                         inv("sg1", "SECURITY_GROUP", None, owner=None)])
    assert {(f["vimResourceId"], f["drift"], f["resourceType"]) for f in found} == {
        ("x1", "UNMANAGED", "COMPUTE"), ("sg1", "UNMANAGED", "SECURITY_GROUP")}
    assert all(f["resourceId"] is None and f["ownerId"] is None for f in found)


def test_merge_new_kept_changed_resolved() -> None:
    a = compare([rec("c1")], [inv("v-c1", rid="c1", state="SHUTOFF")])
    items, events = merge([], a, "t1")
    assert [(e, i["drift"]) for e, i in events] == [("NEW", "STATE_CHANGED")]
    assert items[0]["firstSeen"] == items[0]["lastSeen"] == "t1"
    items2, events2 = merge(items, a, "t2")
    assert events2 == [] and items2[0]["firstSeen"] == "t1" and items2[0]["lastSeen"] == "t2"
    b = compare([rec("c1")], [inv("v-c1", rid="c1", state="ERROR")])
    items3, events3 = merge(items2, b, "t3")
    assert [(e, i["observed"]) for e, i in events3] == [("CHANGED", {"state": "ERROR"})]
    items4, events4 = merge(items3, [], "t4")
    assert items4 == [] and [(e, i["drift"], i["resolvedAt"]) for e, i in events4] == [("RESOLVED", "STATE_CHANGED", "t4")]
    fact = drift_fact("vim-1", "RESOLVED", events4[0][1], "t4")
    assert fact["drift"] == "RESOLVED" and fact["expected"] == {"drift": "STATE_CHANGED"} and fact["observed"] is None


def test_lease() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert lease_free(None, "me", now) and lease_free({"holder": "me", "expiresAt": "2027-01-01T00:00:00Z"}, "me", now)
    assert not lease_free({"holder": "other", "expiresAt": "2026-01-01T00:00:01Z"}, "me", now)
    assert lease_free({"holder": "other", "expiresAt": "2025-12-31T23:59:59Z"}, "me", now)


# -- monitoring: the alarm a drift raises ----------------------------------------------------
def fact(drift: str, state: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"vimId": "vim-1", "drift": drift, "resourceType": kw.pop("resourceType", "COMPUTE"), "vimResourceId": "v-c1",
            "resourceId": "c1", "ownerId": "vnf-1", "expected": kw.pop("expected", None),
            "observed": {"state": state} if state else kw.pop("observed", None), "detectedAt": "t", **kw}


def test_alarm_severity_per_drift() -> None:
    def sev(p: dict[str, Any]) -> str:
        return mon.drift_alarm(None, p, "2026-01-01T00:00:00Z")["perceivedSeverity"]  # type: ignore[index]
    assert sev(fact("VANISHED")) == "CRITICAL"
    assert sev(fact("STATE_CHANGED", "ERROR")) == "CRITICAL"
    assert sev(fact("STATE_CHANGED", "SHUTOFF")) == "MAJOR"
    assert sev(fact("MODIFIED", observed={"vcpus": 4})) == "MINOR"
    assert sev(fact("UNMANAGED", resourceId=None, ownerId=None)) == "WARNING"


def test_alarm_raise_change_clear_and_reraise() -> None:
    t1, t2, t3, t4 = (f"2026-01-01T00:00:0{i}Z" for i in range(1, 5))
    a = mon.drift_alarm(None, fact("STATE_CHANGED", "SHUTOFF"), t1)
    assert a is not None and a["id"] == mon.alarm_target(fact("STATE_CHANGED", "SHUTOFF"))
    assert a["managedObjectId"] == "vnf-1" and a["ackState"] == "UNACKNOWLEDGED" and a["isRootCause"] is True
    assert a["rootCauseFaultyResource"] == {"faultyResource": {"vimConnectionId": "vim-1", "resourceId": "v-c1",
                                                               "vimLevelResourceType": "COMPUTE"}, "faultyResourceType": "COMPUTE"}
    assert a["probableCause"] == "server went to SHUTOFF outside MAGI" and a["eventType"] == "EQUIPMENT_ALARM"
    assert mon.drift_alarm(a, fact("STATE_CHANGED", "SHUTOFF"), t2) is a  # the same drift again: nothing changes
    b = mon.drift_alarm(a, fact("STATE_CHANGED", "ERROR"), t2)
    assert b["perceivedSeverity"] == "CRITICAL" and b["alarmChangedTime"] == t2 and b["alarmRaisedTime"] == t1
    resolved = fact("RESOLVED", expected={"drift": "STATE_CHANGED"})
    assert mon.alarm_target(resolved) == a["id"]
    c = mon.drift_alarm(b, resolved, t3)
    assert c["perceivedSeverity"] == "CLEARED" and c["alarmClearedTime"] == t3
    assert mon.drift_alarm(c, fact("STATE_CHANGED", "ERROR"), t2) is c  # older than the clearing: ignored
    d = mon.drift_alarm({**c, "_v": 3}, fact("STATE_CHANGED", "ERROR"), t4)
    assert d["perceivedSeverity"] == "CRITICAL" and d["alarmRaisedTime"] == t4 and d["alarmClearedTime"] is None and d["_v"] == 3
    assert mon.drift_alarm(None, resolved, t3) is None


def test_unmanaged_alarm_is_on_the_vim_and_network_kinds_map() -> None:
    a = mon.drift_alarm(None, fact("UNMANAGED", resourceType="PORT", resourceId=None, ownerId=None), "2026-01-01T00:00:00Z")
    assert a["managedObjectId"] == "vim-1" and a["rootCauseFaultyResource"]["faultyResourceType"] == "NETWORK"
    assert a["probableCause"] == "port created outside MAGI"
