"""`magi vnfpkg onboard` / `magi nsd onboard` against MAGI running in this process, over real
HTTP: a generated CSAR, then the public sample packages of MAGI_SAMPLES_DIR (see its README).

The CLI runs its own event loop, so it is called in a thread. Onboarding times are printed
(`pytest -s`), never asserted.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import time
import uuid
from pathlib import Path

import pytest
from magi.cli import main

from tests.suite import running_suite
from tests.unit.pkgfactory import make_nsd_yaml, make_vnf_csar

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path(os.environ.get("MAGI_SAMPLES_DIR") or REPO.parent / "shared" / "samples")
CI = os.environ.get("CI", "").lower() == "true"


async def _cli(*argv: str) -> tuple[int, str, float]:
    """Run `magi ARGV` in a thread; its stdout and wall time."""
    def run() -> tuple[int, str, float]:
        buf = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            rc = main(list(argv))
        return rc, buf.getvalue(), time.perf_counter() - t0
    return await asyncio.to_thread(run)


def _field(out: str, name: str) -> str:
    m = re.search(rf"^{name}: (\S+)$", out, re.MULTILINE)
    assert m, f"no {name} in:\n{out}"
    return m.group(1)


async def test_onboard_generated_csar_and_nsd(mongo_uri, db_prefix, tmp_path):
    vnfd_id, nsd_id = str(uuid.uuid4()), str(uuid.uuid4())
    (tmp_path / "vnf.zip").write_bytes(make_vnf_csar(vnfd_id))
    (tmp_path / "nsd.yaml").write_bytes(make_nsd_yaml(nsd_id, vnfd_id))
    (tmp_path / "orphan_nsd.yaml").write_bytes(make_nsd_yaml(str(uuid.uuid4()), str(uuid.uuid4())))
    async with running_suite(mongo_uri, db_prefix) as s:
        rc, out, secs = await _cli("vnfpkg", "onboard", str(tmp_path / "vnf.zip"), "--nfvo", s.nfvo, "--wait")
        assert rc == 0, out
        assert _field(out, "vnfdId") == vnfd_id and "] ONBOARDED" in out
        _, pkg, _ = await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{_field(out, 'vnfPkgId')}", expect=200)
        assert pkg["onboardingState"] == "ONBOARDED" and pkg["vnfdId"] == vnfd_id
        print(f"\n  generated CSAR: ONBOARDED in {secs:.2f}s")

        rc, out, secs = await _cli("nsd", "onboard", str(tmp_path / "nsd.yaml"), "--nfvo", s.nfvo)
        assert rc == 0, out
        assert _field(out, "nsdId") == nsd_id
        _, nsd, _ = await s.req("GET", f"{s.nfvo}/nsd/v2/ns_descriptors/{_field(out, 'nsdInfoId')}", expect=200)
        assert nsd["nsdOnboardingState"] == "ONBOARDED"
        print(f"  generated NSD: ONBOARDED in {secs:.2f}s")

        # ProblemDetails answers come out as "status title: detail", exit 1
        rc, out, _ = await _cli("nsd", "onboard", str(tmp_path / "orphan_nsd.yaml"), "--nfvo", s.nfvo)
        assert rc == 1 and re.search(r"^✗ 422 .*: .*not onboarded", out, re.MULTILINE), out

        # without --wait: ids and the current state only
        (tmp_path / "vnf2.zip").write_bytes(make_vnf_csar(str(uuid.uuid4())))
        rc, out, _ = await _cli("vnfpkg", "onboard", str(tmp_path / "vnf2.zip"), "--nfvo", s.nfvo)
        assert rc == 0 and "onboardingState:" in out

        # a package directory is zipped in memory (root = the directory)
        from tests.unit.pkgfactory import vnf_csar_files

        dir_vnfd = str(uuid.uuid4())
        for name, data in vnf_csar_files(dir_vnfd).items():
            (tmp_path / "pkgdir" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "pkgdir" / name).write_bytes(data)
        rc, out, secs = await _cli("vnfpkg", "onboard", str(tmp_path / "pkgdir"), "--nfvo", s.nfvo, "--wait")
        assert rc == 0 and _field(out, "vnfdId") == dir_vnfd, out
        print(f"  generated CSAR directory: ONBOARDED in {secs:.2f}s")

        # an NFVO that is not there
        rc, out, _ = await _cli("vnfpkg", "onboard", str(tmp_path / "vnf.zip"), "--nfvo", "http://127.0.0.1:9")
        assert rc == 1 and "cannot reach" in out


def _samples() -> Path:
    if not (SAMPLES / "README.md").is_file():
        if CI:
            pytest.fail(f"sample packages not found at {SAMPLES} (set MAGI_SAMPLES_DIR; CI=true)")
        pytest.skip(f"sample packages not found at {SAMPLES}; set MAGI_SAMPLES_DIR")
    return SAMPLES


async def test_onboard_samples(mongo_uri, db_prefix, capsys):
    root = _samples()
    # (label, command, path, expected exit code, expected state)
    cases = [
        ("tacker/basic_lcms_min.zip", "vnfpkg", root / "tacker/basic_lcms_min.zip", 0, "ONBOARDED"),
        ("tacker/…_false_hash.zip", "vnfpkg",
         root / "tacker/sample_vnf_package_csar_in_meta_and_manifest_false_hash.zip", 1, "ERROR"),
        ("osm/hackfest_basic_vnf.tar.gz", "vnfpkg", root / "osm/hackfest_basic_vnf.tar.gz", 0, "ONBOARDED"),
        ("osm/hackfest_basic_ns.tar.gz", "nsd", root / "osm/hackfest_basic_ns.tar.gz", 0, "ONBOARDED"),
    ]
    rows = []
    async with running_suite(mongo_uri, db_prefix) as s:
        for label, kind, path, want_rc, want in cases:
            argv = [kind, "onboard", str(path), "--nfvo", s.nfvo]
            if kind == "vnfpkg":
                argv.append("--wait")
            rc, out, secs = await _cli(*argv)
            assert rc == want_rc, f"{label}:\n{out}"
            if want == "ERROR":
                assert "] ERROR" in out and "onboarding failed" in out, out
                _, pkg, _ = await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/vnf_packages/{_field(out, 'vnfPkgId')}", expect=200)
                assert pkg["onboardingState"] == "ERROR"
                result = "ERROR: " + pkg["onboardingFailureDetails"]["detail"]
            elif kind == "vnfpkg":
                assert "] ONBOARDED" in out, out
                result = f"ONBOARDED vnfdId={_field(out, 'vnfdId')}"
            else:
                result = f"ONBOARDED nsdId={_field(out, 'nsdId')}"
            rows.append((label, result, secs))
    with capsys.disabled():
        print("\n  sample package onboarding via `magi … onboard` (wall time of the CLI call):")
        for label, result, secs in rows:
            print(f"  {label:40s} {secs:6.2f}s  {result}")
