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
        # SOL003 ResourceDefinition: resourceTemplateId is the VnfVirtualLinkDesc, VirtualStorageDesc or
        # (for COMPUTE) the VDU's VirtualComputeDesc, which MAGI's model names after the VDU; vduId only for COMPUTE.
        d = {"id": self.id, "type": self.type, "resourceTemplateId": self.template_id, "vnfdId": vnfd_id}
        if self.vdu_id and self.type == "COMPUTE":
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


def add_image_urls(plan: list[PlannedResource], nfvo_url: str | None, vnf_pkg_id: str | None) -> None:
    """swImage.imageUrl: the SOL003 artifact URL of an image the package carries, so a VIM that lacks
    the image can upload it; images named only (no file in the package) stay without one."""
    if not nfvo_url or not vnf_pkg_id:
        return
    for p in plan:
        image = p.details.get("swImage") if p.type == "COMPUTE" else None
        if image and image.get("file") and "://" not in image["file"]:
            image["imageUrl"] = f"{nfvo_url.rstrip('/')}/vnfpkgm/v2/vnf_packages/{vnf_pkg_id}/artifacts/{image['file']}"
        elif image and image.get("file"):
            image["imageUrl"] = image["file"]  # the VNFD names an external image URL


# -- placement, security and connectivity from the VNFD -----------------------------------------
# SOL001 AffinityRule/AntiAffinityRule `scope` -> SOL003 PlacementConstraint `scope`.
SCOPES = {"nfvi_node": "NFVI_NODE", "zone": "ZONE", "zone_group": "ZONE_GROUP", "nfvi_pop": "NFVI_POP"}
GROUP_SCOPES = ("NFVI_NODE", "ZONE")  # the scopes a VIM can honour itself (a server group, an availability zone)


def rule_scope(scope: str | None) -> str:
    """SOL003 scope of a SOL001 rule scope; a rule without one is taken per NFVI node."""
    if not scope:
        return "NFVI_NODE"
    got = SCOPES.get(scope.lower())
    if got is None:
        raise ValueError(f"affinity rule scope {scope!r} is none of {', '.join(SCOPES)}")
    return got


def rule_policy(rule: Any) -> str:
    return "ANTI_AFFINITY" if rule.kind == "anti-affinity" else "AFFINITY"


def placement_constraints(flavour: Any, plan: list[PlannedResource]) -> list[dict[str, Any]]:
    """GrantRequest.placementConstraints: one per VNFD (anti-)affinity rule, naming the COMPUTE
    resources of this request (idType GRANT) whose VDU the rule targets."""
    out = []
    for rule in flavour.affinity_rules:
        members = [{"idType": "GRANT", "resourceId": p.id} for p in plan if p.type == "COMPUTE" and p.vdu_id in rule.vdu_ids]
        if members:
            out.append({"affinityOrAntiAffinity": rule_policy(rule), "scope": rule_scope(rule.scope),
                        "resource": members, "fallbackBestEffort": False})
    return out


def placement_groups(flavour: Any, vdu_id: str) -> list[dict[str, Any]]:
    """ComputeAllocate.placementGroups of a VNFC: the rules targeting its VDU that the VIM enforces."""
    out = []
    for rule in flavour.affinity_rules:
        scope = rule_scope(rule.scope)
        if vdu_id in rule.vdu_ids and scope in GROUP_SCOPES:
            out.append({"groupId": rule.rule_id, "policy": rule_policy(rule), "scope": scope})
    return out


SG_FIELDS = ("description", "direction", "ether_type", "protocol", "port_range_min", "port_range_max")


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return dict(vars(obj))


def flavour_security_rules(flavour: Any) -> list[dict[str, Any]]:
    """The flavour's SOL001 SecurityGroupRule policies, as dicts of their properties plus `cpd_ids`
    (the policy targets)."""
    return [_as_dict(r) for r in (getattr(flavour, "security_group_rules", None) or [])]


