"""PNF descriptors: SOL005 `/nsd/v2/pnf_descriptors`.

MAGI deploys no PNFs; it keeps PNFDs so NSDs that reference them can be catalogued. The PNFD is
read only as far as PnfdInfo needs: the `tosca.nodes.nfv.PNF` node's identifying properties.
Uploads go through the package library's safe readers (zip-slip, symlinks, compression ratio,
size and YAML alias-bomb limits): a hostile upload is a 422 and ERROR, never a 500.

A PNFD is IN_USE while an ONBOARDED NSD references it (NsdInfo.pnfdInfoIds); it cannot be deleted
then (409). Notifications (PnfdOnBoarding, PnfdOnBoardingFailure, PnfdDeletion) go to the
`/nsd/v2/subscriptions` subscribers, stored with the state change (nfvo.notices).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_json, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.envelope import Envelope, new_id
from magi.descriptors import Limits, PackageError
from magi.descriptors._archive import safe_path
from magi.descriptors._yaml import load_yaml
from magi.descriptors.csar import read_zip
from magi.notifications.filters import PNFD_DELETION, PNFD_ONBOARDING, PNFD_ONBOARDING_FAILURE
from magi.store.mongo import ConcurrencyError, MongoStore, NotFound, Repository, public
from nfvo.content import ContentStore, read_upload
from nfvo.notices import descriptor_notice
from nfvo.pkginfo import descriptor_response, range_response
from nfvo.vnfpkgm import merge_patch


PNFD_ATTRS = attributes("id", "pnfdId", "pnfdName", "pnfdVersion", "pnfdProvider", "pnfdInvariantId", "pnfdOnboardingState",
                        "onboardingFailureDetails", "pnfdUsageState", "userDefinedData")
MAX_FILES = 1000
PNFD_LIMITS = Limits(max_total_bytes=64 * 2**20, max_files=MAX_FILES)  # a PNFD archive holds YAML and a few files
# PnfdInfo spells the version `pnfdVersion` as the GS does; the v3.7.1 YAML slips to `pnfdersion`.


class PnfdInfoModifications(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userDefinedData: dict[str, Any]


def parse_pnfd(data: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """(PnfdInfo fields, the PNFD's files) of a YAML PNFD or a CSAR around one; ValueError if it is
    not a PNFD or the upload is unsafe (the library's PackageError, re-raised as ValueError)."""
    try:
        if data[:2] == b"PK":
            files = read_zip(data, PNFD_LIMITS)
            meta = files.get("TOSCA-Metadata/TOSCA.meta", b"").decode(errors="replace")
            entry = next((ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("Entry-Definitions:")), None)
            if entry is None:
                yamls = [n for n in files if n.endswith((".yaml", ".yml")) and "/" not in n]
                entry = yamls[0] if len(yamls) == 1 else None
            else:
                entry = safe_path(entry, check_file="TOSCA-Metadata/TOSCA.meta")
            if entry not in files:
                raise ValueError("the archive names no PNFD entry file")
            name, text = entry, files[entry]
        else:
            name, text = "pnfd.yaml", data
        doc = load_yaml(text, name)
    except PackageError as exc:
        raise ValueError(str(exc)) from None
    nodes = ((doc or {}).get("topology_template") or {}).get("node_templates") or {} if isinstance(doc, dict) else {}
    if not isinstance(nodes, dict):
        nodes = {}
    pnf = next((n for n in nodes.values() if isinstance(n, dict) and n.get("type") == "tosca.nodes.nfv.PNF"), None)
    props = (pnf or {}).get("properties") or {}
    if not isinstance(props, dict) or not props.get("descriptor_id"):
        raise ValueError("no tosca.nodes.nfv.PNF node with a descriptor_id")
    fields = {"pnfdId": str(props["descriptor_id"]), "pnfdName": str(props.get("name", "")),
              "pnfdVersion": str(props.get("version", "")), "pnfdProvider": str(props.get("provider", "")),
              "pnfdInvariantId": str(props.get("descriptor_invariant_id") or props["descriptor_id"])}
    return fields, {name: text}


class PnfDescriptors:
    def __init__(self, store: MongoStore, contents: ContentStore, base_url: str):
        self.pnfds: Repository = store.repository("pnf_descriptors", [[("pnfdId", 1)]])
        self.contents = contents
        self.base = base_url
        # the NsdInfo ids of the ONBOARDED NSDs that reference a PnfdInfo; set by the catalogue
        self.users: Callable[[str], Awaitable[list[str]]] | None = None

    async def get(self, pnfd_info_id: str) -> dict[str, Any]:
        try:
            return await self.pnfds.get(pnfd_info_id)
        except NotFound:
            raise Problem(404, f"PNF descriptor {pnfd_info_id} does not exist") from None

    async def content(self, doc: dict[str, Any]) -> bytes:
        if doc["pnfdOnboardingState"] != "ONBOARDED":
            raise Problem(409, f"PNFD {doc['id']} is {doc['pnfdOnboardingState']}, not ONBOARDED")
        return await self.contents.get(f"pnfd:{doc['id']}", f"PNFD {doc['id']}")

    async def onboarded_pnfd(self, pnfd_id: str) -> dict[str, Any] | None:
        """The ONBOARDED PnfdInfo of a pnfdId (the PNFD's descriptor_id), if any."""
        for d in await self.pnfds.find({"pnfdId": pnfd_id}):
            if d["pnfdOnboardingState"] == "ONBOARDED":
                return d
        return None

    async def refresh_usage(self, pnfd_info_ids: list[str]) -> None:
        """pnfdUsageState follows the NSDs: IN_USE while an ONBOARDED NSD references the PNFD."""
        if self.users is None:
            return
        for pid in pnfd_info_ids:
            for _ in range(5):
                try:
                    doc = await self.pnfds.get(pid)
                    state = "IN_USE" if await self.users(pid) else "NOT_IN_USE"
                    if doc["pnfdUsageState"] != state:
                        doc["pnfdUsageState"] = state
                        await self.pnfds.replace(doc)
                    break
                except ConcurrencyError:
                    continue
                except NotFound:
                    break

    def _notice(self, doc: dict[str, Any], ntype: str, key: str, **extra: Any) -> Envelope:
        """The notification of a state change, stored in the write that makes it (nfvo.notices)."""
        body = {"notificationType": ntype, "timeStamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                "pnfdInfoId": doc["id"], **({"pnfdId": doc["pnfdId"]} if doc.get("pnfdId") else {}), **extra,
                "_links": {"pnfdInfo": {"href": f"{self.base}/nsd/v2/pnf_descriptors/{doc['id']}"}},
                "_match": {**{k: doc.get(k) for k in ("pnfdName", "pnfdVersion", "pnfdProvider", "pnfdInvariantId",
                                                       "pnfdOnboardingState", "pnfdUsageState")},
                           "pnfdInfoIds": [doc["id"]]}}
        return descriptor_notice("nsd.changed", key, body)

    async def upload(self, pnfd_info_id: str, data: bytes, filename: str | None) -> None:
        doc = await self.get(pnfd_info_id)
        if doc["pnfdOnboardingState"] != "CREATED":
            raise Problem(409, f"PNFD {doc['id']} is {doc['pnfdOnboardingState']}; content can be uploaded only in CREATED")
        try:
            fields, _ = parse_pnfd(data)
        except ValueError as exc:
            detail = f"PNFD rejected: {exc}"
            doc["pnfdOnboardingState"] = "ERROR"
            doc["onboardingFailureDetails"] = {"status": 422, "detail": detail}
            notice = self._notice(doc, PNFD_ONBOARDING_FAILURE, f"pnfd:{doc['id']}:failed",
                                  onboardingFailureDetails=doc["onboardingFailureDetails"])
            try:
                await self.pnfds.replace(doc, outbox=[notice])
            except (ConcurrencyError, NotFound):
                raise Problem(409, f"PNFD {pnfd_info_id} changed concurrently") from None
            raise Problem(422, detail) from None
        await self.contents.put(f"pnfd:{doc['id']}", data, filename)
        doc.update(fields, pnfdOnboardingState="ONBOARDED")
        try:
            await self.pnfds.replace(doc, outbox=[self._notice(doc, PNFD_ONBOARDING, f"pnfd:{doc['id']}:onboarded")])
        except (ConcurrencyError, NotFound):
            raise Problem(409, f"PNFD {pnfd_info_id} changed concurrently") from None

    async def delete(self, pnfd_info_id: str) -> None:
        doc = await self.get(pnfd_info_id)
        # the live answer when there is one: a stored IN_USE left by a crash must not pin the PNFD forever
        users = await self.users(doc["id"]) if self.users is not None else []
        if users or (self.users is None and doc["pnfdUsageState"] != "NOT_IN_USE"):
            raise Problem(409, f"PNFD {doc['id']} is in use" + (f" by NSD(s) {', '.join(users)}" if users else ""))
        # "when an on-boarded PNFD is deleted"
        notices = [self._notice(doc, PNFD_DELETION, f"pnfd:{doc['id']}:deleted")] if doc["pnfdOnboardingState"] == "ONBOARDED" else []
        try:
            await self.pnfds.delete(doc, outbox=notices)
        except (ConcurrencyError, NotFound):
            raise Problem(409, f"PNFD {doc['id']} changed concurrently") from None
        await self.contents.delete(f"pnfd:{doc['id']}")

    def add_routes(self, app: web.Application) -> None:
        B = "/nsd/v2/pnf_descriptors"

        async def create(request: web.Request) -> web.Response:
            body = await read_json(request) if request.can_read_body else {}
            if not isinstance(body, dict) or set(body) - {"userDefinedData"}:
                raise Problem(400, "CreatePnfdInfoRequest takes only userDefinedData")
            pid = new_id()
            s = f"{self.base}{B}/{pid}"
            doc = {"id": pid, "pnfdOnboardingState": "CREATED", "pnfdUsageState": "NOT_IN_USE",
                   "_links": {"self": {"href": s}, "pnfd_content": {"href": f"{s}/pnfd_content"}}}
            if body.get("userDefinedData"):
                doc["userDefinedData"] = body["userDefinedData"]
            await self.pnfds.insert(doc)
            return json_response(public(doc), status=201, headers={"Location": s})

        async def list_(request: web.Request) -> web.Response:
            return list_response(request, [public(d) for d in await self.pnfds.find()], allowed=PNFD_ATTRS,
                                 default_excluded=("userDefinedData",))

        async def get(request: web.Request) -> web.Response:
            return one_response(request, public(await self.get(request.match_info["pnfdInfoId"])))

        async def patch(request: web.Request) -> web.Response:
            mods = await read_model(request, PnfdInfoModifications)
            doc = await self.get(request.match_info["pnfdInfoId"])
            doc["userDefinedData"] = merge_patch(doc.get("userDefinedData"), mods.userDefinedData)
            try:
                await self.pnfds.replace(doc)
            except ConcurrencyError:
                raise Problem(412, f"PNFD {doc['id']} changed concurrently") from None
            return json_response(mods.model_dump())

        async def delete(request: web.Request) -> web.Response:
            await self.delete(request.match_info["pnfdInfoId"])
            return web.Response(status=204)

        async def put_content(request: web.Request) -> web.Response:
            data, filename = await read_upload(request, self.contents.max_bytes)
            await self.upload(request.match_info["pnfdInfoId"], data, filename)
            return web.Response(status=204)

        async def get_content(request: web.Request) -> web.Response:
            data = await self.content(await self.get(request.match_info["pnfdInfoId"]))
            return range_response(request, data, "application/zip" if data[:2] == b"PK" else "text/plain")

        async def get_pnfd(request: web.Request) -> web.Response:
            _, files = parse_pnfd(await self.content(await self.get(request.match_info["pnfdInfoId"])))
            return descriptor_response(request, files, "PNFD")

        r = app.router
        r.add_post(B, create)
        r.add_get(B, list_)
        r.add_get(f"{B}/{{pnfdInfoId}}", get)
        r.add_patch(f"{B}/{{pnfdInfoId}}", patch)
        r.add_delete(f"{B}/{{pnfdInfoId}}", delete)
        r.add_put(f"{B}/{{pnfdInfoId}}/pnfd_content", put_content)
        r.add_get(f"{B}/{{pnfdInfoId}}/pnfd_content", get_content)
        r.add_get(f"{B}/{{pnfdInfoId}}/pnfd", get_pnfd)
