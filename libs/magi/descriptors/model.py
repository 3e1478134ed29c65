"""One normalized, format-neutral descriptor model (VNFD and NSD).

SOL001 (TOSCA) and SOL006 (YANG/YAML) parsers both produce these objects, so the NFVO/VNFM
never look at the source format again. Ids are the descriptor's own ids (node names in
SOL001, `id` leaves in SOL006).

Sizes: `*_mb` / `*_gb` follow the convention of the VIMs we drive (Nova `memory_mb`, flavour
disk in GB, OSM's `GB * 1024`): MB and MiB are both 2**20 bytes, GB and GiB 2**30. So
"512 MB" -> 512.0, "1 GB" -> 1024.0 MB, "1.75 GiB" -> 1.75 GB. `size_to_bytes(strict=True)`
gives the exact TOSCA (SI) value when someone needs it.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import Check, DescriptorError

SourceFormat = Literal["sol001", "sol006"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- scalar units

_BINARY = {"b": 1, "kb": 2**10, "kib": 2**10, "mb": 2**20, "mib": 2**20,
           "gb": 2**30, "gib": 2**30, "tb": 2**40, "tib": 2**40}
_SI = {"b": 1, "kb": 10**3, "kib": 2**10, "mb": 10**6, "mib": 2**20,
       "gb": 10**9, "gib": 2**30, "tb": 10**12, "tib": 2**40}
_SCALAR = re.compile(r"^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([A-Za-z]+)\s*$")


def size_to_bytes(value: Any, *, default_unit: str | None = None, strict: bool = False) -> float:
    """TOSCA scalar-unit.size ("512 MB", "1.75 GiB") -> bytes. Units are case-insensitive.

    A bare number is taken in `default_unit` (SOL006 leaves carry numbers in a fixed unit);
    without one it is an error. `strict=True` reads kB/MB/GB as powers of ten (TOSCA).
    """
    table = _SI if strict else _BINARY
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, (int, float)):
        if default_unit is None:
            raise ValueError(f"size {value!r} has no unit")
        number, unit = float(value), default_unit
    elif isinstance(value, str):
        m = _SCALAR.match(value)
        if not m:
            raise ValueError(f"not a TOSCA scalar-unit.size: {value!r}")
        number, unit = float(m.group(1)), m.group(2)
    else:
        raise ValueError(f"not a size: {value!r}")
    factor = table.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown size unit {unit!r} in {value!r}")
    if number < 0:
        raise ValueError(f"negative size {value!r}")
    return number * factor


def to_mb(value: Any, *, default_unit: str | None = None) -> float:
    return size_to_bytes(value, default_unit=default_unit) / 2**20


def to_gb(value: Any, *, default_unit: str | None = None) -> float:
    return size_to_bytes(value, default_unit=default_unit) / 2**30


_TIME = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def to_seconds(value: Any) -> float:
    """TOSCA scalar-unit.time ("30 s", "1 m") -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _SCALAR.match(str(value))
    if not m or m.group(2).lower() not in _TIME:
        raise ValueError(f"not a TOSCA scalar-unit.time: {value!r}")
    return float(m.group(1)) * _TIME[m.group(2).lower()]


# --------------------------------------------------------------------------- VNFD


class Checksum(_Model):
    algorithm: str
    hash: str


class SwImage(_Model):
    name: str
    version: str | None = None
    checksum: Checksum | None = None
    container_format: str | None = None
    disk_format: str | None = None
    min_disk_gb: float | None = None
    min_ram_mb: float | None = None
    size_gb: float | None = None
    file: str | None = None  # package path of the image artifact; None: the VIM has it by name
    image: str | None = None  # SOL006 `image`: the VIM-side image reference


class VirtualCompute(_Model):
    num_vcpus: int
    memory_mb: float
    local_disk_gb: float | None = None
    flavor_hint: str | None = None  # requested_additional_capability_name, e.g. "m1.tiny"


class VirtualStorage(_Model):
    id: str
    type_of_storage: str = "BlockStorage"
    size_gb: float
    sw_image: SwImage | None = None


class VduCpd(_Model):
    cpd_id: str
    order: int | None = None
    int_virtual_link_id: str | None = None
    layer_protocols: list[str] = Field(default_factory=list)
    vnic_type: str | None = None


class MonitoringParameter(_Model):
    id: str
    name: str | None = None
    performance_metric: str
    collection_period_s: float | None = None


