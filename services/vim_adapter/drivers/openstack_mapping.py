"""Pure mapping between MAGI requests and OpenStack resources (no I/O, unit-tested).

Names, tags, flavor choice, VimConnectionInfo → openstacksdk config, inventory normalisation
and the capacity view. The OpenStack driver (`openstack.py`) does the calls; this module
decides what they carry.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
from typing import Any, Iterable

from magi.bus.base import PermanentError

OPENSTACK = "ETSINFV.OPENSTACK_KEYSTONE.V_3"
PREFIX = "magi-"
RID, OWNER, VIM = "magi.rid", "magi.owner", "magi.vim"
CHECKSUM = "magi.checksum"  # Glance tag of an image MAGI uploaded: the package's declared hash
DEFAULT_POOL = "10.100.0.0/16"  # VLs without a cidr get a free /24 of it
SG_DIRECTIONS = {"INGRESS": "ingress", "EGRESS": "egress"}
SG_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ANY": None}
SG_ETHERTYPES = {"IPV4": "IPv4", "IPV6": "IPv6"}
POLICIES = {"AFFINITY": "affinity", "ANTI_AFFINITY": "anti-affinity"}


# -- names and tags ---------------------------------------------------------------------
def name(resource_id: str) -> str:
    return f"{PREFIX}{resource_id}"


def port_name(resource_id: str, cpd_id: str) -> str:
    return f"{PREFIX}{resource_id}-{cpd_id}"


def server_group_name(vnf_instance_id: str, group_id: str) -> str:
    return f"{PREFIX}{vnf_instance_id}-{group_id}"


def metadata(resource_id: str, owner: str | None, vim_id: str) -> dict[str, str]:
    """Key/value form (Nova server metadata, Cinder volume metadata)."""
    md = {RID: resource_id, VIM: vim_id}
    if owner:
        md[OWNER] = owner
    return md


def tags(resource_id: str, owner: str | None, vim_id: str) -> list[str]:
    """String form (Neutron, Nova server and Glance tags): `magi.rid=<id>` …"""
    return [f"{k}={v}" for k, v in metadata(resource_id, owner, vim_id).items()]


def tag_values(tag_list: Iterable[str] | None, md: dict[str, Any] | None = None) -> dict[str, str]:
    """MAGI's keys found in a resource's tags and/or metadata."""
    out: dict[str, str] = {}
    for t in tag_list or []:
        k, sep, v = str(t).partition("=")
        if sep and k in (RID, OWNER, VIM):
            out[k] = v
    for k in (RID, OWNER, VIM):
        if md and md.get(k):
            out[k] = str(md[k])
    return out


def is_ours(resource_id: str, tag_list: Iterable[str] | None = None, md: dict[str, Any] | None = None) -> bool:
    return tag_values(tag_list, md).get(RID) == resource_id


# -- VimConnectionInfo → openstacksdk ---------------------------------------------------
def connection_config(vim: dict[str, Any], ca_file: str | None = None) -> dict[str, Any]:
    """Keyword arguments of `openstack.config.get_cloud_region` for one SOL003 VimConnectionInfo.

    interfaceInfo: endpoint (Keystone v3 URL), trustedCertificates/caBundle (PEM, written to
    `ca_file` by the caller), skipCertificateVerification, interface. accessInfo: username,
    password, project|projectId, projectDomain, userDomain, region — or applicationCredentialId,
    applicationCredentialSecret (+ region)."""
    ii = vim.get("interfaceInfo") or {}
    ai = vim.get("accessInfo") or {}
    extra = vim.get("extra") or {}
    endpoint = ii.get("endpoint") or ii.get("authUrl")
    if not endpoint:
        raise PermanentError(422, f"VIM {vim.get('vimId')}: interfaceInfo.endpoint (Keystone v3 URL) is required")
    if not ai:
        raise PermanentError(422, f"VIM {vim.get('vimId')}: no accessInfo")
    auth: dict[str, Any] = {"auth_url": endpoint}
    if ai.get("applicationCredentialId"):
        auth_type = "v3applicationcredential"
        auth["application_credential_id"] = ai["applicationCredentialId"]
        auth["application_credential_secret"] = ai.get("applicationCredentialSecret")
    elif ai.get("username"):
        auth_type = "v3password"
        auth.update(username=ai["username"], password=ai.get("password"),
                    user_domain_name=ai.get("userDomain") or "Default")
        if ai.get("projectId"):
            auth["project_id"] = ai["projectId"]
        else:
            auth["project_name"] = ai.get("project")
            auth["project_domain_name"] = ai.get("projectDomain") or "Default"
    else:
        raise PermanentError(422, f"VIM {vim.get('vimId')}: accessInfo needs username/password or applicationCredentialId/Secret")
    cfg: dict[str, Any] = {"auth_type": auth_type, "auth": auth,
                           "interface": ii.get("interface") or extra.get("interface") or "public"}
    region = ai.get("region") or ii.get("region") or extra.get("region")
    if region:
        cfg["region_name"] = region
    if _truthy(ii.get("skipCertificateVerification")):
        cfg["verify"] = False
    elif ca_file:
        cfg["cacert"] = ca_file
    return cfg


def ca_bundle(vim: dict[str, Any]) -> str | None:
    ii = vim.get("interfaceInfo") or {}
    pem = ii.get("trustedCertificates") or ii.get("caBundle")
    if isinstance(pem, list):
        pem = "\n".join(pem)
    return pem or None


def credentials_key(vim: dict[str, Any]) -> str:
    """A digest of what a connection depends on: a changed password gives a new connection."""
    extra = vim.get("extra") or {}
    raw = repr([repr(vim.get("interfaceInfo")), repr(vim.get("accessInfo")), extra.get("interface"), extra.get("region")])
    return hashlib.sha256(raw.encode()).hexdigest()


def _truthy(v: Any) -> bool:
    return v is True or str(v).lower() in ("true", "1", "yes")


# -- sizes and flavors ------------------------------------------------------------------
def compute_need(virtual_compute: dict[str, Any]) -> tuple[int, int, int]:
    """(vCPUs, memory MB, local disk GB) of a virtualCompute (MAGI flat keys or IFA011 nested)."""
    vc = virtual_compute or {}
    vcpus = vc.get("numVirtualCpu") or (vc.get("virtualCpu") or {}).get("numVirtualCpu") or 1
    mem = vc.get("virtualMemSizeMb") or (vc.get("virtualMemory") or {}).get("virtualMemSize") or 512
    disk = vc.get("localDiskSizeGb")
    if disk is None:
        storages = vc.get("virtualLocalStorage") or []
        disk = sum(float(s.get("sizeOfStorage") or 0) for s in storages) if storages else 0
    return int(vcpus), int(mem), int(math.ceil(float(disk or 0)))


def flavor_hint(virtual_compute: dict[str, Any]) -> str | None:
    vc = virtual_compute or {}
    if vc.get("flavorHint"):
        return str(vc["flavorHint"])
    for cap in vc.get("requestedAdditionalCapabilities") or []:
        props = cap.get("targetPerformanceParameters") or {}
        hint = props.get("flavor") or props.get("flavorName") or cap.get("flavor")
        if hint:
            return str(hint)
    return None


def choose_flavor(flavors: list[dict[str, Any]], vcpus: int, ram: int, disk: int) -> dict[str, Any] | None:
    """The smallest flavor (vCPUs, then RAM, then disk) that fits; None if none does.

    `flavors`: [{id, name, vcpus, ram, disk}]. A disk-0 flavor fits only a zero-disk request."""
    fits = [f for f in flavors if int(f.get("vcpus") or 0) >= vcpus and int(f.get("ram") or 0) >= ram
            and int(f.get("disk") or 0) >= disk]
    if not fits:
        return None
    return min(fits, key=lambda f: (int(f["vcpus"]), int(f["ram"]), int(f.get("disk") or 0), str(f.get("name"))))


def flavor_name(vcpus: int, ram: int, disk: int) -> str:
    return f"{PREFIX}{vcpus}-{ram}-{disk}"


def hash_name(algorithm: str | None) -> str | None:
    """SOL001/IFA011 checksum algorithm ("SHA-256", "sha-512", "MD5") → hashlib name."""
    if not algorithm:
        return None
    return str(algorithm).lower().replace("-", "").replace("_", "")


def volume_size(size_gb: float) -> int:
    return max(1, int(math.ceil(float(size_gb))))


# -- networks and security groups ---------------------------------------------------------
def default_cidr(resource_id: str, taken: Iterable[str], pool: str = DEFAULT_POOL) -> str:
    """A /24 of `pool` no existing subnet overlaps, starting at a slot derived from the id."""
    net = ipaddress.ip_network(pool)
    slots = list(net.subnets(new_prefix=24))
    used = [ipaddress.ip_network(c, strict=False) for c in taken if c]
    start = int(hashlib.sha256(resource_id.encode()).hexdigest(), 16) % len(slots)
    for i in range(len(slots)):
        cand = slots[(start + i) % len(slots)]
        if not any(cand.version == u.version and cand.overlaps(u) for u in used):
            return str(cand)
    raise PermanentError(422, f"no free /24 left in the default pool {pool}")


def sg_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SOL001 SecurityGroupRule properties → Neutron security group rule attributes."""
    out = []
    for r in rules or []:
        proto = SG_PROTOCOLS.get(str(r.get("protocol") or "TCP").upper(), str(r.get("protocol")).lower())
        rule: dict[str, Any] = {"direction": SG_DIRECTIONS.get(str(r.get("direction") or "INGRESS").upper(), "ingress"),
                                "ether_type": SG_ETHERTYPES.get(str(r.get("etherType") or r.get("ether_type") or "IPV4").upper(), "IPv4")}
        if proto:
            rule["protocol"] = proto
        lo, hi = r.get("portRangeMin", r.get("port_range_min")), r.get("portRangeMax", r.get("port_range_max"))
        if proto in ("tcp", "udp") and (lo is not None or hi is not None):
            rule["port_range_min"] = int(lo if lo is not None else hi)
            rule["port_range_max"] = int(hi if hi is not None else lo)
        if r.get("remoteIpPrefix"):
            rule["remote_ip_prefix"] = r["remoteIpPrefix"]
        out.append(rule)
    return out


