"""SOL003/SOL005 contract over real HTTP: bodies validated against the ETSI schemas, every
notification type delivered, and bad input answered with the right 4xx ProblemDetails."""
from __future__ import annotations

import uuid

import pytest

from tests.callbacks import CallbackServer
from tests.etsi_schema import schemas
from tests.suite import running_suite

LCM = "SOL003/VNFLifecycleManagement"
LCM_N = "SOL003/VNFLifecycleManagementNotification"
NS = "SOL005/NSLifecycleManagement"
NS_N = "SOL005/NSLifecycleManagementNotification"


@pytest.fixture
async def suite(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        yield s


async def test_vnflcm_driven_directly_with_notifications(suite):
    s = suite
    vnfd_id = str(uuid.uuid4())
    await s.onboard(vnfd_id, str(uuid.uuid4()))
    v = schemas()
    async with CallbackServer() as cb:
        _, sub, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/subscriptions", json={"callbackUri": cb.url}, expect=201)
        v.validate(sub, "LccnSubscription", api=LCM)
        _, inst, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances", json={"vnfdId": vnfd_id, "vnfInstanceName": "direct"}, expect=201)
        v.validate(inst, "VnfInstance", api=LCM)
        assert h["Version"] == "2.1.0"
        _, _, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/instantiate",
                              json={"flavourId": "simple", "instantiationLevelId": "instantiation_level_1"}, expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
        assert op["operationState"] == "COMPLETED", op
        v.validate(op, "VnfLcmOpOcc", api=LCM)
        # a second operation on the instance while idle but INSTANTIATED: instantiate is a 409
        _, prob, _ = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/instantiate", json={"flavourId": "simple"}, expect=409)
        v.validate(prob, "ProblemDetails", api=LCM)
        _, full, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}", expect=200)
        v.validate(full, "VnfInstance", api=LCM)
        assert full["instantiatedVnfInfo"]["flavourId"] == "simple"
        _, lst, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances?filter=(eq,instantiationState,INSTANTIATED)", expect=200)
        assert [i["id"] for i in lst] == [inst["id"]] and "instantiatedVnfInfo" not in lst[0]  # excluded by default
        _, lst, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances?all_fields", expect=200)
        assert "instantiatedVnfInfo" in lst[0]
        _, _, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/terminate", json={"terminationType": "FORCEFUL"}, expect=202)
        assert (await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"}))["operationState"] == "COMPLETED"
        await s.req("DELETE", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}", expect=204)

        await cb.wait_for(lambda n: n["notificationType"] == "VnfIdentifierDeletionNotification")
        got = {(n["notificationType"], n.get("operationState")) for n in cb.received}
        for expected in [("VnfIdentifierCreationNotification", None), ("VnfIdentifierDeletionNotification", None),
                         ("VnfLcmOperationOccurrenceNotification", "STARTING"), ("VnfLcmOperationOccurrenceNotification", "PROCESSING"),
                         ("VnfLcmOperationOccurrenceNotification", "COMPLETED")]:
            assert expected in got, (expected, got)
        for n in cb.received:
            v.validate(n, n["notificationType"], api=LCM_N)
            assert n["subscriptionId"] == sub["id"]


async def test_nslcm_notifications_and_schemas(suite):
    s = suite
    nsd_id = str(uuid.uuid4())
    await s.onboard(str(uuid.uuid4()), nsd_id)
    v = schemas()
    async with CallbackServer() as cb:
        _, sub, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/subscriptions",
                                json={"callbackUri": cb.url, "filter": {"notificationTypes": ["NsLcmOperationOccurrenceNotification"]}}, expect=201)
        _, all_sub, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/subscriptions", json={"callbackUri": cb.url + "?all"}, expect=201)
        v.validate(sub, "LccnSubscription", api=NS)
        _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": "n", "nsDescription": "d"}, expect=201)
        v.validate(ns, "NsInstance", api=NS)
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
        assert op["operationState"] == "COMPLETED", op
        v.validate(op, "NsLcmOpOcc", api=NS)
        _, full, _ = await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=200)
        v.validate(full, "NsInstance", api=NS)
        hits = await cb.wait_for(lambda n: n.get("operationState") == "COMPLETED")
        assert hits[0]["nsLcmOpOccId"] == op["id"]
        await cb.wait_for(lambda n: n["notificationType"] == "NsChangeNotification")
        await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/terminate", json={}, expect=202)
        _, ops, _ = await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_lcm_op_occs?filter=(eq,lcmOperationType,TERMINATE)", expect=200)
        await s.wait_op(ops[0]["_links"]["self"]["href"], {"COMPLETED"})
        await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=204)
        await cb.wait_for(lambda n: n["notificationType"] == "NsIdentifierDeletionNotification")
        types = {n["notificationType"] for n in cb.received}
        assert types == {"NsLcmOperationOccurrenceNotification", "NsIdentifierCreationNotification",
                         "NsIdentifierDeletionNotification", "NsChangeNotification"}, types
        for n in cb.received:
            v.validate(n, n["notificationType"], api=NS_N)
        # the filtered subscription got op-occ notifications only
        assert {n["notificationType"] for n in cb.received if n["subscriptionId"] == sub["id"]} == {"NsLcmOperationOccurrenceNotification"}


