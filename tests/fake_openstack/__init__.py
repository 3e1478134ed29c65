"""A faithful fake OpenStack (Keystone, Nova, Neutron, Glance, Cinder) over real HTTP,
for driving the real openstacksdk in tests."""

from .server import FakeOpenStack

__all__ = ["FakeOpenStack"]
