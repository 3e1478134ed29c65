"""ETSI GS NFV-SOL 001 (TOSCA) VNFD and NSD -> the normalized model.

A VNFD is a top template holding the VNF node (identity) plus one topology template per
deployment flavour, chosen by `substitution_mappings` (node_type + flavour_id). A single
template with no substitution is one flavour named by the VNF node's `flavour_id`.
"""
from __future__ import annotations

import posixpath
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, Generic, NamedTuple, TypeVar

from ._yaml import load_member
from .errors import Check, DescriptorError
from .model import (AffinityRule, Artifact, Checksum, DeploymentFlavour, ExtCpd, IntCpdRef,
                    InstantiationLevel, LcmOperation, MonitoringParameter, NsDeploymentFlavour,
                    Nsd, NsInstantiationLevel, NsVirtualLinkDesc, Sap, ScalingAspect,
                    SecurityGroupRule, SupportedVnfInterface, SwImage, Vdu, VduCpd, VirtualCompute,
                    VirtualLinkDesc, VirtualStorage, Vnfd, VnfProfile, VnfVlConnectivity, as_str,
                    to_gb, to_mb, to_seconds)
from .tosca import (ToscaSet, check_references, named_items, requirements, shape_errors,
                    substitution_property, substitution_requirements)
from .tosca import integer as _int
from .tosca import node_artifacts as _artifacts
from .tosca import package_path as _package_path
from .tosca import scalar as _size

N = "tosca.nodes.nfv."
P = "tosca.policies.nfv."
VNF, NS, PNF = N + "VNF", N + "NS", N + "PNF"
_STORAGE = {N + "Vdu.VirtualBlockStorage": ("BlockStorage", "virtual_block_storage_data"),
            N + "Vdu.VirtualObjectStorage": ("ObjectStorage", "virtual_object_storage_data"),
            N + "Vdu.VirtualFileStorage": ("FileStorage", "virtual_file_storage_data")}
_KINDS = [("vnf", VNF), ("ns", NS), ("pnf", PNF), ("vdu", N + "Vdu.Compute"),
          *((("storage", t) for t in _STORAGE)), ("vducp", N + "VduCp"),
          ("extcp", N + "VnfExtCp"), ("vl", N + "VnfVirtualLink"), ("nsvl", N + "NsVirtualLink"),
          ("sap", N + "Sap")]
SW_IMAGE_ARTIFACT = "tosca.artifacts.nfv.SwImage"

D = TypeVar("D")


class Parsed(NamedTuple, Generic[D]):
    descriptor: D
    files: list[str]  # the TOSCA templates read, entry first


# --------------------------------------------------------------------------- helpers


def _template_files(ts: ToscaSet, entry: str) -> list[str]:
    return [entry, *(p for p in ts.templates if p != entry)]


def _kind(ts: ToscaSet, type_name: Any) -> str | None:
    return next((k for k, base in _KINDS if ts.is_a(type_name, base)), None)


def _nodes(tt: Mapping[str, Any], file: str) -> dict[str, dict[str, Any]]:
    nodes = tt.get("node_templates") or {}
    for name, node in nodes.items():
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise DescriptorError(Check.TOSCA, f"node template {name!r} has no type", file=file)
    return nodes


def _find(ts: ToscaSet, tt: Mapping[str, Any], kind: str, file: str) -> tuple[str, dict] | None:
    return next(((n, d) for n, d in _nodes(tt, file).items() if _kind(ts, d["type"]) == kind),
                None)


def _flavour_templates(ts: ToscaSet, entry: str, base: str) -> list[tuple[str, dict]]:
    def substitutes(doc: Mapping[str, Any]) -> bool:
        sm = (doc.get("topology_template") or {}).get("substitution_mappings") or {}
        return ts.is_a(sm.get("node_type"), base)

    found = [(p, d["topology_template"]) for p, d in ts.templates.items() if substitutes(d)]
    if found:
        return found
    # NSD flavours (SOL001 Annex A.11) may sit next to the entry without being imported
    folder = posixpath.dirname(entry)
    for path in sorted(ts.files):
        if path in ts.templates or posixpath.dirname(path) != folder \
                or not path.endswith((".yaml", ".yml")):
            continue
        doc = load_member(ts.files, path)
        sm = ((doc.get("topology_template") or {}).get("substitution_mappings")
              if isinstance(doc, dict) and "tosca_definitions_version" in doc else None)
        if isinstance(sm, dict) and sm.get("node_type"):
            ts.load(path)
            if substitutes(doc):
                found.append((path, doc["topology_template"]))
    return found


