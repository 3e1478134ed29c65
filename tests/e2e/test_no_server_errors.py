"""Every route of every service, with real resource ids and with unknown ones, fed malformed
bodies and query strings: the answer is never a 5xx (a 500 is a bug; bad input gets a 4xx
ProblemDetails). The routes are read from the running apps, so a new one is covered unasked."""
from __future__ import annotations

import asyncio
import json
import re
import uuid

from tests.suite import running_suite

BODIES = [
    (b"{not json", "application/json"), (b"[]", "application/json"), (b"{}", "application/json"),
    (b'"text"', "application/json"), (b"\xff\xfe", "application/octet-stream"), (b"", None),
    (json.dumps({"vnfdId": 5, "flavourId": [], "nsdId": None, "callbackUri": 3, "filter": "x",
                 "vimConnectionInfo": {"vimType": 1}, "operationalState": {"x": 1}}).encode(), "application/json"),
    (b'{"userDefinedData": []}', "application/merge-patch+json"), (b"PK\x03\x04garbage", "application/zip"),
    (b"a: [", "application/yaml"), (b"--x\r\ngarbage", "multipart/form-data; boundary=x"),
]
QUERIES = ["", "?filter=(eq,id", "?filter=(gt,nope,1)", "?fields=a,,b&exclude_default&all_fields",
           "?nextpage_opaque_marker=%FF%FE", "?vimId=&limit=-1"]


async def test_no_route_answers_a_server_error(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        vnfd_id, nsd_id = str(uuid.uuid4()), str(uuid.uuid4())
        pkg_id, nsd_info = await s.onboard(vnfd_id, nsd_id)
        _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances",
                               json={"nsdId": nsd_id, "nsName": "x", "nsDescription": "x"}, expect=201)
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate",
                              json={"nsFlavourId": "default"}, expect=202)
        for _ in range(200):
            _, op, _ = await s.req("GET", h["Location"], expect=200)
            if op["operationState"] != "PROCESSING":
                break
            await asyncio.sleep(0.05)
        _, vnfs, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances", expect=200)
        _, vops, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_lcm_op_occs", expect=200)
        real = {"vnfPkgId": pkg_id, "vnfdId": vnfd_id, "nsdInfoId": nsd_info, "nsInstanceId": ns["id"],
                "nsLcmOpOccId": op["id"], "vnfInstanceId": vnfs[0]["id"], "vnfLcmOpOccId": vops[0]["id"],
                "vimId": "00000000-0000-4000-8000-000000000001", "artifactPath": "Files/images/magi-test.img"}
        bases = {"nfvo": s.nfvo, "vnfm": s.vnfm, "vim_adapter": s.vim, "monitoring": s.monitoring}
        server_errors, sent = [], 0
        for ids in ({}, real):  # unknown ids first: the real resources are still there for the second pass
            for unit in s.units:
                for route in unit.ctx.app.router.routes():
                    info = route.resource.get_info() if route.resource else {}
                    path = info.get("path") or info.get("formatter")
                    if not path or route.method in ("HEAD", "OPTIONS") or (route.method == "DELETE" and ids):
                        continue  # DELETE of a real resource would remove what the other routes are tried on
                    url = bases[unit.name] + re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: ids.get(m[1], str(uuid.uuid4())), path)
                    tries = BODIES if route.method in ("POST", "PUT", "PATCH") else [(None, None)] * len(QUERIES)
                    for i, (body, ctype) in enumerate(tries):
                        headers = {"Version": "2.0.0", **({"Content-Type": ctype} if ctype else {})}
                        query = QUERIES[i % len(QUERIES)] if route.method == "GET" else ""
                        async with s.http.request(route.method, url + query, data=body, headers=headers) as r:
                            sent += 1
                            if r.status >= 500:
                                server_errors.append((route.method, path, query, body, r.status, (await r.text())[:200]))
        assert sent > 300
        assert not server_errors, server_errors