class Vdu(_Model):
    vdu_id: str
    name: str
    description: str | None = None
    min_instances: int = 1
    max_instances: int = 1
    initial_instances: int | None = None  # VduInitialDelta
    virtual_compute: VirtualCompute
    storages: list[VirtualStorage] = Field(default_factory=list)
    sw_image: SwImage | None = None
    cps: list[VduCpd] = Field(default_factory=list)
    monitoring_parameters: list[MonitoringParameter] = Field(default_factory=list)


class VirtualLinkDesc(_Model):
    vl_id: str
    description: str | None = None
    cidr: str | None = None
    ip_version: str | None = None
    layer_protocols: list[str] = Field(default_factory=list)
    min_bitrate: int | None = None  # root bitrate, bit/s
    max_bitrate: int | None = None


class IntCpdRef(_Model):
    vdu_id: str
    cpd_id: str


class ExtCpd(_Model):
    cpd_id: str
    int_cpd: IntCpdRef | None = None  # ext CP realised by a VDU's CP
    int_virtual_link_id: str | None = None  # or re-exposing an internal VL (VnfExtCp)
    layer_protocols: list[str] = Field(default_factory=list)
    external_requirement: str | None = None  # SOL001 substitution requirement name


class ScalingAspect(_Model):
    aspect_id: str
    name: str
    description: str | None = None
    max_scale_level: int
    step_deltas: list[str] = Field(default_factory=list)
    vdu_deltas: dict[str, dict[str, int]] = Field(default_factory=dict)  # delta -> vdu -> n


class InstantiationLevel(_Model):
    level_id: str
    description: str | None = None
    vdu_instances: dict[str, int] = Field(default_factory=dict)
    scale_levels: dict[str, int] = Field(default_factory=dict)  # aspect -> level


class AffinityRule(_Model):
    rule_id: str
    kind: Literal["affinity", "anti-affinity"]
    scope: str | None = None
    vdu_ids: list[str] = Field(default_factory=list)


class SecurityGroupRule(_Model):
    """SOL001 `tosca.policies.nfv.SecurityGroupRule` / SOL006 `security-group-rule`, with the CPs it guards."""
    rule_id: str
    description: str | None = None
    direction: Literal["ingress", "egress"] = "ingress"
    ether_type: Literal["ipv4", "ipv6"] = "ipv4"
    protocol: str = "tcp"
    port_range_min: int = 0
    port_range_max: int = 65535
    cpd_ids: list[str] = Field(default_factory=list)  # VduCp or VnfExtCp ids


class SupportedVnfInterface(_Model):
    """SOL001 `tosca.policies.nfv.SupportedVnfInterface`: where the VNF's indicator/configuration API is."""
    interface_name: str  # vnf_indicator | vnf_configuration
    cpd_ids: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class LcmOperation(_Model):
    interface: str = "Vnflcm"
    name: str  # e.g. instantiate_start
    implementation: str | None = None  # artifact name or file as written
    artifact_file: str | None = None  # package path, when it names a file
    flavour_id: str | None = None  # None: declared on the top-level VNF node


class Artifact(_Model):
    name: str
    artifact_type: str | None = None
    file: str  # package path (or a URL)
    node: str | None = None
    flavour_id: str | None = None


class DeploymentFlavour(_Model):
    flavour_id: str
    description: str | None = None
    vdus: list[Vdu] = Field(default_factory=list)
    virtual_links: list[VirtualLinkDesc] = Field(default_factory=list)
    ext_cps: list[ExtCpd] = Field(default_factory=list)
    scaling_aspects: list[ScalingAspect] = Field(default_factory=list)
    instantiation_levels: list[InstantiationLevel] = Field(default_factory=list)
    default_instantiation_level_id: str | None = None
    affinity_rules: list[AffinityRule] = Field(default_factory=list)
    security_group_rules: list[SecurityGroupRule] = Field(default_factory=list)
    supported_interfaces: list[SupportedVnfInterface] = Field(default_factory=list)

    def vdu(self, vdu_id: str) -> Vdu:
        for vdu in self.vdus:
            if vdu.vdu_id == vdu_id:
                return vdu
        raise DescriptorError(Check.VNFD, f"flavour {self.flavour_id!r} has no VDU {vdu_id!r}")

    def instances_for_level(self, level_id: str | None = None) -> dict[str, int]:
        """VNFC count per VDU at an instantiation level (None: the default level).

        Without any level: each VDU's initial delta, else its minimum. A level that gives
        no explicit count for a VDU derives it from the level's aspect scale levels.
        """
        level_id = level_id or self.default_instantiation_level_id
        base = {v.vdu_id: v.initial_instances if v.initial_instances is not None
                else v.min_instances for v in self.vdus}
        if level_id is None:
            return base
        level = next((lv for lv in self.instantiation_levels if lv.level_id == level_id), None)
        if level is None:
            raise DescriptorError(
                Check.VNFD, f"flavour {self.flavour_id!r} has no instantiation level {level_id!r}")
        result = dict(base)
        for aspect_id, scale_level in level.scale_levels.items():
            aspect = next((a for a in self.scaling_aspects if a.aspect_id == aspect_id), None)
            if aspect is None or not aspect.step_deltas:
                continue
            for step in range(scale_level):
                # a shorter step_deltas list repeats its last delta (uniform deltas)
                delta = aspect.step_deltas[min(step, len(aspect.step_deltas) - 1)]
                for vdu_id, n in aspect.vdu_deltas.get(delta, {}).items():
                    if vdu_id in result and vdu_id not in level.vdu_instances:
                        result[vdu_id] += n
        result.update({k: v for k, v in level.vdu_instances.items() if k in result})
        return result