# -- inventory and capacity ---------------------------------------------------------------
INVENTORY_KEYS = ("vimResourceId", "resourceType", "resourceId", "ownerId", "name", "state", "zoneId", "attributes")


def inventory_item(resource_type: str, res: dict[str, Any]) -> dict[str, Any]:
    """One VIM resource (openstacksdk `to_dict()`) as the drift contract wants it."""
    md = res.get("metadata") if isinstance(res.get("metadata"), dict) else None
    t = tag_values(res.get("tags"), md)
    name_ = res.get("name")
    state, zone, attrs = res.get("status"), None, {}
    if resource_type == "COMPUTE":
        flavor = res.get("flavor") or {}
        image = res.get("image") or {}
        attrs = {"flavor": flavor.get("original_name") or flavor.get("name") or flavor.get("id"),
                 "image": image.get("id") if isinstance(image, dict) else image}
        zone = res.get("availability_zone")
    elif resource_type == "STORAGE":
        attrs = {"size": res.get("size")}
        zone = res.get("availability_zone")
    elif resource_type == "SUBNET":
        attrs = {"cidr": res.get("cidr"), "network_id": res.get("network_id")}
        state = state or "ACTIVE"
    elif resource_type == "PORT":
        attrs = {"network_id": res.get("network_id"), "device_id": res.get("device_id") or None}
    elif resource_type == "VL":
        attrs = {"shared": bool(res.get("is_shared") or res.get("shared"))}
    elif resource_type == "SERVER_GROUP":
        attrs = {"policy": res.get("policy") or (res.get("policies") or [None])[0], "members": len(res.get("member_ids") or [])}
        state = state or "ACTIVE"
    elif resource_type == "SECURITY_GROUP":
        attrs = {"rules": len(res.get("security_group_rules") or [])}
        state = state or "ACTIVE"
    return {"vimResourceId": res.get("id"), "resourceType": resource_type, "resourceId": t.get(RID),
            "ownerId": t.get(OWNER) or None, "name": name_, "state": state, "zoneId": zone, "attributes": attrs}