def _flavour_id(ts: ToscaSet, path: str, tt: Mapping[str, Any], kind: str) -> str | None:
    fid = substitution_property(tt, "flavour_id")
    if fid is None and (hit := _find(ts, tt, kind, path)):
        fid = ts.prop(hit[1], "flavour_id", tt.get("inputs"), path, hit[0])
    return as_str(fid)


# --------------------------------------------------------------------------- VNFD


def parse_sol001_vnfd(files: Mapping[str, bytes], entry: str) -> Parsed[Vnfd]:
    ts = ToscaSet(files)
    ts.load(entry)
    with shape_errors(Check.VNFD, entry) as ctx:
        return Parsed(_vnfd(ts, entry, ctx), _template_files(ts, entry))


def _vnfd(ts: ToscaSet, entry: str, ctx: SimpleNamespace) -> Vnfd:
    tt = ts.templates[entry].get("topology_template") or {}
    hit = _find(ts, tt, "vnf", entry)
    if hit is None:
        raise DescriptorError(Check.VNFD, f"no node derived from {VNF} in the entry template",
                              file=entry)
    vnf_name, vnf = hit
    inputs = tt.get("inputs")

    def ident(prop: str, required: bool = True) -> Any:
        value = ts.prop(vnf, prop, inputs, entry, vnf_name)
        if required and value is None:
            raise DescriptorError(Check.VNFD, f"VNF node {vnf_name!r} has no {prop}", file=entry)
        return value

    flavours: list[DeploymentFlavour] = []
    ops: list[LcmOperation] = []
    artifacts: list[Artifact] = []
    templates = _flavour_templates(ts, entry, VNF) or [(entry, tt)]
    for path, ftt in templates:
        ctx.file = path
        fid = _flavour_id(ts, path, ftt, "vnf")
        if not fid:
            raise DescriptorError(Check.VNFD, "cannot tell the flavour_id of this deployment "
                                  "flavour", file=path)
        if any(f.flavour_id == fid for f in flavours):
            raise DescriptorError(Check.VNFD, f"deployment flavour {fid!r} defined twice",
                                  file=path)
        flavour, fops, farts = _vnf_flavour(ts, path, ftt, fid)
        flavours.append(flavour)
        ops += fops
        artifacts += farts
    ctx.file = entry
    if entry not in {p for p, _ in templates}:
        ops = _lcm_ops(vnf, entry, vnf_name, None) + ops
        artifacts = _node_artifacts(vnf, entry, vnf_name, None) + artifacts
    return Vnfd(vnfd_id=as_str(ident("descriptor_id")), provider=as_str(ident("provider")),
                product_name=as_str(ident("product_name")),
                software_version=as_str(ident("software_version")),
                descriptor_version=as_str(ident("descriptor_version")),
                product_info_name=as_str(ident("product_info_name", False)),
                vnfm_info=[str(v) for v in ident("vnfm_info", False) or []],
                flavours=flavours, lcm_operations=ops, artifacts=artifacts,
                source_format="sol001")


def _lcm_ops(node: Mapping[str, Any], file: str, name: str,
             flavour_id: str | None) -> list[LcmOperation]:
    arts = _artifacts(node, file, name)
    out: list[LcmOperation] = []
    for iname, idef in (node.get("interfaces") or {}).items():
        if not isinstance(idef, dict):
            continue
        ops = idef.get("operations") if isinstance(idef.get("operations"), dict) else {
            k: v for k, v in idef.items() if k not in ("type", "inputs", "notifications")}
        for op, odef in ops.items():
            impl = odef.get("implementation") if isinstance(odef, dict) else odef
            if isinstance(impl, dict):
                impl = impl.get("primary")
            impl = impl if isinstance(impl, str) else None  # `[]`: default LCM, no script
            afile = None
            if impl in arts:
                afile = arts[impl][1]
            elif impl and ("/" in impl or "." in impl):
                afile = _package_path(file, impl, f"node {name!r}")
            out.append(LcmOperation(interface=iname, name=op, implementation=impl,
                                    artifact_file=afile, flavour_id=flavour_id))
    return out


