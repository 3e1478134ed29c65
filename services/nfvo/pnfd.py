"""PNF descriptors: SOL005 `/nsd/v2/pnf_descriptors`.

MAGI deploys no PNFs; it keeps PNFDs so NSDs that reference them can be catalogued. The PNFD is
read only as far as PnfdInfo needs: the `tosca.nodes.nfv.PNF` node's identifying properties.
"""
from __future__ import annotations

import io
import zipfile
from typing import Any

import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_json, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.bus.envelope import new_id
from magi.store.mongo import ConcurrencyError, MongoStore, NotFound, Repository, public
from nfvo.content import ContentStore, read_upload
from nfvo.pkginfo import descriptor_response, range_response
from nfvo.vnfpkgm import merge_patch

PNFD_ATTRS = attributes("id", "pnfdId", "pnfdName", "pnfdVersion", "pnfdProvider", "pnfdInvariantId", "pnfdOnboardingState",
                        "onboardingFailureDetails", "pnfdUsageState", "userDefinedData")
MAX_FILES = 1000
# PnfdInfo spells the version `pnfdVersion` as the GS does; the v3.7.1 YAML slips to `pnfdersion`.


class PnfdInfoModifications(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userDefinedData: dict[str, Any]


def parse_pnfd(data: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """(PnfdInfo fields, the PNFD's files) of a YAML PNFD or a CSAR around one; ValueError if not a PNFD."""
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if len(z.infolist()) > MAX_FILES:
                raise ValueError("too many files in the archive")
            files = {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
        meta = files.get("TOSCA-Metadata/TOSCA.meta", b"").decode(errors="replace")
        entry = next((ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("Entry-Definitions:")), None)
        if entry is None:
            yamls = [n for n in files if n.endswith((".yaml", ".yml")) and "/" not in n.strip("/")]
            entry = yamls[0] if len(yamls) == 1 else None
        if entry not in files:
            raise ValueError("the archive names no PNFD entry file")
        name, text = entry, files[entry]
    else:
        name, text = "pnfd.yaml", data
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"the PNFD is not YAML: {exc}") from None
    nodes = ((doc or {}).get("topology_template") or {}).get("node_templates") or {} if isinstance(doc, dict) else {}
    pnf = next((n for n in nodes.values() if isinstance(n, dict) and n.get("type") == "tosca.nodes.nfv.PNF"), None)
    props = (pnf or {}).get("properties") or {}
    if not props.get("descriptor_id"):
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

    async def get(self, pnfd_info_id: str) -> dict[str, Any]:
        try:
            return await self.pnfds.get(pnfd_info_id)
        except NotFound:
            raise Problem(404, f"PNF descriptor {pnfd_info_id} does not exist") from None

    async def content(self, doc: dict[str, Any]) -> bytes:
        if doc["pnfdOnboardingState"] != "ONBOARDED":
            raise Problem(409, f"PNFD {doc['id']} is {doc['pnfdOnboardingState']}, not ONBOARDED")
        return await self.contents.get(f"pnfd:{doc['id']}", f"PNFD {doc['id']}")

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
            doc = await self.get(request.match_info["pnfdInfoId"])
            if doc["pnfdUsageState"] != "NOT_IN_USE":
                raise Problem(409, f"PNFD {doc['id']} is in use")
            await self.pnfds.delete(doc)
            await self.contents.delete(f"pnfd:{doc['id']}")
            return web.Response(status=204)

        async def put_content(request: web.Request) -> web.Response:
            data, filename = await read_upload(request)
            doc = await self.get(request.match_info["pnfdInfoId"])
            if doc["pnfdOnboardingState"] != "CREATED":
                raise Problem(409, f"PNFD {doc['id']} is {doc['pnfdOnboardingState']}; content can be uploaded only in CREATED")
            try:
                fields, _ = parse_pnfd(data)
            except (ValueError, zipfile.BadZipFile) as exc:
                doc["pnfdOnboardingState"] = "ERROR"
                doc["onboardingFailureDetails"] = {"status": 422, "detail": str(exc)}
                await self.pnfds.replace(doc)
                raise Problem(422, f"PNFD rejected: {exc}") from None
            await self.contents.put(f"pnfd:{doc['id']}", data, filename)
            doc.update(fields, pnfdOnboardingState="ONBOARDED")
            await self.pnfds.replace(doc)
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