def own_project(res: dict[str, Any], project_id: str | None) -> bool:
    """Only the project's own resources (shared/external networks of other projects are not ours)."""
    pid = res.get("project_id") or res.get("tenant_id")
    return project_id is None or pid is None or pid == project_id


def infrastructure_network(net: dict[str, Any]) -> bool:
    """An external or shared network MAGI did not create (e.g. "public"): left out of the inventory."""
    ext = net.get("is_router_external") or net.get("router:external")
    shared = net.get("is_shared") or net.get("shared")
    return bool(ext or shared) and not tag_values(net.get("tags")).get(RID)


def _n(v: Any) -> int | None:
    try:
        n = int(v)
    except (TypeError, ValueError):
        return None
    return None if n < 0 else n


def capacity_view(vim_id: str, limits: dict[str, Any], volume_quota: dict[str, Any] | None,
                  zones: list[str]) -> dict[str, Any]:
    """Nova absolute limits (+ Cinder quota usage) → the simulated driver's capacity shape.

    A limit of -1 (unlimited) shows as None in total and free."""
    total = {"vcpus": _n(limits.get("total_cores")), "memoryMb": _n(limits.get("total_ram")),
             "instances": _n(limits.get("instances")), "storageGb": None}
    used = {"vcpus": _n(limits.get("total_cores_used")) or 0, "memoryMb": _n(limits.get("total_ram_used")) or 0,
            "instances": _n(limits.get("instances_used")) or 0, "storageGb": 0}
    if volume_quota:
        g = volume_quota.get("gigabytes")
        if isinstance(g, dict):
            total["storageGb"], used["storageGb"] = _n(g.get("limit")), _n(g.get("in_use")) or 0
        elif g is not None:
            total["storageGb"] = _n(g)
        u = volume_quota.get("usage") or {}
        if isinstance(u.get("gigabytes"), dict):
            used["storageGb"] = _n(u["gigabytes"].get("in_use")) or 0
        elif u.get("gigabytes") is not None:
            used["storageGb"] = _n(u["gigabytes"]) or 0
    free = {k: (None if total[k] is None else max(0, total[k] - used[k])) for k in total}
    return {"vimId": vim_id, "total": total, "used": used, "free": free, "zones": sorted(set(zones))}


def quota_message(vim_id: str, detail: str) -> str:
    return f"insufficient capacity on VIM {vim_id}: {detail}"


def is_quota(status: int | None, text: str) -> bool:
    """Nova 403 "Quota exceeded", Cinder 413 overLimit, Neutron 409 OverQuota."""
    t = text.lower()
    if status == 409:
        return "quota" in t
    return status in (403, 413) and ("quota" in t or "exceed" in t or "limit" in t)