async def test_api_versions_and_conventions(suite):
    s = suite
    v = schemas()
    for base, api in ((s.vnfm, "vnflcm"), (s.nfvo, "nslcm"), (s.nfvo, "vnfpkgm"), (s.nfvo, "nsd"), (s.nfvo, "grant")):
        for path in (f"/{api}/api_versions", f"/{api}/{'v1' if api == 'grant' else 'v2'}/api_versions"):
            _, body, _ = await s.req("GET", base + path, expect=200)
            v.validate(body, "ApiVersionInformation", api="SOL003/VNFLifecycleManagement")
    await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances", headers={"Version": "9.0.0"}, expect=406)
    await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances", headers={"Version": "two"}, expect=400)
    for url, status in ((f"{s.vnfm}/vnflcm/v2/nothing_here", 404), (f"{s.nfvo}/nslcm/v2/ns_instances/x/y/z", 404)):
        _, body, h = await s.req("GET", url, expect=status)
        assert h["Content-Type"].startswith("application/problem+json") and body["status"] == status
    _, body, h = await s.req("PUT", f"{s.vnfm}/vnflcm/v2/vnf_instances", json={}, expect=405)
    assert body["status"] == 405 and "Allow" in h
    for svc in (s.nfvo, s.vnfm, s.vim, s.monitoring):
        await s.req("GET", f"{svc}/health/live", expect=200)
        _, ready, _ = await s.req("GET", f"{svc}/health/ready", expect=200)
        assert ready["checks"] == {"store": True, "bus": True}
        status, _, h = await s.req("GET", f"{svc}/metrics")
        assert status == 200 and h["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("method,path,kwargs,status", [
    ("POST", "/vnflcm/v2/vnf_instances", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ("POST", "/vnflcm/v2/vnf_instances", {"json": {"vnfdId": 42}}, 400),
    ("POST", "/vnflcm/v2/vnf_instances", {"json": {"vnfdId": "x", "surprise": 1}}, 400),
    ("POST", "/vnflcm/v2/vnf_instances", {"json": {"vnfdId": "not-onboarded"}}, 422),
    ("GET", "/vnflcm/v2/vnf_instances/unknown-id", {}, 404),
    ("POST", "/vnflcm/v2/vnf_instances/unknown-id/instantiate", {"json": {"flavourId": "simple"}}, 404),
    ("POST", "/vnflcm/v2/vnf_instances/unknown-id/terminate", {"json": {"terminationType": "SOMETIMES"}}, 400),
    ("GET", "/vnflcm/v2/vnf_instances?attribute_not_exist=x", {}, 400),
    ("GET", "/vnflcm/v2/vnf_instances?filter=(eq,noSuchAttr,1)", {}, 400),
    ("GET", "/vnflcm/v2/vnf_instances?filter=(eq,vnfdId", {}, 400),
    ("GET", "/vnflcm/v2/vnf_instances?all_fields&fields=a", {}, 400),
    ("GET", "/vnflcm/v2/vnf_instances?nextpage_opaque_marker=garbage!", {}, 400),
    ("GET", "/vnflcm/v2/vnf_lcm_op_occs/unknown", {}, 404),
    ("POST", "/vnflcm/v2/vnf_lcm_op_occs/unknown/retry", {}, 404),
    ("POST", "/vnflcm/v2/subscriptions", {"json": {"callbackUri": "not a uri"}}, 400),
    ("POST", "/vnflcm/v2/subscriptions", {"json": {"callbackUri": "http://127.0.0.1:9/nobody"}}, 422),
])
async def test_vnfm_bad_input(suite, method, path, kwargs, status):
    _, body, h = await suite.req(method, suite.vnfm + path, expect=status, **kwargs)
    assert h["Content-Type"].startswith("application/problem+json")
    assert body["status"] == status and body["detail"]
    schemas().validate(body, "ProblemDetails", api=LCM)


