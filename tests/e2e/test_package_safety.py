"""Unsafe packages through the real HTTP API: zip-slip and absolute paths, links, compression
bombs, too many files, malformed YAML, YAML alias bombs, import cycles, references to missing
nodes, OSM tar.gz tricks, oversized uploads and a second package of an onboarded vnfdId. Each
ends in onboardingState ERROR (or a 4xx ProblemDetails) naming the problem; never a 500, never
a file written outside the store. The parser's own tests of the same: tests/unit/test_packages.py."""
from __future__ import annotations

import asyncio
import io
import json
import stat
import tarfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.suite import running_suite
from tests.unit import pkgfactory as pf
from tests.unit.test_packages import BILLION_LAUGHS, DF, META, TYPES, _edit, _tar, _ti, _zip_raw

PKGS = "/vnfpkgm/v2/vnf_packages"
V = {"Version": "2.1.0"}


@pytest.fixture
async def suite(mongo_uri, db_prefix):
    async with running_suite(mongo_uri, db_prefix) as s:
        yield s


async def raw(s, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any) -> tuple[int, bytes, Any]:
    async with s.http.request(method, url, headers={**V, **(headers or {})}, **kw) as r:
        return r.status, await r.read(), r.headers


def problem(status: int, body: bytes, headers: Any, expected: int) -> dict[str, Any]:
    assert status == expected, (status, body[:300])
    assert headers["Content-Type"].startswith("application/problem+json")
    doc = json.loads(body)
    assert doc["status"] == expected and doc["detail"]
    return doc


async def new_pkg(s) -> str:
    _, pkg, _ = await s.req("POST", f"{s.nfvo}{PKGS}", json={}, expect=201)
    return pkg["id"]


async def wait_onboarding(s, pkg_id: str) -> dict[str, Any]:
    for _ in range(600):
        _, p, _ = await s.req("GET", f"{s.nfvo}{PKGS}/{pkg_id}", expect=200)
        if p["onboardingState"] in ("ONBOARDED", "ERROR"):
            return p
        await asyncio.sleep(0.05)
    raise AssertionError(f"package {pkg_id} stuck in {p['onboardingState']}")


async def put_content(s, pkg_id: str, data: bytes, *, multipart: bool = False, filename: str = "pkg.zip",
                      content_type: str = "application/zip") -> tuple[int, bytes, Any]:
    url = f"{s.nfvo}{PKGS}/{pkg_id}/package_content"
    if multipart:
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=content_type)
        return await raw(s, "PUT", url, data=form)
    return await raw(s, "PUT", url, data=data, headers={"Content-Type": content_type})


async def rejected(s, data: bytes, words: list[str], *, multipart: bool = False, filename: str = "pkg.zip",
                   content_type: str = "application/zip") -> dict[str, Any]:
    """Upload `data` to a new package: 202, then onboarding ERROR with a ProblemDetails naming the problem."""
    pkg_id = await new_pkg(s)
    st, body, _ = await put_content(s, pkg_id, data, multipart=multipart, filename=filename, content_type=content_type)
    assert st == 202, (st, body[:300])
    p = await wait_onboarding(s, pkg_id)
    assert p["onboardingState"] == "ERROR", p
    assert p["operationalState"] == "DISABLED" and "vnfdId" not in p
    details = p["onboardingFailureDetails"]
    assert details["status"] == 422 and details["detail"]
    text = f"{details.get('title', '')} {details['detail']}"
    for w in words:
        assert w in text, (w, details)
    # the package's reads answer 409 ProblemDetails, not 500
    problem(*await raw(s, "GET", f"{s.nfvo}{PKGS}/{pkg_id}/vnfd", headers={"Accept": "text/plain"}), 409)
    problem(*await raw(s, "GET", f"{s.nfvo}{PKGS}/{pkg_id}/package_content", headers={"Accept": "application/zip"}), 409)
    return details


def files() -> dict[str, bytes]:
    return pf.vnf_csar_files(str(uuid.uuid4()), with_manifest=False)


def escape_targets() -> tuple[str, list[Path]]:
    """A unique file name, and where a zip-slip would have put it."""
    name = f"magi-slip-{uuid.uuid4().hex}"
    return name, [Path("/tmp") / name, Path.cwd().parent / name, Path.cwd() / name]


@pytest.mark.parametrize("multipart", [False, True])
async def test_zip_slip_and_absolute_paths(suite, multipart):
    name, targets = escape_targets()
    for entry in (f"../{name}", f"/tmp/{name}", f"Files/../../{name}"):
        entries = [(p, d, 0o100644) for p, d in files().items()] + [(entry, b"pwned\n", 0o100644)]
        await rejected(suite, _zip_raw(entries), ["zip-slip", "unsafe path", name], multipart=multipart)
    assert not any(t.exists() for t in targets)


async def test_symlink_entry(suite):
    entries = [(p, d, 0o100644) for p, d in files().items()]
    entries.append(("Files/link", b"/etc/passwd", stat.S_IFLNK | 0o777))
    await rejected(suite, _zip_raw(entries), ["symlink", "Files/link", "symbolic link"])
    await rejected(suite, _zip_raw(entries), ["symbolic link"], multipart=True)


