"""VNFM placement, security and connectivity: the pure functions of vnfm.domain that turn the VNFD's
(anti-)affinity rules, storage, security group rules and external VLs into the GrantRequest and the
compute.allocate payload, and keep VIM credentials out of responses and sealed at rest."""
from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import pytest

from magi.bus.catalog import message
from magi.descriptors.model import (AffinityRule, DeploymentFlavour, ExtCpd, IntCpdRef, Vdu, VduCpd, VirtualCompute,
                                    VirtualLinkDesc, VirtualStorage, Vnfd)
from magi.secrets import SecretBox
from vnfm import domain

OP = str(uuid.uuid4())


def _vdu(vdu_id: str, n: int = 1, cps: list[VduCpd] | None = None, storages: list[VirtualStorage] | None = None) -> Vdu:
    return Vdu(vdu_id=vdu_id, name=vdu_id, min_instances=n, max_instances=n,
               virtual_compute=VirtualCompute(num_vcpus=1, memory_mb=512), cps=cps or [], storages=storages or [])


def _vnfd(rules: list[AffinityRule] | None = None) -> Vnfd:
    flavour = DeploymentFlavour(
        flavour_id="simple",
        vdus=[_vdu("web", 2, [VduCpd(cpd_id="web_int", int_virtual_link_id="int_vl"), VduCpd(cpd_id="web_ext")],
                   [VirtualStorage(id="web_disk", size_gb=5)]),
              _vdu("db", 1, [VduCpd(cpd_id="db_int", int_virtual_link_id="int_vl")])],
        virtual_links=[VirtualLinkDesc(vl_id="int_vl", cidr="10.0.0.0/24")],
        ext_cps=[ExtCpd(cpd_id="vnf_ext", int_cpd=IntCpdRef(vdu_id="web", cpd_id="web_ext")),
                 ExtCpd(cpd_id="vnf_int_expose", int_virtual_link_id="int_vl")],
        affinity_rules=rules if rules is not None else [
            AffinityRule(rule_id="web_spread", kind="anti-affinity", scope="nfvi_node", vdu_ids=["web"]),
            AffinityRule(rule_id="web_db_zone", kind="affinity", scope="zone", vdu_ids=["web", "db"]),
            AffinityRule(rule_id="pop", kind="affinity", scope="nfvi_pop", vdu_ids=["db"]),
        ])
    return Vnfd(vnfd_id="v1", product_name="p", descriptor_version="1", flavours=[flavour], source_format="sol001")


def _plan(vnfd: Vnfd) -> list[domain.PlannedResource]:
    return domain.plan_instantiation(vnfd, "simple", None, OP)


# -- grant request ------------------------------------------------------------------------------
def test_placement_constraints_name_the_compute_resources_of_each_rule():
    vnfd = _vnfd()
    plan = _plan(vnfd)
    web = [p.id for p in plan if p.type == "COMPUTE" and p.vdu_id == "web"]
    db = [p.id for p in plan if p.type == "COMPUTE" and p.vdu_id == "db"]
    assert len(web) == 2 and len(db) == 1
    got = domain.placement_constraints(vnfd.flavour("simple"), plan)
    assert got == [
        {"affinityOrAntiAffinity": "ANTI_AFFINITY", "scope": "NFVI_NODE", "fallbackBestEffort": False,
         "resource": [{"idType": "GRANT", "resourceId": r} for r in web]},
        {"affinityOrAntiAffinity": "AFFINITY", "scope": "ZONE", "fallbackBestEffort": False,
         "resource": [{"idType": "GRANT", "resourceId": r} for r in web + db]},
        {"affinityOrAntiAffinity": "AFFINITY", "scope": "NFVI_POP", "fallbackBestEffort": False,
         "resource": [{"idType": "GRANT", "resourceId": r} for r in db]},
    ]


@pytest.mark.parametrize("scope,expected", [("nfvi_node", "NFVI_NODE"), ("zone", "ZONE"), ("zone_group", "ZONE_GROUP"),
                                            ("nfvi_pop", "NFVI_POP"), (None, "NFVI_NODE"), ("ZONE", "ZONE")])
def test_sol001_scopes_map_to_sol003(scope, expected):
    assert domain.rule_scope(scope) == expected


def test_unknown_scope_is_an_error():
    with pytest.raises(ValueError):
        domain.rule_scope("rack")


