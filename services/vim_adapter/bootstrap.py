"""VIM adapter bootstrap: drivers, bus handlers (Vi-Vnfm, Or-Vi) and the inspection API."""
from __future__ import annotations

from aiohttp import web

from magi.api.app import EtsiApi
from magi.runtime import ServiceContext, ServiceUnit

from vim_adapter import api, domain
from vim_adapter.drivers.base import DriverRegistry
from vim_adapter.drivers.simulated import SIMULATED, SimConfig, SimulatedVim
from vim_adapter.service import VimAdapter

APIS: list[EtsiApi] = []
SIM_VIM = web.AppKey("sim_vim", SimulatedVim)  # tests tune the simulation (seeded failures)


def build(ctx: ServiceContext) -> ServiceUnit:
    registry = DriverRegistry()
    sim = SimulatedVim(ctx.store, SimConfig.from_settings(ctx.settings))
    registry.register(SIMULATED, sim.driver)
    adapter = VimAdapter(ctx.store, registry, source=ctx.name)
    for type_ in domain.REQUESTS:
        ctx.bus.on(type_, adapter.handle)
    api.add_routes(ctx.app, adapter)
    # Drift reconciler (docs/drift.md): its API, and the periodic loop started/stopped with the app.
    from vim_adapter.drift import install as install_drift
    install_drift(ctx, adapter)
    ctx.app[SIM_VIM] = sim
    return ServiceUnit(ctx)
