"""SOL005 `/nsd/v2`: NSD management subscriptions and notifications (each body validated against
the ETSI NSDManagementNotification schemas), duplicate nsdId rejection, PNFD references and usage,
and PNFD upload safety."""
from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
import zipfile
from typing import Any

import pytest
import yaml

from tests.callbacks import CallbackServer
from tests.etsi_schema import schemas
from tests.suite import running_suite
from tests.unit.pkgfactory import make_nsd_yaml

NSDM = "SOL005/NSDManagement"
NOTIF = NSDM + "Notification"


@pytest.fixture
async def suite(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        yield s


async def raw(s, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any) -> tuple[int, bytes, Any]:
    async with s.http.request(method, url, headers={"Version": "2.1.0", **(headers or {})}, **kw) as r:
        return r.status, await r.read(), r.headers


def problem(status: int, body: bytes, headers: Any, expected: int) -> dict[str, Any]:
    assert status == expected, (status, body[:300])
    assert headers["Content-Type"].startswith("application/problem+json")
    doc = json.loads(body)
    assert doc["status"] == expected
    return doc


async def received(cb: CallbackServer, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(cb.received) >= n:
            await asyncio.sleep(0.2)  # nothing more should come
            assert len(cb.received) == n, [x["notificationType"] for x in cb.received]
            return cb.received
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(cb.received)} of {n} notifications: {cb.received}")


def pnfd_yaml(pnfd_id: str) -> bytes:
    return yaml.safe_dump({"tosca_definitions_version": "tosca_simple_yaml_1_3", "topology_template": {"node_templates": {
        "pnf": {"type": "tosca.nodes.nfv.PNF", "properties": {
            "descriptor_id": pnfd_id, "name": "router", "version": "1.0", "provider": "ACME",
            "descriptor_invariant_id": pnfd_id, "function_description": "edge router"}}}}}).encode()


def nsd_with_pnf(nsd_id: str, vnfd_id: str, pnfd_id: str) -> bytes:
    doc = yaml.safe_load(make_nsd_yaml(nsd_id, vnfd_id))
    doc["topology_template"]["node_templates"]["PNF1"] = {"type": "tosca.nodes.nfv.PNF", "properties": {
        "descriptor_id": pnfd_id, "function_description": "edge router", "provider": "ACME", "version": "1.0",
        "descriptor_invariant_id": pnfd_id, "name": "router"}}
    return yaml.safe_dump(doc).encode()


async def put_nsd(s, data: bytes) -> tuple[str, int, bytes, Any]:
    _, info, _ = await s.req("POST", f"{s.nfvo}/nsd/v2/ns_descriptors", json={}, expect=201)
    st, body, h = await raw(s, "PUT", f"{s.nfvo}/nsd/v2/ns_descriptors/{info['id']}/nsd_content", data=data,
                            headers={"Content-Type": "application/yaml"})
    return info["id"], st, body, h


async def put_pnfd(s, data: bytes, ctype: str = "text/plain") -> tuple[str, int, bytes, Any]:
    _, info, _ = await s.req("POST", f"{s.nfvo}/nsd/v2/pnf_descriptors", json={}, expect=201)
    st, body, h = await raw(s, "PUT", f"{s.nfvo}/nsd/v2/pnf_descriptors/{info['id']}/pnfd_content", data=data,
                            headers={"Content-Type": ctype})
    return info["id"], st, body, h


async def test_nsdm_subscriptions_notifications_and_pnfd_usage(suite):
    s = suite
    v = schemas()
    subs = f"{s.nfvo}/nsd/v2/subscriptions"
    N, P = f"{s.nfvo}/nsd/v2/ns_descriptors", f"{s.nfvo}/nsd/v2/pnf_descriptors"
    vnfd_id, nsd_id, pnfd_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    merge = {"Content-Type": "application/merge-patch+json"}
    async with CallbackServer() as by_nsd, CallbackServer() as by_type, CallbackServer() as by_pnfd, \
            CallbackServer() as other:
        _, sub, h = await s.req("POST", subs, json={"callbackUri": by_nsd.url, "filter": {"nsdId": [nsd_id]}}, expect=201)
        v.validate(sub, "NsdmSubscription", api=NSDM)
        assert h["Location"].endswith(sub["id"]) and "verbosity" not in sub
        # the YAML filter enum's spelling of the failure type, and the type name of the PNFD one
        _, typed, _ = await s.req("POST", subs, json={"callbackUri": by_type.url, "filter": {
            "notificationTypes": ["NsdOnboardingFailureNotification", "PnfdOnBoardingNotification"]}}, expect=201)
        v.validate(typed, "NsdmSubscription", api=NSDM)
        await s.req("POST", subs, json={"callbackUri": by_pnfd.url, "filter": {"pnfdId": [pnfd_id], "notificationTypes": [
            "PnfdOnBoardingNotification", "PnfdDeletionNotification"]}}, expect=201)
        await s.req("POST", subs, json={"callbackUri": other.url, "filter": {"nsdId": [str(uuid.uuid4())]}}, expect=201)
        _, lst, _ = await s.req("GET", subs, expect=200)
        assert len(lst) == 4
        _, lst, _ = await s.req("GET", f"{subs}?filter=(eq,callbackUri,{by_nsd.url})", expect=200)
        assert [x["id"] for x in lst] == [sub["id"]]
        for bad in ({"notificationTypes": ["Nope"]}, {"nsdUsageState": ["BUSY"]}, {"vnfdId": ["x"]}, {"nsdId": "x"}):
            problem(*await raw(s, "POST", subs, json={"callbackUri": by_nsd.url, "filter": bad}), 400)
        problem(*await raw(s, "POST", subs, json={"callbackUri": by_nsd.url, "verbosity": "SHORT"}), 400)

        # a PNFD: PnfdOnBoardingNotification to the type and pnfdId subscribers
        pnfd_info, st, body, _ = await put_pnfd(s, pnfd_yaml(pnfd_id))
        assert st == 204, body
        [p_onb] = await received(by_type, 1)
        v.validate(p_onb, "PnfdOnBoardingNotification", api=NOTIF)
        assert (p_onb["notificationType"], p_onb["pnfdInfoId"], p_onb["pnfdId"], p_onb["subscriptionId"]) == (
            "PnfdOnBoardingNotification", pnfd_info, pnfd_id, typed["id"])
        assert p_onb["_links"]["pnfdInfo"]["href"] == f"{P}/{pnfd_info}"
        assert [n["notificationType"] for n in await received(by_pnfd, 1)] == ["PnfdOnBoardingNotification"]

        # the VNF package and an NSD of another nsdId (s.onboard): nothing for by_nsd
        pkg_id, _ = await s.onboard(vnfd_id, str(uuid.uuid4()))
        # an NSD referencing a PNFD nobody onboarded: 422, ERROR
        missing, st, body, h = await put_nsd(s, nsd_with_pnf(str(uuid.uuid4()), vnfd_id, str(uuid.uuid4())))
        assert "references PNFD" in problem(st, body, h, 422)["detail"]
        # the NSD referencing the PNFD: onboarded, the PNFD in use
        nsd_info, st, body, _ = await put_nsd(s, nsd_with_pnf(nsd_id, vnfd_id, pnfd_id))
        assert st == 204, body
        [onb] = await received(by_nsd, 1)
        v.validate(onb, "NsdOnBoardingNotification", api=NOTIF)
        assert (onb["notificationType"], onb["nsdInfoId"], onb["nsdId"], onb["subscriptionId"]) == (
            "NsdOnBoardingNotification", nsd_info, nsd_id, sub["id"])
        assert onb["_links"] == {"nsdInfo": {"href": f"{N}/{nsd_info}"}, "subscription": {"href": f"{subs}/{sub['id']}"}}
        _, info, _ = await s.req("GET", f"{N}/{nsd_info}", expect=200)
        v.validate(info, "NsdInfo", api=NSDM)
        assert (info["pnfdInfoIds"], info["vnfPkgIds"]) == ([pnfd_info], [pkg_id])
        _, pnfd, _ = await s.req("GET", f"{P}/{pnfd_info}", expect=200)
        assert pnfd["pnfdUsageState"] == "IN_USE"
        assert nsd_info in problem(*await raw(s, "DELETE", f"{P}/{pnfd_info}"), 409)["detail"]

        # the same nsdId again: 422 naming the onboarded NsdInfo; this one ERROR with the details
        dup, st, body, h = await put_nsd(s, nsd_with_pnf(nsd_id, vnfd_id, pnfd_id))
        assert nsd_info in problem(st, body, h, 422)["detail"]
        _, dup_info, _ = await s.req("GET", f"{N}/{dup}", expect=200)
        v.validate(dup_info, "NsdInfo", api=NSDM)
        assert dup_info["nsdOnboardingState"] == "ERROR" and nsd_info in dup_info["onboardingFailureDetails"]["detail"]
        _, fail = await received(by_nsd, 2)  # it names the nsdId, so the nsdId filter matches
        v.validate(fail, "NsdOnBoardingFailureNotification", api=NOTIF)
        assert (fail["notificationType"], fail["nsdInfoId"], fail["nsdId"]) == ("NsdOnBoardingFailureNotification", dup, nsd_id)
        assert fail["onboardingFailureDetails"]["status"] == 422
        # by_type got both failures (the missing-PNFD one too), not the onboardings
        failures = (await received(by_type, 3))[1:]
        for n in failures:
            v.validate(n, "NsdOnBoardingFailureNotification", api=NOTIF)
        assert [n["nsdInfoId"] for n in failures] == [missing, dup]

        # operational state: NsdChangeNotification; then delete: NsdDeletionNotification, the PNFD free again
        await s.req("PATCH", f"{N}/{nsd_info}", json={"nsdOperationalState": "DISABLED"}, headers=merge, expect=200)
        await s.req("PATCH", f"{N}/{nsd_info}", json={"userDefinedData": {"a": "b"}}, headers=merge, expect=200)  # no change
        _, _, change = await received(by_nsd, 3)
        v.validate(change, "NsdChangeNotification", api=NOTIF)
        assert (change["notificationType"], change["nsdInfoId"], change["nsdOperationalState"]) == (
            "NsdChangeNotification", nsd_info, "DISABLED")
        await s.req("DELETE", f"{N}/{nsd_info}", expect=204)
        await s.req("DELETE", f"{N}/{dup}", expect=204)  # never onboarded: no deletion notification
        deletion = (await received(by_nsd, 4))[3]
        v.validate(deletion, "NsdDeletionNotification", api=NOTIF)
        assert (deletion["notificationType"], deletion["nsdInfoId"], deletion["nsdId"]) == (
            "NsdDeletionNotification", nsd_info, nsd_id)
        problem(*await raw(s, "GET", f"{N}/{nsd_info}/nsd_content"), 404)
        _, pnfd, _ = await s.req("GET", f"{P}/{pnfd_info}", expect=200)
        assert pnfd["pnfdUsageState"] == "NOT_IN_USE"
        await s.req("DELETE", f"{P}/{pnfd_info}", expect=204)
        _, p_del = await received(by_pnfd, 2)
        v.validate(p_del, "PnfdDeletionNotification", api=NOTIF)
        assert (p_del["notificationType"], p_del["pnfdInfoId"], p_del["pnfdId"]) == ("PnfdDeletionNotification", pnfd_info, pnfd_id)

        assert len(by_type.received) == 3 and other.received == []
        await s.req("DELETE", f"{subs}/{sub['id']}", expect=204)
        problem(*await raw(s, "GET", f"{subs}/{sub['id']}"), 404)


def billion_laughs(levels: int = 9) -> bytes:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def zipped(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


async def test_hostile_pnfd_uploads_are_422_and_error(suite):
    s = suite
    P = f"{s.nfvo}/nsd/v2/pnf_descriptors"
    meta = b"TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: x\nEntry-Definitions: pnfd.yaml\n"
    async with CallbackServer() as cb:
        await s.req("POST", f"{s.nfvo}/nsd/v2/subscriptions", json={"callbackUri": cb.url, "filter": {
            "notificationTypes": ["PnfdOnBoardingFailureNotification"]}}, expect=201)
        cases = [
            ("text/plain", billion_laughs(), "alias"),  # YAML alias bomb
            ("application/zip", zipped({"TOSCA-Metadata/TOSCA.meta": meta, "pnfd.yaml": billion_laughs()}), "alias"),
            ("application/zip", zipped({"../pnfd.yaml": pnfd_yaml("x")}), "unsafe path"),  # zip-slip
            ("application/zip", zipped({"TOSCA-Metadata/TOSCA.meta": meta.replace(b"pnfd.yaml", b"../pnfd.yaml"),
                                        "pnfd.yaml": pnfd_yaml("x")}), "unsafe path"),
            ("application/zip", zipped({"pnfd.yaml": pnfd_yaml("x"), "Files/zeros": b"\0" * (8 * 2**20)}), "compression ratio"),
            ("application/zip", b"PK\x03\x04 not a zip", "zip"),
        ]
        ids = []
        for ctype, data, words in cases:
            pid, st, body, h = await put_pnfd(s, data, ctype)
            assert words in problem(st, body, h, 422)["detail"]
            _, got, _ = await s.req("GET", f"{P}/{pid}", expect=200)
            assert got["pnfdOnboardingState"] == "ERROR" and words in got["onboardingFailureDetails"]["detail"]
            ids.append(pid)
        got = await received(cb, len(cases))
        for n in got:
            schemas().validate(n, "PnfdOnBoardingFailureNotification", api=NOTIF)
        assert sorted(n["pnfdInfoId"] for n in got) == sorted(ids)
        assert all("pnfdId" not in n for n in got)
        # a symlink entry too
        info = zipfile.ZipInfo("pnfd.yaml")
        info.external_attr = (0o120777 << 16)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(info, b"/etc/passwd")
        _, st, body, h = await put_pnfd(s, buf.getvalue(), "application/zip")
        assert "symbolic link" in problem(st, body, h, 422)["detail"]
