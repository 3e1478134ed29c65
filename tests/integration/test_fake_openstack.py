"""The fake OpenStack driven by the real openstacksdk over real HTTP.

The sdk is synchronous (requests), so every sdk call runs in a thread while the
fake serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import openstack
from keystoneauth1 import exceptions as ka_exc
import pytest
from openstack import exceptions as sdk_exc

from tests.fake_openstack import FakeOpenStack

WAIT = {"interval": 0.02, "wait": 10}


def run(fn, *args, **kwargs):
    # sdk quirk: even `conn.image` may do HTTP (version discovery) on first access, so
    # pass a lambda, never a bound method looked up on the event loop
    return asyncio.to_thread(fn, *args, **kwargs)


def connect(cloud: FakeOpenStack, **over):
    kw = dict(auth_url=cloud.auth_url, username="magi", password="secret", project_name="magi-project",
              user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")
    kw.update(over)
    conn = openstack.connect(**kw)
    conn.authorize()
    return conn


@pytest.fixture
async def cloud():
    async with FakeOpenStack(build_seconds=0.05) as c:
        yield c


@pytest.fixture
async def conn(cloud):
    return await run(connect, cloud)


def make_net(conn, name="net1", cidr="10.0.0.0/24", tags=None):
    net = conn.network.create_network(name=name)
    if tags:
        conn.network.set_tags(net, tags)
    sub = conn.network.create_subnet(network_id=net.id, cidr=cidr, ip_version=4, name=name + "-sub")
    return net, sub


# --- identity ----------------------------------------------------------------
async def test_password_auth_gives_scoped_token_and_catalog(cloud):
    conn = await run(connect, cloud)
    assert conn.current_project_id == cloud.project_id
    assert conn.compute.get_endpoint().endswith("/compute/v2.1")
    assert conn.network.get_endpoint().startswith(cloud.base_url + "/network")
    assert conn.block_storage.get_endpoint().endswith(f"/volume/v3/{cloud.project_id}")
    assert ("POST", "/identity/v3/auth/tokens") in cloud.requests


async def test_wrong_password_is_401(cloud):
    # sdk quirk: authorize() wraps the 401 in a bare SDKException, a normal call lets
    # keystoneauth's Unauthorized through
    with pytest.raises(sdk_exc.SDKException, match=r"\(HTTP 401\)"):
        await run(connect, cloud, password="wrong")
    conn = openstack.connect(auth_url=cloud.auth_url, username="magi", password="wrong", project_name="magi-project",
                             user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")
    with pytest.raises(ka_exc.Unauthorized) as err:
        await run(lambda: list(conn.compute.flavors()))
    assert err.value.http_status == 401


async def test_requests_without_token_are_401(cloud):
    import aiohttp
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{cloud.base_url}/compute/v2.1/servers/detail") as r:
            assert r.status == 401
        async with s.get(f"{cloud.base_url}/compute/v2.1/servers/detail", headers={"X-Auth-Token": "nope"}) as r:
            assert r.status == 401
        async with s.get(f"{cloud.base_url}/compute/v2.1") as r:  # version documents stay public
            assert (await r.json())["version"]["version"] == "2.96"


async def test_application_credential_auth(cloud):
    info = cloud.vim_connection_info("vim-1", app_credential=True)
    acc = info["accessInfo"]
    assert info["vimType"] == "ETSINFV.OPENSTACK_KEYSTONE.V_3" and info["interfaceInfo"]["endpoint"] == cloud.auth_url

    def go(secret):
        c = openstack.connect(auth_url=cloud.auth_url, auth_type="v3applicationcredential",
                              application_credential_id=acc["applicationCredentialId"],
                              application_credential_secret=secret, region_name=acc["region"])
        return sorted(f.name for f in c.compute.flavors())
    assert await run(go, acc["applicationCredentialSecret"]) == ["m1.large", "m1.medium", "m1.small", "m1.tiny"]
    with pytest.raises(ka_exc.Unauthorized):
        await run(go, "bad-secret")


def test_vim_connection_info_password_shape():
    c = FakeOpenStack()
    c._st.base_url = "http://127.0.0.1:1"
    acc = c.vim_connection_info("v")["accessInfo"]
    assert acc == {"username": "magi", "password": "secret", "region": "RegionOne", "project": "magi-project",
                   "projectDomain": "Default", "userDomain": "Default"}


# --- compute -----------------------------------------------------------------
async def test_server_with_port_goes_active_with_addresses(cloud, conn):
    def go():
        net, sub = make_net(conn)
        port = conn.network.create_port(network_id=net.id, name="p1")
        flavor = conn.compute.find_flavor("m1.small")
        image = conn.image.find_image("cirros-0.5.2-x86_64-disk")
        srv = conn.compute.create_server(name="vm1", flavor_id=flavor.id, image_id=image.id,
                                         networks=[{"port": port.id}], availability_zone="az-2",
                                         metadata={"vnf": "a"})
        building = conn.compute.get_server(srv.id)
        srv = conn.compute.wait_for_server(srv, **WAIT)
        return net, sub, port, building, srv, conn.network.get_port(port.id)
    net, sub, port, building, srv, bound = await run(go)
    assert building.status == "BUILD" and building.addresses == {}
    assert srv.status == "ACTIVE" and srv.availability_zone == "az-2"
    ip = port.fixed_ips[0]["ip_address"]
    assert ip.startswith("10.0.0.") and port.fixed_ips[0]["subnet_id"] == sub.id
    assert srv.addresses == {"net1": [{"version": 4, "addr": ip, "OS-EXT-IPS:type": "fixed",
                                       "OS-EXT-IPS-MAC:mac_addr": port.mac_address}]}
    assert srv.flavor.vcpus == 1 and srv.flavor.ram == 2048 and srv.flavor.original_name == "m1.small"
    assert srv.metadata == {"vnf": "a"} and srv.vm_state == "active" and srv.power_state == 1
    assert bound.device_id == srv.id and bound.status == "ACTIVE" and bound.device_owner == "compute:az-2"
    assert cloud.count()["servers"] == 1 and cloud.count()["ports"] == 1

    def delete():
        conn.compute.delete_server(srv.id)
        conn.compute.wait_for_delete(srv, **WAIT)
        return conn.network.get_port(port.id)
    left = await run(delete)
    # a pre-created port survives the server, only unbound
    assert left.device_id == "" and left.device_owner == "" and left.status == "DOWN"
    assert cloud.count()["servers"] == 0 and port.id in cloud.ports
    with pytest.raises(sdk_exc.NotFoundException):
        await run(lambda: conn.compute.get_server(srv.id))


async def test_server_on_network_uuid_gets_a_port_deleted_with_it(cloud, conn):
    def go():
        net, _ = make_net(conn, "n2", "192.168.5.0/24")
        srv = conn.compute.create_server(name="vm2", flavor_id="1", image_id=next(iter(cloud.images)),
                                         networks=[{"uuid": net.id}])
        srv = conn.compute.wait_for_server(srv, **WAIT)
        ports = list(conn.network.ports(device_id=srv.id))
        conn.compute.delete_server(srv)
        conn.compute.wait_for_delete(srv, **WAIT)
        return srv, ports, list(conn.network.ports(device_id=srv.id))
    srv, ports, after = await run(go)
    assert len(ports) == 1 and srv.addresses["n2"][0]["addr"] == ports[0].fixed_ips[0]["ip_address"]
    assert after == []


async def test_flavors_find_by_name_and_filters(cloud, conn):
    def go():
        return (conn.compute.find_flavor("m1.medium"), [f.name for f in conn.compute.flavors(min_ram=4096)],
                conn.compute.find_flavor("nope", ignore_missing=True))
    medium, big, missing = await run(go)
    assert (medium.id, medium.vcpus, medium.ram, medium.disk) == ("3", 2, 4096, 40)
    assert big == ["m1.medium", "m1.large"] and missing is None
    assert ("GET", "/compute/v2.1/flavors/m1.medium") in cloud.requests  # the 404-then-list path


async def test_quota_exceeded_is_403_and_limits_report_usage(cloud, conn):
    cloud.set_quota(cores=3)

    def go():
        img = next(iter(cloud.images))
        conn.compute.create_server(name="a", flavor_id="3", image_id=img, networks="none")
        try:
            conn.compute.create_server(name="b", flavor_id="3", image_id=img, networks="none")
            raised = None
        except sdk_exc.HttpException as e:
            raised = e
        return raised, conn.compute.get_limits().absolute
    err, limits = await run(go)
    assert isinstance(err, sdk_exc.ForbiddenException)
    assert "Quota exceeded for cores: Requested 2, but already used 2 of 3 cores" in str(err)
    assert (limits.total_cores_used, limits.total_cores, limits.total_ram_used, limits.instances_used) == (2, 3, 4096, 1)
    assert cloud.count()["servers"] == 1


async def test_stop_start_and_409_in_wrong_state(cloud, conn):
    def go():
        srv = conn.compute.create_server(name="s", flavor_id="1", image_id=next(iter(cloud.images)), networks="none")
        srv = conn.compute.wait_for_server(srv, **WAIT)
        conn.compute.stop_server(srv)
        stopped = conn.compute.get_server(srv.id).status
        with pytest.raises(sdk_exc.ConflictException):
            conn.compute.stop_server(srv)
        conn.compute.start_server(srv)
        return stopped, conn.compute.get_server(srv.id).status
    assert await run(go) == ("SHUTOFF", "ACTIVE")


async def test_fail_builds_gives_error_with_fault(cloud, conn):
    cloud.fail_builds(1, message="No valid host was found")

    def go():
        img = next(iter(cloud.images))
        bad = conn.compute.create_server(name="bad", flavor_id="1", image_id=img, networks="none")
        with pytest.raises(sdk_exc.ResourceFailure):
            conn.compute.wait_for_server(bad, **WAIT)
        good = conn.compute.create_server(name="good", flavor_id="1", image_id=img, networks="none")
        return conn.compute.get_server(bad.id), conn.compute.wait_for_server(good, **WAIT)
    bad, good = await run(go)
    assert bad.status == "ERROR" and bad.fault["message"] == "No valid host was found" and bad.fault["code"] == 500
    assert good.status == "ACTIVE"


async def test_server_tags_and_name_regex_filters(cloud, conn):
    def go():
        img = next(iter(cloud.images))
        for name, tags in (("web-1", ["vnf:a", "vdu:web"]), ("web-2", ["vnf:b", "vdu:web"]), ("db-1", ["vnf:a"])):
            conn.compute.create_server(name=name, flavor_id="1", image_id=img, networks="none", tags=tags)
        names = lambda **q: sorted(s.name for s in conn.compute.servers(**q))  # noqa: E731
        return (names(tags="vnf:a,vdu:web"), names(any_tags="vnf:b,vdu:none"), names(name="^web"),
                names(not_tags="vnf:a"))
    all_of, any_of, regex, not_tags = await run(go)
    assert all_of == ["web-1"] and any_of == ["web-2"] and regex == ["web-1", "web-2"] and not_tags == ["web-2"]


async def test_server_group_anti_affinity_on_four_hosts(cloud, conn):
    def go():
        grp = conn.compute.create_server_group(name="g", policy="anti-affinity")
        img = next(iter(cloud.images))
        ids = [conn.compute.create_server(name=f"m{i}", flavor_id="1", image_id=img, networks="none",
                                          scheduler_hints={"group": grp.id}).id for i in range(5)]
        servers = []
        for sid in ids[:4]:
            servers.append(conn.compute.wait_for_server(conn.compute.get_server(sid), **WAIT))
        with pytest.raises(sdk_exc.ResourceFailure):
            conn.compute.wait_for_server(conn.compute.get_server(ids[4]), **WAIT)
        return grp, servers, conn.compute.get_server(ids[4]), conn.compute.get_server_group(grp.id)
    grp, servers, fifth, grp_after = await run(go)
    assert grp.policy == "anti-affinity"
    assert len({s.host_id for s in servers}) == 4 and all(s.host_id for s in servers)
    assert fifth.status == "ERROR" and fifth.fault["message"].startswith("No valid host was found")
    assert len(grp_after.member_ids) == 5


async def test_keypairs_and_security_groups(cloud, conn):
    def go():
        kp = conn.compute.create_keypair(name="k1", public_key="ssh-ed25519 AAAAC3Nza test")
        sg = conn.network.create_security_group(name="web")
        rule = conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                                       protocol="tcp", port_range_min=80, port_range_max=80,
                                                       remote_ip_prefix="0.0.0.0/0")
        with pytest.raises(sdk_exc.ConflictException):  # same rule twice
            conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", protocol="tcp",
                                                    port_range_min=80, port_range_max=80,
                                                    remote_ip_prefix="0.0.0.0/0")
        net, _ = make_net(conn)
        port = conn.network.create_port(network_id=net.id, security_group_ids=[sg.id])
        with pytest.raises(sdk_exc.ConflictException):  # group in use by a port
            conn.network.delete_security_group(sg)
        conn.network.delete_port(port)
        conn.network.delete_security_group(sg)
        return kp, rule, conn.compute.find_keypair("k1")
    kp, rule, found = await run(go)
    assert kp.fingerprint and found.public_key == "ssh-ed25519 AAAAC3Nza test"
    assert rule.port_range_min == 80 and rule.direction == "ingress"
    assert cloud.count()["security_groups"] == 0 and cloud.count()["keypairs"] == 1


# --- network -----------------------------------------------------------------
async def test_network_tags_and_equality_filters(cloud, conn):
    def go():
        a, _ = make_net(conn, "na", "10.1.0.0/24", tags=["ns:1", "vl:x"])
        b, _ = make_net(conn, "nb", "10.2.0.0/24", tags=["ns:2"])
        conn.network.create_port(network_id=a.id, name="pa")
        names = lambda **q: sorted(n.name for n in conn.network.networks(**q))  # noqa: E731
        return (a, names(tags="ns:1,vl:x"), names(any_tags="ns:2,zz"), names(name="nb"),
                sorted(p.name for p in conn.network.ports(network_id=a.id)),
                names(is_router_external=True), conn.network.get_network(a.id).tags)
    a, all_of, any_of, by_name, ports, external, tags = await run(go)
    assert all_of == ["na"] and any_of == ["nb"] and by_name == ["nb"] and external == ["public"]
    assert ports == ["", "pa"]  # the DHCP port shows up too, as in Neutron
    assert tags == ["ns:1", "vl:x"]


async def test_network_delete_with_ports_is_409(cloud, conn):
    def go():
        net, _ = make_net(conn)
        port = conn.network.create_port(network_id=net.id)
        with pytest.raises(sdk_exc.ConflictException) as err:
            conn.network.delete_network(net)
        conn.network.delete_port(port)
        conn.network.delete_network(net)  # only the DHCP port is left: allowed
        return err.value
    err = await run(go)
    assert err.status_code == 409 and "one or more ports still in use" in str(err)
    assert cloud.count()["networks"] == 0 and cloud.count()["subnets"] == 0 and cloud.networks.keys() and \
        not [p for p in cloud.ports.values() if p["device_owner"] == "network:dhcp" and "public" not in p["name"]]


async def test_fixed_ip_allocation_and_conflict(cloud, conn):
    def go():
        net, sub = make_net(conn, cidr="10.9.0.0/29")  # 5 usable addresses after the gateway
        p1 = conn.network.create_port(network_id=net.id, fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.9.0.5"}])
        with pytest.raises(sdk_exc.ConflictException):
            conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": "10.9.0.5"}])
        return sub, p1
    sub, p1 = await run(go)
    assert sub.gateway_ip == "10.9.0.1" and sub.allocation_pools == [{"start": "10.9.0.2", "end": "10.9.0.6"}]
    assert p1.fixed_ips == [{"subnet_id": sub.id, "ip_address": "10.9.0.5"}]


async def test_network_quota_details_and_extensions(cloud, conn):
    def go():
        make_net(conn)
        return conn.network.get_quota(cloud.project_id, details=True), conn.network.find_extension("standard-attr-tag")
    quota, ext = await run(go)
    assert quota.networks["used"] == 2 and quota.networks["limit"] == 100  # public + net1
    assert ext.alias == "standard-attr-tag"


# --- fault injection ---------------------------------------------------------
async def test_inject_answers_without_acting(cloud, conn):
    cloud.inject("POST", r"/servers$", status=503, times=1)

    def go():
        with pytest.raises(sdk_exc.HttpException) as err:
            conn.compute.create_server(name="x", flavor_id="1", image_id=next(iter(cloud.images)), networks="none")
        srv = conn.compute.create_server(name="y", flavor_id="1", image_id=next(iter(cloud.images)), networks="none")
        return err.value, srv
    err, srv = await run(go)
    assert err.status_code == 503
    assert [s["name"] for s in cloud.servers.values()] == ["y"]


async def test_inject_custom_body_on_network(cloud, conn):
    cloud.inject("GET", r"^/v2\.0/networks$", status=409, times=2,
                 body={"NeutronError": {"type": "Boom", "message": "custom boom", "detail": ""}})

    def go():
        errs = []
        for _ in range(2):
            try:
                list(conn.network.networks())
            except sdk_exc.HttpException as e:
                errs.append(e)
        return errs, [n.name for n in conn.network.networks()]
    errs, names = await run(go)
    assert len(errs) == 2 and all(e.status_code == 409 and "custom boom" in str(e) for e in errs)
    assert names == ["public"]


# --- image -------------------------------------------------------------------
async def test_image_upload_and_find(cloud, conn):
    data = b"qcow2 bytes" * 100

    def go():
        img = conn.image.create_image(name="vnf-img", data=data, disk_format="qcow2", container_format="bare",
                                      tags=["vnfd:1"])
        # sdk quirk: Image has no os_hash_value query parameter, so ask Glance directly
        by_hash = conn.image.get("/images", params={"os_hash_value": hashlib.sha512(data).hexdigest()}).json()
        return img, conn.image.find_image("vnf-img"), [i.name for i in conn.image.images(tag="vnfd:1")], \
            [i["id"] for i in by_hash["images"]]
    created, found, tagged, by_hash = await run(go)
    assert found.id == created.id and found.status == "active" and found.size == len(data)
    assert found.checksum == hashlib.md5(data).hexdigest() and found.hash_algo == "sha512"
    assert tagged == ["vnf-img"] and by_hash == [created.id]
    await run(lambda: conn.image.delete_image(created.id))
    assert cloud.count()["images"] == 0


async def test_preseeded_image_is_active_with_hashes(cloud, conn):
    img = await run(lambda: conn.image.find_image("cirros-0.5.2-x86_64-disk"))
    assert img.status == "active" and img.hash_algo == "sha512" and len(img.hash_value) == 128
    assert cloud.count()["images"] == 0  # preseeded resources are not counted


# --- block storage -----------------------------------------------------------
async def test_volume_create_attach_delete(cloud, conn):
    def go():
        vol = conn.block_storage.create_volume(size=2, name="data", metadata={"vnf": "a"})
        vol = conn.block_storage.wait_for_status(vol, "available", **WAIT)
        srv = conn.compute.create_server(name="vm", flavor_id="1", image_id=next(iter(cloud.images)), networks="none")
        srv = conn.compute.wait_for_server(srv, **WAIT)
        att = conn.compute.create_volume_attachment(srv, volume=vol.id)
        in_use = conn.block_storage.wait_for_status(conn.block_storage.get_volume(vol.id), "in-use", **WAIT)
        with pytest.raises(sdk_exc.BadRequestException):
            conn.block_storage.delete_volume(vol)
        srv_view = conn.compute.get_server(srv.id)
        conn.compute.delete_volume_attachment(srv, vol.id)
        detaching = conn.block_storage.get_volume(vol.id).status  # detach is asynchronous
        conn.block_storage.wait_for_status(conn.block_storage.get_volume(vol.id), "available", **WAIT)
        conn.block_storage.delete_volume(vol)
        conn.block_storage.wait_for_delete(vol, **WAIT)
        return att, in_use, srv_view, detaching
    att, in_use, srv_view, detaching = await run(go)
    assert detaching == "detaching"
    assert att.device == "/dev/vdb" and in_use.attachments[0]["server_id"] == srv_view.id
    assert [(a.id, a.delete_on_termination) for a in srv_view.attached_volumes] == [(in_use.id, False)]
    assert cloud.count()["volumes"] == 0


async def test_server_delete_detaches_volume(cloud, conn):
    def go():
        vol = conn.block_storage.wait_for_status(conn.block_storage.create_volume(size=1), "available", **WAIT)
        srv = conn.compute.wait_for_server(conn.compute.create_server(
            name="vm", flavor_id="1", image_id=next(iter(cloud.images)), networks="none"), **WAIT)
        conn.compute.create_volume_attachment(srv, volume=vol.id)
        conn.block_storage.wait_for_status(vol, "in-use", **WAIT)
        conn.compute.delete_server(srv)
        conn.compute.wait_for_delete(srv, **WAIT)
        return conn.block_storage.get_volume(vol.id)
    vol = await run(go)
    assert vol.status == "available" and vol.attachments == []


async def test_volume_filters_quota_and_limits(cloud, conn):
    cloud.set_quota(volumes=2)

    def go():
        conn.block_storage.create_volume(size=1, name="v1", metadata={"a": "1", "b": "2"})
        conn.block_storage.create_volume(size=3, name="v2", metadata={"a": "2"})
        with pytest.raises(sdk_exc.HttpException) as err:
            conn.block_storage.create_volume(size=1, name="v3")
        # the sdk cannot encode a dict query parameter: send Cinder's literal form ourselves
        raw = conn.block_storage.get("/volumes/detail", params={"metadata": json.dumps({"a": "1"})}).json()
        return (err.value, [v.name for v in conn.block_storage.volumes(name="v2")], raw,
                conn.block_storage.get_quota_set(cloud.project_id, usage=True))
    err, by_name, raw, quota = await run(go)
    assert err.status_code == 413 and "VolumeLimitExceeded" in str(err)
    assert by_name == ["v2"] and [v["name"] for v in raw["volumes"]] == ["v1"]
    assert quota.usage["volumes"] == 2 and quota.usage["gigabytes"] == 4 and quota.volumes == 2


# --- out-of-band changes -----------------------------------------------------
async def test_oob_changes_are_visible_to_the_sdk(cloud, conn):
    def boot():
        net, _ = make_net(conn)
        port = conn.network.create_port(network_id=net.id)
        srv = conn.compute.create_server(name="vm", flavor_id="1", image_id=next(iter(cloud.images)),
                                         networks=[{"port": port.id}])
        return conn.compute.wait_for_server(srv, **WAIT), port
    srv, port = await run(boot)
    cloud.oob_set("servers", srv.id, status="SHUTOFF")
    assert (await run(lambda: conn.compute.get_server(srv.id))).status == "SHUTOFF"
    extra = cloud.oob_create("networks", name="rogue", tags=["vnf:a"])
    assert [n.id for n in await run(lambda: list(conn.network.networks(tags="vnf:a")))] == [extra["id"]]
    assert cloud.count()["networks"] == 2
    cloud.oob_delete("servers", srv.id)
    with pytest.raises(sdk_exc.NotFoundException):
        await run(lambda: conn.compute.get_server(srv.id))
    assert cloud.ports[port.id]["device_id"] == ""
    cloud.oob_delete("ports", port.id)
    with pytest.raises(sdk_exc.NotFoundException):
        await run(lambda: conn.network.get_port(port.id))
    assert cloud.count()["servers"] == 0 and cloud.count()["ports"] == 0


async def test_microversion_is_echoed(cloud, conn):
    def go():
        r = conn.compute.get("/servers/detail", microversion="2.79")
        return r.headers
    headers = await run(go)
    assert headers["OpenStack-API-Version"] == "compute 2.79" and headers["X-OpenStack-Nova-API-Version"] == "2.79"
    assert not cloud.unhandled
