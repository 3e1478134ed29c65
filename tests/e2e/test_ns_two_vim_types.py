"""One NS across two VIM types: VNF1 on a simulated VIM in France, VNF2 on an OpenStack VIM in
Germany (the fake cloud over real HTTP, driven by openstacksdk). Instantiate, look at what the
cloud holds, terminate, and see it all gone; monitoring hears of a server that went to SHUTOFF."""
from __future__ import annotations

import asyncio
import json
import time

from tests.e2e.test_multi_vim import instantiate, lc, onboard_two, sim
from tests.etsi_schema import schemas
from tests.fake_openstack import FakeOpenStack
from tests.suite import running_suite

NS = "SOL005/NSLifecycleManagement"
KINDS = ("servers", "ports", "networks", "subnets", "volumes", "images", "security_groups", "server_groups")


def openstack_vim(cloud: FakeOpenStack) -> dict:
    conn = cloud.vim_connection_info("00000000-0000-4000-8000-0000000000de")
    return {"name": "frankfurt-openstack", "vimConnectionInfo": conn,
            "site": {"name": "fra1", "location": {"countryCode": "DE", "civicAddressElement": [{"caType": 3, "caValue": "Frankfurt"}]}},
            "zones": [{"zoneId": "nova"}]}


def magi_resources(cloud: FakeOpenStack) -> dict[str, list[str]]:
    """What the cloud holds that MAGI made (named magi-*), by kind."""
    return {k: sorted(r.get("name") or r["id"] for r in getattr(cloud, k).values() if str(r.get("name") or "").startswith("magi-"))
            for k in KINDS}


async def test_ns_spans_a_simulated_and_an_openstack_vim(mongo_uri, db_prefix):
    async with FakeOpenStack(build_seconds=0.05) as cloud, running_suite(mongo_uri, db_prefix) as s:
        _, fr, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json=sim("paris", "FR", "Paris"), expect=201)
        _, de, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json=openstack_vim(cloud), expect=201)
        assert "accessInfo" not in de["vimConnectionInfo"]
        _, cap, _ = await s.req("GET", f"{s.nfvo}/magi/v1/vims/{de['id']}/capacity", expect=200)
        assert cap["total"]["vcpus"] > 0, cap  # Nova limits, read over Or-Vi by the VIM adapter

        nsd_id = await onboard_two(s)
        t0 = time.monotonic()
        ns, op = await instantiate(s, nsd_id, {"locationConstraints": [lc("VNF1", "FR"), lc("VNF2", "DE")]})
        took = time.monotonic() - t0
        assert op["operationState"] == "COMPLETED", op
        _, got, _ = await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=200)
        schemas().validate(got, "NsInstance", api=NS)
        on = {x["vnfInstanceName"].rsplit("-", 1)[1]: x for x in got["vnfInstance"]}
        assert (on["VNF1"]["vimId"], on["VNF2"]["vimId"]) == (fr["id"], de["id"])
        (vl,) = got["virtualLinkInfo"]
        assert sorted(h["vimId"] for h in vl["resourceHandle"]) == sorted([fr["id"], de["id"]])

        # the cloud: VNF2's two VNFCs as ACTIVE servers with ports on its internal network, the NS VL,
        # the image uploaded from the package (the cloud did not have it)
        held = magi_resources(cloud)
        servers = [sv for sv in cloud.servers.values() if sv["name"].startswith("magi-")]
        assert len(servers) == 2 and all(sv["status"] == "ACTIVE" and sv["addresses"] for sv in servers), servers
        assert len(held["networks"]) == 2 and len(held["subnets"]) == 2  # VNF2's internal VL + the NS VL
        assert len(held["ports"]) >= 3
        assert [i["name"] for i in cloud.images.values() if "MAGI" in (i.get("tags") or [])] == ["magi-test-image"]
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources?vimId={de['id']}", expect=200)
        assert {r["vimResourceId"] for r in res if r["type"] == "COMPUTE"} == {sv["id"] for sv in servers}
        _, sim_res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources?vimId={fr['id']}", expect=200)
        assert {r["type"] for r in sim_res} == {"COMPUTE", "VL"}
        print(f"\n  NS across {fr['name']} (MAGI.SIMULATED) and {de['name']} (OpenStack fake) instantiated in {took:.2f} s")
        print("  in the OpenStack VIM after instantiate:", json.dumps({k: len(v) for k, v in held.items()}))

        # a server stopped behind MAGI's back: drift → monitoring raises an alarm on VNF2
        victim = servers[0]
        cloud.oob_set("servers", victim["id"], status="SHUTOFF")
        _, report, _ = await s.req("POST", f"{s.vim}/magi/v1/vims/{de['id']}/reconcile", expect=200)
        assert [i["drift"] for i in report["items"] if i.get("vimResourceId") == victim["id"]] == ["STATE_CHANGED"], report
        deadline = time.monotonic() + 10
        while True:
            _, alarms, _ = await s.req("GET", f"{s.monitoring}/magi/v1/alarms?vimId={de['id']}", expect=200)
            if alarms:
                break
            assert time.monotonic() < deadline, "no alarm"
            await asyncio.sleep(0.05)
        (alarm,) = alarms
        assert alarm["managedObjectId"] == on["VNF2"]["id"] and alarm["perceivedSeverity"] == "MAJOR", alarm
        cloud.oob_set("servers", victim["id"], status="ACTIVE")

        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/terminate", json={}, expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
        assert op["operationState"] == "COMPLETED", op
        after = magi_resources(cloud)
        print("  in the OpenStack VIM after terminate:", json.dumps({k: len(v) for k, v in after.items()}))
        # every server, port, network, subnet, volume, group MAGI made is gone; the image stays (shared, cached)
        assert {k: v for k, v in after.items() if k != "images"} == {k: [] for k in KINDS if k != "images"}
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        assert res == []
        await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=204)
