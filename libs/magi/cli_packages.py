"""`magi vnfpkg validate|onboard` and `magi nsd onboard`: package commands of the `magi` CLI.

`validate` is offline: it runs every check of `load_vnf_package` on a CSAR zip, an OSM tar.gz,
a bare YAML file or a directory (zipped in memory as a CSAR; an OSM folder becomes a tar.gz with
the folder as top directory) and prints what the VNFD holds, or the check that failed.
`onboard` talks to a running NFVO over SOL005 (VNF package management / NSD management).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_NFVO = "http://127.0.0.1:8081"
API_VERSION = "2.0.0"
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------- reading a package


@dataclass
class Upload:
    data: bytes | Path  # a package file stays on disk: it is parsed and uploaded from there
    filename: str  # hint for the parser (its suffix tells the format when content cannot)
    content_type: str

    @property
    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)


def _is_yaml(name: str) -> bool:
    return name.lower().endswith((".yaml", ".yml"))


def _dir_files(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            raise OSError(f"{p}: symbolic links are not packed")
        if p.is_file():
            files[p.relative_to(root).as_posix()] = p.read_bytes()
    return files


def _looks_like_csar(files: dict[str, bytes]) -> bool:
    """TOSCA.meta, or a root YAML that is a TOSCA template (CSAR without TOSCA-Metadata)."""
    if "TOSCA-Metadata/TOSCA.meta" in files:
        return True
    return any("/" not in name and _is_yaml(name) and b"tosca_definitions_version" in data
               for name, data in files.items())


def _zip(files: dict[str, bytes]) -> bytes:
    """Deterministic CSAR zip, TOSCA.meta first."""
    order = sorted(files, key=lambda n: (n != "TOSCA-Metadata/TOSCA.meta", n))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in order:
            zf.writestr(zipfile.ZipInfo(name, _FIXED_TIME), files[name], zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _tar_gz(top: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in sorted(files):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode = len(files[name]), 1577836800, 0o644
            tf.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def read_upload(path: str) -> Upload:
    """The bytes to validate or upload, with a file name hint and the HTTP Content-Type."""
    p = Path(path)
    if p.is_dir():
        files = _dir_files(p)
        if not files:
            raise OSError(f"{path}: the directory is empty")
        name = p.resolve().name or "package"
        if _looks_like_csar(files):
            return Upload(_zip(files), f"{name}.zip", "application/zip")
        return Upload(_tar_gz(name, files), f"{name}.tar.gz", "application/gzip")
    from magi.descriptors import detect_format

    with p.open("rb") as f:  # OSError for a missing or unreadable file, as before
        fmt = detect_format(f.read(512), p.name)
    ctype = {"csar": "application/zip", "osm-tar": "application/gzip"}.get(fmt, "application/x-yaml")
    return Upload(p, p.name, ctype)


# --------------------------------------------------------------------------- validate


def _summary(pkg: Any) -> dict[str, Any]:
    v = pkg.vnfd
    return {
        "ok": True, "format": pkg.format, "vnfdId": v.vnfd_id, "provider": v.provider,
        "productName": v.product_name, "softwareVersion": v.software_version,
        "descriptorVersion": v.descriptor_version, "vnfmInfo": list(v.vnfm_info),
        "sourceFormat": str(v.source_format), "descriptorFiles": list(pkg.vnfd_files),
        "flavours": [{
            "flavourId": f.flavour_id,
            "vdus": [{"vduId": d.vdu_id, "min": d.min_instances, "max": d.max_instances} for d in f.vdus],
            "virtualLinks": [vl.vl_id for vl in f.virtual_links],
            "extCps": [cp.cpd_id for cp in f.ext_cps],
            "scalingAspects": [{"aspectId": a.aspect_id, "maxScaleLevel": a.max_scale_level} for a in f.scaling_aspects],
            "instantiationLevels": [lv.level_id for lv in f.instantiation_levels],
            "defaultInstantiationLevelId": f.default_instantiation_level_id,
        } for f in v.flavours],
        "warnings": list(pkg.warnings),
        "signature": pkg.signature.describe() if pkg.signature else "not checked",
    }


def _print_summary(path: str, s: dict[str, Any]) -> None:
    print(f"✓ {path}: valid VNF package ({s['format']}, {s['sourceFormat']})")
    print(f"  vnfdId:    {s['vnfdId']}")
    print(f"  provider:  {s['provider'] or '(none)'}")
    print(f"  product:   {s['productName']}")
    print(f"  version:   software {s['softwareVersion'] or '(none)'}, descriptor {s['descriptorVersion']}")
    print(f"  signature: {s['signature']}")
    for f in s["flavours"]:
        print(f"  flavour {f['flavourId']}:")
        vdus = ", ".join(f"{d['vduId']} ({d['min']}..{d['max']})" for d in f["vdus"])
        print(f"    VDUs:                 {vdus or '-'}")
        print(f"    virtual links:        {', '.join(f['virtualLinks']) or '-'}")
        print(f"    external CPs:         {', '.join(f['extCps']) or '-'}")
        aspects = ", ".join(f"{a['aspectId']} (max {a['maxScaleLevel']})" for a in f["scalingAspects"])
        print(f"    scaling aspects:      {aspects or '-'}")
        levels = ", ".join(lv + (" (default)" if lv == f["defaultInstantiationLevelId"] else "")
                           for lv in f["instantiationLevels"])
        print(f"    instantiation levels: {levels or '-'}")
    for w in s["warnings"]:
        print(f"  ! warning: {w}")


def cmd_validate(args: argparse.Namespace) -> int:
    from magi.config import MagiSettings
    from magi.descriptors import PackageError, SignaturePolicy, load_vnf_package

    try:
        up = read_upload(args.path)
    except OSError as exc:
        return _fail(args, "io", str(exc), None)
    try:  # the NFVO's signature policy and trust anchors, from the same MAGI_* variables
        env = MagiSettings()
        policy = SignaturePolicy.load(env.package_signature_policy, env.package_trust_anchors)
    except ValueError as exc:
        return _fail(args, "config", str(exc), None)
    try:
        pkg = load_vnf_package(up.data, up.filename, signatures=policy)
    except PackageError as exc:
        return _fail(args, exc.check, exc.detail, exc.file)
    summary = _summary(pkg)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(args.path, summary)
    return 0


def _fail(args: argparse.Namespace, check: str, detail: str, file: str | None) -> int:
    if args.json:
        print(json.dumps({"ok": False, "error": {"check": check, "file": file, "detail": detail}}, indent=2))
    else:
        print(f"✗ {check}: {detail}")
    return 1


# --------------------------------------------------------------------------- HTTP


class ApiError(Exception):
    pass


def _headers(token: str | None, **extra: str) -> dict[str, str]:
    h = {"Version": API_VERSION, "Accept": "application/json", **extra}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


async def _answer(r: Any, expect: tuple[int, ...]) -> Any:
    raw = await r.read()
    body: Any = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    if r.status not in expect:
        pd = body if isinstance(body, dict) else {}
        title = pd.get("title") or r.reason or ""
        detail = pd.get("detail") or raw[:300].decode(errors="replace")
        raise ApiError(f"{pd.get('status', r.status)} {title}: {detail}")
    return body


async def _call(http: Any, method: str, url: str, *, expect: tuple[int, ...], token: str | None,
                data: bytes | Path | None = None, content_type: str | None = None) -> Any:
    import aiohttp

    extra = {"Content-Type": content_type} if content_type else {}
    try:
        if isinstance(data, Path):  # streamed from disk, never read whole
            with data.open("rb") as f:
                async with http.request(method, url, data=f, headers=_headers(token, **extra)) as r:
                    return await _answer(r, expect)
        async with http.request(method, url, data=data, headers=_headers(token, **extra)) as r:
            return await _answer(r, expect)
    except aiohttp.ClientError as exc:
        raise ApiError(f"cannot reach {url}: {exc}") from None


def _nfvo(args: argparse.Namespace) -> str:
    return (args.nfvo or os.environ.get("MAGI_NFVO_URL") or DEFAULT_NFVO).rstrip("/")


class _Progress:
    """State transitions with elapsed time; a spinner line only on a TTY."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.last: str | None = None
        self.tick = 0

    def update(self, state: str) -> None:
        elapsed = time.monotonic() - self.t0
        if state != self.last:
            if self.tty:
                sys.stdout.write("\r\033[K")
            print(f"  [{elapsed:6.2f}s] {state}", flush=True)
            self.last = state
        elif self.tty:
            self.tick += 1
            sys.stdout.write(f"\r{SPINNER[self.tick % len(SPINNER)]} {state} {elapsed:.1f}s")
            sys.stdout.flush()

    def done(self) -> float:
        if self.tty:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()
        return time.monotonic() - self.t0