class Vnfd(_Model):
    vnfd_id: str
    provider: str | None = None  # SOL006 makes it optional; SOL005 mapping must cope
    product_name: str
    software_version: str | None = None
    descriptor_version: str
    product_info_name: str | None = None
    vnfm_info: list[str] = Field(default_factory=list)
    flavours: list[DeploymentFlavour] = Field(default_factory=list)
    lcm_operations: list[LcmOperation] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    source_format: SourceFormat

    def flavour(self, flavour_id: str) -> DeploymentFlavour:
        by_id = {f.flavour_id: f for f in self.flavours}
        try:
            return by_id[flavour_id]
        except KeyError:
            raise DescriptorError(
                Check.VNFD, f"VNFD {self.vnfd_id!r} has no deployment flavour {flavour_id!r} "
                f"(has: {', '.join(by_id) or 'none'})") from None

    @property
    def flavour_ids(self) -> list[str]:
        return [f.flavour_id for f in self.flavours]


# --------------------------------------------------------------------------- NSD


class VnfVlConnectivity(_Model):
    ns_vl_id: str
    virtual_link_profile_id: str | None = None
    cpd_ids: list[str] = Field(default_factory=list)  # VNF ext CPs (SOL001: requirement names)


class VnfProfile(_Model):
    vnf_profile_id: str
    vnfd_id: str
    flavour_id: str | None = None
    instantiation_level_id: str | None = None
    min_instances: int = 1
    max_instances: int = 1
    virtual_link_connectivity: list[VnfVlConnectivity] = Field(default_factory=list)


class NsVirtualLinkDesc(_Model):
    vl_id: str
    description: str | None = None
    layer_protocols: list[str] = Field(default_factory=list)
    cidr: str | None = None
    ip_version: str | None = None
    mgmt_network: bool = False
    min_bitrate: int | None = None
    max_bitrate: int | None = None


class Sap(_Model):
    sap_id: str
    description: str | None = None
    layer_protocols: list[str] = Field(default_factory=list)
    ns_vl_id: str | None = None  # internal VL the SAP attaches to
    exposed: bool = False  # mapped onto the NS's external requirement


class NsInstantiationLevel(_Model):
    level_id: str
    description: str | None = None
    vnf_instances: dict[str, int] = Field(default_factory=dict)  # vnf_profile -> n


class NsDeploymentFlavour(_Model):
    flavour_id: str
    description: str | None = None
    vnf_profiles: list[VnfProfile] = Field(default_factory=list)
    virtual_links: list[NsVirtualLinkDesc] = Field(default_factory=list)
    saps: list[Sap] = Field(default_factory=list)
    instantiation_levels: list[NsInstantiationLevel] = Field(default_factory=list)
    default_instantiation_level_id: str | None = None


class Nsd(_Model):
    nsd_id: str
    designer: str | None = None
    version: str
    name: str
    invariant_id: str | None = None
    vnfd_ids: list[str] = Field(default_factory=list)
    pnfd_ids: list[str] = Field(default_factory=list)
    flavours: list[NsDeploymentFlavour] = Field(default_factory=list)
    source_format: SourceFormat

    def flavour(self, flavour_id: str) -> NsDeploymentFlavour:
        for f in self.flavours:
            if f.flavour_id == flavour_id:
                return f
        raise DescriptorError(
            Check.NSD, f"NSD {self.nsd_id!r} has no deployment flavour {flavour_id!r}")


def as_str(value: Any) -> str | None:
    """YAML scalars to descriptor strings: `version: 1.0` (a float) -> "1.0"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
