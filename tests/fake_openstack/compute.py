"""Nova v2.1 (microversions up to 2.96): servers, flavors, keypairs, server groups,
availability zones, limits, quota sets, volume attachments."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from aiohttp import web

from . import state as S
from .state import MV, ApiError, State, jresp, match_tags, new_id, now_iso

MAX_VERSION = "2.96"
HOSTS = ("compute-1", "compute-2", "compute-3", "compute-4")
ZONES = ("nova", "az-2")
NO_HOST = "No valid host was found. There are not enough hosts available."


def mv_tuple(v: str) -> tuple[int, int]:
    a, _, b = v.partition(".")
    return int(a), int(b or 0)


def make_flavor(fid: str, name: str, vcpus: int, ram: int, disk: int, **extra) -> dict:
    return {"id": fid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk,
            "OS-FLV-EXT-DATA:ephemeral": extra.get("ephemeral", 0), "swap": extra.get("swap", 0),
            "os-flavor-access:is_public": extra.get("is_public", True),
            "OS-FLV-DISABLED:disabled": False, "rxtx_factor": 1.0,
            "description": extra.get("description"), "extra_specs": extra.get("extra_specs", {}),
            "links": []}


class Compute:
    prefix = "/compute/v2.1"

    def __init__(self, st: State):
        self.st = st
        self._rr = 0  # round-robin host choice for servers without a group
        for fid, name, vcpus, ram, disk in (("1", "m1.tiny", 1, 512, 1), ("2", "m1.small", 1, 2048, 20),
                                            ("3", "m1.medium", 2, 4096, 40), ("4", "m1.large", 4, 8192, 80)):
            st.add("flavors", make_flavor(fid, name, vcpus, ram, disk), counted=False)

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        s = p + "/servers/{id}"
        return [
            web.get("/compute", self.versions), web.get("/compute/", self.versions),
            web.get(p, self.version), web.get(p + "/", self.version),
            web.get(p + "/servers", self.list_servers), web.get(p + "/servers/detail", self.list_servers),
            web.post(p + "/servers", self.create_server),
            web.get(s, self.show_server), web.delete(s, self.delete_server),
            web.put(s, self.update_server),
            web.post(s + "/action", self.action),
            web.get(s + "/tags", self.get_tags), web.put(s + "/tags", self.put_tags),
            web.delete(s + "/tags", self.clear_tags),
            web.get(s + "/tags/{tag}", self.has_tag), web.put(s + "/tags/{tag}", self.add_tag),
            web.delete(s + "/tags/{tag}", self.del_tag),
            web.get(s + "/metadata", self.get_meta), web.post(s + "/metadata", self.merge_meta),
            web.put(s + "/metadata", self.replace_meta),
            web.get(s + "/metadata/{key}", self.get_meta_item), web.put(s + "/metadata/{key}", self.set_meta_item),
            web.delete(s + "/metadata/{key}", self.del_meta_item),
            web.get(s + "/os-volume_attachments", self.list_attachments),
            web.post(s + "/os-volume_attachments", self.attach),
            web.get(s + "/os-volume_attachments/{vid}", self.show_attachment),
            web.delete(s + "/os-volume_attachments/{vid}", self.detach),
            web.get(s + "/os-interface", self.list_interfaces),
            web.get(p + "/flavors", self.list_flavors), web.get(p + "/flavors/detail", self.list_flavors),
            web.get(p + "/flavors/{id}", self.show_flavor), web.post(p + "/flavors", self.create_flavor),
            web.delete(p + "/flavors/{id}", self.delete_flavor),
            web.get(p + "/flavors/{id}/os-extra_specs", self.flavor_specs),
            web.get(p + "/os-keypairs", self.list_keypairs), web.post(p + "/os-keypairs", self.create_keypair),
            web.get(p + "/os-keypairs/{name}", self.show_keypair),
            web.delete(p + "/os-keypairs/{name}", self.delete_keypair),
            web.get(p + "/os-server-groups", self.list_groups), web.post(p + "/os-server-groups", self.create_group),
            web.get(p + "/os-server-groups/{id}", self.show_group),
            web.delete(p + "/os-server-groups/{id}", self.delete_group),
            web.get(p + "/os-availability-zone", self.zones), web.get(p + "/os-availability-zone/detail", self.zones),
            web.get(p + "/limits", self.limits),
            web.get(p + "/os-quota-sets/{project}", self.quota_set),
            web.get(p + "/os-quota-sets/{project}/detail", self.quota_detail),
            web.get(p + "/os-hypervisors/detail", self.hypervisors),
        ]

    # --- versions --------------------------------------------------------
    def _vdoc(self) -> dict:
        return {"id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{self.st.base_url}{self.prefix}/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    async def versions(self, req):
        return jresp({"versions": [self._vdoc()]})

    async def version(self, req):
        return jresp({"version": self._vdoc()})

    # --- servers: rendering ----------------------------------------------
    def _ports_of(self, sid: str) -> list[dict]:
        return [p for p in self.st.res["ports"].values() if p["device_id"] == sid]

    def refresh(self, srv: dict) -> dict:
        """Recompute the fields Nova derives from Neutron and Cinder (addresses, volumes)."""
        addrs: dict[str, list] = {}
        if srv["status"] in ("ACTIVE", "SHUTOFF", "REBOOT", "HARD_REBOOT"):
            for port in self._ports_of(srv["id"]):
                net = self.st.res["networks"].get(port["network_id"])
                if not net:
                    continue
                for ip in port["fixed_ips"]:
                    addrs.setdefault(net["name"], []).append({
                        "version": 6 if ":" in ip["ip_address"] else 4, "addr": ip["ip_address"],
                        "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
                for fip in self.st.res["floatingips"].values():
                    if fip["port_id"] == port["id"]:
                        addrs.setdefault(net["name"], []).append({
                            "version": 4, "addr": fip["floating_ip_address"], "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        srv["addresses"] = addrs
        srv["os-extended-volumes:volumes_attached"] = [
            {"id": v["id"], "delete_on_termination": bool(a.get("_delete_on_termination"))}
            for v in self.st.res["volumes"].values() for a in v["attachments"]
            if a["server_id"] == srv["id"]]
        return srv

    def render(self, srv: dict, mv: tuple[int, int]) -> dict:
        out = {k: v for k, v in self.refresh(srv).items() if not k.startswith("_")}
        if mv < (2, 26):
            out.pop("tags", None)
        if mv < (2, 47):
            out["flavor"] = {"id": srv["_flavor_id"], "links": []}
        if mv < (2, 71):
            out.pop("server_groups", None)
        return out

    def _server(self, sid: str) -> dict:
        srv = self.st.res["servers"].get(sid)
        if srv is None:
            raise ApiError(404, f"Instance {sid} could not be found.")
        return srv

    async def list_servers(self, req):
        q = req.query
        mv = req[MV]
        servers = list(reversed(self.st.res["servers"].values()))  # newest first, as Nova sorts
        if "name" in q:
            try:  # Nova matches names as a regular expression, not for equality
                rx = re.compile(q["name"])
            except re.error:
                raise ApiError(400, f"Invalid regular expression for name: {q['name']}")
            servers = [s for s in servers if rx.search(s["name"])]
        if "status" in q:
            servers = [s for s in servers if s["status"] == q["status"].upper()]
        for key, field in (("availability_zone", "OS-EXT-AZ:availability_zone"), ("key_name", "key_name")):
            if key in q:
                servers = [s for s in servers if s[field] == q[key]]
        if "flavor" in q:
            servers = [s for s in servers if s["_flavor_id"] == q["flavor"]]
        if "image" in q:
            servers = [s for s in servers if isinstance(s["image"], dict) and s["image"].get("id") == q["image"]]
        if "ip" in q:
            rx = re.compile(q["ip"])
            servers = [s for s in servers if any(rx.search(a["addr"]) for lst in self.refresh(s)["addresses"].values() for a in lst)]
        servers = [s for s in servers if match_tags(s["tags"], q)]
        if "marker" in q:
            ids = [s["id"] for s in servers]
            if q["marker"] not in ids:
                raise ApiError(400, f"marker [{q['marker']}] not found")
            servers = servers[ids.index(q["marker"]) + 1:]
        body: dict[str, Any] = {}
        if "limit" in q and len(servers) > int(q["limit"]):
            servers = servers[: int(q["limit"])]
            body["servers_links"] = [{"rel": "next", "href": f"{self.st.base_url}{self.prefix}/servers"
                                      f"{'/detail' if req.path.endswith('detail') else ''}?limit={q['limit']}&marker={servers[-1]['id']}"}]
        if req.path.endswith("/detail"):
            body["servers"] = [self.render(s, mv) for s in servers]
        else:
            body["servers"] = [{"id": s["id"], "name": s["name"], "links": s["links"]} for s in servers]
        return jresp(body)

    async def show_server(self, req):
        return jresp({"server": self.render(self._server(req.match_info["id"]), req[MV])})

    # --- servers: create -------------------------------------------------
    def _flavor(self, ref: str) -> dict:
        fid = str(ref).rstrip("/").rsplit("/", 1)[-1]
        fl = self.st.res["flavors"].get(fid)
        if fl is None:
            raise ApiError(400, f"Flavor {ref} could not be found.")
        return fl

    def _check_quota(self, fl: dict) -> None:
        used = self.st.compute_usage()
        for res, req in (("instances", 1), ("cores", fl["vcpus"]), ("ram", fl["ram"])):
            if used[res] + req > self.st.quota[res]:
                raise ApiError(403, f"Quota exceeded for {res}: Requested {req}, but already used "
                                    f"{used[res]} of {self.st.quota[res]} {res}")

    def _place(self, group: dict | None) -> str | None:
        """Pick one of the 4 pretend hosts; None when the group policy cannot be met."""
        load = {h: 0 for h in HOSTS}
        for s in self.st.res["servers"].values():
            if s.get("_host"):
                load[s["_host"]] += 1
        if group is None:
            self._rr += 1
            return HOSTS[self._rr % len(HOSTS)]
        member_hosts = [self.st.res["servers"][m]["_host"] for m in group["members"]
                        if m in self.st.res["servers"] and self.st.res["servers"][m].get("_host")]
        policy = group["policy"]
        if policy == "anti-affinity":
            limit = int((group.get("rules") or {}).get("max_server_per_host", 1))
            free = [h for h in HOSTS if member_hosts.count(h) < limit]
            return min(free, key=lambda h: (member_hosts.count(h), load[h])) if free else None
        if policy == "affinity":
            return member_hosts[0] if member_hosts else min(HOSTS, key=lambda h: load[h])
        if policy == "soft-anti-affinity":
            return min(HOSTS, key=lambda h: (member_hosts.count(h), load[h]))
        return member_hosts[0] if member_hosts else min(HOSTS, key=lambda h: load[h])

    async def create_server(self, req):
        st = self.st
        body = await req.json()
        sv = body.get("server") or {}
        hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
        name = sv.get("name")
        if not name:
            raise ApiError(400, "Invalid input for field/attribute server. Value: 'name' is a required property")
        fl = self._flavor(sv.get("flavorRef", ""))
        bdms = sv.get("block_device_mapping_v2") or []
        boot_bdm = next((b for b in bdms if str(b.get("boot_index")) == "0"), None)
        image = None
        if sv.get("imageRef"):
            image = st.res["images"].get(sv["imageRef"])
            if image is None or image["status"] != "active":
                raise ApiError(400, f"Image {sv['imageRef']} could not be found.")
        elif not boot_bdm:
            raise ApiError(400, "Block Device Mapping is Invalid: Boot sequence for the instance and "
                                "image/block device mapping combination is not valid.")
        if sv.get("key_name") and sv["key_name"] not in st.res["keypairs"]:
            raise ApiError(400, "Invalid key_name provided.")
        az = (sv.get("availability_zone") or "nova").split(":")[0]
        if az not in ZONES:
            raise ApiError(400, "The requested availability zone is not available")
        sg_names = []
        for sg in sv.get("security_groups") or [{"name": "default"}]:
            ref = sg.get("name")
            found = next((g for g in st.res["security_groups"].values() if ref in (g["id"], g["name"])), None)
            if found is None:
                raise ApiError(400, f"Security group {ref} not found for project {S.PROJECT_ID}.")
            sg_names.append(found)
        group = None
        if hints.get("group"):
            group = st.res["server_groups"].get(hints["group"])
            if group is None:
                raise ApiError(400, f"Invalid server group {hints['group']}")
        # validate the requested networks before anything is allocated
        nets = sv.get("networks", "auto" if req[MV] < (2, 37) else None)
        if nets is None:
            raise ApiError(400, "Invalid input for field/attribute server. Value: 'networks' is a required property")
        requested: list[tuple[str, Any]] = []
        if nets == "auto":
            net = next((n for n in st.res["networks"].values() if not n["router:external"] and n["subnets"]), None)
            if net is None:
                raise ApiError(400, "Unable to automatically allocate a network for project")
            requested.append(("net", {"uuid": net["id"]}))
        elif nets != "none":
            for n in nets:
                if n.get("port"):
                    port = st.res["ports"].get(n["port"])
                    if port is None:
                        raise ApiError(400, f"Port id {n['port']} could not be found.")
                    if port["device_id"]:
                        raise ApiError(409, f"Port {n['port']} is still in use.")
                    requested.append(("port", port))
                elif n.get("uuid"):
                    if n["uuid"] not in st.res["networks"]:
                        raise ApiError(400, f"Network {n['uuid']} could not be found.")
                    requested.append(("net", n))
                else:
                    raise ApiError(400, "Bad networks format")
        boot_vol = None
        if boot_bdm and boot_bdm.get("source_type") == "volume":
            boot_vol = st.res["volumes"].get(boot_bdm.get("uuid", ""))
            if boot_vol is None or boot_vol["status"] != "available":
                raise ApiError(400, f"Invalid volume: volume {boot_bdm.get('uuid')} is not available")
        elif boot_bdm and boot_bdm.get("source_type") == "image":
            image = st.res["images"].get(boot_bdm.get("uuid", ""))
            if image is None:
                raise ApiError(400, f"Image {boot_bdm.get('uuid')} could not be found.")
        self._check_quota(fl)

        sid = new_id()
        now = now_iso()
        host = self._place(group)
        fault = st.build_failures.pop(0) if st.build_failures else None
        if host is None:
            fault = NO_HOST
        srv = {
            "id": sid, "name": name, "status": "BUILD", "tenant_id": S.PROJECT_ID, "user_id": S.USER_ID,
            "metadata": dict(sv.get("metadata") or {}), "hostId": "", "created": now, "updated": now,
            "image": ({"id": image["id"], "links": []} if image and not boot_bdm else ""),
            "flavor": {"vcpus": fl["vcpus"], "ram": fl["ram"], "disk": fl["disk"],
                       "ephemeral": fl["OS-FLV-EXT-DATA:ephemeral"], "swap": fl["swap"],
                       "original_name": fl["name"], "extra_specs": dict(fl["extra_specs"])},
            "addresses": {}, "accessIPv4": "", "accessIPv6": "",
            "links": [{"rel": "self", "href": f"{st.base_url}{self.prefix}/servers/{sid}"},
                      {"rel": "bookmark", "href": f"{st.base_url}/compute/servers/{sid}"}],
            "OS-DCF:diskConfig": "MANUAL", "progress": 0, "OS-EXT-AZ:availability_zone": az,
            "config_drive": "True" if sv.get("config_drive") else "", "key_name": sv.get("key_name"),
            "OS-SRV-USG:launched_at": None, "OS-SRV-USG:terminated_at": None,
            "OS-EXT-STS:task_state": "scheduling", "OS-EXT-STS:vm_state": "building",
            "OS-EXT-STS:power_state": 0, "os-extended-volumes:volumes_attached": [],
            "security_groups": [{"name": g["name"]} for g in sg_names],
            "tags": list(sv.get("tags") or []), "description": sv.get("description"),
            "locked": False, "locked_reason": None, "host_status": "UP",
            "trusted_image_certificates": None, "server_groups": [group["id"]] if group else [],
            "OS-EXT-SRV-ATTR:user_data": sv.get("user_data"),
            "OS-EXT-SRV-ATTR:hostname": re.sub(r"[^a-z0-9-]", "-", name.lower()),
            # the scheduler claims the host now, so back-to-back boots see each other
            "_flavor_id": fl["id"], "_host": host if not fault else None, "_nova_ports": [],
        }
        st.add("servers", srv)
        if group:
            group["members"].append(sid)
        # bind networks now so ports show their device at once, as Nova does while building
        for kind, item in requested:
            if kind == "port":
                port = item
            else:
                port = st.network.create_port_internal(item["uuid"], fixed_ip=item.get("fixed_ip"),
                                                       security_groups=[g["id"] for g in sg_names])
                srv["_nova_ports"].append(port["id"])
            port.update({"device_id": sid, "device_owner": f"compute:{az}", "updated_at": now})
        if boot_vol is not None:
            st.volume.attach_internal(boot_vol, sid, "/dev/vda", bool(boot_bdm.get("delete_on_termination")))
        elif boot_bdm and boot_bdm.get("destination_type") == "volume":
            vol = st.volume.create_internal(size=int(boot_bdm.get("volume_size") or fl["disk"]),
                                            name="", image_id=image["id"] if image else None,
                                            az=az, status="available")
            st.volume.attach_internal(vol, sid, "/dev/vda", bool(boot_bdm.get("delete_on_termination")))

        def finish():
            if sid not in st.res["servers"] or srv["OS-EXT-STS:task_state"] == "deleting":
                return
            if fault:
                srv["_host"] = None
                srv.update({"status": "ERROR", "OS-EXT-STS:vm_state": "error", "OS-EXT-STS:task_state": None,
                            "fault": {"message": fault, "code": 500, "created": now_iso(),
                                      **({"details": "Traceback (most recent call last): ..."} if fault == NO_HOST else {})},
                            "updated": now_iso()})
                return
            srv.update({"status": "ACTIVE", "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:task_state": None,
                        "OS-EXT-STS:power_state": 1, "OS-SRV-USG:launched_at": now_iso(),
                        "hostId": S.host_id(host), "_host": host, "progress": 100, "updated": now_iso()})
            for port in self._ports_of(sid):
                port.update({"status": "ACTIVE", "binding:host_id": host, "binding:vif_type": "ovs",
                             "binding:vif_details": {"port_filter": True}})

        st.later(finish)
        headers = {"Location": srv["links"][0]["href"]}
        resp = {"id": sid, "links": srv["links"], "OS-DCF:diskConfig": "MANUAL",
                "security_groups": srv["security_groups"], "adminPass": "fakePa55word"}
        return jresp({"server": resp}, 202, headers)

    # --- servers: delete / update / actions ------------------------------
    def purge(self, sid: str) -> None:
        """What Nova does when the instance is finally gone: free ports, volumes, group slot."""
        st = self.st
        srv = st.remove("servers", sid)
        if srv is None:
            return
        for port in self._ports_of(sid):
            if port["id"] in srv["_nova_ports"]:
                st.network.delete_port_internal(port["id"])
            else:  # pre-created ports survive, only unbound
                port.update({"device_id": "", "device_owner": "", "status": "DOWN", "binding:host_id": "",
                             "binding:vif_type": "unbound", "binding:vif_details": {}, "updated_at": now_iso()})
        for vol in list(st.res["volumes"].values()):
            for a in list(vol["attachments"]):
                if a["server_id"] == sid:
                    st.volume.detach_internal(vol, sid)
                    if a.get("_delete_on_termination"):
                        st.volume.purge(vol["id"])
        for g in st.res["server_groups"].values():
            if sid in g["members"]:
                g["members"].remove(sid)

    async def delete_server(self, req):
        srv = self._server(req.match_info["id"])
        srv["OS-EXT-STS:task_state"] = "deleting"
        sid = srv["id"]
        self.st.later(lambda: self.purge(sid))
        return jresp(None, 204)

    async def update_server(self, req):
        srv = self._server(req.match_info["id"])
        body = (await req.json()).get("server") or {}
        for k in ("name", "description", "accessIPv4", "accessIPv6"):
            if k in body:
                srv[k] = body[k]
        srv["updated"] = now_iso()
        return jresp({"server": self.render(srv, req[MV])})

    async def action(self, req):
        srv = self._server(req.match_info["id"])
        body = await req.json()
        name = next(iter(body), "")
        vm = srv["OS-EXT-STS:vm_state"]

        def conflict():
            return ApiError(409, f"Cannot '{name.replace('os-', '')}' instance {srv['id']} while it is "
                                 f"in vm_state {vm}")
        if srv["OS-EXT-STS:task_state"] is not None:
            raise ApiError(409, f"Cannot '{name}' instance {srv['id']} while it is in task_state "
                                f"{srv['OS-EXT-STS:task_state']}")
        if name == "os-stop":
            if srv["status"] != "ACTIVE":
                raise conflict()
            srv.update({"status": "SHUTOFF", "OS-EXT-STS:vm_state": "stopped", "OS-EXT-STS:power_state": 4})
        elif name == "os-start":
            if srv["status"] != "SHUTOFF":
                raise conflict()
            srv.update({"status": "ACTIVE", "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1})
        elif name == "reboot":
            if srv["status"] not in ("ACTIVE", "SHUTOFF"):
                raise conflict()
            srv.update({"status": "ACTIVE", "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1})
        else:
            raise ApiError(400, f"Unsupported action {name}")
        srv["updated"] = now_iso()
        return jresp(None, 202)

    # --- tags and metadata -----------------------------------------------
    async def get_tags(self, req):
        return jresp({"tags": self._server(req.match_info["id"])["tags"]})

    async def put_tags(self, req):
        srv = self._server(req.match_info["id"])
        srv["tags"] = list(dict.fromkeys((await req.json()).get("tags") or []))
        return jresp({"tags": srv["tags"]})

    async def clear_tags(self, req):
        self._server(req.match_info["id"])["tags"] = []
        return jresp(None, 204)

    async def has_tag(self, req):
        if req.match_info["tag"] not in self._server(req.match_info["id"])["tags"]:
            raise ApiError(404, f"Tag {req.match_info['tag']} could not be found.")
        return jresp(None, 204)

    async def add_tag(self, req):
        srv = self._server(req.match_info["id"])
        tag = req.match_info["tag"]
        if tag in srv["tags"]:
            return jresp(None, 204)
        srv["tags"].append(tag)
        return web.Response(status=201, headers={"Location": f"{req.url}"})

    async def del_tag(self, req):
        srv = self._server(req.match_info["id"])
        if req.match_info["tag"] not in srv["tags"]:
            raise ApiError(404, f"Tag {req.match_info['tag']} could not be found.")
        srv["tags"].remove(req.match_info["tag"])
        return jresp(None, 204)

    async def get_meta(self, req):
        return jresp({"metadata": self._server(req.match_info["id"])["metadata"]})

    async def merge_meta(self, req):
        srv = self._server(req.match_info["id"])
        srv["metadata"].update((await req.json()).get("metadata") or {})
        return jresp({"metadata": srv["metadata"]})

    async def replace_meta(self, req):
        srv = self._server(req.match_info["id"])
        srv["metadata"] = dict((await req.json()).get("metadata") or {})
        return jresp({"metadata": srv["metadata"]})

    async def get_meta_item(self, req):
        md = self._server(req.match_info["id"])["metadata"]
        key = req.match_info["key"]
        if key not in md:
            raise ApiError(404, "Metadata item was not found")
        return jresp({"meta": {key: md[key]}})

    async def set_meta_item(self, req):
        md = self._server(req.match_info["id"])["metadata"]
        meta = (await req.json()).get("meta") or {}
        md.update(meta)
        return jresp({"meta": meta})

    async def del_meta_item(self, req):
        md = self._server(req.match_info["id"])["metadata"]
        if md.pop(req.match_info["key"], None) is None:
            raise ApiError(404, "Metadata item was not found")
        return jresp(None, 204)

    # --- volume attachments ----------------------------------------------
    def _att(self, vol: dict, sid: str) -> dict:
        a = next(a for a in vol["attachments"] if a["server_id"] == sid)
        return {"id": vol["id"], "serverId": sid, "volumeId": vol["id"], "device": a["device"],
                "tag": None, "delete_on_termination": bool(a.get("_delete_on_termination")),
                "attachment_id": a["attachment_id"], "bdm_uuid": a["attachment_id"]}

    async def list_attachments(self, req):
        sid = self._server(req.match_info["id"])["id"]
        vols = [v for v in self.st.res["volumes"].values() if any(a["server_id"] == sid for a in v["attachments"])]
        return jresp({"volumeAttachments": [self._att(v, sid) for v in vols]})

    async def show_attachment(self, req):
        sid = self._server(req.match_info["id"])["id"]
        vol = self.st.res["volumes"].get(req.match_info["vid"])
        if vol is None or not any(a["server_id"] == sid for a in vol["attachments"]):
            raise ApiError(404, f"Volume attachment {req.match_info['vid']} could not be found.")
        return jresp({"volumeAttachment": self._att(vol, sid)})

    async def attach(self, req):
        srv = self._server(req.match_info["id"])
        body = (await req.json()).get("volumeAttachment") or {}
        vol = self.st.res["volumes"].get(body.get("volumeId", ""))
        if vol is None:
            raise ApiError(404, f"Volume {body.get('volumeId')} could not be found.")
        if srv["status"] not in ("ACTIVE", "SHUTOFF"):
            raise ApiError(409, f"Cannot 'attach_volume' instance {srv['id']} while it is in vm_state "
                                f"{srv['OS-EXT-STS:vm_state']}")
        if vol["status"] != "available":
            raise ApiError(400, f"Invalid volume: volume {vol['id']} status must be available, but "
                                f"current status is: {vol['status']}")
        used = {a["device"] for v in self.st.res["volumes"].values() for a in v["attachments"]
                if a["server_id"] == srv["id"]}
        device = body.get("device") or next(f"/dev/vd{c}" for c in "bcdefghijklmnop" if f"/dev/vd{c}" not in used)
        self.st.volume.attach_internal(vol, srv["id"], device, bool(body.get("delete_on_termination")),
                                       delay=True)
        return jresp({"volumeAttachment": self._att(vol, srv["id"])})

    async def detach(self, req):
        srv = self._server(req.match_info["id"])
        vol = self.st.res["volumes"].get(req.match_info["vid"])
        if vol is None or not any(a["server_id"] == srv["id"] for a in vol["attachments"]):
            raise ApiError(404, f"Volume attachment {req.match_info['vid']} could not be found.")
        vol["status"] = "detaching"
        self.st.later(lambda: self.st.volume.detach_internal(vol, srv["id"]))
        return jresp(None, 202)

    async def list_interfaces(self, req):
        sid = self._server(req.match_info["id"])["id"]
        return jresp({"interfaceAttachments": [
            {"port_id": p["id"], "net_id": p["network_id"], "mac_addr": p["mac_address"],
             "port_state": p["status"], "fixed_ips": p["fixed_ips"], "tag": None} for p in self._ports_of(sid)]})

    # --- flavors ---------------------------------------------------------
    async def list_flavors(self, req):
        q = req.query
        fls = sorted(self.st.res["flavors"].values(), key=lambda f: (f["ram"], f["id"]))
        if "minRam" in q:
            fls = [f for f in fls if f["ram"] >= int(q["minRam"])]
        if "minDisk" in q:
            fls = [f for f in fls if f["disk"] >= int(q["minDisk"])]
        if q.get("is_public", "true").lower() not in ("none", "false"):
            fls = [f for f in fls if f["os-flavor-access:is_public"]]
        if req.path.endswith("/detail"):
            return jresp({"flavors": fls})
        return jresp({"flavors": [{"id": f["id"], "name": f["name"], "links": f["links"]} for f in fls]})

    async def show_flavor(self, req):
        fl = self.st.res["flavors"].get(req.match_info["id"])  # by id only: find_flavor relies on the 404
        if fl is None:
            raise ApiError(404, f"Flavor {req.match_info['id']} could not be found.")
        return jresp({"flavor": fl})

    async def flavor_specs(self, req):
        fl = self.st.res["flavors"].get(req.match_info["id"])
        if fl is None:
            raise ApiError(404, f"Flavor {req.match_info['id']} could not be found.")
        return jresp({"extra_specs": fl["extra_specs"]})

    async def create_flavor(self, req):
        body = (await req.json()).get("flavor") or {}
        try:
            fid = str(body.get("id") or new_id())
            fl = make_flavor(fid, body["name"], int(body["vcpus"]), int(body["ram"]), int(body.get("disk", 0)),
                             ephemeral=int(body.get("OS-FLV-EXT-DATA:ephemeral", 0)),
                             swap=int(body.get("swap") or 0),
                             is_public=body.get("os-flavor-access:is_public", True),
                             description=body.get("description"))
        except (KeyError, ValueError) as e:
            raise ApiError(400, f"Invalid input for flavor: {e}")
        if fid in self.st.res["flavors"] or any(f["name"] == fl["name"] for f in self.st.res["flavors"].values()):
            raise ApiError(409, f"Flavor with name {fl['name']} already exists.")
        self.st.add("flavors", fl)
        return jresp({"flavor": fl})

    async def delete_flavor(self, req):
        if self.st.remove("flavors", req.match_info["id"]) is None:
            raise ApiError(404, f"Flavor {req.match_info['id']} could not be found.")
        return jresp(None, 202)

    # --- keypairs --------------------------------------------------------
    def _kp(self, kp: dict, mv) -> dict:
        out = {k: v for k, v in kp.items() if not k.startswith("_")}
        if mv < (2, 2):
            out.pop("type", None)
        return out

    async def list_keypairs(self, req):
        return jresp({"keypairs": [{"keypair": {k: v for k, v in self._kp(kp, req[MV]).items()
                                                if k in ("name", "public_key", "fingerprint", "type")}}
                                   for kp in self.st.res["keypairs"].values()]})

    async def show_keypair(self, req):
        kp = self.st.res["keypairs"].get(req.match_info["name"])
        if kp is None:
            raise ApiError(404, f"Keypair {req.match_info['name']} not found for user {S.USER_ID}")
        return jresp({"keypair": self._kp(kp, req[MV])})

    async def create_keypair(self, req):
        body = (await req.json()).get("keypair") or {}
        name = body.get("name")
        if not name:
            raise ApiError(400, "Keypair data is invalid: name is required")
        if name in self.st.res["keypairs"]:
            raise ApiError(409, f"Key pair '{name}' already exists.")
        pub = body.get("public_key")
        private = None
        if not pub:
            if req[MV] >= (2, 92):
                raise ApiError(400, "Invalid input for field/attribute keypair. Value: 'public_key' is a required property")
            private = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n"
            pub = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{hashlib.sha1(name.encode()).hexdigest()} Generated-by-Nova"
        fp = ":".join(hashlib.md5(pub.encode()).hexdigest()[i:i + 2] for i in range(0, 32, 2))
        kp = {"name": name, "public_key": pub, "fingerprint": fp, "type": body.get("type", "ssh"),
              "user_id": S.USER_ID, "created_at": now_iso(), "deleted": False, "deleted_at": None,
              "updated_at": None, "id": len(self.st.res["keypairs"]) + 1}
        self.st.add("keypairs", kp, key="name")
        out = self._kp(kp, req[MV])
        if private:
            out["private_key"] = private
        return jresp({"keypair": out}, 201 if req[MV] >= (2, 2) else 200)

    async def delete_keypair(self, req):
        if self.st.remove("keypairs", req.match_info["name"]) is None:
            raise ApiError(404, f"Keypair {req.match_info['name']} not found for user {S.USER_ID}")
        return jresp(None, 202 if req[MV] < (2, 2) else 204)

    # --- server groups ---------------------------------------------------
    def _sg(self, g: dict, mv) -> dict:
        out = {"id": g["id"], "name": g["name"], "members": list(g["members"]),
               "project_id": S.PROJECT_ID, "user_id": S.USER_ID}
        if mv >= (2, 64):
            out.update(policy=g["policy"], rules=g["rules"])
        else:
            out.update(policies=[g["policy"]], metadata={})
        return out

    async def list_groups(self, req):
        return jresp({"server_groups": [self._sg(g, req[MV]) for g in self.st.res["server_groups"].values()]})

    async def show_group(self, req):
        g = self.st.res["server_groups"].get(req.match_info["id"])
        if g is None:
            raise ApiError(404, f"Instance group {req.match_info['id']} could not be found.")
        return jresp({"server_group": self._sg(g, req[MV])})

    async def create_group(self, req):
        body = (await req.json()).get("server_group") or {}
        policy = body.get("policy") or (body.get("policies") or [None])[0]
        if policy not in ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"):
            raise ApiError(400, f"Invalid input for field/attribute policy. Value: {policy}")
        if not body.get("name"):
            raise ApiError(400, "Invalid input for field/attribute name.")
        rules = body.get("rules") or {}
        if rules and policy != "anti-affinity":
            raise ApiError(400, "Only anti-affinity policy supports rules.")
        used = len(self.st.res["server_groups"])
        if used >= self.st.quota["server_groups"]:
            raise ApiError(403, "Quota exceeded, too many server groups.")
        g = {"id": new_id(), "name": body["name"], "policy": policy, "rules": rules, "members": []}
        self.st.add("server_groups", g)
        return jresp({"server_group": self._sg(g, req[MV])})

    async def delete_group(self, req):
        if self.st.remove("server_groups", req.match_info["id"]) is None:
            raise ApiError(404, f"Instance group {req.match_info['id']} could not be found.")
        return jresp(None, 204)

    # --- zones, limits, quotas -------------------------------------------
    async def zones(self, req):
        detail = req.path.endswith("/detail")
        return jresp({"availabilityZoneInfo": [
            {"zoneName": z, "zoneState": {"available": True},
             "hosts": ({h: {"nova-compute": {"available": True, "active": True, "updated_at": now_iso()}}
                        for h in (HOSTS[:2] if z == "nova" else HOSTS[2:])} if detail else None)}
            for z in ZONES]})

    async def limits(self, req):
        q, u = self.st.quota, self.st.compute_usage()
        old = {"maxPersonality": 5, "maxPersonalitySize": 10240} if req[MV] < (2, 57) else {}
        return jresp({"limits": {"rate": [], "absolute": {**old,
            "maxTotalCores": q["cores"], "maxTotalRAMSize": q["ram"], "maxTotalInstances": q["instances"],
            "totalCoresUsed": u["cores"], "totalRAMUsed": u["ram"], "totalInstancesUsed": u["instances"],
            "maxServerMeta": 128, "maxImageMeta": 128,
            "maxTotalKeypairs": q["key_pairs"], "maxServerGroups": q["server_groups"],
            "maxServerGroupMembers": q["server_group_members"],
            "totalServerGroupsUsed": len(self.st.res["server_groups"]),
            "maxSecurityGroups": -1, "maxSecurityGroupRules": -1, "maxTotalFloatingIps": -1,
            "totalSecurityGroupsUsed": 0, "totalFloatingIpsUsed": 0}}})

    def _quota_items(self) -> dict[str, tuple[int, int]]:
        q, u = self.st.quota, self.st.compute_usage()
        return {"cores": (q["cores"], u["cores"]), "ram": (q["ram"], u["ram"]),
                "instances": (q["instances"], u["instances"]),
                "key_pairs": (q["key_pairs"], len(self.st.res["keypairs"])),
                "server_groups": (q["server_groups"], len(self.st.res["server_groups"])),
                "server_group_members": (q["server_group_members"], 0),
                "metadata_items": (128, 0), "injected_files": (5, 0),
                "injected_file_content_bytes": (10240, 0), "injected_file_path_bytes": (255, 0)}

    async def quota_set(self, req):
        return jresp({"quota_set": {"id": req.match_info["project"],
                                    **{k: lim for k, (lim, _) in self._quota_items().items()}}})

    async def quota_detail(self, req):
        return jresp({"quota_set": {"id": req.match_info["project"], **{
            k: {"limit": lim, "in_use": used, "reserved": 0} for k, (lim, used) in self._quota_items().items()}}})

    async def hypervisors(self, req):
        return jresp({"hypervisors": [{"id": new_id(), "hypervisor_hostname": h, "state": "up", "status": "enabled",
                                       "service": {"host": h}} for h in HOSTS]})

    # --- out of band ------------------------------------------------------
    def oob_server(self, attrs: dict) -> dict:
        """A server someone else booted: ACTIVE at once, no ports unless given."""
        fl = self.st.res["flavors"][attrs.pop("flavor_id", "1")]
        sid = attrs.pop("id", new_id())
        host = HOSTS[0]
        srv = {"id": sid, "name": attrs.pop("name", f"oob-{sid[:8]}"), "status": "ACTIVE",
               "tenant_id": S.PROJECT_ID, "user_id": S.USER_ID, "metadata": {}, "hostId": S.host_id(host),
               "created": now_iso(), "updated": now_iso(), "image": "",
               "flavor": {"vcpus": fl["vcpus"], "ram": fl["ram"], "disk": fl["disk"], "ephemeral": 0, "swap": 0,
                          "original_name": fl["name"], "extra_specs": {}},
               "addresses": {}, "accessIPv4": "", "accessIPv6": "", "links": [], "OS-DCF:diskConfig": "MANUAL",
               "progress": 100, "OS-EXT-AZ:availability_zone": "nova", "config_drive": "", "key_name": None,
               "OS-SRV-USG:launched_at": now_iso(), "OS-SRV-USG:terminated_at": None,
               "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1,
               "os-extended-volumes:volumes_attached": [], "security_groups": [], "tags": [],
               "description": None, "locked": False, "locked_reason": None, "host_status": "UP",
               "trusted_image_certificates": None, "server_groups": [], "OS-EXT-SRV-ATTR:user_data": None,
               "OS-EXT-SRV-ATTR:hostname": "oob", "_flavor_id": fl["id"], "_host": host, "_nova_ports": []}
        srv.update(attrs)
        return self.st.add("servers", srv)
