"""Placement and security policies of a VNFD reach the normalized model: SOL001 AffinityRule /
AntiAffinityRule / SecurityGroupRule / SupportedVnfInterface and their SOL006 equivalents."""
from __future__ import annotations

import yaml

import pytest

from magi.descriptors import PackageError, load_vnf_package
from tests.unit import pkgfactory as pf


def test_sol001_policies():
    vnfd = load_vnf_package(pf.make_vnf_csar(placement_policies=True)).vnfd
    f = vnfd.flavour("simple")
    rules = {r.rule_id: r for r in f.affinity_rules}
    assert (rules["VDU1_anti_affinity"].kind, rules["VDU1_anti_affinity"].scope, rules["VDU1_anti_affinity"].vdu_ids) == (
        "anti-affinity", "nfvi_node", ["VDU1"])
    assert (rules["VDUs_same_zone"].kind, rules["VDUs_same_zone"].vdu_ids) == ("affinity", ["VDU1", "VDU2"])
    (sg,) = f.security_group_rules
    assert (sg.rule_id, sg.direction, sg.ether_type, sg.protocol, sg.port_range_min, sg.port_range_max, sg.cpd_ids) == (
        "ssh_in", "ingress", "ipv4", "tcp", 22, 22, ["VDU1_CP_EXT"])
    (itf,) = f.supported_interfaces
    assert (itf.interface_name, itf.cpd_ids, itf.details["uri_components"]["path"]) == (
        "vnf_indicator", ["VDU1_CP_EXT"], "/indicators")


def test_without_the_policies_the_lists_are_empty():
    f = load_vnf_package(pf.make_vnf_csar()).vnfd.flavour("simple")
    assert (f.affinity_rules, f.security_group_rules, f.supported_interfaces) == ([], [], [])


def _with_df_policy(policy: dict) -> bytes:
    files = pf.vnf_csar_files(placement_policies=False)
    path = "Definitions/magi_vnfd_df_simple.yaml"
    doc = yaml.safe_load(files[path])
    doc["topology_template"]["policies"].append(policy)
    files[path] = yaml.safe_dump(doc).encode()
    files.pop("manifest.mf", None)
    files = {k: v for k, v in files.items() if not k.endswith(".mf")}
    meta = files["TOSCA-Metadata/TOSCA.meta"].decode().splitlines()
    files["TOSCA-Metadata/TOSCA.meta"] = "\n".join(ln for ln in meta if not ln.startswith("ETSI-Entry-Manifest")).encode() + b"\n"
    return pf.zip_files(files)


def test_security_rule_on_a_vdu_is_refused():
    bad = {"sg": {"type": "tosca.policies.nfv.SecurityGroupRule", "properties": {"protocol": "tcp"}, "targets": ["VDU1"]}}
    with pytest.raises(PackageError, match="not a VduCp or VnfExtCp"):
        load_vnf_package(_with_df_policy(bad))


def test_security_rule_defaults_follow_sol001():
    rule = {"any": {"type": "tosca.policies.nfv.SecurityGroupRule", "targets": ["VDU1_CP1"]}}
    (sg,) = load_vnf_package(_with_df_policy(rule)).vnfd.flavour("simple").security_group_rules
    assert (sg.direction, sg.ether_type, sg.protocol, sg.port_range_min, sg.port_range_max) == ("ingress", "ipv4", "tcp", 0, 65535)


def test_sol006_security_rules_and_affinity_groups():
    doc = {"vnfd": {
        "id": "sg-vnf", "product-name": "sg-vnf", "provider": "MAGI", "version": "1.0",
        "security-group-rule": [{"id": "web", "direction": "ingress", "ether-type": "ipv4", "protocol": "tcp",
                                 "port-range-min": 443, "port-range-max": 443}],
        "ext-cpd": [{"id": "ext", "int-cpd": {"vdu-id": "vm", "cpd": "eth0"}, "security-group-rule-id": ["web"]}],
        "df": [{"id": "default-df",
                "affinity-or-anti-affinity-group": [{"id": "spread", "type": "anti-affinity", "scope": "nfvi-node"}],
                "vdu-profile": [{"id": "vm", "min-number-of-instances": 2, "max-number-of-instances": 2,
                                 "affinity-or-anti-affinity-group": [{"id": "spread"}]}]}],
        "sw-image-desc": [{"id": "img", "name": "img", "image": "img"}],
        "vdu": [{"id": "vm", "name": "vm", "sw-image-desc": "img", "virtual-compute-desc": "c", "int-cpd": [{"id": "eth0"}]}],
        "virtual-compute-desc": [{"id": "c", "virtual-cpu": {"num-virtual-cpu": 1}, "virtual-memory": {"size": 1.0}}]}}
    f = load_vnf_package(yaml.safe_dump(doc).encode(), "sg-vnf.yaml").vnfd.flavour("default-df")
    (sg,) = f.security_group_rules
    assert (sg.rule_id, sg.port_range_min, sg.port_range_max, sg.cpd_ids) == ("web", 443, 443, ["ext"])
    (rule,) = f.affinity_rules
    assert (rule.rule_id, rule.kind, rule.scope, rule.vdu_ids) == ("spread", "anti-affinity", "nfvi-node", ["vm"])
