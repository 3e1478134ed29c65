"""Multi-VIM, multi-site placement end to end: VIMs in different countries, an NS whose VNFs land
on different VIMs by locationConstraints, pins, capacity refusals, and credentials kept secret."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import yaml

from tests.etsi_schema import schemas
from tests.suite import running_suite
from tests.unit.pkgfactory import make_nsd_yaml, make_vnf_csar
from vim_adapter.api import ADAPTER

NS = "SOL005/NSLifecycleManagement"
SECRET = "s3cret-Pa55"


def site(name, country, city):
    return {"name": name, "location": {"countryCode": country, "civicAddressElement": [{"caType": 3, "caValue": city}]}}


def sim(name, country, city, **kw):
    return {"name": name, "site": site(f"{name}-site", country, city), "zones": [{"zoneId": f"{name}-az1"}, {"zoneId": f"{name}-az2"}],
            "vimConnectionInfo": {"vimType": "MAGI.SIMULATED", "interfaceInfo": {"endpoint": f"simulated://{name}"},
                                  "accessInfo": {"username": "admin", "password": SECRET}}, **kw}


def two_vnf_nsd(nsd_id: str, vnfd1: str, vnfd2: str) -> bytes:
    doc = yaml.safe_load(make_nsd_yaml(nsd_id, vnfd1))
    nodes = doc["topology_template"]["node_templates"]
    vnf2 = json.loads(json.dumps(nodes["VNF1"]))
    vnf2["properties"]["descriptor_id"] = vnfd2
    nodes["VNF2"] = vnf2
    return yaml.safe_dump(doc).encode()


async def onboard_pkg(s, vnfd_id: str) -> str:
    _, pkg, _ = await s.req("POST", f"{s.nfvo}/vnfpkgm/v2/vnf_packages", json={}, expect=201)
    await s.req("PUT", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{pkg['id']}/package_content", data=make_vnf_csar(vnfd_id),
                headers={"Content-Type": "application/zip"}, expect=202)
    deadline = time.monotonic() + 30
    while (await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{pkg['id']}"))[1]["onboardingState"] != "ONBOARDED":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    return pkg["id"]


async def onboard_two(s) -> str:
    vnfd1, vnfd2, nsd_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    await onboard_pkg(s, vnfd1)
    await onboard_pkg(s, vnfd2)
    _, nsd, _ = await s.req("POST", f"{s.nfvo}/nsd/v2/ns_descriptors", json={}, expect=201)
    await s.req("PUT", f"{s.nfvo}/nsd/v2/ns_descriptors/{nsd['id']}/nsd_content", data=two_vnf_nsd(nsd_id, vnfd1, vnfd2),
                headers={"Content-Type": "application/yaml"}, expect=204)
    return nsd_id


async def instantiate(s, nsd_id: str, body: dict) -> tuple[dict, dict]:
    _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": "mv", "nsDescription": "mv"}, expect=201)
    _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default", **body}, expect=202)
    return ns, await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})


def lc(profile: str, country: str) -> dict:
    return {"vnfProfileId": profile, "locationConstraints": {"countryCode": country}}


def no_secret(*bodies) -> None:
    for b in bodies:
        text = json.dumps(b)
        assert SECRET not in text and "accessInfo" not in text and "sealed" not in text, text[:400]


async def test_vnfs_of_one_ns_on_two_countries(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        v = schemas()
        _, fr, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json=sim("paris", "FR", "Paris"), expect=201)
        _, de, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json=sim("berlin", "DE", "Berlin"), expect=201)
        assert fr["site"]["location"]["countryCode"] == "FR" and fr["zones"][0]["zoneId"] == "paris-az1"
        # credentials: sealed at rest, never answered
        raw = await s.unit("nfvo").ctx.store.db["vims"].find_one({"_id": fr["id"]})
        assert set(raw["vimConnectionInfo"]["accessInfo"]) == {"sealed"} and SECRET not in json.dumps(raw, default=str)
        _, listed, _ = await s.req("GET", f"{s.nfvo}/magi/v1/vims", expect=200)
        _, one, _ = await s.req("GET", f"{s.nfvo}/magi/v1/vims/{fr['id']}", expect=200)
        no_secret(fr, de, listed, one)

        nsd_id = await onboard_two(s)
        ns, op = await instantiate(s, nsd_id, {"locationConstraints": [lc("VNF1", "FR"), lc("VNF2", "DE")]})
        assert op["operationState"] == "COMPLETED", op
        _, got, _ = await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=200)
        v.validate(got, "NsInstance", api=NS)
        no_secret(got, op)
        on = {x["vnfInstanceName"].rsplit("-", 1)[1]: x for x in got["vnfInstance"]}
        assert on["VNF1"]["vimId"] == fr["id"] and on["VNF2"]["vimId"] == de["id"]
        assert on["VNF1"]["metadata"]["vimName"] == "paris"
        # the NS VL is on both VIMs
        (vl,) = got["virtualLinkInfo"]
        assert sorted(h["vimId"] for h in vl["resourceHandle"]) == sorted([fr["id"], de["id"]])
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        ns_vls = [r for r in res if r.get("ownerId") == ns["id"]]
        assert sorted(r["vimId"] for r in ns_vls) == sorted([fr["id"], de["id"]])
        computes = {r["vimId"] for r in res if r.get("type") == "COMPUTE"}
        assert computes == {fr["id"], de["id"]}
        assert {r.get("zoneId") for r in res if r.get("type") == "COMPUTE" and r["vimId"] == fr["id"]} == {"paris-az1"}
        # what the built-in VNFM got: no credentials
        _, vnf, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances/{on['VNF1']['id']}", expect=200)
        no_secret(vnf)
        # a VIM hosting VNFs cannot be deleted
        _, prob, _ = await s.req("DELETE", f"{s.nfvo}/magi/v1/vims/{fr['id']}", expect=409)
        assert "in use" in prob["detail"]

        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/terminate", json={}, expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
        assert op["operationState"] == "COMPLETED", op
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        assert res == []
        await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=204)
        await s.req("DELETE", f"{s.nfvo}/magi/v1/vims/{fr['id']}", expect=204)
        await s.req("GET", f"{s.nfvo}/magi/v1/vims/{fr['id']}", expect=404)


async def test_pin_capacity_and_location_refusals(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        _, fr, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json=sim("paris", "FR", "Paris"), expect=201)
        _, de, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json=sim("berlin", "DE", "Berlin"), expect=201)
        _, it, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json=sim("rome", "IT", "Roma", capacityLimits={"vcpus": 1}), expect=201)
        nsd_id = await onboard_two(s)
        # pin: VNF1 pinned to berlin, VNF2 by location to Germany too
        body = {"locationConstraints": [lc("VNF2", "DE")],
                "additionalParamsForVnf": [{"vnfProfileId": "VNF1", "additionalParams": {"vimId": de["id"]}}]}
        ns, op = await instantiate(s, nsd_id, body)
        assert op["operationState"] == "COMPLETED", op
        _, got, _ = await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=200)
        assert {x["vimId"] for x in got["vnfInstance"]} == {de["id"]}
        assert [h["vimId"] for h in got["virtualLinkInfo"][0]["resourceHandle"]] == [de["id"]]
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/terminate", json={}, expect=202)
        assert (await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"}))["operationState"] == "COMPLETED"

        # capacity: rome may hold 1 vCPU, each VNF needs 2 → the grant is refused, the NS op fails with the reason
        ns, op = await instantiate(s, nsd_id, {"locationConstraints": [lc("VNF1", "IT"), lc("VNF2", "IT")]})
        assert op["operationState"] == "FAILED_TEMP"
        detail = op["error"]["detail"]
        assert "insufficient capacity for vnfProfile VNF1: VIM rome has 1 free vCPUs, VNF needs 2" in detail, detail
        schemas().validate(op, "NsLcmOpOcc", api=NS)
        await s.req("POST", f"{op['_links']['self']['href']}/rollback", expect=202)
        op = await s.wait_op(op["_links"]["self"]["href"], {"ROLLED_BACK", "FAILED_TEMP"})
        assert op["operationState"] == "ROLLED_BACK", op
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        assert res == []
        _, vnfs, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances", expect=200)
        assert vnfs == []

        # location nobody matches
        ns2, op = await instantiate(s, nsd_id, {"locationConstraints": [lc("VNF1", "JP")]})
        assert op["operationState"] == "FAILED_TEMP"
        assert "no registered VIM matches locationConstraints countryCode=JP for vnfProfile VNF1" in op["error"]["detail"]
        await s.req("POST", f"{op['_links']['self']['href']}/rollback", expect=202)
        assert (await s.wait_op(op["_links"]["self"]["href"], {"ROLLED_BACK", "FAILED_TEMP"}))["operationState"] == "ROLLED_BACK"
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        assert res == []


async def test_vim_patch_and_grants_to_external_vnfms(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        _, fr, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json=sim("paris", "FR", "Paris"), expect=201)
        before = (await s.unit("nfvo").ctx.store.db["vims"].find_one({"_id": fr["id"]}))["vimConnectionInfo"]["accessInfo"]
        patch = {"name": "paris-2", "site": {"location": {"countryCode": "FR", "civicAddressElement": [{"caType": 3, "caValue": "Lyon"}]}},
                 "zones": [{"zoneId": "z9"}], "vimConnectionInfo": {"accessInfo": {"username": "admin", "password": "n3w-" + SECRET},
                                                                     "extra": {"note": "x"}}}
        _, got, _ = await s.req("PATCH", f"{s.nfvo}/magi/v1/vims/{fr['id']}", json=patch,
                                headers={"Content-Type": "application/merge-patch+json"}, expect=200)
        no_secret(got)
        assert got["name"] == "paris-2" and got["site"]["name"] == "paris-site" and got["zones"] == [{"zoneId": "z9"}]
        assert got["site"]["location"]["civicAddressElement"][0]["caValue"] == "Lyon" and got["vimConnectionInfo"]["extra"] == {"note": "x"}
        after = (await s.unit("nfvo").ctx.store.db["vims"].find_one({"_id": fr["id"]}))["vimConnectionInfo"]["accessInfo"]
        assert set(after) == {"sealed"} and after != before
        await s.req("PATCH", f"{s.nfvo}/magi/v1/vims/unknown", json={"name": "x"}, headers={"Content-Type": "application/merge-patch+json"}, expect=404)
        await s.req("DELETE", f"{s.nfvo}/magi/v1/vims/unknown", expect=404)
        # a vendor VNFM asking over HTTP gets the credentials (SOL003: it must reach the VIM itself)
        vnfd_id = str(uuid.uuid4())
        await onboard_pkg(s, vnfd_id)
        req = {"vnfInstanceId": str(uuid.uuid4()), "vnfLcmOpOccId": str(uuid.uuid4()), "vnfdId": vnfd_id, "operation": "INSTANTIATE",
               "isAutomaticInvocation": False, "flavourId": "simple",
               "addResources": [{"id": "r1", "type": "COMPUTE", "resourceTemplateId": "VDU1", "vduId": "VDU1", "vnfdId": vnfd_id}],
               "additionalParams": {"vimId": fr["id"]}, "_links": {"vnfLcmOpOcc": {"href": "x"}, "vnfInstance": {"href": "y"}}}
        _, grant, _ = await s.req("POST", f"{s.nfvo}/grant/v1/grants", json=req, headers={"Version": "1.5.0"}, expect=201)
        assert grant["vimConnectionInfo"][fr["id"]]["accessInfo"]["password"] == "n3w-" + SECRET
        assert grant["addResources"][0]["vimConnectionId"] == fr["id"] and grant["zones"][0]["zoneId"] == "z9"
        # a refused grant is a 403 ProblemDetails naming the reason
        req2 = {**req, "vnfLcmOpOccId": str(uuid.uuid4()), "additionalParams": {"vimId": "nowhere"}}
        _, prob, _ = await s.req("POST", f"{s.nfvo}/grant/v1/grants", json=req2, headers={"Version": "1.5.0"}, expect=403)
        assert "VIM nowhere requested by additionalParams.vimId" in prob["detail"]
        # capacity over Or-Vi, once the VIM adapter answers `vim.capacity`
        if any(b.pattern == "vim.capacity" for b in s.unit("vim_adapter").ctx.bus.bindings):
            _, cap, _ = await s.req("GET", f"{s.nfvo}/magi/v1/vims/{fr['id']}/capacity", expect=200)
            assert "free" in cap
            no_secret(cap)
        await s.req("GET", f"{s.nfvo}/magi/v1/vims/unknown/capacity", expect=404)
        # the VIM adapter reads the credentials back over Or-Vi
        from magi.bus.catalog import message
        conn = await s.unit("vim_adapter").ctx.bus.request(message("vimaccess.get", {"vimId": fr["id"]}, source="vim_adapter"))
        assert SECRET not in json.dumps(conn)  # sealed on the bus (and in the NFVO's dedupe record)
        assert s.unit("vim_adapter").ctx.app[ADAPTER].box.open(conn["accessInfo"])["password"] == "n3w-" + SECRET
