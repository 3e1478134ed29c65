"""VIM adapter bootstrap: drivers, bus handlers (Vi-Vnfm, Or-Vi) and the inspection API."""
from __future__ import annotations

from aiohttp import web

from typing import Any

from magi.api.app import EtsiApi
from magi.bus.catalog import message
from magi.runtime import ServiceContext, ServiceUnit
from magi.secrets import SecretBox

from vim_adapter import api, domain
from vim_adapter.drivers.base import DriverRegistry
from vim_adapter.drivers.openstack import OPENSTACK, OpenStackConfig, OpenStackVims
from vim_adapter.drivers.simulated import SIMULATED, SimConfig, SimulatedVim
from vim_adapter.service import VimAdapter

APIS: list[EtsiApi] = []
SIM_VIM = web.AppKey("sim_vim", SimulatedVim)  # tests tune the simulation (seeded failures)
OPENSTACK_VIMS = web.AppKey("openstack_vims", OpenStackVims)


def build(ctx: ServiceContext) -> ServiceUnit:
    registry = DriverRegistry()
    sim = SimulatedVim(ctx.store, SimConfig.from_settings(ctx.settings))
    registry.register(SIMULATED, sim.driver)
    openstack = OpenStackVims(OpenStackConfig.from_settings(ctx.settings))
    registry.register(OPENSTACK, openstack.driver)

    async def vim_access(vim_id: str) -> dict[str, Any]:  # Or-Vi: the NFVO holds the credentials
        return await ctx.bus.request(message("vimaccess.get", {"vimId": vim_id}, source=ctx.name))

    adapter = VimAdapter(ctx.store, registry, source=ctx.name, access=vim_access,
                         credentialed_types=frozenset({OPENSTACK}), box=SecretBox.from_settings(ctx.settings))
    for type_ in domain.REQUESTS:
        ctx.bus.on(type_, adapter.handle)
    ctx.bus.on("vim.capacity", adapter.handle_capacity)
    ctx.app[OPENSTACK_VIMS] = openstack
    api.add_routes(ctx.app, adapter)
    # Drift reconciler (docs/drift.md): its API, and the periodic loop started/stopped with the app.
    from vim_adapter.drift import install as install_drift
    install_drift(ctx, adapter)
    ctx.app[SIM_VIM] = sim
    unit = ServiceUnit(ctx)
    unit.on_stop.append(openstack.close)
    return unit