def test_grant_request_carries_constraints_definitions_and_additional_params():
    vnfd = _vnfd()
    plan = _plan(vnfd)
    inst = {"id": str(uuid.uuid4()), "vnfdId": "v1"}
    op = {"id": OP, "operation": "INSTANTIATE", "isAutomaticInvocation": False}
    req = domain.grant_request(inst, op, "http://vnfm", add=[p.as_definition("v1") for p in plan], flavour_id="simple",
                               additional={"vimId": "vim-1"}, constraints=domain.placement_constraints(vnfd.flavour("simple"), plan))
    assert req["additionalParams"] == {"vimId": "vim-1"}
    assert len(req["placementConstraints"]) == 3
    by_type = {}
    for d in req["addResources"]:
        by_type.setdefault(d["type"], []).append(d)
        assert {"id", "type", "resourceTemplateId"} <= set(d)
    assert {d["vduId"] for d in by_type["COMPUTE"]} == {"web", "db"}
    assert all("vduId" not in d for d in by_type["STORAGE"] + by_type["VL"])  # SOL003: vduId only for COMPUTE
    assert {d["resourceTemplateId"] for d in by_type["STORAGE"]} == {"web_disk"}
    # every constraint refers to a ResourceDefinition of the same request
    ids = {d["id"] for d in req["addResources"]}
    assert all(r["resourceId"] in ids for c in req["placementConstraints"] for r in c["resource"])
    message("grant.request", req, source="vnfm")  # valid against the catalog


def test_storage_is_planned_before_the_compute_that_uses_it():
    plan = _plan(_vnfd())
    pos = {p.id: i for i, p in enumerate(plan)}
    for p in plan:
        if p.type == "COMPUTE":
            for sid in p.details["storageIds"]:
                assert pos[sid] < pos[p.id]
    assert sum(1 for p in plan if p.type == "STORAGE") == 2  # one per web VNFC


# -- the grant's answer, per resource -----------------------------------------------------------
def test_granted_vim_per_resource_vim_and_zone():
    grant = {"vimConnectionInfo": {"a": {"vimId": "A", "vimType": "t"}, "b": {"vimId": "B", "vimType": "t"}},
             "zones": [{"id": "z1", "zoneId": "nova-1", "vimConnectionId": "a"}, {"id": "z2", "zoneId": "az-b", "vimConnectionId": "b"}],
             "addResources": [{"resourceDefinitionId": "r1", "vimConnectionId": "a", "zoneId": "z1"},
                              {"resourceDefinitionId": "r2", "zoneId": "z2"},  # VIM from the zone
                              {"resourceDefinitionId": "r3", "vimConnectionId": "b"}]}
    assert domain.granted_vim(grant, "r1") == ("a", {"vimId": "A", "vimType": "t"}, "nova-1")
    assert domain.granted_vim(grant, "r2") == ("b", {"vimId": "B", "vimType": "t"}, "az-b")
    assert domain.granted_vim(grant, "r3") == ("b", {"vimId": "B", "vimType": "t"}, None)
    with pytest.raises(LookupError):
        domain.granted_vim(grant, "r-unknown")  # two VIMs, nothing said about it


def test_granted_vim_rejects_inconsistent_grants_and_uses_known_connections():
    grant = {"vimConnectionInfo": {"a": {"vimId": "A"}},
             "zones": [{"id": "z1", "zoneId": "nova", "vimConnectionId": "b"}],
             "addResources": [{"resourceDefinitionId": "r1", "vimConnectionId": "a", "zoneId": "z1"},
                              {"resourceDefinitionId": "r2", "vimConnectionId": "c"},
                              {"resourceDefinitionId": "r3", "vimConnectionId": "a", "zoneId": "nope"}]}
    for rid in ("r1", "r2", "r3"):
        with pytest.raises(LookupError):
            domain.granted_vim(grant, rid)
    # a connection the grant leaves out but the InstantiateVnfRequest gave
    assert domain.granted_vim(grant, "r2", {"c": {"vimId": "C"}}) == ("c", {"vimId": "C"}, None)
    # single VIM, no per-resource answer: that VIM
    assert domain.granted_vim({"vimConnectionInfo": {"a": {"vimId": "A"}}}, "x") == ("a", {"vimId": "A"}, None)


# -- compute.allocate ---------------------------------------------------------------------------
def _compute_payload(vnfd: Vnfd, vdu_id: str, *, external=None, sg_rules=(), extra=None, zone=None):
    flavour = vnfd.flavour("simple")
    plan = [p.__dict__ for p in _plan(vnfd)]
    p = next(p for p in plan if p["type"] == "COMPUTE" and p["vdu_id"] == vdu_id)
    return p, domain.compute_payload(p, flavour=flavour, inst_id="inst", vim={"vimId": "A", "vimType": "t"}, zone=zone,
                                     vl_ids={"int_vl": "vim-net-1"}, external=external or {}, sg_rules=list(sg_rules),
                                     extra=extra or {})


