"""The aiohttp application factory every MAGI service uses, with the SOL013 conventions.

- every error is `application/problem+json` (404, 405, bad JSON, unexpected exceptions …);
- the `Version` header: checked on requests to an ETSI API, set on every response;
- `{api}/api_versions` and `{api}/v{N}/api_versions`;
- `Authorization: Bearer` when tokens are configured;
- `/health/live`, `/health/ready`, `/metrics`; a server span per request (W3C trace context).
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ValidationError

from magi.api.problem import Problem, problem_response
from magi.telemetry import tracer

log = structlog.get_logger(__name__)

SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class EtsiApi:
    """One ETSI API a service produces, e.g. EtsiApi("vnflcm", "v2", ("2.0.0",))."""

    name: str
    major: str
    versions: tuple[str, ...]  # supported, oldest first; the last is the current one

    @property
    def prefix(self) -> str:
        return f"/{self.name}/{self.major}"

    @property
    def current(self) -> str:
        return self.versions[-1]


@dataclass
class ApiSettings:
    service: str
    apis: list[EtsiApi] = field(default_factory=list)
    auth_tokens: frozenset[str] = frozenset()
    strict_version: bool = False
    ready_checks: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)


API_SETTINGS = web.AppKey("api_settings", ApiSettings)
METRICS = web.AppKey("metrics", dict)


def _api_for(settings: ApiSettings, path: str) -> EtsiApi | None:
    for api in settings.apis:
        if path == f"/{api.name}" or path.startswith(f"/{api.name}/"):
            return api
    return None


def _check_version(api: EtsiApi, value: str | None, strict: bool) -> None:
    if value is None:
        if strict:
            raise Problem(400, f"the Version header is required (supported: {', '.join(api.versions)})")
        return
    if not SEMVER.match(value.strip()):
        raise Problem(400, f"Version header {value!r} is not a semantic version")
    if value.strip() not in api.versions:
        raise Problem(406, f"API version {value.strip()} of {api.name} is not supported; supported: {', '.join(api.versions)}")


@web.middleware
async def conventions(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    settings = request.app[API_SETTINGS]
    api = _api_for(settings, request.path)
    token = otel_context.attach(extract(dict(request.headers)))
    start = time.perf_counter()
    status = 500
    try:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
        with tracer(settings.service).start_as_current_span(
            f"{request.method} {route}", kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": request.path, "magi.service": settings.service},
        ) as span:
            try:
                if api is not None and not request.path.endswith("/api_versions"):
                    _check_version(api, request.headers.get("Version"), settings.strict_version)
                if settings.auth_tokens and (api is not None or request.path.startswith("/magi/")):
                    _check_auth(request, settings)
                resp = await handler(request)
            except Problem as p:
                resp = problem_response(p, request.path)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                detail = {404: f"no resource at {request.path}", 405: f"{request.method} is not allowed on {request.path}",
                          413: "request body too large"}.get(exc.status, exc.reason)
                p = Problem(exc.status, detail)
                if exc.status == 405 and "Allow" in exc.headers:
                    p.headers["Allow"] = exc.headers["Allow"]
                resp = problem_response(p, request.path)
            except ValidationError as exc:
                resp = problem_response(Problem(400, validation_detail(exc)), request.path)
            except Exception:
                log.exception("api.unexpected", path=request.path, method=request.method)
                resp = problem_response(Problem(500, "unexpected error; the operator's log has the details"), request.path)
            status = resp.status
            span.set_attribute("http.response.status_code", status)
            if api is not None:
                resp.headers["Version"] = api.current
            return resp
    finally:
        otel_context.detach(token)
        m = request.app[METRICS]
        m["requests"].labels(request.method, str(status)).inc()
        m["latency"].labels(request.method).observe(time.perf_counter() - start)


def _check_auth(request: web.Request, settings: ApiSettings) -> None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        p = Problem(401, "an Authorization: Bearer token is required")
        p.headers["WWW-Authenticate"] = 'Bearer realm="magi"'
        raise p
    if header[7:].strip() not in settings.auth_tokens:
        p = Problem(401, "the access token is not valid")
        p.headers["WWW-Authenticate"] = 'Bearer realm="magi", error="invalid_token"'
        raise p


def validation_detail(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = "/".join(str(x) for x in e["loc"]) or "body"
        parts.append(f"{loc}: {e['msg']}")
    return "invalid request body: " + "; ".join(parts)


async def read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        raise Problem(400, "a JSON request body is required")
    ctype = request.content_type
    if ctype not in ("application/json", "application/merge-patch+json", "application/octet-stream", ""):
        raise Problem(415, f"Content-Type {ctype} is not supported; use application/json")
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"malformed JSON body: {exc}") from None


async def read_model(request: web.Request, model: type[BaseModel]) -> Any:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise Problem(400, "the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise Problem(400, validation_detail(exc)) from None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=lambda o: json.dumps(o, separators=(",", ":")))


def create_app(settings: ApiSettings, client_max_size: int = 1024**3) -> web.Application:
    app = web.Application(middlewares=[conventions], client_max_size=client_max_size)
    app[API_SETTINGS] = settings
    registry = CollectorRegistry()
    app[METRICS] = {
        "registry": registry,
        "requests": Counter("magi_http_requests", "HTTP requests", ["method", "status"], registry=registry),
        "latency": Histogram("magi_http_request_seconds", "HTTP request latency", ["method"], registry=registry),
    }
    for api in settings.apis:
        info = _versions_handler(api)
        app.router.add_get(f"/{api.name}/api_versions", info)
        app.router.add_get(f"/{api.name}/{api.major}/api_versions", info)

    async def live(_: web.Request) -> web.Response:
        return json_response({"status": "live", "service": settings.service})

    async def ready(_: web.Request) -> web.Response:
        checks = {name: await check() for name, check in settings.ready_checks.items()}
        ok = all(checks.values())
        return json_response({"status": "ready" if ok else "not ready", "checks": checks}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/metrics", metrics)
    return app


def _versions_handler(api: EtsiApi) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        if request.query:
            raise Problem(400, "api_versions takes no query parameters")
        return json_response({
            "uriPrefix": api.prefix,
            "apiVersions": [{"version": v, "isDeprecated": False} for v in api.versions],
        })

    return handler


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"