@pytest.mark.parametrize("method,path,kwargs,status", [
    ("POST", "/nslcm/v2/ns_instances", {"json": {"nsdId": "nope", "nsName": "a", "nsDescription": "b"}}, 422),
    ("POST", "/nslcm/v2/ns_instances", {"json": {"nsName": "a"}}, 400),
    ("POST", "/nslcm/v2/ns_instances/unknown/instantiate", {"json": {"nsFlavourId": "default"}}, 404),
    ("POST", "/nslcm/v2/ns_instances/unknown/instantiate", {"json": {}}, 400),
    ("DELETE", "/nslcm/v2/ns_instances/unknown", {}, 404),
    ("GET", "/nslcm/v2/ns_lcm_op_occs?bogus=1", {}, 400),
    ("PUT", "/vnfpkgm/v2/vnf_packages/unknown/package_content", {"data": b"PK..", "headers": {"Content-Type": "application/zip"}}, 404),
    ("PUT", "/nsd/v2/ns_descriptors/unknown/nsd_content", {"data": b"x: 1", "headers": {"Content-Type": "application/yaml"}}, 404),
    ("POST", "/grant/v1/grants", {"json": {"vnfInstanceId": "a"}, "headers": {"Version": "1.5.0"}}, 400),
    ("POST", "/magi/v1/vims", {"json": {"name": "x", "vimConnectionInfo": {}}}, 400),
    ("GET", "/magi/v1/vims/unknown", {}, 404),
])
async def test_nfvo_bad_input(suite, method, path, kwargs, status):
    _, body, h = await suite.req(method, suite.nfvo + path, expect=status, **kwargs)
    assert h["Content-Type"].startswith("application/problem+json") and body["status"] == status


async def test_broken_package_goes_to_error_with_details(suite):
    s = suite
    _, pkg, _ = await s.req("POST", f"{s.nfvo}/vnfpkgm/v2/vnf_packages", json={}, expect=201)
    await s.req("PUT", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{pkg['id']}/package_content", data=b"PK\x03\x04 this is not a zip",
                headers={"Content-Type": "application/zip"}, expect=202)
    import asyncio
    for _ in range(100):
        _, p, _ = await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{pkg['id']}", expect=200)
        if p["onboardingState"] == "ERROR":
            break
        await asyncio.sleep(0.05)
    assert p["onboardingState"] == "ERROR" and p["onboardingFailureDetails"]["detail"]
    # content can be uploaded once only
    await s.req("PUT", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{pkg['id']}/package_content", data=b"x",
                headers={"Content-Type": "application/zip"}, expect=409)


async def test_failed_vim_step_goes_failed_temp_then_rollback(suite):
    s = suite
    vnfd_id = str(uuid.uuid4())
    await s.onboard(vnfd_id, str(uuid.uuid4()))
    # the grant passes; the VIM refuses VDU2's server after the network and VDU1 exist
    _, vim, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json={"name": "flaky", "vimConnectionInfo": {
        "vimType": "MAGI.SIMULATED", "extra": {"failOn": ["VDU2"]}}}, expect=201)
    _, inst, _ = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances", json={"vnfdId": vnfd_id}, expect=201)
    _, _, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/instantiate",
                          json={"flavourId": "simple", "additionalParams": {"vimId": vim["id"]}}, expect=202)
    op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
    assert op["operationState"] == "FAILED_TEMP"
    assert "step" in op["error"]["detail"] and "injected failure" in op["error"]["detail"]
    schemas().validate(op, "VnfLcmOpOcc", api=LCM)
    _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources?vimId={vim['id']}", expect=200)
    assert res, "the resources made before the failure are there until rollback"
    # busy: another operation on the instance is a 409 while the op occ is FAILED_TEMP
    await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/instantiate", json={"flavourId": "simple"}, expect=409)
    await s.req("POST", f"{op['_links']['self']['href']}/rollback", expect=202)
    op = await s.wait_op(op["_links"]["self"]["href"], {"ROLLED_BACK", "FAILED_TEMP"})
    assert op["operationState"] == "ROLLED_BACK"
    _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources?vimId={vim['id']}", expect=200)
    assert res == []  # rollback removed exactly what was created
    await s.req("POST", f"{op['_links']['self']['href']}/retry", expect=409)
    await s.req("DELETE", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}", expect=204)


