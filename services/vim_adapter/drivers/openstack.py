"""The OpenStack VIM driver (`ETSINFV.OPENSTACK_KEYSTONE.V_3`), on openstacksdk.

openstacksdk is synchronous: every call runs in the VIM's own thread pool (its size is
`openstack_concurrency`, which bounds the calls in flight per VIM), is retried with exponential
back-off on 409/5xx/connection errors (`openstack_retries`), and waits for ACTIVE/available/gone
poll on the event loop with a deadline (`openstack_timeout_seconds`).

Idempotency: every resource is named `magi-<resourceId>` (ports `magi-<resourceId>-<cpdId>`)
and tagged `magi.rid=<resourceId>`, `magi.owner=<owner>`, `magi.vim=<vimId>` in the create
request itself, so whatever exists after a crash or fault is found by its tag: an allocation
looks first and reuses, a release deletes everything carrying its resourceId and nothing else.
The pure half (names, tags, flavor choice, inventory rows, capacity) is `openstack_mapping`.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import os
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import aiohttp
import structlog

from magi.bus.base import PermanentError
from magi.bus.catalog import ComputeAllocate, NetworkAllocate, StorageAllocate
from magi.config import MagiSettings
from magi.secrets import redact

from vim_adapter.domain import owner_of
from vim_adapter.drivers import openstack_mapping as m
from vim_adapter.drivers.base import VimDriver

log = structlog.get_logger(__name__)
OPENSTACK = m.OPENSTACK


def _find(find: Callable[..., Any], ref: str) -> Any:
    """A `find_*` proxy call; None when absent. (openstacksdk 6 drops `ignore_missing=True` as the
    default of find_*, and deprecates passing it: ask for the exception and catch it.)"""
    try:
        return find(ref, ignore_missing=False)
    except _sdk().exceptions.NotFoundException:
        return None


class OpenStackTransient(Exception):
    """VIM trouble a later attempt may not meet (the bus redelivers the request)."""


@dataclass(frozen=True)
class OpenStackConfig:
    concurrency: int = 4
    timeout_seconds: float = 300.0
    retries: int = 4
    backoff: float = 0.2  # first retry delay, doubled each attempt
    poll: float = 0.05  # first poll interval of a wait, grows to 2 s

    @classmethod
    def from_settings(cls, s: MagiSettings) -> "OpenStackConfig":
        return cls(s.openstack_concurrency, s.openstack_timeout_seconds, s.openstack_retries)


def _sdk() -> Any:
    import openstack  # noqa: PLC0415 - ~0.2 s import, only when an OpenStack VIM is used
    import openstack.config  # noqa: PLC0415
    return openstack


class OpenStackClient:
    """One VIM's connection (created lazily, once) and thread pool; shared by its drivers."""

    def __init__(self, vim: dict[str, Any], config: OpenStackConfig):
        self.vim_id = vim["vimId"]
        self.config = config
        self._vim = vim
        self.pool = ThreadPoolExecutor(max_workers=max(1, config.concurrency), thread_name_prefix=f"os-{self.vim_id[:12]}")
        self._lock = threading.Lock()
        self._conn: Any = None
        self._ca_file: str | None = None

    def conn(self) -> Any:  # called in a pool thread
        with self._lock:
            if self._conn is None:
                sdk = _sdk()
                pem = m.ca_bundle(self._vim)
                if pem and self._ca_file is None:
                    fd, self._ca_file = tempfile.mkstemp(prefix="magi-ca-", suffix=".pem")
                    with os.fdopen(fd, "w") as f:
                        f.write(pem)
                kw = m.connection_config(self._vim, self._ca_file)
                region = sdk.config.get_cloud_region(load_yaml_config=False, load_envvars=False, **kw)
                self._conn = sdk.connection.Connection(config=region)
                log.info("openstack.connected", vim=redact({k: v for k, v in self._vim.items() if k != "extra"}))
            return self._conn

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        if self._ca_file:
            try:
                os.unlink(self._ca_file)
            except OSError:
                pass

    async def call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        """`fn(connection)` in the VIM's pool, retried on 409/5xx/connection errors."""
        sdk = _sdk()
        from keystoneauth1 import exceptions as ksa  # noqa: PLC0415
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                return await loop.run_in_executor(self.pool, lambda: fn(self.conn()))
            except PermanentError:
                raise
            except sdk.exceptions.HttpException as exc:
                status = exc.status_code or 0
                text = str(exc.details or exc.message or exc)
                if m.is_quota(status, text):
                    raise PermanentError(403, m.quota_message(self.vim_id, f"{what}: {text}")) from None
                if status == 409 or status >= 500 or status == 0:
                    err: Exception = exc
                elif status == 401:
                    raise PermanentError(401, f"VIM {self.vim_id}: authentication failed ({what})") from None
                else:
                    raise PermanentError(status, f"VIM {self.vim_id}: {what}: {text}") from None
            except ksa.http.Unauthorized:
                raise PermanentError(401, f"VIM {self.vim_id}: authentication failed ({what})") from None
            except ksa.http.HttpError as exc:
                status = getattr(exc, "http_status", 0) or 0
                if 400 <= status < 500 and status != 409:
                    raise PermanentError(status, f"VIM {self.vim_id}: {what}: {exc.message}") from None
                err = exc
            except (ksa.connection.ConnectFailure, ksa.connection.ConnectTimeout, ksa.connection.UnknownConnectionError,
                    ConnectionError, OSError) as exc:
                err = exc
            except sdk.exceptions.SDKException as exc:
                raise OpenStackTransient(f"VIM {self.vim_id}: {what}: {exc}") from None
            attempt += 1
            if attempt > self.config.retries:
                raise OpenStackTransient(f"VIM {self.vim_id}: {what} failed after {attempt} attempts: {err}") from None
            delay = self.config.backoff * 2 ** (attempt - 1)
            log.warning("openstack.retry", vimId=self.vim_id, what=what, attempt=attempt, delay=delay,
                        error=type(err).__name__)
            await asyncio.sleep(delay)

    async def wait(self, what: str, get: Callable[[Any], Any], done: Callable[[Any], bool],
                   failed: Callable[[Any], str | None] = lambda r: None) -> Any:
        """Poll `get(conn)` until `done(result)`; `failed(result)` → PermanentError; deadline → transient."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_seconds
        delay = self.config.poll
        while True:
            res = await self.call(what, get)
            if done(res):
                return res
            if (why := failed(res)) is not None:
                raise PermanentError(422, f"VIM {self.vim_id}: {what}: {why}")
            if loop.time() >= deadline:
                raise OpenStackTransient(f"VIM {self.vim_id}: {what}: not done within {self.config.timeout_seconds:g}s")
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 1.5, 2.0)


class OpenStackVims:
    """Every OpenStack VIM's client; `driver(vim)` is the registry's factory."""

    def __init__(self, config: OpenStackConfig):
        self.config = config
        self._clients: dict[tuple[str, str], OpenStackClient] = {}
        self._retired: list[OpenStackClient] = []
        # One allocation or release per resourceId at a time in this process (a redelivery racing
        # the first delivery waits for it, then finds what it made).
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, vim_id: str, rid: str) -> asyncio.Lock:
        key = (vim_id, rid)
        lk = self._locks.get(key)
        if lk is None:
            lk = self._locks[key] = asyncio.Lock()
        return lk

    def client(self, vim: dict[str, Any]) -> OpenStackClient:
        key = (vim["vimId"], m.credentials_key(vim))
        c = self._clients.get(key)
        if c is None:
            # Credentials changed: new requests get a new connection; calls in flight finish on the
            # old one, which is closed with the service.
            for old in [k for k in self._clients if k[0] == vim["vimId"]]:
                self._retired.append(self._clients.pop(old))
            c = self._clients[key] = OpenStackClient(vim, self.config)
        return c

    def driver(self, vim: dict[str, Any]) -> "OpenStackDriver":
        return OpenStackDriver(vim, self.client(vim), self.lock)

    async def close(self) -> None:
        for c in [*self._clients.values(), *self._retired]:
            c.close()
        self._clients.clear()
        self._retired.clear()


def _d(res: Any) -> dict[str, Any]:
    return res.to_dict() if hasattr(res, "to_dict") else dict(res)


class OpenStackDriver(VimDriver):
    def __init__(self, vim: dict[str, Any], client: OpenStackClient,
                 lock: Callable[[str, str], asyncio.Lock] | None = None):
        super().__init__(vim)
        self.os = client
        self.extra: dict[str, Any] = vim.get("extra") or {}
        self._lock = lock or (lambda vim_id, rid: asyncio.Lock())

    # -- lookups by MAGI tag ------------------------------------------------------------------
    def _tags(self, rid: str, owner: str | None) -> list[str]:
        return m.tags(rid, owner, self.vim_id)

    async def _servers(self, rid: str) -> list[Any]:
        def q(c: Any) -> list[Any]:
            return [s for s in c.compute.servers(details=True, name=m.name(rid))
                    if s.name == m.name(rid) and m.is_ours(rid, s.tags, s.metadata)]
        return await self.os.call("list servers", q)

    async def _neutron(self, kind: str, rid: str, **filters: Any) -> list[Any]:
        tag = f"{m.RID}={rid}"

        def q(c: Any) -> list[Any]:
            return [r for r in getattr(c.network, kind)(tags=tag, **filters) if m.is_ours(rid, r.tags)]
        return await self.os.call(f"list {kind}", q)

    async def _volumes(self, rid: str) -> list[Any]:
        def q(c: Any) -> list[Any]:
            return [v for v in c.block_storage.volumes(details=True, name=m.name(rid))
                    if v.name == m.name(rid) and m.is_ours(rid, None, v.metadata)]
        return await self.os.call("list volumes", q)

    async def _tag_if_missing(self, res: Any, tags: list[str]) -> None:
        if not set(tags) <= set(res.tags or []):  # a Neutron without tags-on-create
            await self.os.call("tag resource", lambda c: c.network.set_tags(res, sorted(set(res.tags or []) | set(tags))))

    # -- compute ----------------------------------------------------------------------------
    async def allocate_compute(self, req: ComputeAllocate) -> dict[str, Any]:
        async with self._lock(self.vim_id, req.resourceId):
            return await self._allocate_compute(req)

    async def _allocate_compute(self, req: ComputeAllocate) -> dict[str, Any]:
        rid, owner = req.resourceId, owner_of(req)
        log.info("openstack.compute.allocate", vimId=self.vim_id, resourceId=rid, vduId=req.vduId)
        existing = await self._servers(rid)
        if existing:  # redelivered: reuse it, also while it is still building
            server = existing[0]
        else:
            flavor_id = await self._flavor(req.virtualCompute)
            image_id = await self._image(req.swImage, rid, owner)
            sg = await self._security_group(rid, owner, req.securityGroupRules)
            ports = await self._ports(req, sg)
            group = await self._server_groups(req)
            attrs: dict[str, Any] = {
                "name": m.name(rid), "flavor_id": flavor_id, "image_id": image_id,
                "networks": [{"port": p.id} for p, _ in ports] or "none",
                "metadata": m.metadata(rid, owner, self.vim_id), "tags": self._tags(rid, owner)}
            if req.zoneId:
                attrs["availability_zone"] = req.zoneId
            if req.keyName:
                attrs["key_name"] = req.keyName
            if req.userData:
                attrs["user_data"] = _b64(req.userData)
            if group:
                attrs["scheduler_hints"] = {"group": group}
            server = await self.os.call("create server", lambda c: c.compute.create_server(**attrs))
            server = await self._one_server(rid, server)
        server = await self.os.wait(
            f"server {m.name(rid)} to become ACTIVE", lambda c: c.compute.get_server(server.id),
            lambda s: s.status == "ACTIVE",
            lambda s: f"server went to ERROR: {(s.fault or {}).get('message', 'no fault given')}" if s.status == "ERROR" else None)
        for vol_rid in req.volumes:
            await self._attach(server, vol_rid)
        ports = await self._neutron("ports", rid)
        return {"resourceId": rid, "vimResourceId": server.id, "vimId": self.vim_id,
                "zoneId": server.availability_zone or req.zoneId, "addresses": self._addresses(req, ports)}

    async def _one_server(self, rid: str, mine: Any) -> Any:
        """Another replica may have created the same resourceId at the same time: the oldest wins,
        the others are deleted (by whoever sees them), so both answer the same server."""
        found = await self._servers(rid)
        if len(found) <= 1:
            return mine
        keeper = min(found, key=lambda s: (s.created_at or "", s.id))
        for s in found:
            if s.id != keeper.id:
                await self.os.call("delete duplicate server", lambda c, s=s: c.compute.delete_server(s.id, ignore_missing=True))
        log.warning("openstack.compute.duplicate_removed", vimId=self.vim_id, resourceId=rid, kept=keeper.id)
        return keeper

    def _addresses(self, req: ComputeAllocate, ports: list[Any]) -> list[dict[str, Any]]:
        by_name = {p.name: p for p in ports}
        out = []
        for net in req.networks:
            p = by_name.get(m.port_name(req.resourceId, net.get("cpdId") or "nic"))
            if p is None:
                continue
            ips = [ip.get("ip_address") for ip in p.fixed_ips or [] if ip.get("ip_address")]
            out.append({**{k: net[k] for k in ("cpdId", "vlId", "vimNetworkId", "externalNetworkId") if net.get(k)},
                        "ipAddress": ips[0] if ips else None, "macAddress": p.mac_address, "portId": p.id})
        return out

    async def _flavor(self, vc: dict[str, Any]) -> str:
        hint = m.flavor_hint(vc)
        vcpus, ram, disk = m.compute_need(vc)

        def q(c: Any) -> list[dict[str, Any]]:
            return [{"id": f.id, "name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk}
                    for f in c.compute.flavors(details=True)]
        flavors = await self.os.call("list flavors", q)
        if hint:
            for f in flavors:
                if hint in (f["name"], f["id"]):
                    return f["id"]
            raise PermanentError(422, f"VIM {self.vim_id}: flavor {hint!r} (flavorHint) not found")
        if (f := m.choose_flavor(flavors, vcpus, ram, disk)) is not None:
            return f["id"]
        if m._truthy(self.extra.get("createFlavors")):
            fname = m.flavor_name(vcpus, ram, disk)
            made = await self.os.call("create flavor", lambda c: c.compute.create_flavor(
                name=fname, vcpus=vcpus, ram=ram, disk=disk, is_public=False))
            return made.id
        raise PermanentError(422, f"VIM {self.vim_id}: no flavor fits {vcpus} vCPU, {ram} MB RAM, {disk} GB disk "
                                  f"(set extra.createFlavors to let MAGI create one)")

    async def _image(self, sw: dict[str, Any] | None, rid: str, owner: str | None) -> str:
        sw = sw or {}
        name = sw.get("name") or self.extra.get("defaultImage")
        if not name:
            raise PermanentError(422, f"VIM {self.vim_id}: the VDU has no software image")
        async with self._lock(self.vim_id, f"image:{name}"):  # VNFCs of one VDU upload it once
            return await self._find_or_upload_image(sw, name, rid, owner)

    async def _find_or_upload_image(self, sw: dict[str, Any], name: str, rid: str, owner: str | None) -> str:
        checksum = sw.get("checksum") or {}
        want = str(checksum.get("hash") or "").lower() if isinstance(checksum, dict) else str(checksum).lower()

        def q(c: Any) -> list[Any]:
            return [i for i in c.image.images(name=name) if i.name == name]
        images = await self.os.call("list images", q)
        if want:
            images = [i for i in images if want in {str(i.checksum or "").lower(), str(i.hash_value or "").lower()}
                      or f"{m.CHECKSUM}={want}" in (i.tags or [])] or \
                     [i for i in images if not i.checksum and not i.hash_value]
        if images:
            return images[0].id
        url = sw.get("imageUrl") or sw.get("artifactUrl") or sw.get("url")
        if not url:
            raise PermanentError(422, f"VIM {self.vim_id}: image {name!r} not found in Glance"
                                      + (f" with checksum {want}" if want else ""))
        algorithm = checksum.get("algorithm") if isinstance(checksum, dict) else None
        path, got = await _download(url, m.hash_name(algorithm) if want else None)
        if want and got is not None and got != want:
            os.unlink(path)
            raise PermanentError(422, f"image {name!r} from {url}: {algorithm} checksum mismatch")
        tags = ["MAGI", *self._tags(rid, owner), *([f"{m.CHECKSUM}={want}"] if want else [])]
        try:
            img = await self.os.call("upload image", lambda c: c.image.create_image(
                name, filename=path, disk_format=sw.get("diskFormat", "qcow2").lower(),
                container_format=sw.get("containerFormat", "bare").lower(), tags=tags, allow_duplicates=False,
                wait=True, timeout=self.os.config.timeout_seconds))
        finally:
            os.unlink(path)
        return img.id

    async def _security_group(self, rid: str, owner: str | None, rules: list[dict[str, Any]]) -> str | None:
        if not rules:
            return None
        tags = self._tags(rid, owner)
        found = await self._neutron("security_groups", rid)
        if found:
            sg = found[0]
        else:
            sg = await self.os.call("create security group", lambda c: c.network.create_security_group(
                name=m.name(rid), description=f"MAGI VNFC {rid}", tags=tags))
            await self._tag_if_missing(sg, tags)
        have = await self.os.call("list security group rules", lambda c: [
            (r.direction, r.ether_type, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix)
            for r in c.network.security_group_rules(security_group_id=sg.id)])
        for rule in m.sg_rules(rules):
            key = (rule["direction"], rule["ether_type"], rule.get("protocol"), rule.get("port_range_min"),
                   rule.get("port_range_max"), rule.get("remote_ip_prefix"))
            if key in have:
                continue
            await self.os.call("create security group rule", functools.partial(
                lambda c, r: c.network.create_security_group_rule(security_group_id=sg.id, **r), r=rule))
            have.append(key)
        return sg.id

    async def _network_id(self, net: dict[str, Any]) -> str:
        if net.get("vimNetworkId"):
            ref = net["vimNetworkId"]
            found = await self._neutron("networks", ref)
            if found:
                return found[0].id
        else:
            ref = net.get("externalNetworkId")
        if not ref:
            raise PermanentError(422, f"networks entry {net.get('cpdId')!r} has neither vimNetworkId nor externalNetworkId")
        got = await self.os.call("find network", lambda c: _find(c.network.find_network, ref))
        if got is None:
            raise PermanentError(422, f"VIM {self.vim_id}: network {ref!r} not found")
        return got.id

    async def _ports(self, req: ComputeAllocate, sg: str | None) -> list[tuple[Any, dict[str, Any]]]:
        rid, owner = req.resourceId, owner_of(req)
        tags = self._tags(rid, owner)
        existing = {p.name: p for p in await self._neutron("ports", rid)}
        out = []
        for net in req.networks:
            pname = m.port_name(rid, net.get("cpdId") or "nic")
            port = existing.get(pname)
            if port is None:
                attrs: dict[str, Any] = {"name": pname, "network_id": await self._network_id(net), "tags": tags}
                if sg:
                    attrs["security_group_ids"] = [sg]
                port = await self.os.call("create port", lambda c, a=attrs: c.network.create_port(**a))
                await self._tag_if_missing(port, tags)
            out.append((port, net))
        return out

    async def _server_groups(self, req: ComputeAllocate) -> str | None:
        """One server group per placement group (found by name, created once); Nova takes one hint."""
        first = None
        for g in req.placementGroups:
            gname = m.server_group_name(req.vnfInstanceId, g.get("groupId") or "group")
            policy = m.POLICIES.get(str(g.get("policy") or "ANTI_AFFINITY").upper(), "anti-affinity")
            found = await self.os.call("list server groups", lambda c, n=gname: [
                s for s in c.compute.server_groups() if s.name == n])
            if found:
                sg_id = found[0].id
            else:
                sg_id = (await self.os.call("create server group", lambda c, n=gname, p=policy:
                                            c.compute.create_server_group(name=n, policy=p))).id
            first = first or sg_id
        return first

    async def _attach(self, server: Any, vol_rid: str) -> None:
        vols = await self._volumes(vol_rid)
        if not vols:
            raise PermanentError(422, f"VIM {self.vim_id}: volume of resource {vol_rid} not found")
        vol = vols[0]
        if not any(a.get("server_id") == server.id for a in vol.attachments or []):
            await self.os.call("attach volume", lambda c: c.compute.create_volume_attachment(server.id, volume=vol.id))
        await self.os.wait(f"volume {vol.name} to be attached", lambda c: c.block_storage.get_volume(vol.id),
                           lambda v: v.status == "in-use",
                           lambda v: f"volume went to {v.status}" if v.status in ("error", "error_attaching") else None)

    async def release_compute(self, resource_id: str, owner: str | None = None) -> bool:
        async with self._lock(self.vim_id, resource_id):
            return await self._release_compute(resource_id, owner)

    async def _release_compute(self, resource_id: str, owner: str | None = None) -> bool:
        rid = resource_id
        deleted = False
        owners: set[str] = {owner} if owner else set()
        for s in await self._servers(rid):
            owners.add(m.tag_values(s.tags, s.metadata).get(m.OWNER, ""))
            await self.os.call("delete server", lambda c, s=s: c.compute.delete_server(s.id, ignore_missing=True))
            await self._gone("server", lambda c, s=s: _find(c.compute.find_server, s.id))
            deleted = True
        for p in await self._neutron("ports", rid):
            owners.add(m.tag_values(p.tags).get(m.OWNER, ""))
            await self.os.call("delete port", lambda c, p=p: c.network.delete_port(p.id, ignore_missing=True))
            deleted = True
        for sg in await self._neutron("security_groups", rid):
            owners.add(m.tag_values(sg.tags).get(m.OWNER, ""))
            await self.os.call("delete security group",
                               lambda c, sg=sg: c.network.delete_security_group(sg.id, ignore_missing=True))
            deleted = True
        owners.discard("")
        if owners:  # a server group goes with its last member
            prefixes = tuple(m.server_group_name(o, "") for o in owners)
            groups = await self.os.call("list server groups", lambda c: [
                g for g in c.compute.server_groups() if (g.name or "").startswith(prefixes) and not g.member_ids])
            for g in groups:
                await self.os.call("delete server group",
                                   lambda c, g=g: c.compute.delete_server_group(g.id, ignore_missing=True))
        log.info("openstack.compute.released", vimId=self.vim_id, resourceId=rid, deleted=deleted)
        return deleted

    async def _gone(self, what: str, find: Callable[[Any], Any]) -> None:
        await self.os.wait(f"{what} to be deleted", find, lambda r: r is None,
                           lambda r: f"{what} went to {r.status} while deleting" if getattr(r, "status", "") == "error_deleting" else None)

    # -- network ----------------------------------------------------------------------------
    async def allocate_network(self, req: NetworkAllocate) -> dict[str, Any]:
        async with self._lock(self.vim_id, req.resourceId):
            return await self._allocate_network(req)

    async def _allocate_network(self, req: NetworkAllocate) -> dict[str, Any]:
        rid, owner = req.resourceId, req.ownerId
        tags = self._tags(rid, owner)
        log.info("openstack.network.allocate", vimId=self.vim_id, resourceId=rid, vlId=req.vlId)
        found = await self._neutron("networks", rid)
        if found:
            net = found[0]
        else:
            net = await self.os.call("create network", lambda c: c.network.create_network(name=m.name(rid), tags=tags))
            await self._tag_if_missing(net, tags)
        subnets = await self._neutron("subnets", rid)
        if subnets:
            subnet = subnets[0]
        else:
            cidr = req.cidr
            if cidr is None:
                taken = await self.os.call("list subnets", lambda c: [s.cidr for s in c.network.subnets()])
                cidr = m.default_cidr(rid, taken)
            subnet = await self.os.call("create subnet", lambda c: c.network.create_subnet(
                name=m.name(rid), network_id=net.id, cidr=cidr, ip_version=6 if ":" in cidr else 4, tags=tags))
            await self._tag_if_missing(subnet, tags)
        return {"resourceId": rid, "vimResourceId": net.id, "vimId": self.vim_id,
                "addresses": [{"cidr": subnet.cidr, "subnetId": subnet.id}]}

    async def release_network(self, resource_id: str) -> bool:
        async with self._lock(self.vim_id, resource_id):
            return await self._release_network(resource_id)

    async def _release_network(self, resource_id: str) -> bool:
        rid = resource_id
        deleted = False
        for net in await self._neutron("networks", rid):
            def ports(c: Any, net: Any = net) -> list[Any]:  # ours and the VIM's own (DHCP), never another id's
                return [p for p in c.network.ports(network_id=net.id)
                        if m.is_ours(rid, p.tags) or (p.device_owner or "").startswith("network:dhcp")]
            for p in await self.os.call("list network ports", ports):
                await self.os.call("delete port", lambda c, p=p: c.network.delete_port(p.id, ignore_missing=True))
            for s in await self.os.call("list subnets", lambda c, net=net: list(c.network.subnets(network_id=net.id))):
                await self.os.call("delete subnet", lambda c, s=s: c.network.delete_subnet(s.id, ignore_missing=True))
            await self.os.call("delete network", lambda c, net=net: c.network.delete_network(net.id, ignore_missing=True))
            deleted = True
        for s in await self._neutron("subnets", rid):  # a subnet whose network went first (out of band)
            await self.os.call("delete subnet", lambda c, s=s: c.network.delete_subnet(s.id, ignore_missing=True))
            deleted = True
        log.info("openstack.network.released", vimId=self.vim_id, resourceId=rid, deleted=deleted)
        return deleted

    # -- storage ----------------------------------------------------------------------------
    async def allocate_storage(self, req: StorageAllocate) -> dict[str, Any]:
        async with self._lock(self.vim_id, req.resourceId):
            return await self._allocate_storage(req)

    async def _allocate_storage(self, req: StorageAllocate) -> dict[str, Any]:
        rid, owner = req.resourceId, req.vnfInstanceId
        log.info("openstack.storage.allocate", vimId=self.vim_id, resourceId=rid, storageId=req.storageId)
        found = await self._volumes(rid)
        if found:
            vol = found[0]
        else:
            attrs: dict[str, Any] = {"name": m.name(rid), "size": m.volume_size(req.sizeGb),
                                     "metadata": m.metadata(rid, owner, self.vim_id)}
            zone = getattr(req, "zoneId", None)
            if zone:
                attrs["availability_zone"] = zone
            vol = await self.os.call("create volume", lambda c: c.block_storage.create_volume(**attrs))
        vol = await self.os.wait(f"volume {m.name(rid)} to become available", lambda c: c.block_storage.get_volume(vol.id),
                                 lambda v: v.status in ("available", "in-use"),
                                 lambda v: f"volume went to {v.status}" if v.status == "error" else None)
        return {"resourceId": rid, "vimResourceId": vol.id, "vimId": self.vim_id, "zoneId": vol.availability_zone}

    async def release_storage(self, resource_id: str) -> bool:
        async with self._lock(self.vim_id, resource_id):
            return await self._release_storage(resource_id)

    async def _release_storage(self, resource_id: str) -> bool:
        deleted = False
        for vol in await self._volumes(resource_id):
            for att in vol.attachments or []:
                if att.get("server_id"):
                    await self.os.call("detach volume", lambda c, a=att: c.compute.delete_volume_attachment(
                        a["server_id"], vol.id, ignore_missing=True))
            if vol.attachments:
                await self.os.wait(f"volume {vol.name} to be detached", lambda c, v=vol: c.block_storage.get_volume(v.id),
                                   lambda v: v.status in ("available", "error"))
            await self.os.call("delete volume", lambda c, v=vol: c.block_storage.delete_volume(v.id, ignore_missing=True))
            await self._gone("volume", lambda c, v=vol: _find(c.block_storage.find_volume, v.id))
            deleted = True
        log.info("openstack.storage.released", vimId=self.vim_id, resourceId=resource_id, deleted=deleted)
        return deleted

    # -- capacity and inventory -------------------------------------------------------------
    async def capacity(self) -> dict[str, Any]:
        limits = await self.os.call("read limits", lambda c: _d(c.compute.get_limits().absolute))

        def volume_quota(c: Any) -> dict[str, Any] | None:
            try:
                return _d(c.block_storage.get_quota_set(c.current_project_id, usage=True))
            except Exception:  # noqa: BLE001 - a cloud without Cinder quotas: storage unknown
                return None
        vq = await self.os.call("read volume quota", volume_quota)
        zones = await self.os.call("list availability zones", lambda c: [
            z.name for z in c.compute.availability_zones() if (z.state or {}).get("available", True)])
        return m.capacity_view(self.vim_id, limits, vq, zones)

    async def inventory(self) -> list[dict[str, Any]]:
        def q(c: Any) -> list[dict[str, Any]]:
            pid = c.current_project_id
            rows = [m.inventory_item("COMPUTE", _d(s)) for s in c.compute.servers(details=True)]
            rows += [m.inventory_item("STORAGE", _d(v)) for v in c.block_storage.volumes(details=True)]
            nets = [_d(n) for n in c.network.networks(project_id=pid)]
            infra = {n["id"] for n in nets if m.infrastructure_network(n)}  # external/shared: the cloud's, not ours
            rows += [m.inventory_item("VL", n) for n in nets if m.own_project(n, pid) and n["id"] not in infra]
            rows += [m.inventory_item("SUBNET", _d(s)) for s in c.network.subnets(project_id=pid)
                     if m.own_project(_d(s), pid) and s.network_id not in infra]
            rows += [m.inventory_item("PORT", _d(p)) for p in c.network.ports(project_id=pid)
                     if m.own_project(_d(p), pid) and not (p.device_owner or "").startswith("network:")
                     and (p.network_id not in infra or m.tag_values(p.tags).get(m.RID))]
            rows += [m.inventory_item("SECURITY_GROUP", _d(g)) for g in c.network.security_groups(project_id=pid)
                     if m.own_project(_d(g), pid) and g.name != "default"]
            rows += [m.inventory_item("SERVER_GROUP", _d(g)) for g in c.compute.server_groups()]
            return rows
        return await self.os.call("list inventory", q)


def _b64(user_data: str) -> str:
    try:
        base64.b64decode(user_data, validate=True)
        return user_data
    except ValueError:
        return base64.b64encode(user_data.encode()).decode()


async def _download(url: str, algorithm: str | None) -> tuple[str, str | None]:
    """The image at `url` streamed into a temporary file: (its path — the caller removes it,
    its hex digest by `algorithm` or None when no algorithm or an unknown one)."""
    fd, path = tempfile.mkstemp(prefix="magi-image-")
    try:
        digest = hashlib.new(algorithm) if algorithm in hashlib.algorithms_available else None
    except ValueError:
        digest = None
    try:
        with os.fdopen(fd, "wb") as f:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as s:
                async with s.get(url) as r:
                    if r.status >= 400:
                        raise PermanentError(422, f"image download from {url} answered {r.status}")
                    async for chunk in r.content.iter_chunked(1 << 20):
                        f.write(chunk)
                        if digest is not None:
                            digest.update(chunk)
        return path, (digest.hexdigest() if digest is not None else None)
    except aiohttp.ClientError as exc:
        os.unlink(path)
        raise OpenStackTransient(f"image download from {url} failed: {exc}") from None
    except BaseException:
        os.unlink(path)
        raise
