"""VIM adapter HTTP inspection API (MAGI-specific, not ETSI): resources, VIM capacity, drift."""
from __future__ import annotations

from aiohttp import web

from magi.api.app import json_response
from magi.api.problem import Problem, not_found
from magi.store.mongo import NotFound

from vim_adapter.drift import DRIFTS, RESOLVED, DriftReconciler, VimError, VimUnknown
from vim_adapter.service import VimAdapter

PREFIX = "/magi/v1"
ADAPTER = web.AppKey("vim_adapter", VimAdapter)
DRIFT = web.AppKey("drift", DriftReconciler)
FILTERS = ("vimId", "ownerId", "type")


def filters(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise Problem(400, f"unsupported query parameter(s) {', '.join(unknown)}; supported: {', '.join(allowed)}")
    return {k: request.query[k] for k in allowed if k in request.query}


async def list_resources(request: web.Request) -> web.Response:
    return json_response(await request.app[ADAPTER].list_resources(filters(request, FILTERS)))


async def get_resource(request: web.Request) -> web.Response:
    rid = request.match_info["id"]
    try:
        return json_response(await request.app[ADAPTER].get_resource(rid))
    except NotFound:
        raise not_found("VIM resource", rid) from None


async def vim_capacity(request: web.Request) -> web.Response:
    vim_id = request.match_info["vimId"]
    try:
        return json_response(await request.app[ADAPTER].capacity(vim_id))
    except NotFound:
        raise not_found("VIM", vim_id) from None


def add_routes(app: web.Application, adapter: VimAdapter) -> None:
    app[ADAPTER] = adapter
    app.router.add_get(f"{PREFIX}/vim_resources", list_resources)
    app.router.add_get(f"{PREFIX}/vim_resources/{{id}}", get_resource)
    app.router.add_get(f"{PREFIX}/vims/{{vimId}}/capacity", vim_capacity)


# -- drift (docs/drift.md) ------------------------------------------------------------------
async def reconcile(request: web.Request) -> web.Response:
    vim_id = request.match_info["vimId"]
    try:
        return json_response(await request.app[DRIFT].reconcile(vim_id))
    except VimUnknown:
        raise not_found("VIM", vim_id) from None
    except VimError as exc:
        raise Problem(502, str(exc)) from None


async def drift_report(request: web.Request) -> web.Response:
    filters(request, ())
    vim_id = request.match_info["vimId"]
    try:
        return json_response(await request.app[DRIFT].report(vim_id))
    except VimUnknown:
        raise not_found("VIM", vim_id) from None


async def drift_items(request: web.Request) -> web.Response:
    q = filters(request, ("vimId", "drift"))
    if q.get("drift") and q["drift"] not in DRIFTS:
        raise Problem(400, f"drift must be one of {', '.join(DRIFTS)} (open items are never {RESOLVED})")
    return json_response(await request.app[DRIFT].open_items(q.get("vimId"), q.get("drift")))


def add_drift_routes(app: web.Application, reconciler: DriftReconciler) -> None:
    app[DRIFT] = reconciler
    app.router.add_post(f"{PREFIX}/vims/{{vimId}}/reconcile", reconcile)
    app.router.add_get(f"{PREFIX}/vims/{{vimId}}/drift", drift_report)
    app.router.add_get(f"{PREFIX}/drift", drift_items)