async def _onboard_vnfpkg(args: argparse.Namespace, up: Upload) -> int:
    import aiohttp

    base = f"{_nfvo(args)}/vnfpkgm/v2/vnf_packages"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max(args.timeout, 30))) as http:
        pkg = await _call(http, "POST", base, expect=(201,), token=args.token, data=b"{}",
                          content_type="application/json")
        pkg_id = pkg["id"]
        print(f"vnfPkgId: {pkg_id}", flush=True)
        await _call(http, "PUT", f"{base}/{pkg_id}/package_content", expect=(202, 204), token=args.token,
                    data=up.data, content_type=up.content_type)
        print(f"uploaded {up.filename} ({up.size} bytes, {up.content_type})", flush=True)
        if not args.wait:
            pkg = await _call(http, "GET", f"{base}/{pkg_id}", expect=(200,), token=args.token)
            print(f"onboardingState: {pkg.get('onboardingState')} (use --wait to follow it)")
            return 0
        progress = _Progress()
        deadline = time.monotonic() + args.timeout
        while True:
            pkg = await _call(http, "GET", f"{base}/{pkg_id}", expect=(200,), token=args.token)
            state = pkg.get("onboardingState", "?")
            progress.update(state)
            if state in ("ONBOARDED", "ERROR"):
                break
            if time.monotonic() > deadline:
                progress.done()
                print(f"✗ timeout: package {pkg_id} still {state} after {args.timeout:g}s")
                return 1
            await asyncio.sleep(0.1)
        elapsed = progress.done()
        if state == "ERROR":
            fd = pkg.get("onboardingFailureDetails") or {}
            print(f"✗ onboarding failed after {elapsed:.2f}s: {fd.get('title') or ''}{': ' if fd.get('title') else ''}"
                  f"{fd.get('detail', '(no detail)')}")
            return 1
        print(f"✓ ONBOARDED in {elapsed:.2f}s")
        print(f"vnfdId: {pkg.get('vnfdId')}")
        return 0