async def test_grant_refused_for_capacity_rolls_back_with_the_reason(suite):
    s = suite
    vnfd_id = str(uuid.uuid4())
    await s.onboard(vnfd_id, str(uuid.uuid4()))
    _, vim, _ = await s.req("POST", f"{s.nfvo}/magi/v1/vims", json={"name": "tiny", "vimConnectionInfo": {
        "vimType": "MAGI.SIMULATED", "extra": {"vcpus": 1, "memoryMb": 512, "storageGb": 1}}}, expect=201)
    _, inst, _ = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances", json={"vnfdId": vnfd_id}, expect=201)
    _, _, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/instantiate",
                          json={"flavourId": "simple", "additionalParams": {"vimId": vim["id"]}}, expect=202)
    # SOL003: a rejected grant takes the op occ from STARTING straight to ROLLED_BACK; nothing was made
    op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP", "ROLLED_BACK", "FAILED"})
    assert op["operationState"] == "ROLLED_BACK", op
    assert "capacity" in op["error"]["detail"] and "tiny" in op["error"]["detail"], op["error"]
    schemas().validate(op, "VnfLcmOpOcc", api=LCM)
    _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources?vimId={vim['id']}", expect=200)
    assert res == []
    _, got, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}", expect=200)
    assert got["instantiationState"] == "NOT_INSTANTIATED"


async def test_package_left_processing_by_a_crash_is_onboarded_on_restart(mongo_uri, db_prefix):
    from tests.unit.pkgfactory import make_vnf_csar
    from magi.store.mongo import MongoStore

    vnfd_id = str(uuid.uuid4())
    store = MongoStore(mongo_uri, f"{db_prefix}_nfvo")
    pkgs = store.repository("vnf_packages")
    # what a crash mid-onboarding leaves: content stored, state PROCESSING, nobody working on it
    await pkgs.insert({"id": "p1", "onboardingState": "PROCESSING", "operationalState": "DISABLED", "usageState": "NOT_IN_USE",
                       "_links": {"self": {"href": "x"}}})
    from nfvo.content import ContentStore
    await ContentStore(store).put("p1", make_vnf_csar(vnfd_id), None)
    await pkgs.insert({"id": "p2", "onboardingState": "UPLOADING", "operationalState": "DISABLED", "usageState": "NOT_IN_USE",
                       "_links": {"self": {"href": "y"}}})
    await store.close()
    async with running_suite(mongo_uri, db_prefix) as s:
        import asyncio
        for _ in range(100):
            _, p, _ = await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/p1", expect=200)
            if p["onboardingState"] == "ONBOARDED":
                break
            await asyncio.sleep(0.05)
        assert p["onboardingState"] == "ONBOARDED" and p["vnfdId"] == vnfd_id
        _, p2, _ = await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/p2", expect=200)
        assert p2["onboardingState"] == "CREATED"  # the upload can be repeated


