"""Cinder v3: volumes (creating -> available, async delete), attachments bookkeeping
used by Nova, quota sets and limits."""

from __future__ import annotations

from aiohttp import web

from . import state as S
from .state import ApiError, State, jresp, loose_dict, new_id, now_iso

MAX_VERSION = "3.71"
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")


class Volume:
    def __init__(self, st: State):
        self.st = st
        self.prefix = f"/volume/v3/{S.PROJECT_ID}"

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        return [
            web.get("/volume", self.versions), web.get("/volume/", self.versions),
            web.get("/volume/v3", self.version), web.get("/volume/v3/", self.version),
            web.get(p, self.version), web.get(p + "/", self.version),
            web.get(p + "/volumes", self.list_), web.get(p + "/volumes/detail", self.list_),
            web.post(p + "/volumes", self.create),
            web.get(p + "/volumes/{id}", self.show), web.put(p + "/volumes/{id}", self.update),
            web.delete(p + "/volumes/{id}", self.delete),
            web.post(p + "/volumes/{id}/action", self.action),
            web.get(p + "/volumes/{id}/metadata", self.get_meta),
            web.post(p + "/volumes/{id}/metadata", self.set_meta),
            web.get(p + "/types", self.types), web.get(p + "/availability-zones", self.zones),
            web.get(p + "/os-availability-zone", self.zones),
            web.get(p + "/os-quota-sets/{project}", self.quota_set),
            web.get(p + "/limits", self.limits),
        ]

    def _vdoc(self) -> dict:
        return {"id": "v3.0", "status": "CURRENT", "version": MAX_VERSION, "min_version": "3.0",
                "updated": "2023-08-31T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self.st.base_url}/volume/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.volume+json;version=3"}]}

    async def versions(self, req):
        return jresp({"versions": [self._vdoc()]}, 300)

    async def version(self, req):
        return jresp({"versions": [self._vdoc()]})

    # --- internals shared with compute -----------------------------------
    def create_internal(self, size: int, name: str = "", image_id: str | None = None, az: str = "nova",
                        metadata: dict | None = None, description: str | None = None,
                        status: str = "creating", counted: bool = False, volume_type: str | None = None) -> dict:
        vid = new_id()
        vol = {"id": vid, "name": name, "status": status, "size": size, "availability_zone": az,
               "created_at": now_iso(), "updated_at": None, "description": description,
               "volume_type": volume_type or "__DEFAULT__", "snapshot_id": None, "source_volid": None,
               "bootable": "true" if image_id else "false", "metadata": dict(metadata or {}),
               "attachments": [], "encrypted": False, "multiattach": False, "user_id": S.USER_ID,
               "os-vol-tenant-attr:tenant_id": S.PROJECT_ID, "replication_status": None,
               "consistencygroup_id": None, "group_id": None, "migration_status": None,
               "provider_id": None, "service_uuid": None, "shared_targets": False, "cluster_name": None,
               "consumes_quota": True,
               "links": [{"rel": "self", "href": f"{self.st.base_url}{self.prefix}/volumes/{vid}"}]}
        if image_id:
            img = self.st.res["images"].get(image_id) or {}
            vol["volume_image_metadata"] = {"image_id": image_id, "image_name": img.get("name", ""),
                                            "checksum": img.get("checksum", ""),
                                            "container_format": img.get("container_format", "bare"),
                                            "disk_format": img.get("disk_format", "qcow2")}
        self.st.add("volumes", vol, counted)
        if status == "creating":
            def done():
                if vol["status"] == "creating":
                    vol["status"] = "available"
                    vol["updated_at"] = now_iso()
            self.st.later(done)
        return vol

    def attach_internal(self, vol: dict, sid: str, device: str, delete_on_termination: bool,
                        delay: bool = False) -> None:
        vol["attachments"].append({"server_id": sid, "attachment_id": new_id(), "volume_id": vol["id"],
                                   "device": device, "id": vol["id"], "host_name": None,
                                   "attached_at": now_iso(), "_delete_on_termination": delete_on_termination})
        if not delay:
            vol["status"] = "in-use"
            return
        vol["status"] = "attaching"

        def done():
            if vol["status"] == "attaching":
                vol["status"] = "in-use"
        self.st.later(done)

    def detach_internal(self, vol: dict, sid: str) -> None:
        vol["attachments"] = [a for a in vol["attachments"] if a["server_id"] != sid]
        if not vol["attachments"] and vol["status"] in ("in-use", "detaching", "attaching"):
            vol["status"] = "available"
        vol["updated_at"] = now_iso()

    def purge(self, vid: str) -> None:
        self.st.remove("volumes", vid)

    # --- API -------------------------------------------------------------
    def render(self, vol: dict) -> dict:
        out = dict(vol)
        out["attachments"] = [{k: v for k, v in a.items() if not k.startswith("_")} for a in vol["attachments"]]
        return out

    def _vol(self, vid: str) -> dict:
        vol = self.st.res["volumes"].get(vid)
        if vol is None:
            raise ApiError(404, f"Volume {vid} could not be found.")
        return vol

    async def list_(self, req):
        q = req.query
        vols = list(reversed(self.st.res["volumes"].values()))
        for key in ("name", "status", "availability_zone", "bootable"):
            if key in q:
                vols = [v for v in vols if str(v[key]) == q[key]]
        if "metadata" in q:
            want = loose_dict(q["metadata"])
            vols = [v for v in vols if all(v["metadata"].get(k) == str(val) for k, val in want.items())]
        if req.path.endswith("/detail"):
            return jresp({"volumes": [self.render(v) for v in vols]})
        return jresp({"volumes": [{"id": v["id"], "name": v["name"], "links": v["links"]} for v in vols]})

    async def show(self, req):
        return jresp({"volume": self.render(self._vol(req.match_info["id"]))})

    async def create(self, req):
        body = (await req.json()).get("volume") or {}
        try:
            size = int(body["size"])
            assert size > 0
        except (KeyError, ValueError, TypeError, AssertionError):
            raise ApiError(400, "Invalid input received: Volume size must be an integer and greater than 0")
        az = body.get("availability_zone") or "nova"
        if az not in ("nova", "az-2"):
            raise ApiError(400, f"Invalid input received: Availability zone '{az}' is invalid.")
        image_id = body.get("imageRef")
        if image_id:
            img = self.st.res["images"].get(image_id)
            if img is None or img["status"] != "active":
                raise ApiError(400, f"Invalid input received: Invalid image identifier or unable to access "
                                    f"requested image. (HTTP 404)")
            min_gb = max(img.get("min_disk") or 0, -(-(img.get("size") or 0) // 2**30))
            if size < min_gb:
                raise ApiError(400, f"Invalid input received: Image minDisk size {min_gb} is larger than the "
                                    f"volume size {size}.")
        use = self.st.volume_usage()
        q = self.st.quota
        if use["volumes"] + 1 > q["volumes"]:
            raise ApiError(413, f"VolumeLimitExceeded: Maximum number of volumes allowed ({q['volumes']}) "
                                "exceeded for quota 'volumes'.", "overLimit")
        if use["gigabytes"] + size > q["gigabytes"]:
            raise ApiError(413, f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
                                f"gigabytes quota. Requested {size}G, quota is {q['gigabytes']}G and "
                                f"{use['gigabytes']}G has been consumed.", "overLimit")
        if body.get("source_volid") or body.get("snapshot_id"):
            raise ApiError(400, "Only blank and image-backed volumes are supported by this fake")
        vol = self.create_internal(size, body.get("name") or "", image_id, az, body.get("metadata"),
                                   body.get("description"), counted=True, volume_type=body.get("volume_type"))
        return jresp({"volume": self.render(vol)}, 202)

    async def update(self, req):
        vol = self._vol(req.match_info["id"])
        body = (await req.json()).get("volume") or {}
        for k in ("name", "description", "metadata"):
            if k in body:
                vol[k] = body[k]
        vol["updated_at"] = now_iso()
        return jresp({"volume": self.render(vol)})

    async def delete(self, req):
        vol = self._vol(req.match_info["id"])
        if vol["status"] not in DELETABLE or vol["attachments"]:
            # Cinder answers 400 InvalidVolume for an attached volume
            raise ApiError(400, "Invalid volume: Volume status must be available or error or error_restoring or "
                                "error_extending or error_managing and must not be migrating, attached, belong "
                                "to a group, have snapshots, awaiting a transfer, or be disassociated from "
                                "snapshots after volume transfer.")
        vol["status"] = "deleting"
        self.st.later(lambda: self.purge(vol["id"]))
        return jresp(None, 202)

    async def action(self, req):
        vol = self._vol(req.match_info["id"])
        body = await req.json()
        name = next(iter(body), "")
        if name == "os-reset_status":
            vol["status"] = body[name].get("status", vol["status"])
        elif name == "os-extend":
            new = int(body[name]["new_size"])
            if vol["status"] != "available" or new <= vol["size"]:
                raise ApiError(400, "Invalid volume: Volume must be available and new size larger.")
            vol["size"] = new
        elif name == "os-set_bootable":
            vol["bootable"] = "true" if body[name].get("bootable") else "false"
        else:
            raise ApiError(400, f"Unsupported action {name}")
        return jresp(None, 202)

    async def get_meta(self, req):
        return jresp({"metadata": self._vol(req.match_info["id"])["metadata"]})

    async def set_meta(self, req):
        vol = self._vol(req.match_info["id"])
        vol["metadata"].update((await req.json()).get("metadata") or {})
        return jresp({"metadata": vol["metadata"]})

    async def types(self, req):
        return jresp({"volume_types": [{"id": "b1f3c1e0-0000-4000-8000-000000000001", "name": "__DEFAULT__",
                                        "is_public": True, "description": "Default Volume Type",
                                        "extra_specs": {}, "os-volume-type-access:is_public": True}]})

    async def zones(self, req):
        return jresp({"availabilityZoneInfo": [{"zoneName": z, "zoneState": {"available": True}}
                                               for z in ("nova", "az-2")]})

    def _quota_items(self) -> dict[str, tuple[int, int]]:
        q, u = self.st.quota, self.st.volume_usage()
        return {"volumes": (q["volumes"], u["volumes"]), "gigabytes": (q["gigabytes"], u["gigabytes"]),
                "snapshots": (10, 0), "backups": (10, 0), "backup_gigabytes": (1000, 0),
                "per_volume_gigabytes": (-1, 0), "groups": (10, 0),
                "volumes___DEFAULT__": (-1, u["volumes"]), "gigabytes___DEFAULT__": (-1, u["gigabytes"]),
                "snapshots___DEFAULT__": (-1, 0)}

    async def quota_set(self, req):
        items = self._quota_items()
        if req.query.get("usage", "").lower() in ("true", "1"):
            body = {k: {"limit": lim, "in_use": used, "reserved": 0, "allocated": 0}
                    for k, (lim, used) in items.items()}
        else:
            body = {k: lim for k, (lim, _) in items.items()}
        return jresp({"quota_set": {"id": req.match_info["project"], **body}})

    async def limits(self, req):
        q, u = self.st.quota, self.st.volume_usage()
        return jresp({"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": q["volumes"], "totalVolumesUsed": u["volumes"],
            "maxTotalVolumeGigabytes": q["gigabytes"], "totalGigabytesUsed": u["gigabytes"],
            "maxTotalSnapshots": 10, "totalSnapshotsUsed": 0, "maxTotalBackups": 10, "totalBackupsUsed": 0,
            "maxTotalBackupGigabytes": 1000, "totalBackupGigabytesUsed": 0}}})