def _node_artifacts(node: Mapping[str, Any], file: str, name: str,
                    flavour_id: str | None) -> list[Artifact]:
    return [Artifact(name=a, artifact_type=t, file=f, node=name, flavour_id=flavour_id)
            for a, (t, f) in _artifacts(node, file, name).items()]


def _sw_image(ts: ToscaSet, node: Mapping[str, Any], file: str, name: str) -> SwImage | None:
    props = node.get("properties") or {}
    image_art = next(((a, d) for a, d in (node.get("artifacts") or {}).items()
                      if isinstance(d, dict) and ts.is_a(d.get("type"), SW_IMAGE_ARTIFACT,
                                                         "artifact_types")), None)
    data = props.get("sw_image_data") or (image_art[1].get("properties") if image_art else None)
    if not data and not image_art:
        return None
    data = data or {}
    where = f"node {name!r} sw_image_data"
    cs = data.get("checksum")
    checksum = (Checksum(algorithm=str(cs.get("algorithm")), hash=str(cs.get("hash")))
                if isinstance(cs, dict) else None)
    return SwImage(
        name=str(data.get("name") or (image_art[0] if image_art else name)),
        version=as_str(data.get("version")), checksum=checksum,
        container_format=as_str(data.get("container_format")),
        disk_format=as_str(data.get("disk_format")),
        min_disk_gb=_size(data.get("min_disk"), to_gb, file, where),
        min_ram_mb=_size(data.get("min_ram"), to_mb, file, where),
        size_gb=_size(data.get("size"), to_gb, file, where),
        file=(_package_path(file, image_art[1]["file"], f"node {name!r}")
              if image_art and isinstance(image_art[1].get("file"), str) else None))


def _vl(name: str, node: Mapping[str, Any]) -> dict[str, Any]:
    props = node.get("properties") or {}
    profile = props.get("vl_profile") or {}
    protos = profile.get("virtual_link_protocol_data") or [{}]
    l3 = (protos[0] or {}).get("l3_protocol_data") or {}
    return dict(vl_id=name, description=as_str(props.get("description")),
                cidr=as_str(l3.get("cidr")), ip_version=as_str(l3.get("ip_version")),
                layer_protocols=list((props.get("connectivity_type") or {})
                                     .get("layer_protocols") or []),
                min_bitrate=(profile.get("min_bitrate_requirements") or {}).get("root"),
                max_bitrate=(profile.get("max_bitrate_requirements") or {}).get("root"))


