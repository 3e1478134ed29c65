"""SOL005 `/nslcm/v2` HTTP handlers."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from magi.api.app import json_response, read_json, read_model
from magi.api.listing import attributes, list_response, one_response
from magi.api.problem import Problem
from magi.store.mongo import public
from nfvo.ns_lcm import NS_INSTANCE_DEFAULT_EXCLUDED, NS_OP_OCC_DEFAULT_EXCLUDED, NsLcm

P = "/nslcm/v2"


class CreateNsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nsdId: str
    nsName: str
    nsDescription: str


class ParamsForVnf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vnfProfileId: str
    vnfInstanceName: str | None = None
    vnfInstanceDescription: str | None = None
    vnfConfigurableProperties: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None
    additionalParams: dict[str, Any] | None = None


class InstantiateNsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nsFlavourId: str
    sapData: list[dict[str, Any]] | None = None
    addpnfData: list[dict[str, Any]] | None = None
    vnfInstanceData: list[dict[str, Any]] | None = None
    nestedNsInstanceData: list[dict[str, Any]] | None = None
    locationConstraints: list[dict[str, Any]] | None = None
    nestedNsLocationConstraints: list[dict[str, Any]] | None = None
    additionalParamsForNs: dict[str, Any] | None = None
    additionalParamsForNestedNs: list[dict[str, Any]] | None = None
    additionalParamsForVnf: list[ParamsForVnf] | None = None
    startTime: str | None = None
    nsInstantiationLevelId: str | None = None
    wanConnectionData: list[dict[str, Any]] | None = None
    additionalAffinityOrAntiAffinityRule: list[dict[str, Any]] | None = None


class TerminateNsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    terminationTime: str | None = None
    terminateNsData: dict[str, Any] | None = None
    terminateVnfData: list[dict[str, Any]] | None = None


NS_ATTRS = attributes("id", "nsInstanceName", "nsInstanceDescription", "nsdId", "nsdInfoId", "flavourId", "priority", "vnfInstance",
                      "pnfInfo", "virtualLinkInfo", "vnffgInfo", "sapInfo", "nestedNsInstanceId", "nsState", "monitoringParameter",
                      "nsScaleStatus", "additionalAffinityOrAntiAffinityRule")
OP_ATTRS = attributes("id", "operationState", "stateEnteredTime", "statusEnteredTime", "nsInstanceId", "lcmOperationType", "startTime",
                      "isAutomaticInvocation", "operationParams", "isCancelPending", "cancelMode", "error", "resourceChanges")


def add_routes(app: web.Application, lcm: NsLcm) -> None:
    def accepted(op: dict[str, Any]) -> web.Response:
        return web.Response(status=202, headers={"Location": op["_links"]["self"]["href"]})

    async def create(request: web.Request) -> web.Response:
        ns = await lcm.create((await read_model(request, CreateNsRequest)).model_dump())
        return json_response(public(ns), status=201, headers={"Location": ns["_links"]["self"]["href"]})

    async def list_ns(request: web.Request) -> web.Response:
        return list_response(request, [public(d) for d in await lcm.instances.find()], allowed=NS_ATTRS, default_excluded=NS_INSTANCE_DEFAULT_EXCLUDED)

    async def get_ns(request: web.Request) -> web.Response:
        return one_response(request, public(await lcm.get(request.match_info["nsInstanceId"])))

    async def delete_ns(request: web.Request) -> web.Response:
        await lcm.delete(request.match_info["nsInstanceId"])
        return web.Response(status=204)

    async def instantiate(request: web.Request) -> web.Response:
        req = await read_model(request, InstantiateNsRequest)
        return accepted(await lcm.instantiate(request.match_info["nsInstanceId"], req.model_dump(exclude_none=True)))

    async def terminate(request: web.Request) -> web.Response:
        body = await read_json(request) if request.can_read_body and request.content_length else {}
        if not isinstance(body, dict):
            raise Problem(400, "the request body must be a JSON object")
        req = TerminateNsRequest.model_validate(body)
        return accepted(await lcm.terminate(request.match_info["nsInstanceId"], req.model_dump(exclude_none=True)))

    async def list_ops(request: web.Request) -> web.Response:
        return list_response(request, [public(d) for d in await lcm.op_occs.find()], allowed=OP_ATTRS, default_excluded=NS_OP_OCC_DEFAULT_EXCLUDED)

    async def get_op(request: web.Request) -> web.Response:
        return one_response(request, public(await lcm.get_op(request.match_info["nsLcmOpOccId"])))

    async def retry(request: web.Request) -> web.Response:
        return accepted(await lcm.retry(request.match_info["nsLcmOpOccId"]))

    async def rollback(request: web.Request) -> web.Response:
        return accepted(await lcm.rollback(request.match_info["nsLcmOpOccId"]))

    async def fail(request: web.Request) -> web.Response:
        return json_response(public(await lcm.fail(request.match_info["nsLcmOpOccId"])))

    r = app.router
    r.add_post(f"{P}/ns_instances", create)
    r.add_get(f"{P}/ns_instances", list_ns)
    r.add_get(f"{P}/ns_instances/{{nsInstanceId}}", get_ns)
    r.add_delete(f"{P}/ns_instances/{{nsInstanceId}}", delete_ns)
    r.add_post(f"{P}/ns_instances/{{nsInstanceId}}/instantiate", instantiate)
    r.add_post(f"{P}/ns_instances/{{nsInstanceId}}/terminate", terminate)
    r.add_get(f"{P}/ns_lcm_op_occs", list_ops)
    r.add_get(f"{P}/ns_lcm_op_occs/{{nsLcmOpOccId}}", get_op)
    r.add_post(f"{P}/ns_lcm_op_occs/{{nsLcmOpOccId}}/retry", retry)
    r.add_post(f"{P}/ns_lcm_op_occs/{{nsLcmOpOccId}}/rollback", rollback)
    r.add_post(f"{P}/ns_lcm_op_occs/{{nsLcmOpOccId}}/fail", fail)