async def test_compression_bomb(suite):
    bomb = pf.zip_files({**files(), "Files/zeros.bin": bytes(30 * 2**20)})
    await rejected(suite, bomb, ["zip-bomb", "compression ratio", "exceeds"])


async def test_too_many_files(suite):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p, d in files().items():
            zf.writestr(p, d)
        for i in range(10_001):
            zf.writestr(f"Files/many/{i}", b"")
    await rejected(suite, buf.getvalue(), ["file-count", "entries", "limit 10000"])


async def test_malformed_yaml(suite):
    f = files()
    f[DF] = b"tosca_definitions_version: [unclosed\n  nodes: {"
    await rejected(suite, pf.zip_files(f), ["'yaml'", DF, "invalid YAML"], multipart=True)
    # a bare YAML VNFD as well
    await rejected(suite, b"a: [b", ["invalid YAML"], multipart=True, filename="vnfd.yaml", content_type="application/yaml")


async def test_yaml_alias_bomb(suite):
    f = files()
    f[DF] = BILLION_LAUGHS
    await rejected(suite, pf.zip_files(f), ["yaml-bomb", DF, "alias expansion"])
    await rejected(suite, BILLION_LAUGHS, ["yaml-bomb", "alias expansion"], filename="vnfd.yaml",
                   content_type="application/yaml", multipart=True)


async def test_recursive_imports(suite):
    f = files()
    f[TYPES] = pf._yaml({**yaml.safe_load(f[TYPES]), "imports": [*pf.ETSI_IMPORTS, "magi_vnfd_df_simple.yaml"]})
    details = await rejected(suite, pf.zip_files(f), ["import-cycle", "recursive import", "magi_vnfd_df_simple.yaml"])
    assert "->" in details["detail"]


async def test_descriptor_referencing_a_missing_node(suite):
    f = files()
    _edit(f, DF, "virtual_link: internalVL", "virtual_link: noSuchVL")
    await rejected(suite, pf.zip_files(f), ["node-reference", "noSuchVL", "not a node template"])


async def test_osm_tar_gz_tricks(suite):
    name, targets = escape_targets()
    ok = (_ti("pkg/vnfd.yaml"), b"vnfd: {}\n")
    await rejected(suite, _tar([ok, (_ti(f"pkg/../../{name}"), b"x")]), ["zip-slip", "unsafe path", name],
                   filename="pkg.tar.gz", content_type="application/gzip")
    await rejected(suite, _tar([ok, (_ti(f"/tmp/{name}"), b"x")]), ["zip-slip", name],
                   filename="pkg.tar.gz", content_type="application/gzip", multipart=True)
    await rejected(suite, _tar([ok, (_ti("pkg/link", tarfile.SYMTYPE, "/etc/passwd"), None)]), ["symlink", "pkg/link", "link entry"],
                   filename="pkg.tar.gz", content_type="application/gzip")
    await rejected(suite, pf.tar_gz_files("pkg", {"z.bin": bytes(30 * 2**20)}), ["zip-bomb", "compression ratio"],
                   filename="pkg.tar.gz", content_type="application/gzip")
    assert not any(t.exists() for t in targets)


async def test_nsd_content_rejects_bombs_and_slips(suite):
    s = suite
    base = f"{s.nfvo}/nsd/v2/ns_descriptors"
    name, targets = escape_targets()

    async def put(data: bytes, content_type: str) -> dict[str, Any]:
        _, nsd, _ = await s.req("POST", base, json={}, expect=201)
        url = f"{base}/{nsd['id']}/nsd_content"
        doc = problem(*await raw(s, "PUT", url, data=data, headers={"Content-Type": content_type}), 422)
        _, info, _ = await s.req("GET", f"{base}/{nsd['id']}", expect=200)
        assert info["nsdOnboardingState"] == "ERROR", info
        return doc

    doc = await put(BILLION_LAUGHS, "application/yaml")
    assert "alias expansion" in doc["detail"], doc
    doc = await put(_zip_raw([(META, pf.tosca_meta(pf.TOP), 0o100644), (f"../{name}", b"x", 0o100644)]), "application/zip")
    assert "unsafe path" in doc["detail"] and name in doc["detail"], doc
    assert not any(t.exists() for t in targets)


LIMIT = 64 * 1024


@pytest.fixture
async def small_suite(mongo_uri, db_prefix):
    # the limit comes from the service's settings (bootstrap hands it to the content store)
    async with running_suite(mongo_uri, db_prefix, package_max_bytes=LIMIT) as s:
        yield s