def _vdu(ts: ToscaSet, name: str, node: Mapping[str, Any], file: str,
         storages: dict[str, VirtualStorage], cps: list[VduCpd]) -> Vdu:
    props = node.get("properties") or {}
    where = f"VDU {name!r}"
    prof = props.get("vdu_profile")
    if not isinstance(prof, dict):
        raise DescriptorError(Check.VNFD, f"{where} has no vdu_profile", file=file)
    vc = ((node.get("capabilities") or {}).get("virtual_compute") or {}).get("properties") or {}
    mem = (vc.get("virtual_memory") or {}).get("virtual_mem_size")
    cpu = (vc.get("virtual_cpu") or {}).get("num_virtual_cpu")
    if mem is None or cpu is None:
        raise DescriptorError(Check.VNFD, f"{where}: virtual_compute needs virtual_memory."
                              "virtual_mem_size and virtual_cpu.num_virtual_cpu", file=file)
    local = (vc.get("virtual_local_storage") or [{}])[0] or {}
    hint = next((c.get("requested_additional_capability_name")
                 for c in (vc.get("requested_additional_capabilities") or {}).values()
                 if isinstance(c, dict) and c.get("requested_additional_capability_name")), None)
    mine: list[VirtualStorage] = []
    for req, target in requirements(node):
        if req == "virtual_storage" and target:
            if target not in storages:
                raise DescriptorError(Check.NODE_REFERENCE, f"{where} virtual_storage "
                                      f"{target!r} is not a storage node", file=file)
            mine.append(storages[target])
    mps = props.get("monitoring_parameters") or []
    mp_items = list(mps.items()) if isinstance(mps, dict) else [(None, m) for m in mps]
    min_i = _int(prof.get("min_number_of_instances"), file, where, 1)
    max_i = _int(prof.get("max_number_of_instances"), file, where, min_i)
    if min_i is None or max_i is None or not 0 <= min_i <= max_i:
        raise DescriptorError(Check.VNFD, f"{where}: instances {min_i}..{max_i} are not a "
                              "valid range", file=file)
    return Vdu(
        vdu_id=name, name=str(props.get("name") or name),
        description=as_str(props.get("description")),
        min_instances=min_i, max_instances=max_i,
        virtual_compute=VirtualCompute(
            num_vcpus=_int(cpu, file, where), memory_mb=_size(mem, to_mb, file, where),
            local_disk_gb=_size(local.get("size_of_storage"), to_gb, file, where),
            flavor_hint=as_str(hint)),
        storages=mine, sw_image=_sw_image(ts, node, file, name), cps=cps,
        monitoring_parameters=[MonitoringParameter(
            id=str(k or m.get("name")), name=as_str(m.get("name")),
            performance_metric=str(m.get("performance_metric")),
            collection_period_s=_size(m.get("collection_period"), to_seconds, file, where))
            for k, m in mp_items if isinstance(m, dict)])