def _run_onboard(args: argparse.Namespace, onboard) -> int:
    """Read the upload, run one onboarding coroutine, turn its failures into exit code 1."""
    try:
        up = read_upload(args.path)
    except OSError as exc:
        print(f"✗ io: {exc}")
        return 1
    try:
        return asyncio.run(onboard(args, up))
    except ApiError as exc:
        print(f"✗ {exc}")
        return 1


def cmd_vnfpkg_onboard(args: argparse.Namespace) -> int:
    return _run_onboard(args, _onboard_vnfpkg)


async def _onboard_nsd(args: argparse.Namespace, up: Upload) -> int:
    import aiohttp

    base = f"{_nfvo(args)}/nsd/v2/ns_descriptors"
    t0 = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        nsd = await _call(http, "POST", base, expect=(201,), token=args.token, data=b"{}",
                          content_type="application/json")
        print(f"nsdInfoId: {nsd['id']}", flush=True)
        await _call(http, "PUT", f"{base}/{nsd['id']}/nsd_content", expect=(202, 204), token=args.token,
                    data=up.data, content_type=up.content_type)
        deadline = time.monotonic() + 60
        while True:  # 204: onboarded synchronously; 202 (should an NFVO answer so): follow it
            nsd = await _call(http, "GET", f"{base}/{nsd['id']}", expect=(200,), token=args.token)
            state = nsd.get("nsdOnboardingState")
            if state in ("ONBOARDED", "ERROR") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        if state != "ONBOARDED":
            fd = nsd.get("onboardingFailureDetails") or {}
            print(f"✗ NSD {state}: {fd.get('detail', '(no detail)')}")
            return 1
        print(f"✓ ONBOARDED in {time.monotonic() - t0:.2f}s")
        print(f"nsdId: {nsd.get('nsdId')}")
        return 0


def cmd_nsd_onboard(args: argparse.Namespace) -> int:
    return _run_onboard(args, _onboard_nsd)


# --------------------------------------------------------------------------- argparse


def _remote(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nfvo", help=f"NFVO base URL (default $MAGI_NFVO_URL or {DEFAULT_NFVO})")
    p.add_argument("--token", default=os.environ.get("MAGI_TOKEN"), help="Bearer token (default $MAGI_TOKEN)")


def register(sub: Any) -> None:
    vp = sub.add_parser("vnfpkg", help="VNF packages: validate offline, onboard to an NFVO")
    vsub = vp.add_subparsers(dest="vnfpkg_command", required=True)
    val = vsub.add_parser("validate", help="run every package check offline and summarise the VNFD")
    val.add_argument("path", help="CSAR .zip, OSM .tar.gz, bare VNFD YAML, or a package directory")
    val.add_argument("--json", action="store_true", help="machine-readable result")
    val.set_defaults(func=cmd_validate)
    onb = vsub.add_parser("onboard", help="create a VNF package on the NFVO and upload the content")
    onb.add_argument("path", help="CSAR .zip, OSM .tar.gz, bare VNFD YAML, or a package directory")
    _remote(onb)
    onb.add_argument("--wait", action="store_true", help="follow onboarding until ONBOARDED or ERROR")
    onb.add_argument("--timeout", type=float, default=120.0, help="seconds --wait waits (default 120)")
    onb.set_defaults(func=cmd_vnfpkg_onboard)
    np_ = sub.add_parser("nsd", help="NS descriptors")
    nsub = np_.add_subparsers(dest="nsd_command", required=True)
    nonb = nsub.add_parser("onboard", help="create an NSD on the NFVO and upload its content")
    nonb.add_argument("path", help="NSD YAML, SOL007 .zip, OSM .tar.gz, or a directory")
    _remote(nonb)
    nonb.set_defaults(func=cmd_nsd_onboard)