def test_compute_payload_has_groups_volumes_and_networks():
    vnfd = _vnfd()
    p, payload = _compute_payload(vnfd, "web", zone="nova-1")
    assert payload["placementGroups"] == [{"groupId": "web_spread", "policy": "ANTI_AFFINITY", "scope": "NFVI_NODE"},
                                          {"groupId": "web_db_zone", "policy": "AFFINITY", "scope": "ZONE"}]
    assert payload["volumes"] == p["details"]["storageIds"] and len(payload["volumes"]) == 1
    assert payload["zoneId"] == "nova-1"
    assert payload["networks"] == [{"cpdId": "web_int", "vlId": "int_vl", "vimNetworkId": "vim-net-1"},
                                   {"cpdId": "web_ext", "vlId": None, "vimNetworkId": None}]
    assert payload["securityGroupRules"] == [] and "keyName" not in payload
    # db: its NFVI_POP rule is the NFVO's business, not a server group
    _, db = _compute_payload(vnfd, "db")
    assert db["placementGroups"] == [{"groupId": "web_db_zone", "policy": "AFFINITY", "scope": "ZONE"}]
    assert db["volumes"] == []
    env = message("compute.allocate", payload, source="vnfm")
    assert env.payload["placementGroups"] and env.payload["volumes"]


def test_external_virtual_links_bind_the_vdu_cp_behind_the_ext_cp():
    vnfd = _vnfd()
    flavour = vnfd.flavour("simple")
    ext_vls = [{"id": "ext1", "resourceId": "provider-net", "extCps": [{"cpdId": "vnf_ext", "cpConfig": {}}]},
               {"id": "ext2", "resourceId": "other-net", "extCps": [{"cpdId": "vnf_int_expose"}]}]
    external = domain.external_networks(flavour, ext_vls)
    assert external == {("web", "web_ext"): "provider-net"}  # an ext CP on an internal VL has no VDU CP
    _, payload = _compute_payload(vnfd, "web", external=external)
    assert payload["networks"] == [{"cpdId": "web_int", "vlId": "int_vl", "vimNetworkId": "vim-net-1"},
                                   {"cpdId": "web_ext", "externalNetworkId": "provider-net"}]
    message("compute.allocate", payload, source="vnfm")
    with pytest.raises(ValueError):
        domain.external_networks(flavour, [{"id": "x", "resourceId": "n", "extCps": [{"cpdId": "nope"}]}])


