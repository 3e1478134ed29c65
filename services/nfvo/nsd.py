"""NS descriptors: SOL005 `/nsd/v2/ns_descriptors`.

An NSD is onboarded synchronously on `PUT nsd_content` (204); every VNFD it references must be
ONBOARDED and ENABLED first, so an NS can always be instantiated from an onboarded NSD, and every
PNFD it references (the PNF nodes' descriptor_id) ONBOARDED; NsdInfo.pnfdInfoIds names them, and
they stay IN_USE (undeletable) while an NSD referencing them exists.

An nsdId is onboarded once: uploading an NSD whose nsdId another NsdInfo has ONBOARDED fails the
onboarding (422 naming that NsdInfo; this one goes to ERROR), as in Tacker and OSM. A new version of
an NSD carries a new descriptor_id. A claim per nsdId (`UniqueClaims`) holds this across replicas. Every rejected upload leaves the NsdInfo in ERROR with
onboardingFailureDetails; delete it and create another to retry.

Notifications to the `/nsd/v2/subscriptions` subscribers, stored with the state change (nfvo.notices):
NsdOnBoarding, NsdOnBoardingFailure, NsdChange (nsdOperationalState), NsdDeletion.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_json, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.envelope import Envelope, new_id
from magi.descriptors import PackageError, load_nsd
from magi.notifications.filters import NSD_CHANGE, NSD_DELETION, NSD_ONBOARDING, NSD_ONBOARDING_FAILURE
from magi.store.mongo import ConcurrencyError, MongoStore, NotFound, Repository, UniqueClaims, public
from nfvo.content import ContentStore, read_upload
from nfvo.notices import descriptor_notice
from nfvo.pkginfo import descriptor_response, range_response
from nfvo.pnfd import PnfDescriptors
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

    def __init__(self, store: MongoStore, contents: ContentStore, vnf_packages: VnfPackages, base_url: str,
                 pnf_descriptors: PnfDescriptors | None = None):
        self.nsds: Repository = store.repository("ns_descriptors", [[("nsdId", 1)]])
        self.contents = contents
        self.vnf_packages = vnf_packages
        self.pnf_descriptors = pnf_descriptors
        self.base = base_url
        self.nsd_claims = UniqueClaims(store, "nsd_id_claims")  # one ONBOARDED NSD per nsdId, across replicas

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

    async def pnfd_users(self, pnfd_info_id: str) -> list[str]:
        """The ONBOARDED NSDs that reference a PnfdInfo."""
        return [d["id"] for d in await self.nsds.find({"nsdOnboardingState": "ONBOARDED"})
                if pnfd_info_id in (d.get("pnfdInfoIds") or [])]

    def _notice(self, doc: dict[str, Any], ntype: str, key: str, **extra: Any) -> Envelope:
        """The notification of a state change, stored in the write that makes it (nfvo.notices)."""
        facts = {k: doc.get(k) for k in ("nsdName", "nsdVersion", "nsdDesigner", "nsdInvariantId", "vnfPkgIds", "pnfdInfoIds",
                                         "nestedNsdInfoIds", "nsdOnboardingState", "nsdOperationalState", "nsdUsageState")}
        facts["pnfdId"] = list((doc.get("_nsd") or {}).get("pnfd_ids") or [])  # the pnfdIds of the PNFDs it references
        body = {"notificationType": ntype, "timeStamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                "nsdInfoId": doc["id"], **({"nsdId": doc["nsdId"]} if doc.get("nsdId") else {}), **extra,
                "_links": {"nsdInfo": {"href": f"{self.base}/nsd/v2/ns_descriptors/{doc['id']}"}}, "_match": facts}
        return descriptor_notice("nsd.changed", key, body)

    async def create_nsd(self, user_data: dict[str, Any] | None) -> dict[str, Any]:
        nid = new_id()
        s = f"{self.base}/nsd/v2/ns_descriptors/{nid}"
        doc = {"id": nid, "nsdOnboardingState": "CREATED", "nsdOperationalState": "DISABLED", "nsdUsageState": "NOT_IN_USE",
               "_links": {"self": {"href": s}, "nsd_content": {"href": f"{s}/nsd_content"}}}
        if user_data:
            doc["userDefinedData"] = user_data
        await self.nsds.insert(doc)
        return doc

    async def _fail(self, doc: dict[str, Any], detail: str, nsd_id: str | None = None) -> Problem:
        """Onboarding failed: ERROR with onboardingFailureDetails, a failure notification, and the 422 to raise."""
        doc["nsdOnboardingState"] = "ERROR"
        doc["onboardingFailureDetails"] = {"status": 422, "detail": detail}
        if nsd_id:
            doc["nsdId"] = nsd_id
        notice = self._notice(doc, NSD_ONBOARDING_FAILURE, f"nsd:{doc['id']}:failed",
                              onboardingFailureDetails=doc["onboardingFailureDetails"])
        try:
            await self.nsds.replace(doc, outbox=[notice])
        except (ConcurrencyError, NotFound):
            return Problem(409, f"NSD {doc['id']} changed concurrently")
        return Problem(422, detail)

    async def upload_nsd(self, nsd_info_id: str, data: bytes, filename: str | None) -> None:
        doc = await self.nsd(nsd_info_id)
        if doc["nsdOnboardingState"] != "CREATED":
            raise Problem(409, f"NSD {nsd_info_id} is {doc['nsdOnboardingState']}; content can be uploaded only in CREATED")
        try:
            parsed = await asyncio.to_thread(load_nsd, data, filename)
        except PackageError as exc:
            raise await self._fail(doc, f"NSD rejected: {exc}") from None
        nsd = parsed.nsd
        twins = [d["id"] for d in await self.nsds.find({"nsdId": nsd.nsd_id})
                 if d["id"] != doc["id"] and d["nsdOnboardingState"] == "ONBOARDED"]
        if twins:
            raise await self._fail(doc, f"NSD rejected: nsdId {nsd.nsd_id} is already onboarded as NsdInfo {twins[0]}",
                                   nsd.nsd_id)
        pkg_ids = []
        for vnfd_id in nsd.vnfd_ids:
            try:
                pkg_ids.append((await self.vnf_packages.onboarded_vnfd(vnfd_id))["id"])
            except Problem:
                raise await self._fail(doc, f"NSD {nsd.nsd_id} references VNFD {vnfd_id}, which is not onboarded and enabled",
                                       nsd.nsd_id) from None
        pnfd_info_ids = []
        for pnfd_id in nsd.pnfd_ids:
            found = await self.pnf_descriptors.onboarded_pnfd(pnfd_id) if self.pnf_descriptors else None
            if found is None:
                raise await self._fail(doc, f"NSD {nsd.nsd_id} references PNFD {pnfd_id}, which is not onboarded", nsd.nsd_id)
            pnfd_info_ids.append(found["id"])
        holder = await self.nsd_claims.claim(nsd.nsd_id, doc["id"], self._holds_nsd(nsd.nsd_id))
        if holder is not None:
            raise await self._fail(doc, f"NSD rejected: nsdId {nsd.nsd_id} is already onboarded as NsdInfo {holder}",
                                   nsd.nsd_id)
        await self.contents.put(f"nsd:{nsd_info_id}", data, filename)
        doc.update({"nsdId": nsd.nsd_id, "nsdName": nsd.name, "nsdVersion": str(nsd.version), "nsdDesigner": nsd.designer or "",
                    "nsdInvariantId": nsd.invariant_id or nsd.nsd_id, "vnfPkgIds": pkg_ids,
                    "nsdOnboardingState": "ONBOARDED", "nsdOperationalState": "ENABLED", "_nsd": nsd.model_dump(mode="json"),
                    "_nsdFiles": parsed.nsd_files, "_manifest": parsed.manifest.path if parsed.manifest else None})
        if pnfd_info_ids:
            doc["pnfdInfoIds"] = pnfd_info_ids
        try:
            await self.nsds.replace(doc, outbox=[self._notice(doc, NSD_ONBOARDING, f"nsd:{doc['id']}:onboarded")])
        except (ConcurrencyError, NotFound):
            await self.nsd_claims.release(nsd.nsd_id, nsd_info_id)
            raise Problem(409, f"NSD {nsd_info_id} changed concurrently") from None
        if self.pnf_descriptors is not None and pnfd_info_ids:
            await self.pnf_descriptors.refresh_usage(pnfd_info_ids)

    def _holds_nsd(self, nsd_id: str) -> Callable[[str, float], Awaitable[bool]]:
        async def holds(info_id: str, age: float) -> bool:
            """An NsdInfo holds its nsdId while ONBOARDED, or for a minute while its upload request
            runs (CREATED between its claim and its ONBOARDED write)."""
            try:
                other = await self.nsds.get(info_id)
            except NotFound:
                return False
            state = other["nsdOnboardingState"]
            return (state == "ONBOARDED" and other.get("nsdId") == nsd_id) or (state == "CREATED" and age < 60)
        return holds

    async def delete_nsd(self, nsd_info_id: str) -> None:
        doc = await self.nsd(nsd_info_id)
        if doc["nsdOperationalState"] != "DISABLED" or doc["nsdUsageState"] != "NOT_IN_USE":
            raise Problem(409, f"NSD {doc['id']} must be DISABLED and NOT_IN_USE to be deleted")
        # "when it has deleted an on-boarded NSD"
        notices = [self._notice(doc, NSD_DELETION, f"nsd:{doc['id']}:deleted")] if doc["nsdOnboardingState"] == "ONBOARDED" else []
        try:
            await self.nsds.delete(doc, outbox=notices)
        except (ConcurrencyError, NotFound):
            raise Problem(409, f"NSD {doc['id']} changed concurrently") from None
        await self.contents.delete(f"nsd:{doc['id']}")
        if doc.get("nsdId"):
            await self.nsd_claims.release(doc["nsdId"], doc["id"])
        if self.pnf_descriptors is not None and doc.get("pnfdInfoIds"):
            await self.pnf_descriptors.refresh_usage(doc["pnfdInfoIds"])

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
        notices = [self._notice(doc, NSD_CHANGE, f"nsd:{doc['id']}:op:{doc['_v'] + 1}", nsdOperationalState=state)
                   ] if state is not None else []
        try:
            await self.nsds.replace(doc, outbox=notices)
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
            data, filename = await read_upload(request, self.contents.max_bytes)
            await self.upload_nsd(request.match_info["nsdInfoId"], data, filename)
            return web.Response(status=204)

        async def delete_nsd(request: web.Request) -> web.Response:
            await self.delete_nsd(request.match_info["nsdInfoId"])
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