def _vnf_flavour(ts: ToscaSet, file: str, tt: Mapping[str, Any], fid: str
                 ) -> tuple[DeploymentFlavour, list[LcmOperation], list[Artifact]]:
    check_references(ts, tt, file)
    nodes = _nodes(tt, file)
    kind = {n: _kind(ts, d["type"]) for n, d in nodes.items()}
    of = lambda k: [(n, nodes[n]) for n in nodes if kind[n] == k]  # noqa: E731
    err = lambda msg: DescriptorError(Check.VNFD, msg, file=file)  # noqa: E731

    storages: dict[str, VirtualStorage] = {}
    for name, node in of("storage"):
        type_of, data_key = next(v for t, v in _STORAGE.items() if ts.is_a(node["type"], t))
        data = (node.get("properties") or {}).get(data_key) or {}
        size = data.get("size_of_storage", data.get("max_size_of_storage"))
        storages[name] = VirtualStorage(
            id=name, type_of_storage=type_of,
            size_gb=_size(size, to_gb, file, f"storage {name!r}") or 0.0,
            sw_image=_sw_image(ts, node, file, name))
    vdu_cps: dict[str, list[VduCpd]] = {n: [] for n, _ in of("vdu")}
    bindings: dict[str, str] = {}
    for name, node in of("vducp"):
        reqs = dict(requirements(node))
        binding, vl = reqs.get("virtual_binding"), reqs.get("virtual_link")
        if binding not in vdu_cps:
            raise DescriptorError(Check.NODE_REFERENCE, f"VduCp {name!r} virtual_binding "
                                  f"{binding!r} is not a VDU of this flavour", file=file)
        if vl is not None and kind.get(vl) != "vl":
            raise DescriptorError(Check.NODE_REFERENCE, f"VduCp {name!r} virtual_link {vl!r} "
                                  "is not a VnfVirtualLink", file=file)
        props = node.get("properties") or {}
        bindings[name] = binding
        vdu_cps[binding].append(VduCpd(
            cpd_id=name, order=_int(props.get("order"), file, f"VduCp {name!r}"),
            int_virtual_link_id=vl, layer_protocols=list(props.get("layer_protocols") or []),
            vnic_type=as_str(props.get("vnic_type"))))
    ext: dict[str, ExtCpd] = {}
    for name, node in of("extcp"):
        ivl = dict(requirements(node)).get("internal_virtual_link")
        ext[name] = ExtCpd(cpd_id=name, int_virtual_link_id=ivl, layer_protocols=list(
            (node.get("properties") or {}).get("layer_protocols") or []))
    for req, (target, *_rest) in ((r, m) for r, m in substitution_requirements(tt) if m):
        if kind.get(target) == "vducp":
            cp = next(c for c in vdu_cps[bindings[target]] if c.cpd_id == target)
            ext[target] = ExtCpd(cpd_id=target, int_cpd=IntCpdRef(vdu_id=bindings[target],
                                 cpd_id=target), layer_protocols=cp.layer_protocols,
                                 external_requirement=req)
        elif kind.get(target) == "extcp":
            ext[target] = ext[target].model_copy(update={"external_requirement": req})

    aspects: dict[str, ScalingAspect] = {}
    levels: dict[str, InstantiationLevel] = {}
    default_level: str | None = None
    initial: dict[str, int] = {}
    rules: list[AffinityRule] = []
    sg_rules: list[SecurityGroupRule] = []
    interfaces: list[SupportedVnfInterface] = []
    later: list[tuple[str, dict]] = []  # policies that refer to aspects/levels
    groups = tt.get("groups") or {}

    def vdu_targets(pname: str, pol: Mapping[str, Any]) -> list[str]:
        targets = list(pol.get("targets") or [])
        for t in targets:
            if kind.get(t) != "vdu":
                raise err(f"policy {pname!r} targets {t!r}, which is not a VDU")
        return targets

    def cp_targets(pname: str, pol: Mapping[str, Any]) -> list[str]:
        targets = [str(t) for t in pol.get("targets") or []]
        for t in targets:
            if kind.get(t) not in ("vducp", "extcp"):
                raise err(f"policy {pname!r} targets {t!r}, which is not a VduCp or VnfExtCp")
        return targets

    for pname, pol in named_items(tt.get("policies")):
        pol = pol or {}
        ptype, props = pol.get("type"), pol.get("properties") or {}
        if ts.is_a(ptype, P + "ScalingAspects", "policy_types"):
            for aid, a in (props.get("aspects") or {}).items():
                aspects[aid] = ScalingAspect(
                    aspect_id=aid, name=str(a.get("name") or aid),
                    description=as_str(a.get("description")),
                    max_scale_level=_int(a.get("max_scale_level"), file, f"aspect {aid!r}", 0),
                    step_deltas=[str(s) for s in a.get("step_deltas") or []])
        elif ts.is_a(ptype, P + "InstantiationLevels", "policy_types"):
            default_level = as_str(props.get("default_level"))
            for lid, lv in (props.get("levels") or {}).items():
                lv = lv or {}
                levels[lid] = InstantiationLevel(
                    level_id=lid, description=as_str(lv.get("description")),
                    scale_levels={a: _int((s or {}).get("scale_level"), file, f"level {lid!r}",
                                          0) for a, s in (lv.get("scale_info") or {}).items()})
        elif ts.is_a(ptype, P + "VduInitialDelta", "policy_types"):
            n = _int((props.get("initial_delta") or {}).get("number_of_instances"), file, pname)
            initial.update({t: n for t in vdu_targets(pname, pol)})
        elif any(ts.is_a(ptype, P + t, "policy_types") for t in ("AffinityRule",
                                                                 "AntiAffinityRule")):
            members: list[str] = []
            for t in pol.get("targets") or []:
                members += (groups.get(t) or {}).get("members") or [] if t in groups else [t]
            rules.append(AffinityRule(
                rule_id=pname, scope=as_str(props.get("scope")),
                kind="anti-affinity" if ts.is_a(ptype, P + "AntiAffinityRule", "policy_types")
                else "affinity", vdu_ids=[m for m in members if kind.get(m) == "vdu"]))
        elif ts.is_a(ptype, P + "SecurityGroupRule", "policy_types"):
            sg_rules.append(SecurityGroupRule(
                rule_id=pname, description=as_str(props.get("description")),
                direction=str(props.get("direction") or "ingress"),
                ether_type=str(props.get("ether_type") or "ipv4"),
                protocol=str(props.get("protocol") or "tcp"),
                port_range_min=_int(props.get("port_range_min", 0), file, pname, 0),
                port_range_max=_int(props.get("port_range_max", 65535), file, pname, 65535),
                cpd_ids=cp_targets(pname, pol)))
        elif ts.is_a(ptype, P + "SupportedVnfInterface", "policy_types"):
            interfaces.append(SupportedVnfInterface(
                interface_name=str(props.get("interface_name") or pname),
                cpd_ids=cp_targets(pname, pol), details=dict(props.get("details") or {})))
        else:
            later.append((pname, pol))
    for pname, pol in later:
        ptype, props = pol.get("type"), pol.get("properties") or {}
        if ts.is_a(ptype, P + "VduScalingAspectDeltas", "policy_types"):
            aspect = aspects.get(props.get("aspect"))
            if aspect is None:
                raise err(f"policy {pname!r} names unknown scaling aspect {props.get('aspect')!r}")
            for delta, d in (props.get("deltas") or {}).items():
                n = _int((d or {}).get("number_of_instances"), file, pname)
                aspect.vdu_deltas.setdefault(delta, {}).update(
                    {t: n for t in vdu_targets(pname, pol)})
        elif ts.is_a(ptype, P + "VduInstantiationLevels", "policy_types"):
            for lid, lv in (props.get("levels") or {}).items():
                level = levels.setdefault(lid, InstantiationLevel(level_id=lid))
                n = _int((lv or {}).get("number_of_instances"), file, pname)
                level.vdu_instances.update({t: n for t in vdu_targets(pname, pol)})
    for lid, level in levels.items():
        for aid in level.scale_levels:
            if aid not in aspects:
                raise err(f"instantiation level {lid!r} names unknown scaling aspect {aid!r}")
    if default_level is not None and default_level not in levels:
        raise err(f"default instantiation level {default_level!r} is not defined")

    vdus = [_vdu(ts, n, d, file, storages, vdu_cps[n]) for n, d in of("vdu")]
    for vdu in vdus:
        vdu.initial_instances = initial.get(vdu.vdu_id)
    self_node = of("vnf")
    description = None
    ops: list[LcmOperation] = []
    arts: list[Artifact] = []
    for name, node in self_node:
        description = description or as_str((node.get("properties") or {})
                                            .get("flavour_description"))
        ops += _lcm_ops(node, file, name, fid)
    for name, node in nodes.items():
        arts += _node_artifacts(node, file, name, fid)
    flavour = DeploymentFlavour(
        flavour_id=fid, description=description, vdus=vdus,
        virtual_links=[VirtualLinkDesc(**_vl(n, d)) for n, d in of("vl")],
        ext_cps=list(ext.values()), scaling_aspects=list(aspects.values()),
        instantiation_levels=list(levels.values()), default_instantiation_level_id=default_level,
        affinity_rules=rules, security_group_rules=sg_rules, supported_interfaces=interfaces)
    return flavour, ops, arts


