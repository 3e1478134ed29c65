"""VNF packages (SOL005 `/vnfpkgm/v2`, read side SOL003) and NSDs (`/nsd/v2`): the foundation cut.

Onboarding: create → `PUT package_content` (202) → UPLOADING → PROCESSING → ONBOARDED, or ERROR
with `onboardingFailureDetails`. Content bytes live in the NFVO's own database (collection
`package_contents`), so the embedded default and Helm need no extra volume.
"""
from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import structlog
from aiohttp import web
from bson import Binary
from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_json, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.envelope import new_id
from magi.descriptors import PackageError, load_nsd, load_vnf_package
from magi.store.mongo import ConcurrencyError, MongoStore, NotFound, Repository, public

log = structlog.get_logger(__name__)
MAX_UPLOAD = 512 * 1024 * 1024
PKG_DEFAULT_EXCLUDED = ("softwareImages", "additionalArtifacts", "userDefinedData", "checksum")
PKG_ATTRS = attributes("id", "vnfdId", "vnfProvider", "vnfProductName", "vnfSoftwareVersion", "vnfdVersion", "checksum",
                       "packageSecurityOption", "softwareImages", "additionalArtifacts", "onboardingState",
                       "operationalState", "usageState", "vnfmInfo", "userDefinedData", "onboardingFailureDetails")
NSD_ATTRS = attributes("id", "nsdId", "nsdName", "nsdVersion", "nsdDesigner", "nsdInvariantId", "vnfPkgIds", "pnfdInfoIds",
                       "nestedNsdInfoIds", "nsdOnboardingState", "onboardingFailureDetails", "nsdOperationalState",
                       "nsdUsageState", "userDefinedData")


class CreatePkgRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userDefinedData: dict[str, Any] | None = None


