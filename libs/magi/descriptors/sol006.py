"""ETSI GS NFV-SOL 006 (YANG model, YAML encoding, as OSM writes it) -> normalized model.

SOL006 leaves carry bare numbers in fixed units: virtual-memory size, storage and image
sizes in GB, min-ram in GB. ext-cpds are VNFD-wide; we attach them to every flavour.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Check, DescriptorError
from .model import (AffinityRule, Checksum, DeploymentFlavour, SecurityGroupRule, ExtCpd, InstantiationLevel, IntCpdRef,
                    MonitoringParameter, NsDeploymentFlavour, Nsd, NsInstantiationLevel,
                    NsVirtualLinkDesc, Sap, ScalingAspect, SwImage, Vdu, VduCpd,
                    VirtualCompute, VirtualLinkDesc, VirtualStorage, Vnfd, VnfProfile,
                    VnfVlConnectivity, as_str, to_gb, to_mb)
from .tosca import shape_errors

_VNFD_KEYS = ("vnfd", "etsi-nfv-vnfd:vnfd")
_NSD_KEYS = ("nsd", "etsi-nfv-nsd:nsd")
_LEGACY = ("vnfd:vnfd-catalog", "vnfd-catalog", "nsd:nsd-catalog", "nsd-catalog")


def vnfd_root(doc: Any) -> dict[str, Any] | None:
    if isinstance(doc, dict):
        for key in _VNFD_KEYS:
            if isinstance(doc.get(key), dict):
                return doc[key]
    return None


def nsd_roots(doc: Any) -> list[dict[str, Any]] | None:
    if isinstance(doc, dict):
        for key in _NSD_KEYS:
            inner = doc.get(key)
            if isinstance(inner, dict) and isinstance(inner.get("nsd"), list):
                return [n for n in inner["nsd"] if isinstance(n, dict)]
    return None


def is_legacy_osm(doc: Any) -> bool:
    return isinstance(doc, dict) and any(k in doc for k in _LEGACY)


def _by_id(items: Any, file: str, what: str, check: Check) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        if not isinstance(item, dict) or item.get("id") is None:
            raise DescriptorError(check, f"{what} entry without id", file=file)
        out[str(item["id"])] = item
    return out


def _num(value: Any, conv: Any, unit: str, file: str, where: str) -> float | None:
    if value is None:
        return None
    try:
        return conv(value, default_unit=unit)
    except ValueError as exc:
        raise DescriptorError(Check.VNFD, f"{where}: {exc}", file=file) from None


def _count(value: Any, default: int, file: str, where: str, check: Check = Check.VNFD) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise DescriptorError(check, f"{where}: {value!r} is not an integer", file=file)
    return value


def _sw_image(d: Mapping[str, Any], file: str) -> SwImage:
    where = f"sw-image-desc {d.get('id')!r}"
    cs = d.get("checksum")
    return SwImage(
        name=str(d.get("name") or d["id"]), version=as_str(d.get("version")),
        checksum=Checksum(algorithm=str(cs.get("algorithm")), hash=str(cs.get("hash")))
        if isinstance(cs, dict) else None,
        container_format=as_str(d.get("container-format")),
        disk_format=as_str(d.get("disk-format")),
        min_disk_gb=_num(d.get("min-disk"), to_gb, "GB", file, where),
        min_ram_mb=_num(d.get("min-ram"), to_mb, "GB", file, where),
        size_gb=_num(d.get("size"), to_gb, "GB", file, where), image=as_str(d.get("image")))


def parse_sol006_vnfd(doc: Any, file: str) -> Vnfd:
    with shape_errors(Check.VNFD, file):
        return _vnfd(doc, file)


def _affinity_groups(df: dict[str, Any], profiles: dict[str, Any]) -> list[AffinityRule]:
    """SOL006 df `affinity-or-anti-affinity-group` + the vdu-profiles that name each group."""
    rules = []
    for g in df.get("affinity-or-anti-affinity-group") or []:
        if not isinstance(g, dict) or "id" not in g:
            continue
        members = [k for k, p in profiles.items() if any(
            str((m or {}).get("id")) == str(g["id"]) for m in (p or {}).get("affinity-or-anti-affinity-group") or [])]
        rules.append(AffinityRule(rule_id=str(g["id"]), kind="anti-affinity" if g.get("type") == "anti-affinity" else "affinity",
                                  scope=as_str(g.get("scope")), vdu_ids=members))
    return rules


def _vnfd(doc: Any, file: str) -> Vnfd:
    root = vnfd_root(doc)
    if root is None:
        raise DescriptorError(Check.VNFD, "no SOL006 'vnfd' root"
                              + (" (legacy OSM vnfd-catalog format is not supported)"
                                 if is_legacy_osm(doc) else ""), file=file)
    for key in ("id", "product-name", "version"):
        if root.get(key) is None:
            raise DescriptorError(Check.VNFD, f"vnfd has no {key!r}", file=file)
    images = {k: _sw_image(v, file) for k, v in
              _by_id(root.get("sw-image-desc"), file, "sw-image-desc", Check.VNFD).items()}
    computes = _by_id(root.get("virtual-compute-desc"), file, "virtual-compute-desc", Check.VNFD)
    storages = _by_id(root.get("virtual-storage-desc"), file, "virtual-storage-desc", Check.VNFD)
    vdus = _by_id(root.get("vdu"), file, "vdu", Check.VNFD)
    vls = _by_id(root.get("int-virtual-link-desc"), file, "int-virtual-link-desc", Check.VNFD)

    def ref(table: dict[str, Any], key: Any, where: str) -> Any:
        if key not in table:
            raise DescriptorError(Check.NODE_REFERENCE, f"{where} refers to unknown {key!r}",
                                  file=file)
        return table[key]

    def vdu_model(vid: str, v: dict[str, Any], profile: Mapping[str, Any]) -> Vdu:
        where = f"vdu {vid!r}"
        c = ref(computes, v.get("virtual-compute-desc"), f"{where} virtual-compute-desc")
        cpu = (c.get("virtual-cpu") or {}).get("num-virtual-cpu")
        mem = (c.get("virtual-memory") or {}).get("size")
        if cpu is None or mem is None:
            raise DescriptorError(Check.VNFD, f"virtual-compute-desc {c['id']!r} needs "
                                  "virtual-cpu.num-virtual-cpu and virtual-memory.size", file=file)
        vstor = [ref(storages, s, f"{where} virtual-storage-desc")
                 for s in v.get("virtual-storage-desc") or []]
        min_i = _count(profile.get("min-number-of-instances"), 1, file, where)
        return Vdu(
            vdu_id=vid, name=str(v.get("name") or vid), description=as_str(v.get("description")),
            min_instances=min_i,
            max_instances=_count(profile.get("max-number-of-instances"), max(min_i, 1), file,
                                 where),
            virtual_compute=VirtualCompute(num_vcpus=_count(cpu, 1, file, where),
                                           memory_mb=_num(mem, to_mb, "GB", file, where)),
            storages=[VirtualStorage(id=str(s["id"]), type_of_storage=str(
                s.get("type-of-storage") or "root-storage"),
                size_gb=_num(s.get("size-of-storage"), to_gb, "GB", file, where) or 0.0,
                sw_image=images.get(s.get("sw-image-desc"))) for s in vstor],
            sw_image=ref(images, v["sw-image-desc"], f"{where} sw-image-desc")
            if v.get("sw-image-desc") is not None else None,
            cps=[VduCpd(cpd_id=str(cp["id"]), int_virtual_link_id=as_str(
                cp.get("int-virtual-link-desc")), layer_protocols=list(cp.get("layer-protocol")
                                                                       or []))
                 for cp in v.get("int-cpd") or [] if isinstance(cp, dict)],
            monitoring_parameters=[MonitoringParameter(
                id=str(m.get("id")), name=as_str(m.get("name")),
                performance_metric=str(m.get("performance-metric")),
                collection_period_s=m.get("collection-period"))
                for m in v.get("monitoring-parameter") or [] if isinstance(m, dict)])

    ext_cps = []
    for e in root.get("ext-cpd") or []:
        ic = e.get("int-cpd") or {}
        if ic:
            ref(vdus, ic.get("vdu-id"), f"ext-cpd {e.get('id')!r}")
        ext_cps.append(ExtCpd(
            cpd_id=str(e["id"]), int_cpd=IntCpdRef(vdu_id=str(ic["vdu-id"]), cpd_id=str(
                ic.get("cpd"))) if ic else None,
            int_virtual_link_id=as_str(e.get("int-virtual-link-desc")),
            layer_protocols=list(e.get("layer-protocol") or [])))
    # security-group-rule is VNFD-wide; an ext-cpd names the rules that guard it
    sg_targets: dict[str, list[str]] = {}
    for e in root.get("ext-cpd") or []:
        for rid in e.get("security-group-rule-id") or []:
            sg_targets.setdefault(str(rid), []).append(str(e["id"]))
    sg_rules = [SecurityGroupRule(
        rule_id=str(r["id"]), description=as_str(r.get("description")),
        direction=str(r.get("direction") or "ingress"), ether_type=str(r.get("ether-type") or "ipv4"),
        protocol=str(r.get("protocol") or "tcp"),
        port_range_min=_count(r.get("port-range-min"), 0, file, "security-group-rule"),
        port_range_max=_count(r.get("port-range-max"), 65535, file, "security-group-rule"),
        cpd_ids=sg_targets.get(str(r["id"]), []))
        for r in root.get("security-group-rule") or [] if isinstance(r, dict)]
    flavours = []
    for fid, df in _by_id(root.get("df"), file, "df", Check.VNFD).items():
        profiles = _by_id(df.get("vdu-profile"), file, "vdu-profile", Check.VNFD) or {
            k: {} for k in vdus}
        for k in profiles:
            ref(vdus, k, f"df {fid!r} vdu-profile")
        vl_profiles = {p.get("virtual-link-desc-id"): p for p in
                       df.get("virtual-link-profile") or [] if isinstance(p, dict)}
        aspects = []
        for a in df.get("scaling-aspect") or []:
            details = a.get("aspect-delta-details") or {}
            aspects.append(ScalingAspect(
                aspect_id=str(a["id"]), name=str(a.get("name") or a["id"]),
                description=as_str(a.get("description")),
                max_scale_level=_count(a.get("max-scale-level"), 1, file, "scaling-aspect"),
                step_deltas=[str(s) for s in details.get("step-deltas") or []]
                or [str(d["id"]) for d in details.get("deltas") or []],
                vdu_deltas={str(d["id"]): {str(x["id"]): _count(
                    x.get("number-of-instances"), 1, file, "vdu-delta")
                    for x in d.get("vdu-delta") or []} for d in details.get("deltas") or []}))
        levels = [InstantiationLevel(
            level_id=str(lv["id"]), description=as_str(lv.get("description")),
            vdu_instances={str(x["vdu-id"]): _count(x.get("number-of-instances"), 1, file,
                                                    "vdu-level")
                           for x in lv.get("vdu-level") or []},
            scale_levels={str(s["scaling-aspect-id"]): _count(s.get("scale-level"), 0, file,
                                                              "scaling-info")
                          for s in lv.get("scaling-info") or []})
            for lv in df.get("instantiation-level") or []]
        default = as_str(df.get("default-instantiation-level-id"))
        if default is None and len(levels) == 1:
            default = levels[0].level_id  # SOL006: the only level is the default
        flavours.append(DeploymentFlavour(
            flavour_id=fid, description=as_str(df.get("description")),
            vdus=[vdu_model(k, vdus[k], p) for k, p in profiles.items()],
            virtual_links=[_vnf_vl(k, v, vl_profiles.get(k, {})) for k, v in vls.items()],
            ext_cps=ext_cps, scaling_aspects=aspects, instantiation_levels=levels,
            default_instantiation_level_id=default, security_group_rules=sg_rules,
            affinity_rules=_affinity_groups(df, profiles)))
    if not flavours:
        raise DescriptorError(Check.VNFD, "vnfd has no df (deployment flavour)", file=file)
    return Vnfd(vnfd_id=str(root["id"]), provider=as_str(root.get("provider")),
                product_name=str(root["product-name"]),
                software_version=as_str(root.get("software-version")),
                descriptor_version=str(as_str(root["version"])),
                product_info_name=as_str(root.get("product-info-name")),
                vnfm_info=[str(v) for v in root.get("vnfm-info") or []], flavours=flavours,
                source_format="sol006")


def _l3(profile: Mapping[str, Any]) -> Mapping[str, Any]:
    data = profile.get("virtual-link-protocol-data") or {}
    if isinstance(data, list):
        data = data[0] if data else {}
    return data.get("l3-protocol-data") or {}


def _vnf_vl(vl_id: str, vl: Mapping[str, Any], profile: Mapping[str, Any]) -> VirtualLinkDesc:
    l3 = _l3(profile)
    return VirtualLinkDesc(
        vl_id=vl_id, description=as_str(vl.get("description")), cidr=as_str(l3.get("cidr")),
        ip_version=as_str(l3.get("ip-version")),
        layer_protocols=list((vl.get("connectivity-type") or {}).get("layer-protocol") or []))


def parse_sol006_nsd(doc: Any, file: str) -> Nsd:
    with shape_errors(Check.NSD, file):
        return _nsd(doc, file)


def _nsd(doc: Any, file: str) -> Nsd:
    roots = nsd_roots(doc)
    if roots is None:
        raise DescriptorError(Check.NSD, "no SOL006 'nsd: nsd: [...]' root"
                              + (" (legacy OSM nsd-catalog format is not supported)"
                                 if is_legacy_osm(doc) else ""), file=file)
    if len(roots) != 1:
        raise DescriptorError(Check.NSD, f"expected one NSD in the file, found {len(roots)}",
                              file=file)
    root = roots[0]
    for key in ("id", "name", "version"):
        if root.get(key) is None:
            raise DescriptorError(Check.NSD, f"nsd has no {key!r}", file=file)
    vnfd_ids = [str(v) for v in root.get("vnfd-id") or []]
    vlds = _by_id(root.get("virtual-link-desc"), file, "virtual-link-desc", Check.NSD)
    flavours = []
    for fid, df in _by_id(root.get("df"), file, "df", Check.NSD).items():
        vl_profiles = _by_id(df.get("virtual-link-profile"), file, "virtual-link-profile",
                             Check.NSD)
        profiles = []
        for vp in df.get("vnf-profile") or []:
            if str(vp.get("vnfd-id")) not in vnfd_ids:
                raise DescriptorError(Check.NODE_REFERENCE, f"vnf-profile {vp.get('id')!r} "
                                      f"names vnfd {vp.get('vnfd-id')!r}, not in vnfd-id",
                                      file=file)
            conns = []
            for c in vp.get("virtual-link-connectivity") or []:
                pid = str(c.get("virtual-link-profile-id"))
                # OSM lets the profile id name the VL desc directly when there is no profile
                vl_id = str(vl_profiles[pid].get("virtual-link-desc-id")) if pid in vl_profiles \
                    else pid
                if vl_id not in vlds:
                    raise DescriptorError(Check.NODE_REFERENCE, f"vnf-profile {vp.get('id')!r} "
                                          f"connects to unknown virtual link {pid!r}", file=file)
                conns.append(VnfVlConnectivity(
                    ns_vl_id=vl_id, virtual_link_profile_id=pid,
                    cpd_ids=[str(x.get("constituent-cpd-id"))
                             for x in c.get("constituent-cpd-id") or []]))
            where = f"vnf-profile {vp.get('id')!r}"
            min_i = _count(vp.get("min-number-of-instances"), 1, file, where, Check.NSD)
            profiles.append(VnfProfile(
                vnf_profile_id=str(vp["id"]), vnfd_id=str(vp["vnfd-id"]),
                flavour_id=as_str(vp.get("flavour-id")),
                instantiation_level_id=as_str(vp.get("instantiation-level")),
                min_instances=min_i, virtual_link_connectivity=conns,
                max_instances=_count(vp.get("max-number-of-instances"), max(min_i, 1), file,
                                     where, Check.NSD)))
        used = [str(p.get("virtual-link-desc-id")) for p in vl_profiles.values()] or list(vlds)
        levels = [NsInstantiationLevel(
            level_id=str(lv["id"]), description=as_str(lv.get("description")),
            vnf_instances={str(x.get("vnf-profile-id")): _count(x.get("number-of-instances"), 1,
                                                                file, "vnf-to-level", Check.NSD)
                           for x in lv.get("vnf-to-level-mapping") or []})
            for lv in df.get("ns-instantiation-level") or []]
        flavours.append(NsDeploymentFlavour(
            flavour_id=fid, description=as_str(df.get("description")), vnf_profiles=profiles,
            virtual_links=[_ns_vl(k, vlds[k], vl_profiles) for k in used if k in vlds],
            saps=[Sap(sap_id=str(s["id"]), description=as_str(s.get("description")),
                      ns_vl_id=as_str(s.get("virtual-link-desc")), exposed=True)
                  for s in root.get("sapd") or [] if isinstance(s, dict)],
            instantiation_levels=levels,
            default_instantiation_level_id=as_str(df.get("default-instantiation-level-id"))))
    return Nsd(nsd_id=str(root["id"]), designer=as_str(root.get("designer")),
               version=str(as_str(root["version"])), name=str(root["name"]),
               invariant_id=as_str(root.get("invariant-id")), vnfd_ids=vnfd_ids,
               pnfd_ids=[str(p) for p in root.get("pnfd-id") or []], flavours=flavours,
               source_format="sol006")


def _ns_vl(vl_id: str, vl: Mapping[str, Any], profiles: Mapping[str, Any]) -> NsVirtualLinkDesc:
    prof = next((p for p in profiles.values() if p.get("virtual-link-desc-id") == vl_id), {})
    l3 = _l3(prof)
    return NsVirtualLinkDesc(
        vl_id=vl_id, description=as_str(vl.get("description")),
        layer_protocols=list((vl.get("connectivity-type") or {}).get("layer-protocol") or []),
        cidr=as_str(l3.get("cidr")), ip_version=as_str(l3.get("ip-version")),
        mgmt_network=bool(vl.get("mgmt-network", False)))
