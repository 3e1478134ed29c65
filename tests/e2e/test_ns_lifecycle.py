"""The foundation's end-to-end NS lifecycle across all four services, over real HTTP."""
from __future__ import annotations

import uuid

from tests.suite import running_suite


def _ids() -> tuple[str, str]:
    return str(uuid.uuid4()), str(uuid.uuid4())


async def test_ns_instantiate_terminate_in_process(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        await ns_lifecycle(s)


async def ns_lifecycle(s) -> dict:
    vnfd_id, nsd_id = _ids()
    pkg_id, nsd_info_id = await s.onboard(vnfd_id, nsd_id)
    _, ns, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": "ns1", "nsDescription": "e2e"}, expect=201)
    assert h["Location"].endswith(ns["id"]) and ns["nsState"] == "NOT_INSTANTIATED"
    _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=202)
    op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
    assert op["operationState"] == "COMPLETED", op
    _, got, _ = await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=200)
    assert got["nsState"] == "INSTANTIATED"
    vnf_ids = [v["id"] for v in got["vnfInstance"]]
    assert len(vnf_ids) == 1
    _, vnf, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances/{vnf_ids[0]}", expect=200)
    assert vnf["instantiationState"] == "INSTANTIATED"
    vnfcs = vnf["instantiatedVnfInfo"]["vnfcResourceInfo"]
    assert {c["vduId"] for c in vnfcs} == {"VDU1", "VDU2"}
    _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
    assert len([r for r in res if r.get("type") == "COMPUTE"]) == len(vnfcs)
    _, pkg, _ = await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{pkg_id}", expect=200)
    assert pkg["usageState"] == "IN_USE"
    # A second operation while the NS is busy is refused; here the NS is idle, so instantiate again is 409 by state.
    await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=409)

    _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/terminate", json={}, expect=202)
    op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
    assert op["operationState"] == "COMPLETED", op
    _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
    assert res == []
    await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances/{vnf_ids[0]}", expect=404)
    await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=204)
    await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=404)
    return {"ns": ns, "vnf_ids": vnf_ids}


async def test_ns_with_failing_vnf_waits_in_failed_temp_then_retry_and_rollback(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        vnfd_id, nsd_id = _ids()
        await s.onboard(vnfd_id, nsd_id)
        _, vim, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json={"name": "tiny", "vimConnectionInfo": {
            "vimType": "MAGI.SIMULATED", "extra": {"vcpus": 1, "memoryMb": 256, "storageGb": 1}}}, expect=201)
        _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": "f", "nsDescription": "f"}, expect=201)
        body = {"nsFlavourId": "default", "additionalParamsForVnf": [{"vnfProfileId": "VNF1", "additionalParams": {"vimId": vim["id"]}}]}
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json=body, expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
        assert op["operationState"] == "FAILED_TEMP"
        assert "instantiate VNF VNF1" in op["error"]["detail"] and "capacity" in op["error"]["detail"]
        # the NS is held by its failed operation
        await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=409)
        await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=409)
        # retry: the failed VNF attempt is rolled back on the VNFM and tried again (and fails again here)
        await s.req("POST", f"{h['Location']}/retry", expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
        assert op["operationState"] == "FAILED_TEMP"
        # rollback removes everything the operation created: VNF instances and VIM resources
        await s.req("POST", f"{h['Location']}/rollback", expect=202)
        op = await s.wait_op(h["Location"], {"ROLLED_BACK", "FAILED_TEMP"})
        assert op["operationState"] == "ROLLED_BACK", op
        _, vnfs, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances", expect=200)
        assert vnfs == []
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        assert res == []
        await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=204)


async def test_usage_states_follow_instances(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        vnfd_id, nsd_id = _ids()
        pkg_id, nsd_info_id = await s.onboard(vnfd_id, nsd_id)
        nsd_url, pkg_url = f"{s.nfvo}/nsd/v2/ns_descriptors/{nsd_info_id}", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{pkg_id}"
        ids = []
        for name in ("a", "b"):
            _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": name, "nsDescription": name}, expect=201)
            ids.append(ns["id"])
            _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=202)
            assert (await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"}))["operationState"] == "COMPLETED"
        assert (await s.req("GET", nsd_url))[1]["nsdUsageState"] == "IN_USE"
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ids[0]}/terminate", json={}, expect=202)
        await s.wait_op(h["Location"], {"COMPLETED"})
        assert (await s.req("GET", pkg_url))[1]["usageState"] == "IN_USE"  # the other NS still runs it
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ids[1]}/terminate", json={}, expect=202)
        await s.wait_op(h["Location"], {"COMPLETED"})
        assert (await s.req("GET", pkg_url))[1]["usageState"] == "NOT_IN_USE"
        # a package in use cannot go; a disabled, unused one can
        for ns_id in ids:
            await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns_id}", expect=204)
        assert (await s.req("GET", nsd_url))[1]["nsdUsageState"] == "NOT_IN_USE"
        await s.req("DELETE", pkg_url, expect=409)  # still ENABLED
        _, _, h = await s.req("GET", pkg_url)
        await s.req("PATCH", pkg_url, json={"operationalState": "DISABLED"}, headers={"Content-Type": "application/merge-patch+json"}, expect=200)
        await s.req("DELETE", pkg_url, expect=204)


async def test_vendor_vnfm_plugged_in_over_sol003_http(mongo_uri, db_prefix):
    """A VNFM registered for a package's vnfmInfo is driven over SOL003 HTTP (here: MAGI's own
    VNFM API standing in for a vendor's), every other VNF over Or-Vnfm."""
    async with running_suite(mongo_uri, db_prefix) as s:
        vnfd_id, nsd_id = _ids()
        await s.onboard(vnfd_id, nsd_id, vnfm_info=["VendorX-VNFM"])
        _, vnfm, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vnfms", json={"name": "vendor-x", "apiRoot": s.vnfm,
                                                                            "vnfmInfo": ["VendorX-VNFM"], "accessToken": "secret"}, expect=201)
        assert "accessToken" not in vnfm
        http_before = await _vnfm_http_posts(s)
        _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": "v", "nsDescription": "v"}, expect=201)
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=202)
        assert (await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"}))["operationState"] == "COMPLETED"
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/terminate", json={}, expect=202)
        assert (await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"}))["operationState"] == "COMPLETED"
        # create (201), instantiate (202), terminate (202), delete (204) arrived over HTTP
        assert await _vnfm_http_posts(s) - http_before >= 3


async def _vnfm_http_posts(s) -> float:
    async with s.http.get(f"{s.vnfm}/metrics") as r:
        text = await r.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("magi_http_requests_total{") and 'method="POST"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