class PkgInfoModifications(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operationalState: str | None = None
    userDefinedData: dict[str, Any] | None = None


class Catalogue:
    """Both catalogues of the NFVO: VNF packages and NS descriptors."""

    def __init__(self, store: MongoStore, base_url: str):
        self.pkgs: Repository = store.repository("vnf_packages", [[("vnfdId", 1)]])
        self.nsds: Repository = store.repository("ns_descriptors", [[("nsdId", 1)]])
        self.contents = store.db["package_contents"]
        self.base = base_url
        self._tasks: set[asyncio.Task] = set()

    # -- VNF packages ----------------------------------------------------------------------
    async def pkg(self, pkg_id: str) -> dict[str, Any]:
        try:
            return await self.pkgs.get(pkg_id)
        except NotFound:
            raise Problem(404, f"VNF package {pkg_id} does not exist") from None

    async def onboarded_vnfd(self, vnfd_id: str) -> dict[str, Any]:
        """The onboarded, enabled package of a VNFD, with its normalized descriptor."""
        for p in await self.pkgs.find({"vnfdId": vnfd_id}):
            if p["onboardingState"] == "ONBOARDED" and p["operationalState"] == "ENABLED":
                return p
        raise Problem(404, f"no ONBOARDED and ENABLED VNF package has vnfdId {vnfd_id}")

    async def create_pkg(self, req: CreatePkgRequest) -> dict[str, Any]:
        pid = new_id()
        doc = {"id": pid, "onboardingState": "CREATED", "operationalState": "DISABLED", "usageState": "NOT_IN_USE",
               "_links": self._pkg_links(pid)}
        if req.userDefinedData:
            doc["userDefinedData"] = req.userDefinedData
        await self.pkgs.insert(doc)
        return doc

    def _pkg_links(self, pid: str) -> dict[str, Any]:
        s = f"{self.base}/vnfpkgm/v2/vnf_packages/{pid}"
        return {"self": {"href": s}, "vnfd": {"href": f"{s}/vnfd"}, "packageContent": {"href": f"{s}/package_content"}}

    async def upload_pkg(self, pkg_id: str, data: bytes, filename: str | None) -> None:
        doc = await self.pkg(pkg_id)
        if doc["onboardingState"] != "CREATED":
            raise Problem(409, f"VNF package {pkg_id} is {doc['onboardingState']}; content can be uploaded only once, in CREATED")
        doc["onboardingState"] = "UPLOADING"
        try:
            doc = await self.pkgs.replace(doc)
        except ConcurrencyError:
            raise Problem(409, f"VNF package {pkg_id} is being uploaded by another request") from None
        await self.contents.replace_one({"_id": pkg_id}, {"_id": pkg_id, "data": Binary(data), "filename": filename}, upsert=True)
        doc["onboardingState"] = "PROCESSING"
        doc = await self.pkgs.replace(doc)
        task = asyncio.create_task(self._process_pkg(doc, data, filename))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process_pkg(self, doc: dict[str, Any], data: bytes, filename: str | None) -> None:
        try:
            pkg = await asyncio.to_thread(load_vnf_package, data, filename)
        except PackageError as exc:
            doc["onboardingState"] = "ERROR"
            doc["onboardingFailureDetails"] = {"status": 422, "title": f"package check '{exc.check}' failed", "detail": str(exc.detail if hasattr(exc, "detail") else exc)}
            await self.pkgs.replace(doc)
            log.warning("vnfpkg.onboarding_failed", vnfPkgId=doc["id"], check=exc.check, detail=str(exc))
            return
        except Exception as exc:  # a parser bug must still leave an answer an operator can read
            log.exception("vnfpkg.onboarding_crashed", vnfPkgId=doc["id"])
            doc["onboardingState"] = "ERROR"
            doc["onboardingFailureDetails"] = {"status": 422, "detail": f"the package could not be processed: {exc}"}
            await self.pkgs.replace(doc)
            return
        v = pkg.vnfd
        doc.update({"vnfdId": v.vnfd_id, "vnfProvider": v.provider or "", "vnfProductName": v.product_name or "",
                    "vnfSoftwareVersion": str(v.software_version or ""), "vnfdVersion": str(v.descriptor_version or ""),
                    "vnfmInfo": list(v.vnfm_info or []) or ["MAGI"],
                    "checksum": {"algorithm": "SHA-256", "hash": pkg.checksum_sha256},
                    "packageSecurityOption": "OPTION_1", "softwareImages": [], "additionalArtifacts": [],
                    "onboardingState": "ONBOARDED", "operationalState": "ENABLED",
                    "_vnfd": v.model_dump(mode="json"), "_vnfdFiles": pkg.vnfd_files})
        await self.pkgs.replace(doc)
        log.info("vnfpkg.onboarded", vnfPkgId=doc["id"], vnfdId=v.vnfd_id)

    async def resume(self) -> None:
        """Packages a crash left in UPLOADING or PROCESSING: process the stored content again, or
        go back to CREATED when the content never arrived (the upload can then be repeated)."""
        for doc in await self.pkgs.find({"onboardingState": {"$in": ["UPLOADING", "PROCESSING"]}}):
            stored = await self.contents.find_one({"_id": doc["id"]})
            if stored is None:
                doc["onboardingState"] = "CREATED"
                await self.pkgs.replace(doc)
                continue
            doc["onboardingState"] = "PROCESSING"
            doc = await self.pkgs.replace(doc)
            task = asyncio.create_task(self._process_pkg(doc, bytes(stored["data"]), stored.get("filename")))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def content(self, pkg_id: str) -> bytes:
        found = await self.contents.find_one({"_id": pkg_id})
        if found is None:
            raise Problem(409, f"package {pkg_id} has no content yet")
        return bytes(found["data"])

    async def patch_pkg(self, pkg_id: str, mods: PkgInfoModifications, if_match: str | None) -> dict[str, Any]:
        doc = await self.pkg(pkg_id)
        if if_match and if_match.strip('"') != str(doc["_v"]):
            raise Problem(412, f"VNF package {pkg_id} changed (ETag {doc['_v']})")
        if mods.operationalState:
            if mods.operationalState not in ("ENABLED", "DISABLED"):
                raise Problem(400, "operationalState must be ENABLED or DISABLED")
            if doc["onboardingState"] != "ONBOARDED":
                raise Problem(409, f"VNF package {pkg_id} is not ONBOARDED")
            if doc["operationalState"] == mods.operationalState:
                raise Problem(409, f"VNF package {pkg_id} is already {mods.operationalState}")
            doc["operationalState"] = mods.operationalState
        if mods.userDefinedData is not None:
            merged = dict(doc.get("userDefinedData") or {})
            for k, v in mods.userDefinedData.items():  # RFC 7396: null deletes
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            doc["userDefinedData"] = merged
        try:
            await self.pkgs.replace(doc)
        except ConcurrencyError:
            raise Problem(412, f"VNF package {pkg_id} changed concurrently") from None
        return mods.model_dump(exclude_none=True)

    async def delete_pkg(self, pkg_id: str) -> None:
        doc = await self.pkg(pkg_id)
        if doc["operationalState"] != "DISABLED" or doc["usageState"] != "NOT_IN_USE":
            raise Problem(409, f"VNF package {pkg_id} must be DISABLED and NOT_IN_USE to be deleted")
        await self.pkgs.delete(doc)
        await self.contents.delete_one({"_id": pkg_id})

    # -- NS descriptors --------------------------------------------------------------------
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
                pkg_ids.append((await self.onboarded_vnfd(vnfd_id))["id"])
            except Problem:
                raise Problem(422, f"NSD {nsd.nsd_id} references VNFD {vnfd_id}, which is not onboarded and enabled") from None
        await self.contents.replace_one({"_id": f"nsd:{nsd_info_id}"}, {"_id": f"nsd:{nsd_info_id}", "data": Binary(data), "filename": filename}, upsert=True)
        doc.update({"nsdId": nsd.nsd_id, "nsdName": nsd.name, "nsdVersion": str(nsd.version), "nsdDesigner": nsd.designer or "",
                    "nsdInvariantId": nsd.invariant_id or nsd.nsd_id, "vnfPkgIds": pkg_ids,
                    "nsdOnboardingState": "ONBOARDED", "nsdOperationalState": "ENABLED", "_nsd": nsd.model_dump(mode="json")})
        await self.nsds.replace(doc)

    async def set_usage(self, used_pkg_ids: set[str], used_nsd_ids: set[str], pkg_ids: list[str], nsd_ids: list[str]) -> None:
        """usageState follows the instances: IN_USE while one uses the package or NSD."""
        for repo, ids, used, field in ((self.pkgs, pkg_ids, used_pkg_ids, "usageState"), (self.nsds, nsd_ids, used_nsd_ids, "nsdUsageState")):
            for rid in ids:
                state = "IN_USE" if rid in used else "NOT_IN_USE"
                for _ in range(5):
                    try:
                        doc = await repo.get(rid)
                        if doc[field] != state:
                            doc[field] = state
                            await repo.replace(doc)
                        break
                    except ConcurrencyError:
                        continue
                    except NotFound:
                        break

    # -- HTTP ------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        P, N = "/vnfpkgm/v2/vnf_packages", "/nsd/v2/ns_descriptors"

        async def create_pkg(request: web.Request) -> web.Response:
            body = await read_json(request) if request.can_read_body else {}
            doc = await self.create_pkg(CreatePkgRequest.model_validate(body or {}))
            return json_response(public(doc), status=201, headers={"Location": doc["_links"]["self"]["href"]})

        async def list_pkgs(request: web.Request) -> web.Response:
            return list_response(request, [public(d) for d in await self.pkgs.find()], allowed=PKG_ATTRS, default_excluded=PKG_DEFAULT_EXCLUDED)

        async def get_pkg(request: web.Request) -> web.Response:
            doc = await self.pkg(request.match_info["vnfPkgId"])
            return one_response(request, public(doc), headers={"ETag": f'"{doc["_v"]}"'})

        async def patch_pkg(request: web.Request) -> web.Response:
            if request.content_type != "application/merge-patch+json":
                raise Problem(415, "PATCH takes Content-Type application/merge-patch+json")
            mods = await read_model(request, PkgInfoModifications)
            return json_response(await self.patch_pkg(request.match_info["vnfPkgId"], mods, request.headers.get("If-Match")))

        async def delete_pkg(request: web.Request) -> web.Response:
            await self.delete_pkg(request.match_info["vnfPkgId"])
            return web.Response(status=204)

        async def put_content(request: web.Request) -> web.Response:
            data, filename = await _upload(request)
            await self.upload_pkg(request.match_info["vnfPkgId"], data, filename)
            return web.Response(status=202)

        async def get_content(request: web.Request) -> web.Response:
            data = await self.content(request.match_info["vnfPkgId"])
            return web.Response(body=data, content_type="application/zip")

        async def get_vnfd(request: web.Request) -> web.Response:
            doc = await self.pkg(request.match_info["vnfPkgId"])
            if doc["onboardingState"] != "ONBOARDED":
                raise Problem(409, f"VNF package {doc['id']} is not ONBOARDED")
            files = doc.get("_vnfdFiles") or []
            pkg = await asyncio.to_thread(load_vnf_package, await self.content(doc["id"]))
            if "text/plain" in request.headers.get("Accept", "") and len(files) == 1:
                return web.Response(body=pkg.files[files[0]], content_type="text/plain")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                for f in files:
                    z.writestr(f, pkg.files[f])
            return web.Response(body=buf.getvalue(), content_type="application/zip")

        async def magi_vnfd(request: web.Request) -> web.Response:
            doc = await self.onboarded_vnfd(request.match_info["vnfdId"])
            return json_response({"vnfd": doc["_vnfd"], "vnfPkgId": doc["id"]})

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
            data, filename = await _upload(request)
            await self.upload_nsd(request.match_info["nsdInfoId"], data, filename)
            return web.Response(status=204)

        async def delete_nsd(request: web.Request) -> web.Response:
            doc = await self.nsd(request.match_info["nsdInfoId"])
            if doc["nsdOperationalState"] != "DISABLED" or doc["nsdUsageState"] != "NOT_IN_USE":
                raise Problem(409, f"NSD {doc['id']} must be DISABLED and NOT_IN_USE to be deleted")
            await self.nsds.delete(doc)
            return web.Response(status=204)

        async def patch_nsd(request: web.Request) -> web.Response:
            body = await read_json(request)
            doc = await self.nsd(request.match_info["nsdInfoId"])
            state = body.get("nsdOperationalState") if isinstance(body, dict) else None
            if state not in ("ENABLED", "DISABLED"):
                raise Problem(400, "nsdOperationalState must be ENABLED or DISABLED")
            if doc["nsdOnboardingState"] != "ONBOARDED" or doc["nsdOperationalState"] == state:
                raise Problem(409, f"NSD {doc['id']} cannot become {state} now")
            doc["nsdOperationalState"] = state
            await self.nsds.replace(doc)
            return json_response({"nsdOperationalState": state})

        r = app.router
        r.add_post(P, create_pkg)
        r.add_get(P, list_pkgs)
        r.add_get(f"{P}/{{vnfPkgId}}", get_pkg)
        r.add_patch(f"{P}/{{vnfPkgId}}", patch_pkg)
        r.add_delete(f"{P}/{{vnfPkgId}}", delete_pkg)
        r.add_put(f"{P}/{{vnfPkgId}}/package_content", put_content)
        r.add_get(f"{P}/{{vnfPkgId}}/package_content", get_content)
        r.add_get(f"{P}/{{vnfPkgId}}/vnfd", get_vnfd)
        r.add_get("/vnfpkgm/v2/onboarded_vnf_packages/{vnfdId}/magi_vnfd", magi_vnfd)
        r.add_post(N, create_nsd)
        r.add_get(N, list_nsds)
        r.add_get(f"{N}/{{nsdInfoId}}", get_nsd)
        r.add_patch(f"{N}/{{nsdInfoId}}", patch_nsd)
        r.add_delete(f"{N}/{{nsdInfoId}}", delete_nsd)
        r.add_put(f"{N}/{{nsdInfoId}}/nsd_content", put_nsd)


async def _upload(request: web.Request) -> tuple[bytes, str | None]:
    """The uploaded file: a raw body (application/zip, yaml…) or the `file` part of a multipart form."""
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.name == "file":
                return bytes(await part.read(decode=False)), part.filename
        raise Problem(400, "the multipart upload has no 'file' part")
    data = await request.read()
    if not data:
        raise Problem(400, "the upload is empty")
    if len(data) > MAX_UPLOAD:
        raise Problem(413, "the package is larger than the upload limit")
    return data, None
