"""Glance v2: unversioned discovery (300), images list/show/create/patch/delete,
data upload (queued -> active with md5 checksum and sha512 multihash) and download."""

from __future__ import annotations

import hashlib

from aiohttp import web

from . import state as S
from .state import ApiError, State, jresp, new_id, now_iso

CORE = {"id", "name", "status", "visibility", "protected", "checksum", "os_hash_algo", "os_hash_value",
        "size", "virtual_size", "disk_format", "container_format", "min_disk", "min_ram", "owner", "tags",
        "created_at", "updated_at", "self", "file", "schema", "os_hidden", "direct_url", "locations"}
SEED_BYTES = b"cirros fake image 0.5.2\n" * 64


class Image:
    prefix = "/image/v2"

    def __init__(self, st: State):
        self.st = st
        self.data: dict[str, bytes] = {}
        self.staged: dict[str, bytes] = {}
        img = self._new({"name": "cirros-0.5.2-x86_64-disk", "disk_format": "qcow2", "container_format": "bare",
                         "visibility": "public"}, counted=False)
        self._store(img, SEED_BYTES)

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        return [
            web.get("/image", self.versions), web.get("/image/", self.versions),
            web.get("/image/versions", self.versions),
            web.get(p + "/images", self.list_), web.post(p + "/images", self.create),
            web.get(p + "/images/{id}", self.show), web.patch(p + "/images/{id}", self.patch),
            web.delete(p + "/images/{id}", self.delete),
            web.put(p + "/images/{id}/file", self.upload), web.get(p + "/images/{id}/file", self.download),
            web.put(p + "/images/{id}/stage", self.stage), web.post(p + "/images/{id}/import", self.import_),
            web.put(p + "/images/{id}/tags/{tag}", self.add_tag),
            web.delete(p + "/images/{id}/tags/{tag}", self.del_tag),
            web.get(p + "/schemas/image", self.schema), web.get(p + "/info/import", self.import_info),
            web.get(p + "/info/stores", self.stores),
        ]

    async def versions(self, req):
        # glance answers its unversioned root with 300 Multiple Choices
        return jresp({"versions": [{"id": f"v2.{n}", "status": "CURRENT" if n == 16 else "SUPPORTED",
                                    "links": [{"rel": "self", "href": f"{self.st.base_url}/image/v2/"}]}
                                   for n in (16, 15, 9, 0)]}, 300)

    def _new(self, b: dict, counted: bool = True) -> dict:
        iid = b.get("id") or new_id()
        if iid in self.st.res["images"]:
            raise ApiError(409, f"Image with identifier {iid} already exists!")
        now = now_iso()
        img = {"id": iid, "name": b.get("name"), "status": "queued", "visibility": b.get("visibility", "shared"),
               "protected": b.get("protected", False), "checksum": None, "os_hash_algo": None,
               "os_hash_value": None, "size": None, "virtual_size": None,
               "disk_format": b.get("disk_format"), "container_format": b.get("container_format"),
               "min_disk": b.get("min_disk", 0), "min_ram": b.get("min_ram", 0), "owner": S.PROJECT_ID,
               "tags": list(b.get("tags") or []), "created_at": now, "updated_at": now,
               "self": f"/v2/images/{iid}", "file": f"/v2/images/{iid}/file", "schema": "/v2/schemas/image",
               "os_hidden": b.get("os_hidden", False)}
        for k, v in b.items():  # extra properties are flat string attributes
            if k not in CORE:
                img[k] = v
        return self.st.add("images", img, counted)

    def _store(self, img: dict, data: bytes) -> None:
        self.data[img["id"]] = data
        img.update({"status": "active", "checksum": hashlib.md5(data).hexdigest(), "os_hash_algo": "sha512",
                    "os_hash_value": hashlib.sha512(data).hexdigest(), "size": len(data),
                    "updated_at": now_iso()})

    def _img(self, iid: str) -> dict:
        img = self.st.res["images"].get(iid)
        if img is None:
            raise ApiError(404, f"No image found with ID {iid}")
        return img

    async def list_(self, req):
        q = req.query
        imgs = list(reversed(self.st.res["images"].values()))
        for key in ("name", "status", "os_hash_value", "visibility", "owner", "disk_format",
                    "container_format", "checksum", "id"):
            if key in q:
                val = q[key]
                if val.startswith("in:"):
                    vals = val[3:].split(",")
                    imgs = [i for i in imgs if str(i.get(key)) in vals]
                else:
                    imgs = [i for i in imgs if str(i.get(key)) == val]
        for tag in q.getall("tag", []):
            imgs = [i for i in imgs if tag in i["tags"]]
        if q.get("visibility") is None:  # glance hides community/hidden images by default
            imgs = [i for i in imgs if i["visibility"] != "community" and not i["os_hidden"]]
        return jresp({"images": imgs, "schema": "/v2/schemas/images", "first": "/v2/images"})

    async def show(self, req):
        return jresp(self._img(req.match_info["id"]))

    async def create(self, req):
        b = await req.json()
        for fmt_key, allowed in (("disk_format", {None, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw",
                                                  "qcow2", "vdi", "iso", "ploop"}),
                                 ("container_format", {None, "ami", "ari", "aki", "bare", "ovf", "ova",
                                                       "docker", "compressed"})):
            if b.get(fmt_key) not in allowed:
                raise ApiError(400, f"Invalid value '{b.get(fmt_key)}' for {fmt_key}")
        img = self._new(b)
        # the sdk learns the interoperable import methods from this header
        return jresp(img, 201, headers={"Location": f"{self.st.base_url}/image/v2/images/{img['id']}",
                                        "OpenStack-image-import-methods": "glance-direct,web-download"})

    async def patch(self, req):
        img = self._img(req.match_info["id"])
        ops = await req.json()
        for op in ops:
            key = op["path"].lstrip("/")
            if key in ("id", "status", "checksum", "size", "os_hash_value", "os_hash_algo", "self", "file",
                       "schema", "created_at", "updated_at", "owner"):
                raise ApiError(403, f"Attribute '{key}' is read-only.")
            if op["op"] in ("add", "replace"):
                img[key] = op["value"]
            elif op["op"] == "remove":
                if key not in img:
                    raise ApiError(409, f"Property {key} does not exist.")
                img.pop(key)
        img["updated_at"] = now_iso()
        return jresp(img)

    async def delete(self, req):
        img = self._img(req.match_info["id"])
        if img["protected"]:
            raise ApiError(403, f"Image {img['id']} is protected and cannot be deleted.")
        self.st.remove("images", img["id"])
        self.data.pop(img["id"], None)
        return jresp(None, 204)

    async def upload(self, req):
        img = self._img(req.match_info["id"])
        if img["status"] != "queued":
            raise ApiError(409, "Image status transition from active to saving is not allowed")
        if not img.get("disk_format") or not img.get("container_format"):
            raise ApiError(400, "Properties disk_format, container_format must be set prior to saving data.")
        self._store(img, await req.read())
        return jresp(None, 204)

    async def stage(self, req):
        img = self._img(req.match_info["id"])
        if img["status"] != "queued":
            raise ApiError(409, f"Image {img['id']} is not in queued state")
        self.staged[img["id"]] = await req.read()
        img["status"] = "uploading"
        return jresp(None, 204)

    async def import_(self, req):
        img = self._img(req.match_info["id"])
        method = ((await req.json()).get("method") or {}).get("name")
        if method == "glance-direct":
            if img["status"] != "uploading" or img["id"] not in self.staged:
                raise ApiError(409, "Image needs to be staged before 'glance-direct' method can be used")
            data = self.staged.pop(img["id"])
        elif method == "web-download":
            data = f"downloaded from {(await req.json())['method'].get('uri')}".encode()
        else:
            raise ApiError(400, f"Import method {method} is not supported")
        img["status"] = "importing"
        self.st.later(lambda: self._store(img, data) if img["id"] in self.st.res["images"] else None)
        return jresp(None, 202)

    async def download(self, req):
        img = self._img(req.match_info["id"])
        if img["id"] not in self.data:
            return jresp(None, 204)
        return web.Response(body=self.data[img["id"]], content_type="application/octet-stream",
                            headers={"Content-MD5": img["checksum"]})

    async def add_tag(self, req):
        img = self._img(req.match_info["id"])
        if req.match_info["tag"] not in img["tags"]:
            img["tags"].append(req.match_info["tag"])
        return jresp(None, 204)

    async def del_tag(self, req):
        img = self._img(req.match_info["id"])
        if req.match_info["tag"] not in img["tags"]:
            raise ApiError(404, f"Tag {req.match_info['tag']} not found.")
        img["tags"].remove(req.match_info["tag"])
        return jresp(None, 204)

    async def schema(self, req):
        return jresp({"name": "image", "properties": {k: {} for k in sorted(CORE)}, "additionalProperties":
                      {"type": "string"}})

    async def import_info(self, req):
        return jresp({"import-methods": {"description": "Import methods available.", "type": "array",
                                         "value": ["glance-direct", "web-download"]}})

    async def stores(self, req):
        return jresp({"stores": [{"id": "file", "default": True}]})
