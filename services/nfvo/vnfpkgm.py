"""VNF packages: SOL005 `/vnfpkgm/v2/vnf_packages` (read side SOL003).

Onboarding: create → `PUT package_content` (202) → UPLOADING → PROCESSING → ONBOARDED, or ERROR
with `onboardingFailureDetails`.

Uploads larger than MAGI_PACKAGE_MAX_BYTES are refused while they arrive: 413 for a `PUT` (raw
body or multipart `file` part), onboarding ERROR for `upload_from_uri`. Unsafe contents (zip-slip
or absolute paths, links, compression bombs, too many files, malformed YAML, alias bombs, import
cycles, references to missing nodes) end the onboarding in ERROR with the parser's check named;
nothing is unpacked to disk. An upload is spooled to a temporary file of the NFVO's own and read
from there; VM images in it are streamed (hashing, the content store, `artifacts/{path}`), never
held in memory whole.

One vnfdId, one package: a package whose vnfdId is already that of an ONBOARDED package (enabled
or not) ends in ERROR naming the vnfdId and the existing package, as in Tacker; a claim per
vnfdId (`UniqueClaims`) makes this hold across NFVO replicas too. So
`onboarded_vnf_packages/{vnfdId}` and the VNFD the VNFM is given are never ambiguous; a new
version of a VNF carries a new vnfdId (SOL001 descriptor_id), or the old package is deleted first.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import posixpath
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import IO, Any

import structlog
from aiohttp import web
from pymongo.errors import DuplicateKeyError
from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_json, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.envelope import Envelope, new_id
from magi.descriptors import PackageError, SignaturePolicy, VnfPackage, load_vnf_package
from magi.secrets import SecretBox
from magi.store.mongo import ConcurrencyError, MongoStore, NotFound, Repository, UniqueClaims, public
from nfvo.content import ContentStore, Upload, UploadTooLarge, spool_upload
from nfvo.fetch import UploadFromUriRequest, fetch_package
from nfvo.notices import descriptor_notice
from nfvo.pkginfo import (FILE_CHUNK, additional_artifacts, descriptor_response, file_chunks, range_response, software_images,
                          stream_response, without_secrets, zip_of, zip_to_file)

log = structlog.get_logger(__name__)
PKG_DEFAULT_EXCLUDED = ("softwareImages", "additionalArtifacts", "userDefinedData", "checksum")
PKG_ATTRS = attributes("id", "vnfdId", "vnfProvider", "vnfProductName", "vnfSoftwareVersion", "vnfdVersion", "checksum",
                       "packageSecurityOption", "signingCertificate", "softwareImages", "additionalArtifacts", "onboardingState",
                       "operationalState", "usageState", "vnfmInfo", "userDefinedData", "onboardingFailureDetails")


class CreatePkgRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userDefinedData: dict[str, Any] | None = None


class ExternalArtifactsAccessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artifact: list[dict[str, Any]] = []


class PkgInfoModifications(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operationalState: str | None = None
    userDefinedData: dict[str, Any] | None = None


def merge_patch(current: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 on one level: null deletes a key."""
    merged = dict(current or {})
    for k, v in patch.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = v
    return merged


def _descriptor_key(pkg_id: str) -> str:
    return f"{pkg_id}:descriptor"


