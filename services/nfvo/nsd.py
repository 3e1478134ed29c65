"""NS descriptors: SOL005 `/nsd/v2/ns_descriptors`.

An NSD is onboarded synchronously on `PUT nsd_content` (204); every VNFD it references must be
ONBOARDED and ENABLED first, so an NS can always be instantiated from an onboarded NSD.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_json, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.envelope import new_id
from magi.descriptors import PackageError, load_nsd
from magi.store.mongo import ConcurrencyError, MongoStore, NotFound, Repository, public
from nfvo.content import ContentStore, read_upload
from nfvo.pkginfo import descriptor_response, range_response
from nfvo.vnfpkgm import VnfPackages, merge_patch

NSD_ATTRS = attributes("id", "nsdId", "nsdName", "nsdVersion", "nsdDesigner", "nsdInvariantId", "vnfPkgIds", "pnfdInfoIds",
                       "nestedNsdInfoIds", "nsdOnboardingState", "onboardingFailureDetails", "nsdOperationalState",
                       "nsdUsageState", "userDefinedData")


class NsdInfoModifications(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nsdOperationalState: str | None = None
    userDefinedData: dict[str, Any] | None = None


class NsDescriptors:
    """The NSD catalogue of the NFVO."""

    def __init__(self, store: MongoStore, contents: ContentStore, vnf_packages: VnfPackages, base_url: str):
        self.nsds: Repository = store.repository("ns_descriptors", [[("nsdId", 1)]])
        self.contents = contents
        self.vnf_packages = vnf_packages
        self.base = base_url

    async def nsd(self, nsd_info_id: str) -> dict[str, Any]:
        try:
            return await self.nsds.get(nsd_info_id)
        except NotFound:
            raise Problem(404, f"NS descriptor {nsd_info_id} does not exist") from None

    async def onboarded_nsd(self, nsd_id: str) -> dict[str, Any]:
        for d in await self.nsds.find({"nsdId": nsd_id}):
            if d["nsdOnboardingState"] == "ONBOARDED" and d["nsdOperationalState"] == "ENABLED":
                return d
        for d in await self.nsds.find({"_id": nsd_id}):  # accept the NsdInfo id too
            if d["nsdOnboardingState"] == "ONBOARDED" and d["nsdOperationalState"] == "ENABLED":
                return d
        raise Problem(422, f"nsdId {nsd_id} does not identify an ONBOARDED and ENABLED NSD")

    async def create_nsd(self, user_data: dict[str, Any] | None) -> dict[str, Any]:
        nid = new_id()
        s = f"{self.base}/nsd/v2/ns_descriptors/{nid}"
        doc = {"id": nid, "nsdOnboardingState": "CREATED", "nsdOperationalState": "DISABLED", "nsdUsageState": "NOT_IN_USE",
               "_links": {"self": {"href": s}, "nsd_content": {"href": f"{s}/nsd_content"}}}
        if user_data:
            doc["userDefinedData"] = user_data
        await self.nsds.insert(doc)
        return doc

    async def upload_nsd(self, nsd_info_id: str, data: bytes, filename: str | None) -> None:
        doc = await self.nsd(nsd_info_id)
        if doc["nsdOnboardingState"] != "CREATED":
            raise Problem(409, f"NSD {nsd_info_id} is {doc['nsdOnboardingState']}; content can be uploaded only in CREATED")
        try:
            parsed = await asyncio.to_thread(load_nsd, data, filename)
        except PackageError as exc:
            doc["nsdOnboardingState"] = "ERROR"
            doc["onboardingFailureDetails"] = {"status": 422, "detail": str(exc)}
            await self.nsds.replace(doc)
            raise Problem(422, f"NSD rejected: {exc}") from None
        nsd = parsed.nsd
        pkg_ids = []
        for vnfd_id in nsd.vnfd_ids:
            try:
                pkg_ids.append((await self.vnf_packages.onboarded_vnfd(vnfd_id))["id"])
            except Problem:
                raise Problem(422, f"NSD {nsd.nsd_id} references VNFD {vnfd_id}, which is not onboarded and enabled") from None
        await self.contents.put(f"nsd:{nsd_info_id}", data, filename)
        doc.update({"nsdId": nsd.nsd_id, "nsdName": nsd.name, "nsdVersion": str(nsd.version), "nsdDesigner": nsd.designer or "",
                    "nsdInvariantId": nsd.invariant_id or nsd.nsd_id, "vnfPkgIds": pkg_ids,
                    "nsdOnboardingState": "ONBOARDED", "nsdOperationalState": "ENABLED", "_nsd": nsd.model_dump(mode="json"),
                    "_nsdFiles": parsed.nsd_files, "_manifest": parsed.manifest.path if parsed.manifest else None})
        await self.nsds.replace(doc)

    async def patch_nsd(self, nsd_info_id: str, mods: NsdInfoModifications) -> dict[str, Any]:
        if mods.nsdOperationalState is None and mods.userDefinedData is None:
            raise Problem(400, "NsdInfoModifications needs nsdOperationalState or userDefinedData")
        doc = await self.nsd(nsd_info_id)
        state = mods.nsdOperationalState
        if state is not None:
            if state not in ("ENABLED", "DISABLED"):
                raise Problem(400, "nsdOperationalState must be ENABLED or DISABLED")
            if doc["nsdOnboardingState"] != "ONBOARDED" or doc["nsdOperationalState"] == state:
                raise Problem(409, f"NSD {doc['id']} cannot become {state} now")
            doc["nsdOperationalState"] = state
        if mods.userDefinedData is not None:
            doc["userDefinedData"] = merge_patch(doc.get("userDefinedData"), mods.userDefinedData)
        try:
            await self.nsds.replace(doc)
        except ConcurrencyError:
            raise Problem(412, f"NSD {nsd_info_id} changed concurrently") from None
        return mods.model_dump(exclude_none=True)

    async def onboarded_files(self, doc: dict[str, Any]) -> Any:
        """The parsed NSD package of an ONBOARDED NsdInfo (409 before)."""
        if doc["nsdOnboardingState"] != "ONBOARDED":
            raise Problem(409, f"NSD {doc['id']} is {doc['nsdOnboardingState']}, not ONBOARDED")
        found = await self.contents.find(f"nsd:{doc['id']}")
        if found is None:
            raise Problem(409, f"NSD {doc['id']} has no content")
        return await asyncio.to_thread(load_nsd, bytes(found["data"]), found.get("filename"))

    # -- HTTP ------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        N = "/nsd/v2/ns_descriptors"

        async def create_nsd(request: web.Request) -> web.Response:
            body = await read_json(request) if request.can_read_body else {}
            if not isinstance(body, dict) or set(body) - {"userDefinedData"}:
                raise Problem(400, "CreateNsdInfoRequest takes only userDefinedData")
            doc = await self.create_nsd(body.get("userDefinedData"))
            return json_response(public(doc), status=201, headers={"Location": doc["_links"]["self"]["href"]})

        async def list_nsds(request: web.Request) -> web.Response:
            return list_response(request, [public(d) for d in await self.nsds.find()], allowed=NSD_ATTRS, default_excluded=("userDefinedData",))

        async def get_nsd(request: web.Request) -> web.Response:
            return one_response(request, public(await self.nsd(request.match_info["nsdInfoId"])))

        async def put_nsd(request: web.Request) -> web.Response:
            data, filename = await read_upload(request)
            await self.upload_nsd(request.match_info["nsdInfoId"], data, filename)
            return web.Response(status=204)

        async def delete_nsd(request: web.Request) -> web.Response:
            doc = await self.nsd(request.match_info["nsdInfoId"])
            if doc["nsdOperationalState"] != "DISABLED" or doc["nsdUsageState"] != "NOT_IN_USE":
                raise Problem(409, f"NSD {doc['id']} must be DISABLED and NOT_IN_USE to be deleted")
            await self.nsds.delete(doc)
            return web.Response(status=204)

        async def patch_nsd(request: web.Request) -> web.Response:
            # merge-patch per SOL005; plain JSON still accepted, as before
            mods = await read_model(request, NsdInfoModifications)
            return json_response(await self.patch_nsd(request.match_info["nsdInfoId"], mods))

        async def get_content(request: web.Request) -> web.Response:
            doc = await self.nsd(request.match_info["nsdInfoId"])
            await self.onboarded_files(doc)  # 409 unless ONBOARDED
            found = await self.contents.find(f"nsd:{doc['id']}")
            data = bytes(found["data"])
            ctype = "application/zip" if data[:2] == b"PK" else "text/plain"
            return range_response(request, data, ctype)

        async def get_nsd_file(request: web.Request) -> web.Response:
            doc = await self.nsd(request.match_info["nsdInfoId"])
            pkg = await self.onboarded_files(doc)
            return descriptor_response(request, {f: pkg.files[f] for f in pkg.nsd_files}, "NSD")

        async def get_manifest(request: web.Request) -> web.Response:
            doc = await self.nsd(request.match_info["nsdInfoId"])
            pkg = await self.onboarded_files(doc)
            if pkg.manifest is None:
                raise Problem(404, f"NSD {doc['id']} has no manifest")
            return web.Response(body=pkg.files[pkg.manifest.path], content_type="text/plain")

        async def get_artifact(request: web.Request) -> web.Response:
            doc = await self.nsd(request.match_info["nsdInfoId"])
            pkg = await self.onboarded_files(doc)
            path = request.match_info["artifactPath"]
            # artifacts: the archive's files other than the NSD itself and the CSAR metadata; looked up
            # by exact name in the archive, so nothing outside it is reachable
            skip = set(pkg.nsd_files) | {"TOSCA-Metadata/TOSCA.meta"}
            if path in skip or path not in pkg.files or path.endswith("/"):
                raise Problem(404, f"NSD {doc['id']} has no artifact {path!r}")
            return range_response(request, pkg.files[path], "application/octet-stream")

        r = app.router
        r.add_post(N, create_nsd)
        r.add_get(N, list_nsds)
        r.add_get(f"{N}/{{nsdInfoId}}", get_nsd)
        r.add_patch(f"{N}/{{nsdInfoId}}", patch_nsd)
        r.add_delete(f"{N}/{{nsdInfoId}}", delete_nsd)
        r.add_put(f"{N}/{{nsdInfoId}}/nsd_content", put_nsd)
        r.add_get(f"{N}/{{nsdInfoId}}/nsd_content", get_content)
        r.add_get(f"{N}/{{nsdInfoId}}/nsd", get_nsd_file)
        r.add_get(f"{N}/{{nsdInfoId}}/manifest", get_manifest)
        r.add_get(f"{N}/{{nsdInfoId}}/artifacts/{{artifactPath:.+}}", get_artifact)
