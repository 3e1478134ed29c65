"""A faithful fake OpenStack (Keystone, Nova, Neutron, Glance, Cinder) over real HTTP,
for driving the real openstacksdk in tests.

    async with FakeOpenStack(build_seconds=0.05) as cloud:
        cloud.auth_url                      # http://127.0.0.1:PORT/identity/v3
        cloud.vim_connection_info("vim-1")  # SOL003 VimConnectionInfo (app_credential=True for the other form)
        cloud.servers / networks / subnets / ports / volumes / images / flavors / server_groups /
        security_groups / security_group_rules / keypairs (keyed by name) / floatingips
        cloud.count()                       # resources made through the API or oob_create, preseeded
                                            # and service-made ones (DHCP ports, default rules) excluded
        cloud.inject("POST", r"/servers$", status=503, times=1, body=None)
        cloud.fail_builds(times=1, message="No valid host was found")
        cloud.oob_create(kind, **attrs) / oob_set(kind, id, **attrs) / oob_delete(kind, id)
        cloud.set_quota(cores=..., ram=..., instances=..., volumes=..., gigabytes=...)
        cloud.requests                      # [(method, full URL path)], e.g. ("POST", "/compute/v2.1/servers")
        cloud.unhandled                     # requests no route knew (should stay empty)

Time-driven transitions (BUILD -> ACTIVE, creating -> available, attaching -> in-use,
detaching -> available, async deletes) happen build_seconds after the request, evaluated
lazily on the next request or attribute read. Call the sdk off the event loop
(asyncio.to_thread), including the first `conn.<service>` access, which may do HTTP.
"""

from .server import FakeOpenStack

__all__ = ["FakeOpenStack"]