# --------------------------------------------------------------------------- NSD


def parse_sol001_nsd(files: Mapping[str, bytes], entry: str) -> Parsed[Nsd]:
    ts = ToscaSet(files)
    ts.load(entry)
    with shape_errors(Check.NSD, entry) as ctx:
        return Parsed(_nsd(ts, entry, ctx), _template_files(ts, entry))


def _nsd(ts: ToscaSet, entry: str, ctx: SimpleNamespace) -> Nsd:
    tt = ts.templates[entry].get("topology_template") or {}
    hit = _find(ts, tt, "ns", entry)
    if hit is None:
        raise DescriptorError(Check.NSD, f"no node derived from {NS} in the entry template",
                              file=entry)
    ns_name, ns = hit

    def ident(prop: str, required: bool = True) -> Any:
        value = ts.prop(ns, prop, tt.get("inputs"), entry, ns_name)
        if required and value is None:
            raise DescriptorError(Check.NSD, f"NS node {ns_name!r} has no {prop}", file=entry)
        return as_str(value)

    flavours: list[NsDeploymentFlavour] = []
    pnfd_ids: list[str] = []
    for path, ftt in _flavour_templates(ts, entry, NS) or [(entry, tt)]:
        ctx.file = path
        fid = _flavour_id(ts, path, ftt, "ns")
        if not fid:
            raise DescriptorError(Check.NSD, "cannot tell the flavour_id of this NS "
                                  "deployment flavour", file=path)
        flavour, pnfds = _ns_flavour(ts, path, ftt, fid)
        flavours.append(flavour)
        pnfd_ids += [p for p in pnfds if p not in pnfd_ids]
    ctx.file = entry
    vnfd_ids: list[str] = []
    for f in flavours:
        vnfd_ids += [p.vnfd_id for p in f.vnf_profiles if p.vnfd_id not in vnfd_ids]
    return Nsd(nsd_id=ident("descriptor_id"), designer=ident("designer"),
              version=ident("version"), name=ident("name"),
              invariant_id=ident("invariant_id", False), vnfd_ids=vnfd_ids, pnfd_ids=pnfd_ids,
              flavours=flavours, source_format="sol001")


