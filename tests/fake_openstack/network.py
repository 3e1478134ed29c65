"""Neutron v2.0: networks, subnets (IPAM), ports, security groups and rules, tags,
equality filters, quotas, extensions."""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from . import state as S
from .state import ApiError, State, jresp, match_tags, new_id, now_iso, parse_bool

EXTENSIONS = ("standard-attr-tag", "standard-attr-description", "standard-attr-timestamp",
              "standard-attr-revisions", "binding", "external-net", "security-group", "port-security",
              "quotas", "quota_details", "allowed-address-pairs", "extra_dhcp_opt", "network-mtu",
              "availability_zone", "dhcp_agent_scheduler", "subnet_allocation", "project-id", "tag-ext",
              "net-mtu-writable", "provider", "router", "fip-port-details")

# collection path -> (state kind, singular key)
COLLECTIONS = {"networks": ("networks", "network"), "subnets": ("subnets", "subnet"),
               "ports": ("ports", "port"), "security-groups": ("security_groups", "security_group"),
               "security-group-rules": ("security_group_rules", "security_group_rule"),
               "floatingips": ("floatingips", "floatingip")}
QUOTA_KEY = {"networks": "network", "subnets": "subnet", "ports": "port",
             "security_groups": "security_group", "security_group_rules": "security_group_rule",
             "floatingips": "floatingip"}


def _std(desc: str = "", tags=None) -> dict:
    now = now_iso()
    return {"tenant_id": S.PROJECT_ID, "project_id": S.PROJECT_ID, "description": desc or "",
            "tags": list(tags or []), "created_at": now, "updated_at": now, "revision_number": 0}


