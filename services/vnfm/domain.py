"""VNFM domain: pure functions that shape SOL003 resources and plan an operation's resources.

Nothing here does I/O. The application layer (lcm.py) stores what these functions return.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from magi.bus.envelope import new_id, utcnow
from magi.lcm import STARTING

NOT_INSTANTIATED, INSTANTIATED = "NOT_INSTANTIATED", "INSTANTIATED"
# SOL003 §5.4.2.3.2: attributes GET /vnf_instances leaves out unless asked (exclude_default).
VNF_INSTANCE_DEFAULT_EXCLUDED = ("vnfConfigurableProperties", "vimConnectionInfo", "instantiatedVnfInfo", "metadata", "extensions")
VNF_LCM_OP_OCC_DEFAULT_EXCLUDED = ("operationParams", "error", "resourceChanges", "changedInfo", "changedExtConnectivity")


def vnf_instance_links(base: str, inst: dict[str, Any]) -> dict[str, Any]:
    self_ = f"{base}/vnflcm/v2/vnf_instances/{inst['id']}"
    links = {"self": {"href": self_}}
    if inst["instantiationState"] == NOT_INSTANTIATED:
        links["instantiate"] = {"href": f"{self_}/instantiate"}
    else:
        for task in ("terminate", "scale", "scaleToLevel", "changeFlavour", "heal", "operate", "changeExtConn"):
            path = {"scaleToLevel": "scale_to_level", "changeFlavour": "change_flavour", "changeExtConn": "change_ext_conn"}.get(task, task)
            links[task] = {"href": f"{self_}/{path}"}
    return links


def new_vnf_instance(req: dict[str, Any], vnfd: dict[str, Any], vnf_pkg_id: str | None) -> dict[str, Any]:
    inst: dict[str, Any] = {
        "id": new_id(),
        "vnfdId": vnfd["vnfd_id"],
        "vnfProvider": vnfd.get("provider") or "",
        "vnfProductName": vnfd.get("product_name") or "",
        "vnfSoftwareVersion": str(vnfd.get("software_version") or ""),
        "vnfdVersion": str(vnfd.get("descriptor_version") or ""),
        "instantiationState": NOT_INSTANTIATED,
        "metadata": dict(req.get("metadata") or {}),
    }
    if vnf_pkg_id:
        inst["metadata"].setdefault("vnfPkgId", vnf_pkg_id)
    for key in ("vnfInstanceName", "vnfInstanceDescription"):
        if req.get(key) is not None:
            inst[key] = req[key]
    return inst


def new_op_occ(inst_id: str, operation: str, params: dict[str, Any], *, automatic: bool = False) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": new_id(),
        "operationState": STARTING,
        "stateEnteredTime": now,
        "startTime": now,
        "vnfInstanceId": inst_id,
        "operation": operation,
        "isAutomaticInvocation": automatic,
        "operationParams": params,
        "isCancelPending": False,
    }


def op_occ_links(base: str, op: dict[str, Any]) -> dict[str, Any]:
    self_ = f"{base}/vnflcm/v2/vnf_lcm_op_occs/{op['id']}"
    links: dict[str, Any] = {"self": {"href": self_}, "vnfInstance": {"href": f"{base}/vnflcm/v2/vnf_instances/{op['vnfInstanceId']}"}}
    state = op["operationState"]
    if state == "FAILED_TEMP":
        for t in ("retry", "rollback", "fail"):
            links[t] = {"href": f"{self_}/{t}"}
    if state in ("STARTING", "PROCESSING", "ROLLING_BACK"):
        links["cancel"] = {"href": f"{self_}/cancel"}
    return links


# -- resource planning ------------------------------------------------------------------------
@dataclass
class PlannedResource:
    id: str  # resourceDefinitionId in the grant, and the idempotency key on the VIM
    type: str  # COMPUTE | VL | STORAGE
    template_id: str  # vduId, VL desc id or storage desc id
    vdu_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_definition(self, vnfd_id: str) -> dict[str, Any]:
        d = {"id": self.id, "type": self.type, "resourceTemplateId": self.template_id, "vnfdId": vnfd_id}
        if self.vdu_id:
            d["vduId"] = self.vdu_id
        return d


def _rid(op_id: str, name: str) -> str:
    # Deterministic: a retried step addresses the very same VIM resource.
    return str(uuid.uuid5(uuid.UUID(op_id), name))


def plan_instantiation(vnfd: Any, flavour_id: str, level_id: str | None, op_id: str) -> list[PlannedResource]:
    """VLs first, then storage, then VNFCs: the order the VIM needs them in."""
    flavour = vnfd.flavour(flavour_id)
    counts = flavour.instances_for_level(level_id)
    plan: list[PlannedResource] = []
    for vl in flavour.virtual_links:
        plan.append(PlannedResource(_rid(op_id, f"vl:{vl.vl_id}"), "VL", vl.vl_id, details={"cidr": vl.cidr}))
    for vdu in flavour.vdus:
        for i in range(counts.get(vdu.vdu_id, vdu.min_instances)):
            storage_ids = []
            for st in vdu.storages:
                rid = _rid(op_id, f"storage:{vdu.vdu_id}:{i}:{st.id}")
                storage_ids.append(rid)
                plan.append(PlannedResource(rid, "STORAGE", st.id, vdu.vdu_id, {"sizeGb": st.size_gb or 1}))
            vc = vdu.virtual_compute
            image = vdu.sw_image.model_dump(mode="json", exclude_none=True) if vdu.sw_image else None
            plan.append(PlannedResource(
                _rid(op_id, f"vnfc:{vdu.vdu_id}:{i}"), "COMPUTE", vdu.vdu_id, vdu.vdu_id,
                {"virtualCompute": {"numVirtualCpu": vc.num_vcpus, "virtualMemSizeMb": vc.memory_mb,
                                    "localDiskSizeGb": vc.local_disk_gb, "flavorHint": vc.flavor_hint},
                 "swImage": image, "storageIds": storage_ids,
                 "cps": [{"cpdId": cp.cpd_id, "vlId": cp.int_virtual_link_id} for cp in vdu.cps]},
            ))
    return plan


def grant_request(inst: dict[str, Any], op: dict[str, Any], base: str, *, add: list[dict[str, Any]] = (),
                  remove: list[dict[str, Any]] = (), flavour_id: str | None = None, level_id: str | None = None,
                  additional: dict[str, Any] | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {
        "vnfInstanceId": inst["id"],
        "vnfLcmOpOccId": op["id"],
        "vnfdId": inst["vnfdId"],
        "operation": op["operation"],
        "isAutomaticInvocation": op["isAutomaticInvocation"],
        "_links": {"vnfLcmOpOcc": {"href": f"{base}/vnflcm/v2/vnf_lcm_op_occs/{op['id']}"},
                   "vnfInstance": {"href": f"{base}/vnflcm/v2/vnf_instances/{inst['id']}"}},
    }
    if add:
        req["addResources"] = list(add)
    if remove:
        req["removeResources"] = list(remove)
    if flavour_id:
        req["flavourId"] = flavour_id
    if level_id:
        req["instantiationLevelId"] = level_id
    if additional:
        req["additionalParams"] = additional
    return req


def granted_vim(grant: dict[str, Any], resource_id: str) -> tuple[str, dict[str, Any], str | None]:
    """(vimConnectionId, VimConnectionInfo, zoneId) the grant assigned to a resource."""
    infos = grant.get("vimConnectionInfo") or {}
    zones = {z["id"]: z for z in grant.get("zones") or []}
    for g in (grant.get("addResources") or []) + (grant.get("removeResources") or []):
        if g["resourceDefinitionId"] == resource_id:
            conn_id = g.get("vimConnectionId") or next(iter(infos), None)
            zone = zones.get(g.get("zoneId") or "", {}).get("zoneId")
            if conn_id in infos:
                return conn_id, infos[conn_id], zone
    if len(infos) == 1:
        conn_id = next(iter(infos))
        return conn_id, infos[conn_id], None
    raise LookupError(f"the grant assigns no VIM to resource {resource_id}")


def resource_handle(conn_id: str, reply: dict[str, Any], vim_type: str) -> dict[str, Any]:
    return {"vimConnectionId": conn_id, "resourceId": reply.get("vimResourceId") or reply["resourceId"], "vimLevelResourceType": vim_type}


def instantiated_info(flavour_id: str, level_id: str | None, vnfd: Any, vnfd_id: str, done: dict[str, dict[str, Any]],
                      plan: list[PlannedResource]) -> dict[str, Any]:
    """instantiatedVnfInfo from the plan and what each resource's allocation returned."""
    vnfcs, vls, storages = [], [], []
    for r in plan:
        got = done[r.id]
        handle = got["handle"]
        if r.type == "COMPUTE":
            vnfcs.append({"id": r.id, "vduId": r.template_id, "vnfdId": vnfd_id, "computeResource": handle,
                          **({"zoneId": got["zoneId"]} if got.get("zoneId") else {}),
                          "storageResourceIds": r.details.get("storageIds", []),
                          "vnfcCpInfo": [{"id": f"{r.id}-{cp['cpdId']}", "cpdId": cp["cpdId"]} for cp in r.details.get("cps", [])],
                          "metadata": {"addresses": got.get("addresses", [])}})
        elif r.type == "VL":
            vls.append({"id": r.id, "vnfVirtualLinkDescId": r.template_id, "vnfdId": vnfd_id, "networkResource": handle, "vnfLinkPorts": []})
        else:
            storages.append({"id": r.id, "virtualStorageDescId": r.template_id, "vnfdId": vnfd_id, "storageResource": handle})
    flavour = vnfd.flavour(flavour_id)
    level_scale = {}
    if level_id:
        level = next((lv for lv in flavour.instantiation_levels if lv.level_id == level_id), None)
        level_scale = dict(level.scale_levels) if level else {}
    ext_cps = []
    for ext in flavour.ext_cps:  # one per VNFC realising it, or one for an ext CP on an internal VL
        vnfc_cps = [(c["id"], c) for v in vnfcs for c in v["vnfcCpInfo"] if ext.int_cpd and v["vduId"] == ext.int_cpd.vdu_id and c["cpdId"] == ext.int_cpd.cpd_id]
        for i, (cp_id, _) in enumerate(vnfc_cps or [(None, None)]):
            entry: dict[str, Any] = {"id": f"{ext.cpd_id}-{i}", "cpdId": ext.cpd_id, "cpConfigId": f"{ext.cpd_id}-{i}", "vnfdId": vnfd_id,
                                     "cpProtocolInfo": []}  # addresses come with external connectivity
            if cp_id:
                entry["associatedVnfcCpId"] = cp_id
            ext_cps.append(entry)
    info: dict[str, Any] = {
        "flavourId": flavour_id,
        "vnfState": "STARTED",
        "extCpInfo": ext_cps,
        "vnfcResourceInfo": vnfcs,
        "vnfVirtualLinkResourceInfo": vls,
        "virtualStorageResourceInfo": storages,
    }
    if flavour.scaling_aspects:
        info["scaleStatus"] = [{"aspectId": a.aspect_id, "vnfdId": vnfd_id, "scaleLevel": level_scale.get(a.aspect_id, 0)} for a in flavour.scaling_aspects]
        info["maxScaleLevels"] = [{"aspectId": a.aspect_id, "vnfdId": vnfd_id, "scaleLevel": a.max_scale_level} for a in flavour.scaling_aspects]
    return info


def affected(plan_or_info: list[dict[str, Any]], change: str) -> dict[str, list[dict[str, Any]]]:
    """resourceChanges of an op occ from allocated (ADDED) or released (REMOVED) resources."""
    out: dict[str, list[dict[str, Any]]] = {"affectedVnfcs": [], "affectedVirtualLinks": [], "affectedVirtualStorages": []}
    for r in plan_or_info:
        if r["type"] == "COMPUTE":
            out["affectedVnfcs"].append({"id": r["id"], "vduId": r["templateId"], "changeType": change, "computeResource": r["handle"]})
        elif r["type"] == "VL":
            out["affectedVirtualLinks"].append({"id": r["id"], "vnfVirtualLinkDescId": r["templateId"], "changeType": change, "networkResource": r["handle"]})
        else:
            out["affectedVirtualStorages"].append({"id": r["id"], "virtualStorageDescId": r["templateId"], "changeType": change, "storageResource": r["handle"]})
    return out
