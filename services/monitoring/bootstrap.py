"""Monitoring bootstrap: follows lifecycle and resource facts, serves the inventory; drift facts raise alarms."""
from __future__ import annotations

from magi.api.app import EtsiApi
from magi.runtime import ServiceContext, ServiceUnit

from monitoring import api, domain
from monitoring.service import Alarms, Inventory

APIS: list[EtsiApi] = []


def build(ctx: ServiceContext) -> ServiceUnit:
    inv = Inventory(ctx.store)
    for type_ in domain.FOLDS:
        ctx.bus.on(type_, inv.on_fact)
    api.add_routes(ctx.app, inv)
    alarms = Alarms(ctx.store, inv.events)
    ctx.bus.on("resource.drifted", alarms.on_drift)
    api.add_alarm_routes(ctx.app, alarms)
    return ServiceUnit(ctx)