def test_security_group_rules_follow_their_cp_targets():
    vnfd = _vnfd()
    flavour = vnfd.flavour("simple")
    # The model does not carry SecurityGroupRule policies yet; the functions take any object with them.
    rules = domain.flavour_security_rules(SimpleNamespace(security_group_rules=[
        {"direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 443, "cpd_ids": ["vnf_ext"]},
        {"direction": "egress", "ether_type": "ipv6", "protocol": "udp", "cpd_ids": ["db_int", "web_int"]},
        SimpleNamespace(direction="ingress", protocol="icmp", cpd_ids=["db_int"]),
    ]))
    assert domain.flavour_security_rules(flavour) == []
    _, web = _compute_payload(vnfd, "web", sg_rules=rules)
    assert web["securityGroupRules"] == [
        {"direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 443, "ether_type": "ipv4",
         "cpdIds": ["web_ext"]},  # through the ext CP web_ext realises
        {"direction": "egress", "ether_type": "ipv6", "protocol": "udp", "cpdIds": ["web_int"]},
    ]
    _, db = _compute_payload(vnfd, "db", sg_rules=rules)
    assert [r["cpdIds"] for r in db["securityGroupRules"]] == [["db_int"], ["db_int"]]


def test_key_name_and_user_data_come_from_additional_params():
    extra = domain.instance_params({"additionalParams": {"keyName": "ops", "userData": "#cloud-config\n", "vimId": "x"}})
    assert extra == {"keyName": "ops", "userData": "#cloud-config\n"}
    _, payload = _compute_payload(_vnfd(), "db", extra=extra)
    assert payload["keyName"] == "ops" and payload["userData"].startswith("#cloud-config")
    assert domain.instance_params({}) == {}
    with pytest.raises(ValueError):
        domain.instance_params({"additionalParams": {"userData": {"not": "a string"}}})


# -- credentials --------------------------------------------------------------------------------
def test_responses_never_carry_access_info():
    inst = {"id": "i", "vimConnectionInfo": {"a": {"vimId": "A", "vimType": "t", "accessInfo": {"password": "pw!"}}}}
    op = {"id": "o", "operationParams": {"flavourId": "f", "vimConnectionInfo": {"a": {"vimType": "t", "accessInfo": {"password": "pw!"}}}}}
    assert "pw!" not in repr(domain.redact_response(inst)) and "pw!" not in repr(domain.redact_response(op))
    assert domain.redact_response(inst)["vimConnectionInfo"] == {"a": {"vimId": "A", "vimType": "t"}}
    assert "pw!" in repr(inst)  # the input is not changed
    assert domain.redact_response({"id": "x"}) == {"id": "x"}


def test_access_info_is_sealed_at_rest_and_opened_for_the_payload():
    box = SecretBox("test-key")
    vims = {"a": {"vimId": "A", "vimType": "t", "accessInfo": {"username": "u", "password": "pw!"}},
            "b": {"vimId": "B", "vimType": "t"}}  # the built-in NFVO omits accessInfo: stays absent
    sealed = domain.map_access(vims, box.seal)
    assert "pw!" not in repr(sealed) and set(sealed["a"]["accessInfo"]) == {"sealed"}
    assert "accessInfo" not in sealed["b"]
    conn, vim, _ = domain.granted_vim({"vimConnectionInfo": sealed, "addResources": [{"resourceDefinitionId": "r", "vimConnectionId": "a"}]}, "r")
    assert domain.map_vim_access(vim, box.open) == vims["a"]
    assert domain.map_vim_access(vims["a"], box.open) == vims["a"]  # older, unsealed records pass through
    assert domain.map_vim_access(sealed["b"], box.open) == vims["b"]


# -- the LCM use case end to end, on a real store, with a fake NFVO and VIM -----------------------
class _Nfvo:
    def __init__(self, vnfd: Vnfd):
        self.vnfd_doc, self.requests = vnfd.model_dump(mode="json"), []

    async def vnfd(self, vnfd_id: str):
        return {"vnfd": self.vnfd_doc, "vnfPkgId": "pkg"}

    async def grant(self, request, *, key):
        self.requests.append(request)
        conn = {"a": {"vimId": "A", "vimType": "t", "accessInfo": {"username": "u", "password": "s3cret!"}},
                "b": {"vimId": "B", "vimType": "t"}}  # b: no accessInfo, the VIM adapter asks the NFVO
        grant = {"id": str(uuid.uuid4()), "vimConnectionInfo": conn,
                 "zones": [{"id": "za", "zoneId": "nova-a", "vimConnectionId": "a"}, {"id": "zb", "zoneId": "nova-b", "vimConnectionId": "b"}]}
        key_of = "removeResources" if request.get("removeResources") else "addResources"
        grant[key_of] = [{"resourceDefinitionId": r["id"], **({"zoneId": "zb"} if r.get("vduId") == "db" else {"vimConnectionId": "a", "zoneId": "za"})}
                         for r in request[key_of]]
        return grant


class _Vim:
    def __init__(self):
        self.calls = []

    async def allocate(self, kind, payload, key):
        message(f"{kind}.allocate", payload, source="vnfm")
        self.calls.append(("allocate", kind, payload))
        return {"resourceId": payload["resourceId"], "vimResourceId": f"vim-{payload['resourceId']}", "zoneId": payload.get("zoneId")}

    async def release(self, kind, payload, key):
        self.calls.append(("release", kind, payload))
        return {"resourceId": payload["resourceId"], "released": True}


async def _until_done(lcm, op_id: str):
    for _ in range(200):
        op = await lcm.op_occs.get(op_id)
        if op["operationState"] in ("COMPLETED", "FAILED_TEMP", "FAILED", "ROLLED_BACK"):
            return op
        await asyncio.sleep(0.05)
    raise AssertionError(f"op {op_id} did not end: {op['operationState']}")


async def test_instantiate_and_terminate_across_a_restart(mongo_uri: str, db_prefix: str):
    from magi.store.mongo import MongoStore, public
    from vnfm.lcm import VnfLcm

    vnfd = _vnfd()
    nfvo, vim, box = _Nfvo(vnfd), _Vim(), SecretBox("k")
    store = MongoStore(mongo_uri, f"{db_prefix}_vnfm")
    try:
        lcm = VnfLcm(store, nfvo, vim, base_url="http://vnfm", secrets=box)
        inst = await lcm.create({"vnfdId": "v1"})
        op = await lcm.instantiate(inst["id"], {
            "flavourId": "simple", "additionalParams": {"vimId": "A", "keyName": "ops", "userData": "#cloud-config"},
            "extVirtualLinks": [{"id": "e1", "resourceId": "provider-net", "extCps": [{"cpdId": "vnf_ext"}]}],
            "vimConnectionInfo": {"c": {"vimType": "t", "accessInfo": {"password": "req-secret!"}}}})
        op = await _until_done(lcm, op["id"])
        assert op["operationState"] == "COMPLETED", op.get("error")
        req = nfvo.requests[0]
        assert req["additionalParams"]["vimId"] == "A" and len(req["placementConstraints"]) == 3
        allocs = [(k, p) for a, k, p in vim.calls if a == "allocate"]
        assert [k for k, _ in allocs].index("storage") < [k for k, _ in allocs].index("compute")
        computes = [p for k, p in allocs if k == "compute"]
        web = [p for p in computes if p["vduId"] == "web"]
        db = next(p for p in computes if p["vduId"] == "db")
        # on the bus only sealed; the VIM adapter opens them with the same key
        assert "s3cret!" not in repr(vim.calls)
        assert all(box.open(p["vimConnectionInfo"]["accessInfo"])["password"] == "s3cret!" and p["zoneId"] == "nova-a" for p in web)
        assert "accessInfo" not in db["vimConnectionInfo"] and db["zoneId"] == "nova-b" and db["vimConnectionInfo"]["vimId"] == "B"
        assert all(len(p["volumes"]) == 1 and p["keyName"] == "ops" for p in web)
        assert {"cpdId": "web_ext", "externalNetworkId": "provider-net"} in web[0]["networks"]
        # at rest and in responses: no credentials in clear
        stored_op, stored_inst = await lcm.op_occs.get(op["id"]), await lcm.get_instance(inst["id"])
        for doc in (stored_op, stored_inst):
            assert "s3cret!" not in repr(doc) and "req-secret!" not in repr(doc)
        assert "accessInfo" not in repr(domain.redact_response(public(stored_inst)))
        assert set(stored_inst["vimConnectionInfo"]) == {"a", "b", "c"}

        # a restarted VNFM (same key) releases what the first one allocated, with the same credentials
        await lcm.stop()
        lcm2 = VnfLcm(store, nfvo, vim, base_url="http://vnfm", secrets=SecretBox("k"))
        op2 = await lcm2.terminate(inst["id"], {"terminationType": "FORCEFUL"})
        op2 = await _until_done(lcm2, op2["id"])
        assert op2["operationState"] == "COMPLETED", op2.get("error")
        released = [p for a, _, p in vim.calls if a == "release"]
        assert len(released) == len(allocs)
        on_a = [p for p in released if p["vimConnectionInfo"]["vimId"] == "A"]
        assert on_a and all(box.open(p["vimConnectionInfo"]["accessInfo"])["password"] == "s3cret!" for p in on_a)
        await lcm2.stop()
    finally:
        await store.client.drop_database(store.name)
        await store.close()


def test_add_image_urls():
    from vnfm.domain import PlannedResource, add_image_urls
    plan = [PlannedResource("c1", "COMPUTE", "VDU1", "VDU1", {"swImage": {"name": "img", "file": "Files/images/img.qcow2"}}),
            PlannedResource("c2", "COMPUTE", "VDU2", "VDU2", {"swImage": {"name": "byname"}}),
            PlannedResource("c3", "COMPUTE", "VDU3", "VDU3", {"swImage": {"name": "ext", "file": "https://images.example/x.img"}}),
            PlannedResource("v1", "VL", "vl", None, {"cidr": None})]
    add_image_urls(plan, "http://nfvo:8081/", "pkg-1")
    assert plan[0].details["swImage"]["imageUrl"] == "http://nfvo:8081/vnfpkgm/v2/vnf_packages/pkg-1/artifacts/Files/images/img.qcow2"
    assert "imageUrl" not in plan[1].details["swImage"]
    assert plan[2].details["swImage"]["imageUrl"] == "https://images.example/x.img"
    add_image_urls(plan[1:2], None, "pkg-1")  # no NFVO URL known: nothing to add
    assert "imageUrl" not in plan[1].details["swImage"]