def _ns_flavour(ts: ToscaSet, file: str, tt: Mapping[str, Any], fid: str
                ) -> tuple[NsDeploymentFlavour, list[str]]:
    check_references(ts, tt, file)
    nodes = _nodes(tt, file)
    kind = {n: _kind(ts, d["type"]) for n, d in nodes.items()}
    inputs = tt.get("inputs")
    exposed = {m[0] for _, m in substitution_requirements(tt) if m}
    profiles: list[VnfProfile] = []
    pnfds: list[str] = []
    saps: list[Sap] = []
    for name, node in nodes.items():
        props = node.get("properties") or {}
        links = [(r, t) for r, t in requirements(node) if t and kind.get(t) == "nsvl"]
        if kind[name] == "vnf":
            vnfd_id = ts.prop(node, "descriptor_id", inputs, file, name)
            if vnfd_id is None:
                raise DescriptorError(Check.NSD, f"VNF node {name!r} has no descriptor_id",
                                      file=file)
            vp = props.get("vnf_profile") or {}
            conn: dict[str, list[str]] = {}
            for req, vl in links:
                conn.setdefault(vl, []).append(req)
            profiles.append(VnfProfile(
                vnf_profile_id=name, vnfd_id=str(vnfd_id),
                flavour_id=as_str(ts.prop(node, "flavour_id", inputs, file, name)),
                instantiation_level_id=as_str(vp.get("instantiation_level")),
                min_instances=_int(vp.get("min_number_of_instances"), file, name, 1),
                max_instances=_int(vp.get("max_number_of_instances"), file, name, 1),
                virtual_link_connectivity=[VnfVlConnectivity(ns_vl_id=vl, cpd_ids=cpds)
                                           for vl, cpds in conn.items()]))
        elif kind[name] == "pnf":
            if (pid := as_str(ts.prop(node, "descriptor_id", inputs, file, name))) is not None:
                pnfds.append(pid)
        elif kind[name] == "sap":
            saps.append(Sap(sap_id=name, description=as_str(props.get("description")),
                            layer_protocols=list(props.get("layer_protocols") or []),
                            ns_vl_id=links[0][1] if links else None, exposed=name in exposed))
    levels: dict[str, NsInstantiationLevel] = {}
    default_level = None
    for pname, pol in named_items(tt.get("policies")):
        pol = pol or {}
        ptype, props = pol.get("type"), pol.get("properties") or {}
        if ts.is_a(ptype, P + "NsInstantiationLevels", "policy_types"):
            default_level = as_str(props.get("default_level"))
            for lid, lv in (props.get("ns_levels") or props.get("levels") or {}).items():
                levels.setdefault(lid, NsInstantiationLevel(level_id=lid)).description = \
                    as_str((lv or {}).get("description"))
        elif ts.is_a(ptype, P + "VnfToInstantiationLevelMapping", "policy_types"):
            for lid, n in (props.get("number_of_instances") or {}).items():
                level = levels.setdefault(str(lid), NsInstantiationLevel(level_id=str(lid)))
                level.vnf_instances.update({t: _int(n, file, pname) for t in
                                            pol.get("targets") or [] if kind.get(t) == "vnf"})
    return NsDeploymentFlavour(
        flavour_id=fid, vnf_profiles=profiles, saps=saps,
        virtual_links=[NsVirtualLinkDesc(**_vl(n, d)) for n, d in nodes.items()
                       if kind[n] == "nsvl"],
        instantiation_levels=list(levels.values()),
        default_instantiation_level_id=default_level), pnfds
