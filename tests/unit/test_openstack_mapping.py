"""The OpenStack driver's pure half: names, tags, flavors, config, inventory rows, capacity."""
from __future__ import annotations

from typing import Any

import pytest

from magi.bus.base import PermanentError
from vim_adapter import domain
from vim_adapter.drivers import openstack_mapping as m

FLAVORS = [{"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1},
           {"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20},
           {"id": "3", "name": "m1.medium", "vcpus": 2, "ram": 4096, "disk": 40},
           {"id": "4", "name": "m1.large", "vcpus": 4, "ram": 8192, "disk": 80}]


def test_names_and_tags() -> None:
    assert m.name("r1") == "magi-r1" and m.port_name("r1", "eth0") == "magi-r1-eth0"
    assert m.server_group_name("vnf1", "g1") == "magi-vnf1-g1"
    assert m.tags("r1", "vnf1", "vim1") == ["magi.rid=r1", "magi.vim=vim1", "magi.owner=vnf1"]
    assert m.metadata("r1", None, "vim1") == {"magi.rid": "r1", "magi.vim": "vim1"}
    assert m.is_ours("r1", ["x", "magi.rid=r1"]) and not m.is_ours("r1", ["magi.rid=r10"])
    assert m.is_ours("r1", None, {"magi.rid": "r1"}) and not m.is_ours("r1", None, None)


def test_flavor_is_the_smallest_that_fits() -> None:
    assert m.choose_flavor(FLAVORS, 1, 512, 1)["name"] == "m1.tiny"
    assert m.choose_flavor(FLAVORS, 1, 1024, 0)["name"] == "m1.small"
    assert m.choose_flavor(FLAVORS, 2, 2048, 10)["name"] == "m1.medium"
    assert m.choose_flavor(FLAVORS, 3, 1024, 0)["name"] == "m1.large"
    assert m.choose_flavor(FLAVORS, 8, 1024, 0) is None
    assert m.flavor_name(8, 1024, 0) == "magi-8-1024-0"


def test_compute_need_and_hint() -> None:
    assert m.compute_need({"numVirtualCpu": 2, "virtualMemSizeMb": 1024, "localDiskSizeGb": 1.5}) == (2, 1024, 2)
    assert m.compute_need({"virtualCpu": {"numVirtualCpu": 4}, "virtualMemory": {"virtualMemSize": 2048},
                           "virtualLocalStorage": [{"sizeOfStorage": 10}]}) == (4, 2048, 10)
    assert m.compute_need({}) == (1, 512, 0)
    assert m.flavor_hint({"flavorHint": "m1.large"}) == "m1.large"
    assert m.flavor_hint({"requestedAdditionalCapabilities": [{"targetPerformanceParameters": {"flavor": "x"}}]}) == "x"
    assert m.flavor_hint({}) is None
    assert m.volume_size(0.2) == 1 and m.volume_size(2.01) == 3


def test_connection_config_password_and_app_credential() -> None:
    vim = {"vimId": "v", "interfaceInfo": {"endpoint": "https://ks/v3", "skipCertificateVerification": True},
           "accessInfo": {"username": "u", "password": "p", "project": "demo", "projectDomain": "D",
                          "userDomain": "U", "region": "R1"}}
    cfg = m.connection_config(vim)
    assert cfg["auth_type"] == "v3password" and cfg["verify"] is False and cfg["region_name"] == "R1"
    assert cfg["auth"] == {"auth_url": "https://ks/v3", "username": "u", "password": "p", "user_domain_name": "U",
                           "project_name": "demo", "project_domain_name": "D"}
    assert cfg["interface"] == "public"
    app = {"vimId": "v", "interfaceInfo": {"endpoint": "https://ks/v3", "interface": "internal"},
           "accessInfo": {"applicationCredentialId": "id", "applicationCredentialSecret": "s"}}
    cfg = m.connection_config(app, ca_file="/tmp/ca.pem")
    assert cfg["auth_type"] == "v3applicationcredential" and cfg["cacert"] == "/tmp/ca.pem"
    assert cfg["interface"] == "internal"
    with pytest.raises(PermanentError):
        m.connection_config({"vimId": "v", "interfaceInfo": {"endpoint": "x"}})
    assert m.credentials_key(vim) != m.credentials_key({**vim, "accessInfo": {**vim["accessInfo"], "password": "q"}})
    assert m.ca_bundle({"interfaceInfo": {"trustedCertificates": ["A", "B"]}}) == "A\nB"


def test_default_cidr_avoids_taken_subnets() -> None:
    first = m.default_cidr("r1", [])
    assert first.endswith("/24") and first.startswith("10.100.")
    assert m.default_cidr("r1", [first]) != first
    assert m.default_cidr("r1", ["10.100.0.0/16"][:0]) == first  # deterministic per id


def test_sg_rules_from_sol001() -> None:
    rules = m.sg_rules([{"direction": "INGRESS", "protocol": "TCP", "portRangeMin": 22, "portRangeMax": 22},
                        {"direction": "EGRESS", "etherType": "IPV6", "protocol": "ICMP"}])
    assert rules == [{"direction": "ingress", "ether_type": "IPv4", "protocol": "tcp", "port_range_min": 22,
                      "port_range_max": 22},
                     {"direction": "egress", "ether_type": "IPv6", "protocol": "icmp"}]


def test_inventory_rows_have_exactly_the_contract_keys() -> None:
    server = {"id": "s1", "name": "magi-r1", "status": "ACTIVE", "availability_zone": "nova",
              "flavor": {"original_name": "m1.small"}, "image": {"id": "img"},
              "metadata": {"magi.rid": "r1", "magi.owner": "vnf1"}, "tags": []}
    row = m.inventory_item("COMPUTE", server)
    assert tuple(row) == m.INVENTORY_KEYS
    assert row == {"vimResourceId": "s1", "resourceType": "COMPUTE", "resourceId": "r1", "ownerId": "vnf1",
                   "name": "magi-r1", "state": "ACTIVE", "zoneId": "nova",
                   "attributes": {"flavor": "m1.small", "image": "img"}}
    other = m.inventory_item("SUBNET", {"id": "x", "name": "theirs", "cidr": "1.2.3.0/24", "tags": []})
    assert other["resourceId"] is None and other["ownerId"] is None and other["attributes"]["cidr"] == "1.2.3.0/24"
    assert m.inventory_item("STORAGE", {"id": "v", "status": "in-use", "size": 2})["attributes"] == {"size": 2}
    assert m.own_project({"project_id": "p"}, "p") and not m.own_project({"project_id": "q"}, "p")


def test_capacity_view() -> None:
    limits = {"total_cores": 20, "total_cores_used": 4, "total_ram": 51200, "total_ram_used": 4096,
              "instances": 10, "instances_used": 2}
    view = m.capacity_view("v", limits, {"gigabytes": 1000, "usage": {"gigabytes": 10}}, ["nova", "az-2", "nova"])
    assert view["total"] == {"vcpus": 20, "memoryMb": 51200, "instances": 10, "storageGb": 1000}
    assert view["free"] == {"vcpus": 16, "memoryMb": 47104, "instances": 8, "storageGb": 990}
    assert view["zones"] == ["az-2", "nova"]
    unlimited = m.capacity_view("v", {"total_cores": -1}, None, [])
    assert unlimited["total"]["vcpus"] is None and unlimited["free"]["vcpus"] is None
    assert m.is_quota(403, "Quota exceeded for cores") and not m.is_quota(404, "quota")
    assert m.is_quota(409, "Quota exceeded for resources: ['port'].") and not m.is_quota(409, "Port is in use")
    assert m.is_quota(413, "VolumeSizeExceedsAvailableQuota: Requested volume exceeds allowed gigabytes quota")


def test_access_resolution_is_pure() -> None:
    types = frozenset({m.OPENSTACK})
    assert domain.needs_access({"vimType": m.OPENSTACK}, types)
    assert not domain.needs_access({"vimType": m.OPENSTACK, "accessInfo": {"username": "u"}}, types)
    assert not domain.needs_access({"vimType": "MAGI.SIMULATED"}, types)
    merged = domain.with_access({"vimId": "v", "vimType": m.OPENSTACK},
                                {"vimId": "v", "interfaceInfo": {"endpoint": "e"}, "accessInfo": {"username": "u"}})
    assert merged["accessInfo"] == {"username": "u"} and merged["interfaceInfo"] == {"endpoint": "e"}


def test_infrastructure_networks_are_not_inventory() -> None:
    assert m.infrastructure_network({"is_router_external": True, "tags": []})
    assert m.infrastructure_network({"shared": True})
    assert not m.infrastructure_network({"is_shared": True, "tags": ["magi.rid=r1"]})
    assert not m.infrastructure_network({"name": "private", "tags": []})


# -- the driver's call wrapper (no cloud: the connection is a stand-in object) ---------------
async def test_calls_are_bounded_retried_and_classified() -> None:
    import asyncio
    import threading
    import time
    import warnings

    from openstack import exceptions as osx

    from vim_adapter.drivers.openstack import OpenStackClient, OpenStackConfig, OpenStackTransient

    client = OpenStackClient({"vimId": "v1"}, OpenStackConfig(concurrency=2, retries=2, backoff=0.001))
    client._conn = object()
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def slow(_: object) -> int:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return 1

    assert sum(await asyncio.gather(*(client.call("slow", slow) for _ in range(8)))) == 8
    assert state["max"] == 2  # openstack_concurrency calls in flight per VIM

    def http(status: int, text: str) -> osx.HttpException:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return osx.HttpException(message=text, http_status=status, details=text)

    answers = [http(503, "busy"), http(409, "conflict"), "ok"]

    def flaky(_: object) -> str:
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a
    assert await client.call("flaky", flaky) == "ok"

    def always(status: int, text: str) -> Any:
        def fn(_: object) -> None:
            raise http(status, text)
        return fn
    with pytest.raises(OpenStackTransient, match="after 3 attempts"):
        await client.call("down", always(500, "boom"))
    with pytest.raises(PermanentError) as exc:
        await client.call("get", always(404, "Network x could not be found"))
    assert exc.value.status == 404 and "could not be found" in exc.value.detail
    with pytest.raises(PermanentError) as exc:
        await client.call("create server", always(403, "Quota exceeded for cores"))
    assert exc.value.status == 403 and exc.value.detail.startswith("insufficient capacity on VIM v1")
    client.close()


def test_checksum_algorithm_names() -> None:
    assert m.hash_name("SHA-256") == "sha256" and m.hash_name("sha-512") == "sha512" and m.hash_name("MD5") == "md5"
    assert m.hash_name(None) is None