class VnfPackages:
    """The VNF package catalogue of the NFVO."""

    def __init__(self, store: MongoStore, contents: ContentStore, base_url: str, *, box: SecretBox | None = None,
                 lease_seconds: float = 30.0, signatures: SignaturePolicy | None = None):
        self.pkgs: Repository = store.repository("vnf_packages", [[("vnfdId", 1)]])
        self.contents = contents
        self.base = base_url
        self.box = box  # seals the credentials of an upload_from_uri kept for a resumed fetch
        self._tasks: set[asyncio.Task] = set()
        # A package in UPLOADING or PROCESSING is held by the NFVO working on it (a lease it renews);
        # any replica takes over one whose holder died once the lease has run out.
        self.leases = store.db["vnf_package_leases"]
        self.worker, self.lease_seconds = new_id(), lease_seconds
        self._sweeper: asyncio.Task | None = None
        # One ONBOARDED package per vnfdId, across NFVO replicas: a claim per vnfdId, taken before
        # the ONBOARDED write and given back when the package is deleted.
        self.vnfd_claims = UniqueClaims(store, "vnfd_id_claims")
        # SOL004 signatures are checked at onboarding (MAGI_PACKAGE_SIGNATURE_POLICY and
        # MAGI_PACKAGE_TRUST_ANCHORS, given by the bootstrap); without a policy: verify, no anchors.
        if signatures is None:
            signatures = SignaturePolicy.load()
        self.signatures = signatures

    def _notice(self, doc: dict[str, Any], ntype: str, key: str, **extra: Any) -> Envelope:
        """The notification of a state change, to store in the write that makes the change (outbox);
        the NFVO's `vnfpkg.changed` consumer queues it for the subscribers."""
        body = {"notificationType": ntype, "timeStamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                "vnfPkgId": doc["id"], "vnfdId": doc.get("vnfdId"), **extra,
                "_links": {"vnfPackage": {"href": f"{self.base}/vnfpkgm/v2/vnf_packages/{doc['id']}"}},
                "_match": {k: doc.get(k) for k in ("vnfProvider", "vnfProductName", "vnfSoftwareVersion", "vnfdVersion",
                                                    "operationalState", "usageState", "vnfmInfo")}}
        if ntype == "VnfPackageOnboardingNotification":
            body["vnfmInfo"] = doc.get("vnfmInfo") or []
        return descriptor_notice("vnfpkg.changed", key, body)

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

    async def _start_upload(self, pkg_id: str, fetch: UploadFromUriRequest | None = None) -> dict[str, Any]:
        doc = await self.pkg(pkg_id)
        if doc["onboardingState"] != "CREATED":
            raise Problem(409, f"VNF package {pkg_id} is {doc['onboardingState']}; content can be uploaded only once, in CREATED")
        doc["onboardingState"] = "UPLOADING"
        if fetch is not None and self.box is not None:  # sealed: another NFVO can fetch again after a crash
            doc["_fetch"] = self.box.seal(fetch.model_dump(mode="json", exclude_none=True))
        try:
            doc = await self.pkgs.replace(doc)
        except ConcurrencyError:
            raise Problem(409, f"VNF package {pkg_id} is being uploaded by another request") from None
        await self._hold(pkg_id)
        return doc

    async def upload_pkg(self, pkg_id: str, upload: Upload) -> None:
        """Store and process a spooled upload; the upload is this method's to close."""
        try:
            doc = await self._start_upload(pkg_id)
        except BaseException:
            upload.close()
            raise
        await self._uploaded(doc, upload)

    async def upload_from_uri(self, pkg_id: str, req: UploadFromUriRequest) -> None:
        """202 at once; the fetch runs in the background, then the same processing as a PUT."""
        if (missing := req.check()) is not None:
            raise Problem(400, missing)
        doc = await self._start_upload(pkg_id, fetch=req)
        self._spawn(self._fetch_and_process(doc, req))

    async def _fetch_and_process(self, doc: dict[str, Any], req: UploadFromUriRequest) -> None:
        async with self._renewing(doc["id"]):
            try:
                upload = await fetch_package(req, self.contents.max_bytes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any fetch failure is the onboarding's answer, not a crash
                doc["onboardingState"] = "ERROR"
                doc.pop("_fetch", None)
                status, title = (413, "package too large") if isinstance(exc, UploadTooLarge) else (422, "package fetch failed")
                doc["onboardingFailureDetails"] = {"status": status, "title": title,
                                                   "detail": f"could not fetch {req.addressInformation}: {exc}"}
                await self.pkgs.replace(doc)
                await self._release(doc["id"])
                log.warning("vnfpkg.fetch_failed", vnfPkgId=doc["id"], error=str(exc))
                return
            await self._uploaded(doc, upload)

    async def _uploaded(self, doc: dict[str, Any], upload: Upload) -> None:
        """Store the upload, then process it in the background (which closes it)."""
        try:
            async with self._renewing(doc["id"]):
                await self.contents.put_file(doc["id"], upload)
                doc["onboardingState"] = "PROCESSING"
                doc.pop("_fetch", None)
                doc = await self.pkgs.replace(doc)
        except BaseException:
            upload.close()
            raise
        self._spawn(self._process_pkg(doc, upload))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process_pkg(self, doc: dict[str, Any], upload: Upload) -> None:
        try:
            async with self._renewing(doc["id"]):
                await self._process_upload(doc, upload)
            await self._release(doc["id"])  # ONBOARDED or ERROR: nothing left to take over
        finally:
            upload.close()

    @staticmethod
    def _examine(upload: Upload, signatures: SignaturePolicy) -> tuple[VnfPackage, list[dict[str, Any]], list[dict[str, Any]], bytes]:
        """Parse and check the package from its spooled file (in a thread): sizes and hashes of
        large members are streamed, so memory stays bounded whatever the images weigh. Also the
        descriptor files and the manifest as one small zip, kept so that `vnfd` and `manifest`
        reads need not copy the whole package out of the content store."""
        with load_vnf_package(upload.rewind(), upload.filename, checksum_sha256=upload.sha256,
                              signatures=signatures) as pkg:
            images = software_images(pkg, datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"))
            artifacts = additional_artifacts(pkg, {i["imagePath"] for i in images if "imagePath" in i})
            small = [*pkg.vnfd_files, *([pkg.manifest.path] if pkg.manifest else [])]
            descriptor = zip_of({f: pkg.files[f] for f in dict.fromkeys(small)})
        return pkg, images, artifacts, descriptor

    async def _process_upload(self, doc: dict[str, Any], upload: Upload) -> None:
        try:
            pkg, images, artifacts, descriptor = await asyncio.to_thread(self._examine, upload, self.signatures)
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
        # the query finds packages onboarded before claims existed; the claim settles races
        twins = [p["id"] for p in await self.pkgs.find({"vnfdId": v.vnfd_id})
                 if p["id"] != doc["id"] and p["onboardingState"] == "ONBOARDED"]
        holder = twins[0] if twins else await self.vnfd_claims.claim(v.vnfd_id, doc["id"], self._holds_vnfd(v.vnfd_id))
        if holder is not None:
            doc["onboardingState"] = "ERROR"
            doc["onboardingFailureDetails"] = {
                "status": 409, "title": "duplicate vnfdId",
                "detail": f"vnfdId {v.vnfd_id} is already onboarded as VNF package {holder}; "
                          "delete that package first or give the VNFD a new descriptor_id"}
            await self.pkgs.replace(doc)
            log.warning("vnfpkg.duplicate_vnfd", vnfPkgId=doc["id"], vnfdId=v.vnfd_id, existing=holder)
            return
        await self.contents.put(_descriptor_key(doc["id"]), descriptor, "descriptor.zip")
        doc.update({"vnfdId": v.vnfd_id, "vnfProvider": v.provider or "", "vnfProductName": v.product_name or "",
                    "vnfSoftwareVersion": str(v.software_version or ""), "vnfdVersion": str(v.descriptor_version or ""),
                    "vnfmInfo": list(v.vnfm_info or []) or ["MAGI"],
                    "checksum": {"algorithm": "SHA-256", "hash": pkg.checksum_sha256},
                    "packageSecurityOption": "OPTION_1", "softwareImages": images, "additionalArtifacts": artifacts,
                    "onboardingState": "ONBOARDED", "operationalState": "ENABLED",
                    "_vnfd": v.model_dump(mode="json"), "_vnfdFiles": pkg.vnfd_files,
                    "_manifest": pkg.manifest.path if pkg.manifest else None})
        if pkg.signature and pkg.signature.certificate_pem:  # the manifest's signer (SOL004 option 1)
            doc["signingCertificate"] = pkg.signature.certificate_pem
        await self.pkgs.replace(doc, outbox=[self._notice(doc, "VnfPackageOnboardingNotification", f"vnfpkg:{doc['id']}:onboarded")])
        log.info("vnfpkg.onboarded", vnfPkgId=doc["id"], vnfdId=v.vnfd_id)

    def _holds_vnfd(self, vnfd_id: str) -> Callable[[str, float], Awaitable[bool]]:
        async def holds(pkg_id: str, _age: float) -> bool:
            """A package holds its vnfdId while ONBOARDED, or PROCESSING (between its claim and its
            ONBOARDED write; a crash there is resumed by `resume`, which claims again as the same owner)."""
            try:
                other = await self.pkgs.get(pkg_id)
            except NotFound:
                return False
            return other["onboardingState"] == "PROCESSING" or (
                other["onboardingState"] == "ONBOARDED" and other.get("vnfdId") == vnfd_id)
        return holds

    # -- onboarding leases and resumption ------------------------------------------------------
    async def _hold(self, pkg_id: str) -> None:
        """Hold a package this NFVO just moved to UPLOADING (under the version check)."""
        await self.leases.update_one({"_id": pkg_id}, {"$set": {"owner": self.worker, "until": time.time() + self.lease_seconds}},
                                     upsert=True)

    async def _take_over(self, pkg_id: str) -> bool:
        """Hold a package whose holder is gone (no lease, or one that ran out); False if it lives."""
        now = time.time()
        try:
            await self.leases.insert_one({"_id": pkg_id, "owner": self.worker, "until": now + self.lease_seconds})
            return True
        except DuplicateKeyError:
            took = await self.leases.update_one({"_id": pkg_id, "until": {"$lt": now}},
                                                {"$set": {"owner": self.worker, "until": now + self.lease_seconds}})
            return took.matched_count == 1

    async def _release(self, pkg_id: str) -> None:
        await self.leases.delete_one({"_id": pkg_id, "owner": self.worker})

    @asynccontextmanager
    async def _renewing(self, pkg_id: str) -> AsyncIterator[None]:
        """Keep this NFVO's lease on a package while a step (store, fetch, processing) runs."""
        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease_seconds / 3)
                with contextlib.suppress(Exception):  # the store away: the next renewal tries again
                    await self.leases.update_one({"_id": pkg_id, "owner": self.worker},
                                                 {"$set": {"until": time.time() + self.lease_seconds}})
        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()

    async def resume(self) -> None:
        """Packages left in UPLOADING or PROCESSING by an NFVO that died (its lease ran out):
        process the stored content again; fetch again what an `upload_from_uri` was fetching; go
        back to CREATED when a `PUT`'s content never arrived (the upload can then be repeated)."""
        for doc in await self.pkgs.find({"onboardingState": {"$in": ["UPLOADING", "PROCESSING"]}}):
            if not await self._take_over(doc["id"]):
                continue
            log.info("vnfpkg.resume", vnfPkgId=doc["id"], onboardingState=doc["onboardingState"])
            try:
                if await self.contents.head(doc["id"]) is not None:
                    upload = await self.contents.download(doc["id"], f"package {doc['id']}")
                    try:
                        doc["onboardingState"] = "PROCESSING"
                        doc.pop("_fetch", None)
                        doc = await self.pkgs.replace(doc)
                    except BaseException:
                        upload.close()
                        raise
                    self._spawn(self._process_pkg(doc, upload))
                elif doc.get("_fetch") and self.box is not None:
                    req = UploadFromUriRequest.model_validate(self.box.open(doc["_fetch"]))
                    self._spawn(self._fetch_and_process(doc, req))
                else:
                    doc["onboardingState"] = "CREATED"
                    await self.pkgs.replace(doc)
                    await self._release(doc["id"])
            except (ConcurrencyError, NotFound):  # changed or deleted meanwhile: nothing to resume
                await self._release(doc["id"])

    async def start(self) -> None:
        await self.resume()

        async def sweep() -> None:  # a replica that dies mid-onboarding is taken over by a live one
            while True:
                await asyncio.sleep(self.lease_seconds / 2)
                try:
                    await self.resume()
                except Exception:
                    log.exception("vnfpkg.resume_failed")
        self._sweeper = asyncio.create_task(sweep())

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def by_vnfd_id(self, vnfd_id: str) -> dict[str, Any]:
        """SOL003 `onboarded_vnf_packages/{vnfdId}`: the ONBOARDED package of a VNFD, enabled first."""
        found = [p for p in await self.pkgs.find({"vnfdId": vnfd_id}) if p["onboardingState"] == "ONBOARDED"]
        if not found:
            raise Problem(404, f"no ONBOARDED VNF package has vnfdId {vnfd_id}")
        return min(found, key=lambda p: p["operationalState"] != "ENABLED")

    async def resolve(self, request: web.Request) -> dict[str, Any]:
        if "vnfdId" in request.match_info:
            return await self.by_vnfd_id(request.match_info["vnfdId"])
        return await self.pkg(request.match_info["vnfPkgId"])

    async def open_package(self, doc: dict[str, Any]) -> tuple[Upload, VnfPackage]:
        """The stored package of an ONBOARDED VnfPkgInfo (409 before), copied from the content store
        into a temporary file and opened there: large members stay on disk until streamed. The
        caller closes both (package first)."""
        if doc["onboardingState"] != "ONBOARDED":
            raise Problem(409, f"VNF package {doc['id']} is {doc['onboardingState']}, not ONBOARDED")
        upload = await self.contents.download(doc["id"], f"package {doc['id']}")
        try:
            # checked at onboarding: no second pass over the images or the hashes
            pkg = await asyncio.to_thread(load_vnf_package, upload.rewind(), upload.filename, trusted=True,
                                          checksum_sha256=upload.sha256)
        except BaseException:
            upload.close()
            raise
        return upload, pkg

    async def descriptor_files(self, doc: dict[str, Any]) -> dict[str, bytes]:
        """The VNFD files and the manifest of an ONBOARDED package: from the small zip kept at
        onboarding, else (packages onboarded before it existed) from the whole package."""
        if doc["onboardingState"] != "ONBOARDED":
            raise Problem(409, f"VNF package {doc['id']} is {doc['onboardingState']}, not ONBOARDED")
        found = await self.contents.find(_descriptor_key(doc["id"]))
        if found is not None:
            with zipfile.ZipFile(io.BytesIO(found["data"])) as z:
                return {n: z.read(n) for n in z.namelist()}
        async with self.onboarded_package(doc) as pkg:
            wanted = [*(doc.get("_vnfdFiles") or []), *([doc["_manifest"]] if doc.get("_manifest") else [])]
            return {f: pkg.files[f] for f in wanted if f in pkg.files}

    @asynccontextmanager
    async def onboarded_package(self, doc: dict[str, Any]) -> AsyncIterator[VnfPackage]:
        """`open_package` for a read that ends in the handler (the small files: VNFD, manifest)."""
        upload, pkg = await self.open_package(doc)
        try:
            yield pkg
        finally:
            pkg.close()
            upload.close()

    @staticmethod
    def artifact_paths(doc: dict[str, Any]) -> list[str]:
        """The package's artifacts: software image files and additional artifacts, each once
        (VDUs sharing one image file each have a softwareImages entry)."""
        paths = [i["imagePath"] for i in doc.get("softwareImages", []) if "imagePath" in i]
        return list(dict.fromkeys(paths + [a["artifactPath"] for a in doc.get("additionalArtifacts", [])]))

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
            doc["userDefinedData"] = merge_patch(doc.get("userDefinedData"), mods.userDefinedData)
        notices = [self._notice(doc, "VnfPackageChangeNotification", f"vnfpkg:{pkg_id}:op:{doc['_v'] + 1}",
                                changeType="OP_STATE_CHANGE", operationalState=mods.operationalState)] if mods.operationalState else []
        try:
            doc = await self.pkgs.replace(doc, outbox=notices)
        except ConcurrencyError:
            raise Problem(412, f"VNF package {pkg_id} changed concurrently") from None
        return mods.model_dump(exclude_none=True)

    async def delete_pkg(self, pkg_id: str) -> None:
        doc = await self.pkg(pkg_id)
        if doc["operationalState"] != "DISABLED" or doc["usageState"] != "NOT_IN_USE":
            raise Problem(409, f"VNF package {pkg_id} must be DISABLED and NOT_IN_USE to be deleted")
        # SOL005 reports changes of onboarded packages only
        notices = [self._notice(doc, "VnfPackageChangeNotification", f"vnfpkg:{pkg_id}:deleted", changeType="PKG_DELETE")
                   ] if doc["onboardingState"] == "ONBOARDED" else []
        await self.pkgs.delete(doc, outbox=notices)
        await self.contents.delete(pkg_id)
        await self.contents.delete(_descriptor_key(pkg_id))
        if doc.get("vnfdId"):
            await self.vnfd_claims.release(doc["vnfdId"], pkg_id)

    # -- HTTP ------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        P = "/vnfpkgm/v2/vnf_packages"

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
            upload = await spool_upload(request, self.contents.max_bytes)
            await self.upload_pkg(request.match_info["vnfPkgId"], upload)
            return web.Response(status=202)

        async def upload_from_uri(request: web.Request) -> web.Response:
            await self.upload_from_uri(request.match_info["vnfPkgId"], await read_model(request, UploadFromUriRequest))
            return web.Response(status=202)

        async def get_content(request: web.Request) -> web.Response:
            doc = await self.resolve(request)
            if doc["onboardingState"] != "ONBOARDED":
                raise Problem(409, f"VNF package {doc['id']} is {doc['onboardingState']}, not ONBOARDED")
            # streamed from the store's chunks: never assembled in memory
            head = await self.contents.head(doc["id"])
            if head is None:
                raise Problem(409, f"package {doc['id']} has no content yet")
            return stream_response(request, head["length"], "application/zip",
                                   lambda first, last: self.contents.stream(doc["id"], head, first, last))

        async def get_vnfd(request: web.Request) -> web.Response:
            doc = await self.resolve(request)
            files = await self.descriptor_files(doc)
            return descriptor_response(request, {f: files[f] for f in doc.get("_vnfdFiles") or [] if f in files}, "VNFD")

        async def get_manifest(request: web.Request) -> web.Response:
            doc = await self.resolve(request)
            files = await self.descriptor_files(doc)
            if not doc.get("_manifest") or doc["_manifest"] not in files:
                raise Problem(404, f"VNF package {doc['id']} has no manifest")
            return web.Response(body=files[doc["_manifest"]], content_type="text/plain")

        async def get_artifacts(request: web.Request) -> web.Response:
            doc = await self.resolve(request)
            async with self.onboarded_package(doc) as pkg:
                members = [(p, pkg.member_size(p)) for p in self.artifact_paths(doc) if p in pkg.files]
                out = await asyncio.to_thread(zip_to_file, members, pkg.open)
            return _file_response(request, out, "application/zip")

        async def get_artifact(request: web.Request) -> web.Response:
            doc = await self.resolve(request)
            path = request.match_info["artifactPath"]
            # looked up among the package's own artifact paths only: nothing outside the package is reachable
            if posixpath.normpath(path) != path or path not in self.artifact_paths(doc):
                raise Problem(404, f"VNF package {doc['id']} has no artifact {path!r}")
            upload, pkg = await self.open_package(doc)

            def done() -> None:
                pkg.close()
                upload.close()
            try:
                if path not in pkg.files:
                    raise Problem(404, f"VNF package {doc['id']} has no artifact {path!r}")
                if pkg.member_size(path) < FILE_CHUNK:
                    data = pkg.files[path]
                    done()
                    return range_response(request, data, "application/octet-stream")
                # streamed from the member (a VM image is never read whole); the body closes the files
                return stream_response(request, pkg.member_size(path), "application/octet-stream",
                                       file_chunks(lambda: pkg.open(path), done))
            except BaseException:
                done()
                raise

        async def get_ext_access(request: web.Request) -> web.Response:
            doc = await self.pkg(request.match_info["vnfPkgId"])
            cfg = doc.get("_extArtifactsAccess")
            if cfg is None:
                raise Problem(404, f"VNF package {doc['id']} has no external artifacts access configuration")
            return json_response(without_secrets(cfg))

        async def put_ext_access(request: web.Request) -> web.Response:
            cfg = (await read_model(request, ExternalArtifactsAccessConfig)).model_dump()
            for a in cfg["artifact"]:
                if not isinstance(a, dict) or not a.get("artifactUri"):
                    raise Problem(400, "every artifact needs an artifactUri")
            doc = await self.pkg(request.match_info["vnfPkgId"])
            doc["_extArtifactsAccess"] = cfg  # kept with the secrets: the NFVO needs them to fetch
            await self.pkgs.replace(doc)
            return json_response(without_secrets(cfg))

        async def list_onboarded(request: web.Request) -> web.Response:
            docs = [public(d) for d in await self.pkgs.find({"onboardingState": "ONBOARDED"})]
            return list_response(request, docs, allowed=PKG_ATTRS, default_excluded=PKG_DEFAULT_EXCLUDED)

        async def get_onboarded(request: web.Request) -> web.Response:
            doc = await self.resolve(request)
            return one_response(request, public(doc), headers={"ETag": f'"{doc["_v"]}"'})

        async def magi_vnfd(request: web.Request) -> web.Response:
            doc = await self.onboarded_vnfd(request.match_info["vnfdId"])
            return json_response({"vnfd": doc["_vnfd"], "vnfPkgId": doc["id"]})

        r = app.router
        r.add_post(P, create_pkg)
        r.add_get(P, list_pkgs)
        r.add_get(f"{P}/{{vnfPkgId}}", get_pkg)
        r.add_patch(f"{P}/{{vnfPkgId}}", patch_pkg)
        r.add_delete(f"{P}/{{vnfPkgId}}", delete_pkg)
        r.add_put(f"{P}/{{vnfPkgId}}/package_content", put_content)
        r.add_get(f"{P}/{{vnfPkgId}}/package_content", get_content)
        r.add_post(f"{P}/{{vnfPkgId}}/package_content/upload_from_uri", upload_from_uri)
        # the same reads, SOL005/SOL003 by package id and SOL003 by VNFD id
        O = "/vnfpkgm/v2/onboarded_vnf_packages"
        r.add_get(O, list_onboarded)
        r.add_get(f"{O}/{{vnfdId}}", get_onboarded)
        r.add_get(f"{O}/{{vnfdId}}/package_content", get_content)
        for base in (f"{P}/{{vnfPkgId}}", f"{O}/{{vnfdId}}"):
            r.add_get(f"{base}/vnfd", get_vnfd)
            r.add_get(f"{base}/manifest", get_manifest)
            r.add_get(f"{base}/artifacts", get_artifacts)
            r.add_get(f"{base}/artifacts/{{artifactPath:.+}}", get_artifact)
        r.add_get(f"{P}/{{vnfPkgId}}/ext_artifacts_access", get_ext_access)
        r.add_put(f"{P}/{{vnfPkgId}}/ext_artifacts_access", put_ext_access)
        r.add_get("/vnfpkgm/v2/onboarded_vnf_packages/{vnfdId}/magi_vnfd", magi_vnfd)



def _file_response(request: web.Request, fh: IO[bytes], content_type: str) -> web.Response:
    """Stream a temporary file of ours (with Range); the body closes it once sent."""
    try:
        size = fh.seek(0, 2)
        fh.seek(0)
        if size < FILE_CHUNK:  # small: no stream to keep open
            data = fh.read()
            fh.close()
            return range_response(request, data, content_type)
        return stream_response(request, size, content_type, file_chunks(lambda: fh))
    except BaseException:
        fh.close()
        raise