class Network:
    prefix = "/network/v2.0"

    def __init__(self, st: State):
        self.st = st
        # preseeded: default security group and the external "public" network
        self.default_sg = self._make_sg("default", "Default security group", counted=False)
        net = self._make_network({"name": "public", "router:external": True, "shared": True,
                                  "provider:network_type": "flat", "provider:physical_network": "public"},
                                 counted=False)
        self._make_subnet({"network_id": net["id"], "name": "public-subnet", "cidr": "172.24.4.0/24",
                           "enable_dhcp": False}, counted=False)

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        r = [web.get("/network", self.versions), web.get("/network/", self.versions),
             web.get(p, self.version), web.get(p + "/", self.version),
             web.get(p + "/extensions", self.extensions), web.get(p + "/extensions/{alias}", self.extension),
             web.get(p + "/quotas/{project}", self.quotas),
             web.get(p + "/quotas/{project}/details", self.quota_details)]
        for coll in COLLECTIONS:
            base = f"{p}/{coll}"
            r += [web.get(base, self.list_), web.post(base, self.create),
                  web.get(base + "/{id}", self.show), web.put(base + "/{id}", self.update),
                  web.delete(base + "/{id}", self.delete),
                  web.get(base + "/{id}/tags", self.get_tags), web.put(base + "/{id}/tags", self.put_tags),
                  web.delete(base + "/{id}/tags", self.clear_tags),
                  web.get(base + "/{id}/tags/{tag}", self.has_tag), web.put(base + "/{id}/tags/{tag}", self.add_tag),
                  web.delete(base + "/{id}/tags/{tag}", self.del_tag)]
        return r

    # --- versions / misc -------------------------------------------------
    async def versions(self, req):
        return jresp({"versions": [{"id": "v2.0", "status": "CURRENT",
                                    "links": [{"rel": "self", "href": f"{self.st.base_url}{self.prefix}/"}]}]})

    async def version(self, req):
        return jresp({"resources": [{"name": s, "collection": c, "links": []}
                                    for c, (_, s) in COLLECTIONS.items()]})

    async def extensions(self, req):
        return jresp({"extensions": [{"alias": a, "name": a, "description": a, "updated": "2017-01-01T00:00:00-00:00",
                                      "links": []} for a in EXTENSIONS]})

    async def extension(self, req):
        alias = req.match_info["alias"]
        if alias not in EXTENSIONS:
            raise ApiError(404, f"Extension {alias} not supported.")
        return jresp({"extension": {"alias": alias, "name": alias, "description": alias,
                                    "updated": "2017-01-01T00:00:00-00:00", "links": []}})

    def _usage(self) -> dict[str, tuple[int, int]]:
        return {QUOTA_KEY[k]: (self.st.quota[k], len(self.st.res[k])) for k in QUOTA_KEY} | {
            "router": (10, 0), "rbac_policy": (10, 0)}

    async def quotas(self, req):
        return jresp({"quota": {k: lim for k, (lim, _) in self._usage().items()}})

    async def quota_details(self, req):
        return jresp({"quota": {k: {"limit": lim, "used": used, "reserved": 0}
                                for k, (lim, used) in self._usage().items()}})

    # --- builders (also used by compute and oob_create) ------------------
    def _make_network(self, b: dict, counted: bool = True) -> dict:
        net = {"id": new_id(), "name": b.get("name", ""), "status": "ACTIVE",
               "admin_state_up": b.get("admin_state_up", True), "shared": b.get("shared", False),
               "router:external": b.get("router:external", False), "subnets": [], "mtu": b.get("mtu", 1450),
               "port_security_enabled": b.get("port_security_enabled", True),
               "provider:network_type": b.get("provider:network_type", "vxlan"),
               "provider:physical_network": b.get("provider:physical_network"),
               "provider:segmentation_id": b.get("provider:segmentation_id", 1000 + len(self.st.res["networks"])),
               "availability_zone_hints": b.get("availability_zone_hints", []), "availability_zones": ["nova"],
               "ipv4_address_scope": None, "ipv6_address_scope": None, "is_default": False,
               "qos_policy_id": None, "dns_domain": "", "l2_adjacency": True,
               **_std(b.get("description"), b.get("tags"))}
        return self.st.add("networks", net, counted)

    def _make_subnet(self, b: dict, counted: bool = True) -> dict:
        net = self.st.res["networks"].get(b.get("network_id", ""))
        if net is None:
            raise ApiError(404, f"Network {b.get('network_id')} could not be found.", "NetworkNotFound")
        try:
            cidr = ipaddress.ip_network(b["cidr"], strict=False)
        except (KeyError, ValueError):
            raise ApiError(400, f"Invalid input for cidr. Reason: '{b.get('cidr')}' is not a valid IP subnet.")
        ipv = int(b.get("ip_version", cidr.version))
        if ipv != cidr.version:
            raise ApiError(400, "Invalid input for operation: cidr and ip_version mismatch.")
        for sid in net["subnets"]:
            other = self.st.res["subnets"][sid]
            if ipaddress.ip_network(other["cidr"]).overlaps(cidr):
                raise ApiError(400, f"Invalid input for operation: Requested subnet with cidr: {cidr} for "
                                    f"network: {net['id']} overlaps with another subnet.")
        hosts = cidr.hosts() if cidr.num_addresses > 2 else iter(cidr)
        first = next(hosts)
        gw = b["gateway_ip"] if "gateway_ip" in b else str(first)
        pools = b.get("allocation_pools") or [{
            "start": str(first + (1 if gw == str(first) else 0)),
            "end": str(cidr.broadcast_address - 1 if cidr.version == 4 else cidr[-1])}]
        sub = {"id": new_id(), "name": b.get("name", ""), "network_id": net["id"], "cidr": str(cidr),
               "ip_version": ipv, "gateway_ip": gw, "allocation_pools": pools,
               "enable_dhcp": b.get("enable_dhcp", True), "dns_nameservers": b.get("dns_nameservers", []),
               "host_routes": b.get("host_routes", []), "ipv6_ra_mode": b.get("ipv6_ra_mode"),
               "ipv6_address_mode": b.get("ipv6_address_mode"), "subnetpool_id": None,
               "service_types": [], "segment_id": None, "dns_publish_fixed_ip": False,
               **_std(b.get("description"), b.get("tags"))}
        self.st.add("subnets", sub, counted)
        net["subnets"].append(sub["id"])
        if sub["enable_dhcp"]:
            # Neutron's DHCP agent takes a port (and the first free address) on each DHCP subnet
            dhcp = [p for p in self.st.res["ports"].values()
                    if p["network_id"] == net["id"] and p["device_owner"] == "network:dhcp"]
            if dhcp:
                dhcp[0]["fixed_ips"].append({"subnet_id": sub["id"], "ip_address": self._alloc(sub)})
            else:
                self.create_port_internal(net["id"], fixed_ips=[{"subnet_id": sub["id"]}],
                                          device_owner="network:dhcp", device_id=f"dhcp-{net['id']}",
                                          status="ACTIVE", security_groups=[])
        return sub

    def _used_ips(self, subnet_id: str) -> set[str]:
        return {ip["ip_address"] for p in self.st.res["ports"].values() for ip in p["fixed_ips"]
                if ip["subnet_id"] == subnet_id}

    def _alloc(self, sub: dict, want: str | None = None) -> str:
        used = self._used_ips(sub["id"]) | {sub["gateway_ip"]}
        if want:
            if ipaddress.ip_address(want) not in ipaddress.ip_network(sub["cidr"]):
                raise ApiError(400, f"IP address {want} is not a valid IP for the specified subnet.",
                               "InvalidIpForSubnet")
            if want in used:
                raise ApiError(409, f"IP address {want} already allocated in subnet {sub['id']}",
                               "IpAddressAlreadyAllocated")
            return want
        for pool in sub["allocation_pools"]:
            a, z = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
            while a <= z:
                if str(a) not in used:
                    return str(a)
                a += 1
        raise ApiError(409, f"No more IP addresses available on network {sub['network_id']}.",
                       "IpAddressGenerationFailure")

    def create_port_internal(self, network_id: str, fixed_ips: list | None = None, fixed_ip: str | None = None,
                             counted: bool = False, **b: Any) -> dict:
        net = self.st.res["networks"].get(network_id)
        if net is None:
            raise ApiError(404, f"Network {network_id} could not be found.", "NetworkNotFound")
        subs = [self.st.res["subnets"][s] for s in net["subnets"]]
        ips = []
        if fixed_ips is None:
            if fixed_ip:
                fixed_ips = [{"ip_address": fixed_ip}]
            else:  # one address from the first subnet of each IP version
                seen = set()
                fixed_ips = []
                for s in subs:
                    if s["ip_version"] not in seen:
                        seen.add(s["ip_version"])
                        fixed_ips.append({"subnet_id": s["id"]})
        for f in fixed_ips:
            if f.get("subnet_id"):
                sub = self.st.res["subnets"].get(f["subnet_id"])
                if sub is None or sub["network_id"] != network_id:
                    raise ApiError(400, f"Invalid input for operation: Failed to create port on network "
                                        f"{network_id}, because fixed_ips included invalid subnet {f['subnet_id']}.",
                                   "InvalidInput")
            else:
                ip = ipaddress.ip_address(f["ip_address"])
                sub = next((s for s in subs if ip in ipaddress.ip_network(s["cidr"])), None)
                if sub is None:
                    raise ApiError(400, f"IP address {ip} is not a valid IP for any subnet on the network.",
                                   "InvalidIpForNetwork")
            ips.append({"subnet_id": sub["id"], "ip_address": self._alloc(sub, f.get("ip_address"))})
        sgs = b.get("security_groups")
        if sgs is None:
            sgs = [self.default_sg["id"]] if net["port_security_enabled"] else []
        for sg in sgs:
            if sg not in self.st.res["security_groups"]:
                raise ApiError(404, f"Security group {sg} does not exist", "SecurityGroupNotFound")
        port = {"id": new_id(), "name": b.get("name", ""), "network_id": network_id,
                "mac_address": b.get("mac_address") or self.st.next_mac(),
                "admin_state_up": b.get("admin_state_up", True), "status": b.get("status", "DOWN"),
                "device_id": b.get("device_id", ""), "device_owner": b.get("device_owner", ""),
                "fixed_ips": ips, "allowed_address_pairs": b.get("allowed_address_pairs", []),
                "extra_dhcp_opts": b.get("extra_dhcp_opts", []), "security_groups": list(sgs),
                "port_security_enabled": b.get("port_security_enabled", net["port_security_enabled"]),
                "binding:vnic_type": b.get("binding:vnic_type", "normal"),
                "binding:host_id": b.get("binding:host_id", ""), "binding:vif_type": "unbound",
                "binding:vif_details": {}, "binding:profile": b.get("binding:profile", {}),
                "dns_name": "", "dns_assignment": [], "qos_policy_id": None, "qos_network_policy_id": None,
                "propagate_uplink_status": False, "ip_allocation": "immediate",
                **_std(b.get("description"), b.get("tags"))}
        return self.st.add("ports", port, counted)

    def delete_port_internal(self, pid: str) -> None:
        self.release_port_fips(pid)
        self.st.remove("ports", pid)

    def release_port_fips(self, pid: str) -> None:
        for fip in self.st.res["floatingips"].values():
            if fip["port_id"] == pid:
                self._bind_fip(fip, None, None)

    def _make_sg(self, name: str, desc: str = "", counted: bool = True, tags=None, stateful=True) -> dict:
        sg = {"id": new_id(), "name": name, "security_group_rules": [], "stateful": stateful,
              "shared": False, **_std(desc, tags)}
        self.st.add("security_groups", sg, counted)
        # Neutron gives every new group egress-any rules for both IP versions
        for eth in ("IPv4", "IPv6"):
            self._make_rule({"security_group_id": sg["id"], "direction": "egress", "ethertype": eth}, counted=False)
        if name == "default" and not counted:
            for eth in ("IPv4", "IPv6"):
                self._make_rule({"security_group_id": sg["id"], "direction": "ingress", "ethertype": eth,
                                 "remote_group_id": sg["id"]}, counted=False)
        return sg

    def _make_rule(self, b: dict, counted: bool = True) -> dict:
        sg = self.st.res["security_groups"].get(b.get("security_group_id", ""))
        if sg is None:
            raise ApiError(404, f"Security group {b.get('security_group_id')} does not exist", "SecurityGroupNotFound")
        if b.get("direction") not in ("ingress", "egress"):
            raise ApiError(400, f"Invalid input for direction. Reason: {b.get('direction')} is not in valid values.")
        proto = b.get("protocol")
        pmin, pmax = b.get("port_range_min"), b.get("port_range_max")
        if pmin is not None and pmax is not None and int(pmin) > int(pmax):
            raise ApiError(400, "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                           "SecurityGroupInvalidPortRange")
        rule = {"id": new_id(), "security_group_id": sg["id"], "direction": b["direction"],
                "ethertype": b.get("ethertype", "IPv4"), "protocol": proto,
                "port_range_min": pmin, "port_range_max": pmax,
                "remote_ip_prefix": b.get("remote_ip_prefix"), "remote_group_id": b.get("remote_group_id"),
                "remote_address_group_id": None, "normalized_cidr": b.get("remote_ip_prefix"),
                "belongs_to_default_sg": sg["name"] == "default", **_std(b.get("description"))}
        rule.pop("tags")
        same = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
                "remote_group_id")
        for other in sg["security_group_rules"]:
            if all(other[k] == rule[k] for k in same):
                raise ApiError(409, f"Security group rule already exists. Rule id is {other['id']}.",
                               "SecurityGroupRuleExists")
        self.st.add("security_group_rules", rule, counted)
        sg["security_group_rules"].append(rule)
        return rule

    def build(self, kind: str, b: dict, counted: bool = True) -> dict:
        if kind == "networks":
            return self._make_network(b, counted)
        if kind == "subnets":
            return self._make_subnet(b, counted)
        if kind == "ports":
            b = dict(b)
            if "network_id" not in b:
                raise ApiError(400, "Invalid input: network_id is required")
            return self.create_port_internal(b.pop("network_id"), counted=counted, **b)
        if kind == "security_groups":
            return self._make_sg(b.get("name", ""), b.get("description", ""), counted, b.get("tags"),
                                 b.get("stateful", True))
        if kind == "floatingips":
            return self._make_fip(b, counted)
        return self._make_rule(b, counted)

    def _make_fip(self, b: dict, counted: bool = True) -> dict:
        # no routers are modelled: any port may get a floating IP from an external network
        net = self.st.res["networks"].get(b.get("floating_network_id", ""))
        if net is None or not net["router:external"]:
            raise ApiError(404, f"Network {b.get('floating_network_id')} could not be found.", "NetworkNotFound")
        sub = next((self.st.res["subnets"][s] for s in net["subnets"]
                    if self.st.res["subnets"][s]["ip_version"] == 4), None)
        if sub is None:
            raise ApiError(400, f"Bad floatingip request: Network {net['id']} does not contain any IPv4 subnet")
        used = {f["floating_ip_address"] for f in self.st.res["floatingips"].values()}
        addr = b.get("floating_ip_address")
        if addr is None:
            for pool in sub["allocation_pools"]:
                a, z = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
                while a <= z and (str(a) in used or str(a) in self._used_ips(sub["id"])):
                    a += 1
                if a <= z:
                    addr = str(a)
                    break
            else:
                raise ApiError(409, f"No more IP addresses available on network {net['id']}.",
                               "IpAddressGenerationFailure")
        fip = {"id": new_id(), "floating_ip_address": addr, "floating_network_id": net["id"],
               "router_id": None, "port_id": None, "fixed_ip_address": None, "status": "DOWN",
               "port_details": None, "port_forwardings": [], "dns_domain": "", "dns_name": "",
               "qos_policy_id": None, **_std(b.get("description"), b.get("tags"))}
        self.st.add("floatingips", fip, counted)
        self._bind_fip(fip, b.get("port_id"), b.get("fixed_ip_address"))
        return fip

    def _bind_fip(self, fip: dict, port_id: str | None, fixed: str | None) -> None:
        if not port_id:
            fip.update(port_id=None, fixed_ip_address=None, status="DOWN", router_id=None, port_details=None)
            return
        port = self.st.res["ports"].get(port_id)
        if port is None:
            raise ApiError(404, f"Port {port_id} could not be found.", "PortNotFound")
        if not port["fixed_ips"]:
            raise ApiError(400, f"Bad floatingip request: Port {port_id} does not have any IP addresses")
        fip.update(port_id=port_id, fixed_ip_address=fixed or port["fixed_ips"][0]["ip_address"],
                   status="ACTIVE", port_details={"name": port["name"], "network_id": port["network_id"],
                                                  "mac_address": port["mac_address"],
                                                  "device_id": port["device_id"],
                                                  "device_owner": port["device_owner"], "status": port["status"]})

    # --- generic REST ----------------------------------------------------
    def _coll(self, req) -> tuple[str, str, str]:
        coll = req.path[len(self.prefix) + 1:].split("/")[0]
        kind, single = COLLECTIONS[coll]
        return coll, kind, single

    def _get(self, kind: str, rid: str, single: str) -> dict:
        obj = self.st.res[kind].get(rid)
        if obj is None:
            name = {"security_group": "Security group", "security_group_rule": "Security group rule"}.get(
                single, single.capitalize())
            raise ApiError(404, f"{name} {rid} could not be found.", f"{name.replace(' ', '')}NotFound")
        return obj

    def _quota_check(self, kind: str) -> None:
        if len(self.st.res[kind]) >= self.st.quota[kind]:
            raise ApiError(409, f"Quota exceeded for resources: ['{QUOTA_KEY[kind]}'].", "OverQuota")

    async def list_(self, req):
        coll, kind, single = self._coll(req)
        q = req.query
        items = list(self.st.res[kind].values())
        skip = {"tags", "tags-any", "not-tags", "not-tags-any", "fields", "limit", "marker", "sort_key",
                "sort_dir", "page_reverse"}
        for key in set(q) - skip:
            wanted = q.getall(key)  # repeated keys are OR-ed, as Neutron does

            def ok(item, key=key, wanted=wanted):
                val = item.get(key)
                if key == "fixed_ips":
                    return all(any(f"{k}={ip[k]}" == w for ip in val for k in ip) for w in wanted)
                if isinstance(val, bool):
                    return val in [parse_bool(w) for w in wanted]
                return (str(val) if val is not None else "") in wanted
            items = [i for i in items if ok(i)]
        if kind != "security_group_rules":
            items = [i for i in items if match_tags(i.get("tags"), q)]
        if "fields" in q:
            fields = q.getall("fields")
            items = [{k: v for k, v in i.items() if k in fields} for i in items]
        return jresp({coll.replace("-", "_"): items})

    async def show(self, req):
        coll, kind, single = self._coll(req)
        return jresp({single: self._get(kind, req.match_info["id"], single)})

    async def create(self, req):
        coll, kind, single = self._coll(req)
        body = await req.json()
        if coll.replace("-", "_") in body:  # bulk create
            items = body[coll.replace("-", "_")]
            out = []
            for b in items:
                self._quota_check(kind)
                out.append(self.build(kind, b))
            return jresp({coll.replace("-", "_"): out}, 201)
        if single not in body:
            raise ApiError(400, f"Resource body required: {single}")
        self._quota_check(kind)
        return jresp({single: self.build(kind, body[single])}, 201)

    UPDATABLE = {"networks": {"name", "description", "admin_state_up", "shared", "mtu", "port_security_enabled",
                              "router:external"},
                 "subnets": {"name", "description", "gateway_ip", "enable_dhcp", "dns_nameservers",
                             "allocation_pools", "host_routes"},
                 "ports": {"name", "description", "admin_state_up", "device_id", "device_owner", "security_groups",
                           "allowed_address_pairs", "port_security_enabled", "binding:host_id",
                           "binding:profile", "binding:vnic_type", "extra_dhcp_opts", "mac_address", "fixed_ips"},
                 "security_groups": {"name", "description", "stateful"},
                 "security_group_rules": {"description"},
                 "floatingips": {"description", "port_id", "fixed_ip_address"}}

    async def update(self, req):
        coll, kind, single = self._coll(req)
        obj = self._get(kind, req.match_info["id"], single)
        body = (await req.json()).get(single) or {}
        bad = set(body) - self.UPDATABLE[kind]
        if bad:
            raise ApiError(400, f"Cannot update read-only attribute {sorted(bad)[0]}", "HTTPBadRequest")
        if kind == "ports" and "fixed_ips" in body:
            new = []
            for f in body["fixed_ips"]:
                cur = next((ip for ip in obj["fixed_ips"] if ip == f or
                            (f.get("ip_address") and ip["ip_address"] == f["ip_address"])), None)
                if cur:
                    new.append(cur)
                else:
                    sub = self.st.res["subnets"].get(f.get("subnet_id", ""))
                    if sub is None:
                        raise ApiError(400, "Invalid fixed_ips", "InvalidInput")
                    new.append({"subnet_id": sub["id"], "ip_address": self._alloc(sub, f.get("ip_address"))})
            body = dict(body, fixed_ips=new)
        if kind == "floatingips":
            self._bind_fip(obj, body.get("port_id", obj["port_id"]), body.get("fixed_ip_address"))
            body = {k: v for k, v in body.items() if k == "description"}
        obj.update(body)
        obj["updated_at"] = now_iso()
        obj["revision_number"] += 1
        return jresp({single: obj})

    async def delete(self, req):
        coll, kind, single = self._coll(req)
        obj = self._get(kind, req.match_info["id"], single)
        st = self.st
        if kind == "networks":
            ports = [p for p in st.res["ports"].values() if p["network_id"] == obj["id"]]
            if any(p["device_owner"] != "network:dhcp" for p in ports) or any(
                    f["floating_network_id"] == obj["id"] for f in st.res["floatingips"].values()):
                raise ApiError(409, f"Unable to complete operation on network {obj['id']}. There are one or "
                                    "more ports still in use on the network.", "NetworkInUse")
            for p in ports:
                st.remove("ports", p["id"])
            for sid in obj["subnets"]:
                st.remove("subnets", sid)
        elif kind == "subnets":
            users = [p for p in st.res["ports"].values() if p["device_owner"] != "network:dhcp"
                     and any(ip["subnet_id"] == obj["id"] for ip in p["fixed_ips"])]
            if users:
                raise ApiError(409, f"Unable to complete operation on subnet {obj['id']}: One or more ports "
                                    "have an IP allocation from this subnet.", "SubnetInUse")
            for p in st.res["ports"].values():
                p["fixed_ips"] = [ip for ip in p["fixed_ips"] if ip["subnet_id"] != obj["id"]]
            net = st.res["networks"].get(obj["network_id"])
            if net and obj["id"] in net["subnets"]:
                net["subnets"].remove(obj["id"])
        elif kind == "ports":
            # Neutron allows deleting a bound port; the server's interface just vanishes
            self.release_port_fips(obj["id"])
        elif kind == "security_groups":
            if obj["name"] == "default":
                raise ApiError(409, "Insufficient rights for removing default security group.",
                               "SecurityGroupCannotRemoveDefault")
            if any(obj["id"] in p["security_groups"] for p in st.res["ports"].values()):
                raise ApiError(409, f"Security Group {obj['id']} in use.", "SecurityGroupInUse")
            for r in obj["security_group_rules"]:
                st.remove("security_group_rules", r["id"])
        elif kind == "security_group_rules":
            sg = st.res["security_groups"].get(obj["security_group_id"])
            if sg:
                sg["security_group_rules"] = [r for r in sg["security_group_rules"] if r["id"] != obj["id"]]
        st.remove(kind, obj["id"])
        return jresp(None, 204)

    # --- tags ------------------------------------------------------------
    def _tagged(self, req) -> dict:
        coll, kind, single = self._coll(req)
        obj = self._get(kind, req.match_info["id"], single)
        if "tags" not in obj:
            raise ApiError(404, "The resource could not be found.")
        return obj

    async def get_tags(self, req):
        return jresp({"tags": self._tagged(req)["tags"]})

    async def put_tags(self, req):
        obj = self._tagged(req)
        obj["tags"] = list(dict.fromkeys((await req.json()).get("tags") or []))
        obj["revision_number"] += 1
        return jresp({"tags": obj["tags"]})

    async def clear_tags(self, req):
        self._tagged(req)["tags"] = []
        return jresp(None, 204)

    async def has_tag(self, req):
        if req.match_info["tag"] not in self._tagged(req)["tags"]:
            raise ApiError(404, f"Tag {req.match_info['tag']} could not be found.", "TagNotFound")
        return jresp(None, 204)

    async def add_tag(self, req):
        obj = self._tagged(req)
        if req.match_info["tag"] not in obj["tags"]:
            obj["tags"].append(req.match_info["tag"])
            obj["revision_number"] += 1
        return jresp(None, 201)

    async def del_tag(self, req):
        obj = self._tagged(req)
        if req.match_info["tag"] not in obj["tags"]:
            raise ApiError(404, f"Tag {req.match_info['tag']} could not be found.", "TagNotFound")
        obj["tags"].remove(req.match_info["tag"])
        return jresp(None, 204)