async def test_vnfm_under_an_external_nfvo_grants_over_sol003_http(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix, vnfm_under_external_nfvo=True) as s:
        vnfd_id = str(uuid.uuid4())
        await s.onboard(vnfd_id, str(uuid.uuid4()))
        _, inst, _ = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances", json={"vnfdId": vnfd_id}, expect=201)
        _, _, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/instantiate", json={"flavourId": "simple"}, expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
        assert op["operationState"] == "COMPLETED", op
        # the grant was asked over HTTP and can be read back there
        _, grant, _ = await s.req("GET", op["_links"]["grant"]["href"], headers={"Version": "1.5.0"}, expect=200)
        schemas().validate(grant, "Grant", api="SOL003/VNFLifecycleOperationGranting")
        assert grant["vnfLcmOpOccId"] == op["id"] and grant["vnfInstanceId"] == inst["id"]
        _, _, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/terminate", json={"terminationType": "GRACEFUL"}, expect=202)
        assert (await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"}))["operationState"] == "COMPLETED"


async def test_bearer_auth_and_strict_version(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix, auth_tokens="t0ken", strict_version=True) as s:
        ok = {"Authorization": "Bearer t0ken"}
        _, body, h = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances", expect=401)
        assert "Bearer" in h["WWW-Authenticate"] and body["status"] == 401
        await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances", headers={"Authorization": "Bearer wrong"}, expect=401)
        await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances", headers=ok, expect=200)
        await s.req("GET", f"{s.nfvo}/magi/v1/vims", expect=401)  # MAGI's own APIs too
        await s.req("GET", f"{s.nfvo}/magi/v1/vims", headers=ok, expect=200)
        await s.req("GET", f"{s.nfvo}/health/ready", expect=200)  # probes stay open
        async with s.http.get(f"{s.vnfm}/vnflcm/v2/vnf_instances", headers=ok) as r:  # strict: Version required
            assert r.status == 400 and (await r.json())["detail"].startswith("the Version header is required")


async def test_concurrent_operations_on_one_instance_one_wins(suite):
    import asyncio
    s = suite
    vnfd_id = str(uuid.uuid4())
    await s.onboard(vnfd_id, str(uuid.uuid4()))
    _, inst, _ = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances", json={"vnfdId": vnfd_id}, expect=201)
    url = f"{s.vnfm}/vnflcm/v2/vnf_instances/{inst['id']}/instantiate"
    results = await asyncio.gather(*(s.req("POST", url, json={"flavourId": "simple"}) for _ in range(8)))
    codes = sorted(r[0] for r in results)
    assert codes.count(202) == 1 and set(codes) == {202, 409}, codes


async def test_vnf_create_delivered_twice_at_once_creates_one_instance(suite):
    """Or-Vnfm `vnf.create` is the one request whose handler makes a new identifier: two deliveries
    of one message handled at the same moment (both pass the dedupe look-up) answer one instance."""
    import asyncio
    from magi.bus.catalog import message
    s = suite
    vnfd_id = str(uuid.uuid4())
    await s.onboard(vnfd_id, str(uuid.uuid4()))
    from magi.bus.catalog import spec
    env = message("vnf.create", {"vnfdId": vnfd_id}, source="nfvo")
    env.kind = "request"
    vnfm_bus = s.unit("vnfm").ctx.bus  # the broker's redeliveries, handed to the consumer at once
    replies = await asyncio.gather(*(vnfm_bus.dispatch(spec("vnf.create").exchange, env.model_copy()) for _ in range(3)))
    got = [r.payload for r in replies]
    assert len({g["id"] for g in got}) == 1, got
    _, listed, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances?filter=(eq,vnfdId,{vnfd_id})", expect=200)
    assert [i["id"] for i in listed] == [got[0]["id"]]


async def test_links_carry_the_public_urls_of_the_services(mongo_uri, db_prefix):
    """Behind an Ingress with TLS the services announce https://… base URLs: in Location headers,
    _links and the grant links the VNFM gives the NFVO."""
    from magi.config import MagiSettings
    assert MagiSettings(nfvo_public_url="https://nfvo.lab.example/").url("nfvo") == "https://nfvo.lab.example"
    assert MagiSettings(public_host="h").url("vnfm") == "http://h:8080"
    async with running_suite(mongo_uri, db_prefix, nfvo_public_url="https://nfvo.lab.example",
                             vnfm_public_url="https://vnfm.lab.example/") as s:
        vnfd_id = str(uuid.uuid4())
        pkg_id, _ = await s.onboard(vnfd_id, str(uuid.uuid4()))
        _, pkg, _ = await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{pkg_id}", expect=200)
        assert pkg["_links"]["self"]["href"] == f"https://nfvo.lab.example/vnfpkgm/v2/vnf_packages/{pkg_id}"
        _, inst, h = await s.req("POST", f"{s.vnfm}/vnflcm/v2/vnf_instances", json={"vnfdId": vnfd_id}, expect=201)
        assert h["Location"] == f"https://vnfm.lab.example/vnflcm/v2/vnf_instances/{inst['id']}"
        assert inst["_links"]["self"]["href"] == h["Location"]
