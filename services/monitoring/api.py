"""Monitoring HTTP API (MAGI-specific, not ETSI): what runs where, and alarms (SOL003/SOL005 Alarm shape)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from magi.api.app import json_response
from magi.api.problem import Problem, not_found

from monitoring.service import Alarms, Inventory

PREFIX = "/magi/v1/inventory"
INVENTORY = web.AppKey("inventory", Inventory)
ALARMS = web.AppKey("alarms", Alarms)


def _only(request: web.Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise Problem(400, f"unsupported query parameter(s) {', '.join(unknown)}; supported: {', '.join(allowed) or 'none'}")


async def inventory(request: web.Request) -> web.Response:
    _only(request, ("vimId",))
    return json_response(await request.app[INVENTORY].view(request.query.get("vimId")))


async def on_vim(request: web.Request) -> web.Response:
    _only(request, ())
    vim_id = request.match_info["vimId"]
    return json_response({"vimId": vim_id, **await request.app[INVENTORY].view(vim_id)})


def _one(name: str, what: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        id_ = request.match_info["id"]
        doc = await request.app[INVENTORY].get(name, id_)
        if doc is None:
            raise not_found(what, id_)
        return json_response(doc)

    return handler


async def events(request: web.Request) -> web.Response:
    return json_response(await request.app[INVENTORY].event_counts())


def add_routes(app: web.Application, inv: Inventory) -> None:
    app[INVENTORY] = inv
    app.router.add_get(PREFIX, inventory)
    app.router.add_get(f"{PREFIX}/vnf_instances/{{id}}", _one("vnf", "VNF instance"))
    app.router.add_get(f"{PREFIX}/ns_instances/{{id}}", _one("ns", "NS instance"))
    app.router.add_get(f"{PREFIX}/vims/{{vimId}}", on_vim)
    app.router.add_get(f"{PREFIX}/events", events)


async def alarms(request: web.Request) -> web.Response:
    _only(request, Alarms.FILTERS)
    return json_response(await request.app[ALARMS].list({k: request.query[k] for k in Alarms.FILTERS if k in request.query}))


async def alarm(request: web.Request) -> web.Response:
    id_ = request.match_info["id"]
    doc = await request.app[ALARMS].get(id_)
    if doc is None:
        raise not_found("alarm", id_)
    return json_response(doc)


def add_alarm_routes(app: web.Application, al: Alarms) -> None:
    app[ALARMS] = al
    app.router.add_get("/magi/v1/alarms", alarms)
    app.router.add_get("/magi/v1/alarms/{id}", alarm)
