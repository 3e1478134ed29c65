"""One NS instantiation is one trace, with spans from all four services (HTTP and bus)."""
from __future__ import annotations

import asyncio
import uuid

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from magi.telemetry import setup_tracing
from tests.suite import running_suite

EXPORTER = InMemorySpanExporter()
setup_tracing(EXPORTER)


async def test_ns_instantiation_is_one_trace_across_services(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        nsd_id = str(uuid.uuid4())
        await s.onboard(str(uuid.uuid4()), nsd_id)
        _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": "t", "nsDescription": "t"}, expect=201)
        EXPORTER.clear()
        _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=202)
        op = await s.wait_op(h["Location"], {"COMPLETED", "FAILED_TEMP"})
        assert op["operationState"] == "COMPLETED"
        await asyncio.sleep(0.5)  # facts reach monitoring after the op completes
        spans = EXPORTER.get_finished_spans()
        root = next(sp for sp in spans if sp.name.startswith("POST /nslcm/v2/ns_instances/{nsInstanceId}/instantiate"))
        trace_id = root.context.trace_id
        in_trace = [sp for sp in spans if sp.context.trace_id == trace_id]
        services = {sp.attributes.get("magi.service") for sp in in_trace}
        assert {"nfvo", "vnfm", "vim_adapter", "monitoring"} <= services, services
        names = {sp.name for sp in in_trace}
        assert {"grant.request process", "compute.allocate process", "vnf.instantiate process"} <= names, names