async def test_oversized_uploads(small_suite):
    s = small_suite
    big = bytes(range(256)) * (LIMIT // 256 + 64)
    pkg_id = await new_pkg(s)
    for multipart in (False, True):
        doc = problem(*await put_content(s, pkg_id, big, multipart=multipart), 413)
        assert str(LIMIT) in doc["detail"] and "upload limit" in doc["detail"]

    async def chunked():  # no Content-Length: stopped while streaming
        for _ in range(2 * LIMIT // 4096):
            yield bytes(4096)
    doc = problem(*await raw(s, "PUT", f"{s.nfvo}{PKGS}/{pkg_id}/package_content", data=chunked(),
                             headers={"Content-Type": "application/zip"}), 413)
    assert str(LIMIT) in doc["detail"]
    # a refused upload leaves the package CREATED: a package within the limit still onboards
    _, p, _ = await s.req("GET", f"{s.nfvo}{PKGS}/{pkg_id}", expect=200)
    assert p["onboardingState"] == "CREATED"
    csar = pf.make_vnf_csar(str(uuid.uuid4()))
    assert len(csar) < LIMIT
    st, body, _ = await put_content(s, pkg_id, csar, multipart=True)
    assert st == 202, body
    assert (await wait_onboarding(s, pkg_id))["onboardingState"] == "ONBOARDED"
    # the NSD endpoint shares the limit
    _, nsd, _ = await s.req("POST", f"{s.nfvo}/nsd/v2/ns_descriptors", json={}, expect=201)
    problem(*await raw(s, "PUT", f"{s.nfvo}/nsd/v2/ns_descriptors/{nsd['id']}/nsd_content", data=big,
                       headers={"Content-Type": "application/yaml"}), 413)


async def test_oversized_upload_from_uri(small_suite):
    from aiohttp import web

    from tests.callbacks import free_port
    s = small_suite
    big = bytes(2 * LIMIT)

    async def sized(_: web.Request) -> web.Response:
        return web.Response(body=big, content_type="application/zip")

    async def streamed(request: web.Request) -> web.StreamResponse:  # no Content-Length
        r = web.StreamResponse()
        r.enable_chunked_encoding()
        await r.prepare(request)
        for i in range(0, len(big), 4096):
            await r.write(big[i:i + 4096])
        await r.write_eof()
        return r

    app = web.Application()
    app.router.add_get("/sized.zip", sized)
    app.router.add_get("/streamed.zip", streamed)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        for path in ("sized.zip", "streamed.zip"):
            pkg_id = await new_pkg(s)
            await s.req("POST", f"{s.nfvo}{PKGS}/{pkg_id}/package_content/upload_from_uri",
                        json={"addressInformation": f"http://127.0.0.1:{port}/{path}"}, expect=202)
            p = await wait_onboarding(s, pkg_id)
            assert p["onboardingState"] == "ERROR", p
            details = p["onboardingFailureDetails"]
            assert details["status"] == 413 and str(LIMIT) in details["detail"] and "upload limit" in details["detail"], details
    finally:
        await runner.cleanup()


async def test_second_package_of_an_onboarded_vnfd_id_fails(suite):
    s = suite
    vnfd_id = str(uuid.uuid4())
    first = await new_pkg(s)
    assert (await put_content(s, first, pf.make_vnf_csar(vnfd_id)))[0] == 202
    assert (await wait_onboarding(s, first))["onboardingState"] == "ONBOARDED"
    # the same vnfdId again (a different package: another provider): ERROR naming both
    second = await new_pkg(s)
    assert (await put_content(s, second, pf.make_vnf_csar(vnfd_id, provider="Other")))[0] == 202
    p = await wait_onboarding(s, second)
    assert p["onboardingState"] == "ERROR", p
    details = p["onboardingFailureDetails"]
    assert vnfd_id in details["detail"] and first in details["detail"] and details["status"] == 409
    # also while the first is DISABLED; the SOL003 read by vnfdId stays the first package
    await s.req("PATCH", f"{s.nfvo}{PKGS}/{first}", json={"operationalState": "DISABLED"},
                headers={"Content-Type": "application/merge-patch+json"}, expect=200)
    third = await new_pkg(s)
    assert (await put_content(s, third, pf.make_vnf_csar(vnfd_id), multipart=True))[0] == 202
    assert (await wait_onboarding(s, third))["onboardingState"] == "ERROR"
    _, got, _ = await s.req("GET", f"{s.nfvo}/vnfpkgm/v2/onboarded_vnf_packages/{vnfd_id}", expect=200)
    assert got["id"] == first
    # once the first is deleted, the vnfdId can be onboarded again
    await s.req("DELETE", f"{s.nfvo}{PKGS}/{first}", expect=204)
    fourth = await new_pkg(s)
    assert (await put_content(s, fourth, pf.make_vnf_csar(vnfd_id)))[0] == 202
    assert (await wait_onboarding(s, fourth))["onboardingState"] == "ONBOARDED"


async def test_concurrent_packages_of_one_vnfd_id_onboard_once(suite):
    s = suite
    vnfd_id = str(uuid.uuid4())
    ids = [await new_pkg(s) for _ in range(3)]
    results = await asyncio.gather(*(put_content(s, i, pf.make_vnf_csar(vnfd_id)) for i in ids))
    assert [r[0] for r in results] == [202] * 3
    states = sorted([(await wait_onboarding(s, i))["onboardingState"] for i in ids])
    assert states == ["ERROR", "ERROR", "ONBOARDED"]
