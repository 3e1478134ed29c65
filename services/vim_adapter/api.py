"""VIM adapter HTTP inspection API (MAGI-specific, not ETSI): resources and VIM capacity."""
from __future__ import annotations

from aiohttp import web

from magi.api.app import json_response
from magi.api.problem import Problem, not_found
from magi.store.mongo import NotFound

from vim_adapter.service import VimAdapter

PREFIX = "/magi/v1"
ADAPTER = web.AppKey("vim_adapter", VimAdapter)
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
