"""An NFVO killed (SIGKILL) while it fetches a package for `upload_from_uri`: the restarted NFVO
takes the onboarding over once the dead one's lease has run out, fetches again with the same
(sealed) credentials, and the package ends ONBOARDED. Services as separate processes."""
from __future__ import annotations

import asyncio
import time
import uuid

from aiohttp import encode_basic_auth, web

from tests.callbacks import free_port
from tests.procs import process_suite
from tests.unit.pkgfactory import make_vnf_csar


async def test_nfvo_killed_mid_fetch_resumes_the_onboarding(mongo_uri, amqp_url, db_prefix):
    csar = make_vnf_csar(str(uuid.uuid4()))
    requests: list[str | None] = []
    release = asyncio.Event()

    async def serve(request: web.Request) -> web.StreamResponse:
        requests.append(request.headers.get("Authorization"))
        resp = web.StreamResponse(headers={"Content-Type": "application/zip", "Content-Length": str(len(csar))})
        await resp.prepare(request)
        if not release.is_set():  # the first fetch stalls half-way, as over a slow link
            await resp.write(csar[: len(csar) // 2])
            await release.wait()
            await asyncio.sleep(3600)
        await resp.write(csar)
        return resp

    app = web.Application()
    app.router.add_get("/vnf.csar", serve)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with process_suite(mongo_uri, amqp_url, db_prefix, lcm_lease_seconds=3) as s:
            base = f"{s.nfvo}/vnfpkgm/v2/vnf_packages"
            _, pkg, _ = await s.req("POST", base, json={}, expect=201)
            req = {"addressInformation": f"http://127.0.0.1:{port}/vnf.csar", "authType": ["BASIC"],
                   "username": "alice", "password": "s3cret-pw"}
            await s.req("POST", f"{base}/{pkg['id']}/package_content/upload_from_uri", json=req, expect=202)
            deadline = time.monotonic() + 30
            while not requests:
                assert time.monotonic() < deadline, "the NFVO never fetched"
                await asyncio.sleep(0.05)
            _, mid, _ = await s.req("GET", f"{base}/{pkg['id']}", expect=200)
            assert mid["onboardingState"] == "UPLOADING" and "s3cret" not in str(mid)

            await s.kill("nfvo")
            release.set()
            await s.restart("nfvo")
            deadline = time.monotonic() + 60
            while True:
                _, got, _ = await s.req("GET", f"{base}/{pkg['id']}", expect=200)
                if got["onboardingState"] in ("ONBOARDED", "ERROR"):
                    break
                assert time.monotonic() < deadline, f"still {got['onboardingState']}"
                await asyncio.sleep(0.1)
            assert got["onboardingState"] == "ONBOARDED", got
            assert len(requests) == 2 and set(requests) == {encode_basic_auth("alice", "s3cret-pw")}
            assert "vnfpkg.resume" in s.proc("nfvo").log_path.read_text()
    finally:
        await runner.cleanup()
