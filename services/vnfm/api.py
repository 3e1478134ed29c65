"""SOL003 `/vnflcm/v2` HTTP handlers: parse, call the application service, shape the answer."""
from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.store.mongo import public
from vnfm import domain
from vnfm.lcm import VnfLcm

P = "/vnflcm/v2"


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateVnfRequest(_Req):
    vnfdId: str
    vnfInstanceName: str | None = None
    vnfInstanceDescription: str | None = None
    metadata: dict[str, Any] | None = None


class InstantiateVnfRequest(_Req):
    flavourId: str
    instantiationLevelId: str | None = None
    extVirtualLinks: list[dict[str, Any]] | None = None
    extManagedVirtualLinks: list[dict[str, Any]] | None = None
    vimConnectionInfo: dict[str, dict[str, Any]] | None = None
    localizationLanguage: str | None = None
    additionalParams: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None
    vnfConfigurableProperties: dict[str, Any] | None = None


class TerminateVnfRequest(_Req):
    terminationType: Literal["FORCEFUL", "GRACEFUL"]
    gracefulTerminationTimeout: int | None = None
    additionalParams: dict[str, Any] | None = None


INSTANCE_ATTRS = attributes("id", "vnfInstanceName", "vnfInstanceDescription", "vnfdId", "vnfProvider", "vnfProductName",
                            "vnfSoftwareVersion", "vnfdVersion", "vnfConfigurableProperties", "vimConnectionInfo",
                            "instantiationState", "instantiatedVnfInfo", "metadata", "extensions")
OPOCC_ATTRS = attributes("id", "operationState", "stateEnteredTime", "startTime", "vnfInstanceId", "grantId", "operation",
                         "isAutomaticInvocation", "operationParams", "isCancelPending", "cancelMode", "error",
                         "resourceChanges", "changedInfo", "changedExtConnectivity")


def add_routes(app: web.Application, lcm: VnfLcm) -> None:
    def location(op: dict[str, Any]) -> dict[str, str]:
        return {"Location": op["_links"]["self"]["href"]}

    async def create(request: web.Request) -> web.Response:
        req = await read_model(request, CreateVnfRequest)
        inst = await lcm.create(req.model_dump(exclude_none=True))
        return json_response(domain.redact_response(public(inst)), status=201, headers={"Location": inst["_links"]["self"]["href"]})

    async def list_instances(request: web.Request) -> web.Response:
        docs = [domain.redact_response(public(d)) for d in await lcm.instances.find()]
        return list_response(request, docs, allowed=INSTANCE_ATTRS, default_excluded=domain.VNF_INSTANCE_DEFAULT_EXCLUDED)

    async def get_instance(request: web.Request) -> web.Response:
        return one_response(request, domain.redact_response(public(await lcm.get_instance(request.match_info["vnfInstanceId"]))))

    async def delete_instance(request: web.Request) -> web.Response:
        await lcm.delete(request.match_info["vnfInstanceId"])
        return web.Response(status=204)

    async def instantiate(request: web.Request) -> web.Response:
        req = await read_model(request, InstantiateVnfRequest)
        op = await lcm.instantiate(request.match_info["vnfInstanceId"], req.model_dump(exclude_none=True))
        return web.Response(status=202, headers=location(op))

    async def terminate(request: web.Request) -> web.Response:
        req = await read_model(request, TerminateVnfRequest)
        op = await lcm.terminate(request.match_info["vnfInstanceId"], req.model_dump(exclude_none=True))
        return web.Response(status=202, headers=location(op))

    async def list_op_occs(request: web.Request) -> web.Response:
        docs = [domain.redact_response(public(d)) for d in await lcm.op_occs.find()]
        return list_response(request, docs, allowed=OPOCC_ATTRS, default_excluded=domain.VNF_LCM_OP_OCC_DEFAULT_EXCLUDED)

    async def get_op_occ(request: web.Request) -> web.Response:
        return one_response(request, domain.redact_response(public(await lcm.get_op_occ(request.match_info["vnfLcmOpOccId"]))))

    async def retry(request: web.Request) -> web.Response:
        op = await lcm.retry(request.match_info["vnfLcmOpOccId"])
        return web.Response(status=202, headers=location(op))

    async def rollback(request: web.Request) -> web.Response:
        op = await lcm.rollback(request.match_info["vnfLcmOpOccId"])
        return web.Response(status=202, headers=location(op))

    async def fail(request: web.Request) -> web.Response:
        op = await lcm.fail(request.match_info["vnfLcmOpOccId"])
        await lcm.fail_released(op["id"])
        return json_response(domain.redact_response(public(op)))

    r = app.router
    r.add_post(f"{P}/vnf_instances", create)
    r.add_get(f"{P}/vnf_instances", list_instances)
    r.add_get(f"{P}/vnf_instances/{{vnfInstanceId}}", get_instance)
    r.add_delete(f"{P}/vnf_instances/{{vnfInstanceId}}", delete_instance)
    r.add_post(f"{P}/vnf_instances/{{vnfInstanceId}}/instantiate", instantiate)
    r.add_post(f"{P}/vnf_instances/{{vnfInstanceId}}/terminate", terminate)
    r.add_get(f"{P}/vnf_lcm_op_occs", list_op_occs)
    r.add_get(f"{P}/vnf_lcm_op_occs/{{vnfLcmOpOccId}}", get_op_occ)
    r.add_post(f"{P}/vnf_lcm_op_occs/{{vnfLcmOpOccId}}/retry", retry)
    r.add_post(f"{P}/vnf_lcm_op_occs/{{vnfLcmOpOccId}}/rollback", rollback)
    r.add_post(f"{P}/vnf_lcm_op_occs/{{vnfLcmOpOccId}}/fail", fail)