def security_rules_for(flavour: Any, vdu: Any, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ComputeAllocate.securityGroupRules of a VNFC: each rule targeting one of its VDU's CPs,
    directly or through the VnfExtCp that a CP realises, with the VDU CPs it applies to."""
    ext_to_int = {e.cpd_id: e.int_cpd.cpd_id for e in flavour.ext_cps if e.int_cpd and e.int_cpd.vdu_id == vdu.vdu_id}
    own = {cp.cpd_id for cp in vdu.cps}
    out = []
    for rule in rules:
        targets = rule.get("cpd_ids") or rule.get("cpdIds") or rule.get("targets") or []
        cpds = sorted({ext_to_int.get(t, t) for t in targets} & own)
        if cpds:
            entry = {k: rule[k] for k in SG_FIELDS if rule.get(k) is not None}
            entry.setdefault("direction", "ingress")  # SOL001 defaults
            entry.setdefault("ether_type", "ipv4")
            entry["cpdIds"] = cpds
            out.append(entry)
    return out


def external_networks(flavour: Any, ext_vls: list[dict[str, Any]] | None) -> dict[tuple[str, str], str]:
    """(vduId, VDU cpdId) -> VIM network id, from InstantiateVnfRequest.extVirtualLinks: each
    ExtVirtualLinkData's extCps[].cpdId names a VnfExtCpd, whose internal CP (a VDU's CP) is
    attached to the external network `resourceId`. Ext CPs that re-expose an internal VL have no
    VDU CP of their own and are not connected here. Raises ValueError for an unknown cpdId."""
    by_id = {e.cpd_id: e for e in flavour.ext_cps}
    out: dict[tuple[str, str], str] = {}
    for ext_vl in ext_vls or []:
        for cp in ext_vl.get("extCps") or []:
            ext = by_id.get(cp.get("cpdId"))
            if ext is None:
                raise ValueError(f"extVirtualLinks[{ext_vl.get('id')}] names extCp {cp.get('cpdId')!r}, which flavour "
                                 f"{flavour.flavour_id} does not have (has: {', '.join(by_id) or 'none'})")
            if ext.int_cpd and ext_vl.get("resourceId"):
                out[(ext.int_cpd.vdu_id, ext.int_cpd.cpd_id)] = ext_vl["resourceId"]
    return out


def compute_networks(vdu_id: str, cps: list[dict[str, Any]], vl_ids: dict[str, str],
                     external: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    """ComputeAllocate.networks: a CP bound to an external VL goes there, the others on their internal VL."""
    nets = []
    for cp in cps:
        ext = external.get((vdu_id, cp["cpdId"]))
        if ext:
            nets.append({"cpdId": cp["cpdId"], "externalNetworkId": ext})
        else:
            nets.append({"cpdId": cp["cpdId"], "vlId": cp["vlId"], "vimNetworkId": vl_ids.get(cp["vlId"] or "")})
    return nets


def instance_params(params: dict[str, Any]) -> dict[str, Any]:
    """The MAGI extension keys of InstantiateVnfRequest.additionalParams a VNFC is created with:
    `keyName` (a key pair the VIM has) and `userData` (cloud-init user data). Raises ValueError."""
    extra = params.get("additionalParams") or {}
    out = {}
    for key in ("keyName", "userData"):
        if extra.get(key) is not None:
            if not isinstance(extra[key], str):
                raise ValueError(f"additionalParams.{key} must be a string")
            out[key] = extra[key]
    return out


def compute_payload(p: dict[str, Any], *, flavour: Any, inst_id: str, vim: dict[str, Any], zone: str | None,
                    vl_ids: dict[str, str], external: dict[tuple[str, str], str], sg_rules: list[dict[str, Any]],
                    extra: dict[str, Any]) -> dict[str, Any]:
    """The compute.allocate payload of a planned COMPUTE resource (`p` as stored in the op's plan)."""
    vdu = flavour.vdu(p["vdu_id"])
    payload = {"vimConnectionInfo": vim, "resourceId": p["id"], "vnfInstanceId": inst_id, "vduId": p["vdu_id"], "zoneId": zone,
               "virtualCompute": p["details"]["virtualCompute"], "swImage": p["details"]["swImage"],
               "networks": compute_networks(p["vdu_id"], p["details"]["cps"], vl_ids, external),
               "placementGroups": placement_groups(flavour, p["vdu_id"]),
               "securityGroupRules": security_rules_for(flavour, vdu, sg_rules),
               "volumes": list(p["details"].get("storageIds") or [])}
    payload.update(extra)
    return payload


# -- credentials ----------------------------------------------------------------------------------
def without_access(vims: dict[str, Any] | None) -> dict[str, Any] | None:
    """A VimConnectionInfo map without accessInfo: what any response may show (SOL003: sensitive
    children of accessInfo are never part of a response; MAGI leaves all of accessInfo out)."""
    if vims is None:
        return None
    return {k: {kk: vv for kk, vv in (v or {}).items() if kk != "accessInfo"} for k, v in vims.items()}


def redact_response(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A VnfInstance or VnfLcmOpOcc (already `public`) with no accessInfo anywhere in it."""
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    if isinstance(out.get("vimConnectionInfo"), dict):
        out["vimConnectionInfo"] = without_access(out["vimConnectionInfo"])
    params = out.get("operationParams")
    if isinstance(params, dict) and isinstance(params.get("vimConnectionInfo"), dict):
        out["operationParams"] = {**params, "vimConnectionInfo": without_access(params["vimConnectionInfo"])}
    return out


def map_access(vims: dict[str, Any] | None, fn: Any) -> dict[str, Any]:
    """A VimConnectionInfo map with fn applied to each accessInfo (seal or open); absent stays absent."""
    return {k: map_vim_access(v, fn) for k, v in (vims or {}).items()}


def map_vim_access(vim: dict[str, Any], fn: Any) -> dict[str, Any]:
    if not isinstance(vim, dict) or vim.get("accessInfo") is None:
        return vim
    return {**vim, "accessInfo": fn(vim["accessInfo"])}


def grant_request(inst: dict[str, Any], op: dict[str, Any], base: str, *, add: list[dict[str, Any]] = (),
                  remove: list[dict[str, Any]] = (), flavour_id: str | None = None, level_id: str | None = None,
                  additional: dict[str, Any] | None = None, constraints: list[dict[str, Any]] = ()) -> dict[str, Any]:
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
    if constraints:
        req["placementConstraints"] = list(constraints)
    if additional:
        req["additionalParams"] = additional
    return req


def granted_vim(grant: dict[str, Any], resource_id: str, known: dict[str, Any] | None = None) -> tuple[str, dict[str, Any], str | None]:
    """(vimConnectionId, VimConnectionInfo, VIM-level zoneId) the grant assigned to one resource.

    Per resource (SOL003 GrantInfo): its vimConnectionId, else that of its zone, else the only VIM
    connection there is; the zone is the grant's ZoneInfo.zoneId that GrantInfo.zoneId references.
    The VimConnectionInfo comes from the grant, else from `known` (the instance's or request's)."""
    infos = {**(known or {}), **(grant.get("vimConnectionInfo") or {})}
    zones = {z["id"]: z for z in grant.get("zones") or [] if z.get("id")}
    for g in (grant.get("addResources") or []) + (grant.get("removeResources") or []) + (grant.get("updateResources") or []):
        if g.get("resourceDefinitionId") != resource_id:
            continue
        zone = zones.get(g.get("zoneId") or "")
        if g.get("zoneId") and zone is None:
            raise LookupError(f"the grant places resource {resource_id} in zone {g['zoneId']}, which its zones do not define")
        conn_id = g.get("vimConnectionId") or (zone or {}).get("vimConnectionId") or (next(iter(infos)) if len(infos) == 1 else None)
        if conn_id is None:
            raise LookupError(f"the grant assigns no VIM connection to resource {resource_id}")
        if conn_id not in infos:
            raise LookupError(f"the grant assigns resource {resource_id} to VIM connection {conn_id}, which no vimConnectionInfo describes")
        if zone and zone.get("vimConnectionId") and zone["vimConnectionId"] != conn_id:
            raise LookupError(f"the grant puts resource {resource_id} on VIM connection {conn_id} but in zone {zone['id']} of {zone['vimConnectionId']}")
        return conn_id, infos[conn_id], (zone or {}).get("zoneId")
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
