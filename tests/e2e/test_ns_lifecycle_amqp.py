"""The end-to-end NS lifecycle over a real RabbitMQ: the four services as separate OS processes
(`magi serve`), the four in one process, and a VNFM killed with SIGKILL mid-operation."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.e2e.test_ns_lifecycle import ns_lifecycle
from tests.procs import isolated_amqp, process_suite
from tests.suite import running_suite

pytestmark = pytest.mark.amqp


async def test_ns_lifecycle_services_as_processes(mongo_uri, amqp_url, db_prefix):
    async with process_suite(mongo_uri, amqp_url, db_prefix) as s:
        await ns_lifecycle(s)


async def test_ns_lifecycle_one_process_over_rabbitmq(mongo_uri, amqp_url, db_prefix):
    async with isolated_amqp(amqp_url) as url:
        async with running_suite(mongo_uri, db_prefix, amqp_url=url) as s:
            await ns_lifecycle(s)


async def _vnf_op_in_flight(s, ns_op_href: str, timeout: float = 60) -> dict:
    """Wait until the NS op occ is PROCESSING and the VNFM has a VNF op occ still in progress."""
    deadline = time.monotonic() + timeout
    while True:
        _, ns_op, _ = await s.req("GET", ns_op_href, expect=200)
        assert ns_op["operationState"] in ("PROCESSING", "COMPLETED"), ns_op
        if ns_op["operationState"] == "PROCESSING":
            _, vnf_ops, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_lcm_op_occs", expect=200)
            if vnf_ops:
                return vnf_ops[0]
        assert time.monotonic() < deadline, f"no VNF op occ while {ns_op_href} is PROCESSING"
        await asyncio.sleep(0.02)


async def test_vnfm_killed_mid_instantiation_resumes(mongo_uri, amqp_url, db_prefix):
    # Every simulated VIM call takes 300 ms, so the VNF instantiation (grant, VL, VNFCs, storage)
    # lasts seconds and the kill lands mid-operation.
    async with process_suite(mongo_uri, amqp_url, db_prefix, sim_latency_ms=300, lcm_lease_seconds=4) as s:
        vnfd_id, nsd_id = str(uuid.uuid4()), str(uuid.uuid4())
        await s.onboard(vnfd_id, nsd_id)
        _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": "crash", "nsDescription": "kill -9"}, expect=201)
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=202)
        ns_op_href = h["Location"]

        vnf_op = await _vnf_op_in_flight(s, ns_op_href)
        vnfm = s.proc("vnfm")
        await s.kill("vnfm")
        assert not vnfm.running()
        assert vnf_op["operationState"] in ("STARTING", "PROCESSING"), vnf_op

        # The same command line and settings (ports, database, queue) as before the crash. The
        # restarted VNFM takes the op occ over once the dead runner's lease (4 s here, MAGI_LCM_LEASE_SECONDS) has expired.
        await s.restart("vnfm")
        op = await s.wait_op(ns_op_href, {"COMPLETED", "FAILED_TEMP", "ROLLED_BACK", "FAILED"}, timeout=120)
        assert op["operationState"] == "COMPLETED", op
        assert "lcm.resume" in vnfm.log_path.read_text(), "the restarted VNFM did not resume the op occ"

        _, vnf_done, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_lcm_op_occs/{vnf_op['id']}", expect=200)
        assert vnf_done["operationState"] == "COMPLETED", vnf_done
        _, got, _ = await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=200)
        assert got["nsState"] == "INSTANTIATED"
        vnf_id = got["vnfInstance"][0]["id"]
        _, vnf, _ = await s.req("GET", f"{s.vnfm}/vnflcm/v2/vnf_instances/{vnf_id}", expect=200)
        assert vnf["instantiationState"] == "INSTANTIATED"
        vnfcs = vnf["instantiatedVnfInfo"]["vnfcResourceInfo"]
        # Resuming re-sends VIM requests with the same keys: no resource exists twice.
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        assert len([r for r in res if r.get("type") == "COMPUTE"]) == len(vnfcs)

        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/terminate", json={}, expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"}, timeout=60)
        assert op["operationState"] == "COMPLETED", op
        _, res, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        assert res == []
        await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}", expect=204)
