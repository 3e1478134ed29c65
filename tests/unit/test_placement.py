"""Placement rules of the NFVO (services/nfvo/placement.py): every rule and every refusal."""
from __future__ import annotations

import pytest

from nfvo.placement import (Candidate, PlacementError, Resource, describe_location, location_matches, place, rank_key,
                            resource_needs, shortfall)

PARIS = {"countryCode": "FR", "civicAddressElement": [{"caType": 1, "caValue": "Ile-de-France"}, {"caType": 3, "caValue": "Paris"}],
         "point": [2.35, 48.85]}
BERLIN = {"countryCode": "DE", "civicAddressElement": [{"caType": 3, "caValue": "Berlin"}], "point": [13.4, 52.5]}
FRANCE_BOX = {"type": "Polygon", "coordinates": [[[-5, 42], [8, 42], [8, 51], [-5, 51], [-5, 42]]]}


def vims(**free):
    return [Candidate("id-fr", "fr", PARIS, ["az1", "az2"], free.get("fr")),
            Candidate("id-de", "de", BERLIN, ["z1"], free.get("de")),
            Candidate("id-de2", "de2", dict(BERLIN), [], free.get("de2"))]


def vnf(n=1, vcpus=2, mem=1024):
    return [Resource(f"c{i}", "COMPUTE", {"vcpus": vcpus, "memoryMb": mem}) for i in range(n)] + [Resource("vl", "VL", {})]


# -- location ---------------------------------------------------------------------------------
def test_country_code_and_civic_address_and_area():
    assert location_matches(PARIS, {"countryCode": "FR"})
    assert location_matches(PARIS, {"countryCode": "fr"})
    assert not location_matches(PARIS, {"countryCode": "DE"})
    assert location_matches(PARIS, {"countryCode": "FR", "civicAddressElement": [{"caType": 3, "caValue": "paris"}]})
    assert not location_matches(PARIS, {"countryCode": "FR", "civicAddressElement": [{"caType": 3, "caValue": "Lyon"}]})
    assert location_matches(PARIS, {"area": FRANCE_BOX})
    assert not location_matches(BERLIN, {"area": FRANCE_BOX})
    assert not location_matches({"countryCode": "FR"}, {"area": FRANCE_BOX})  # no point: cannot be in the area
    assert location_matches({}, None) and location_matches({}, {})
    assert describe_location({"countryCode": "FR", "civicAddressElement": [{"caType": 3, "caValue": "Paris"}]}) == "countryCode=FR, caType 3=Paris"


def test_location_routes_the_vnf():
    d = place(vims(), vnf(), profile="VNF1", location={"countryCode": "FR"})
    assert d.vim_id == "id-fr" and set(d.vim_of.values()) == {"id-fr"}
    assert d.zone_of == {"c0": "az1", "vl": "az1"}


def test_no_vim_matches_location():
    with pytest.raises(PlacementError, match="no registered VIM matches locationConstraints countryCode=IT for vnfProfile VNF1"):
        place(vims(), vnf(), profile="VNF1", location={"countryCode": "IT"})


def test_no_vim_registered():
    with pytest.raises(PlacementError, match="no VIM is registered"):
        place([], vnf())


# -- pin --------------------------------------------------------------------------------------
def test_pin_by_id_or_name():
    assert place(vims(), vnf(), pinned="id-de2").vim_id == "id-de2"
    assert place(vims(), vnf(), pinned="de").vim_id == "id-de"


def test_pin_unknown():
    with pytest.raises(PlacementError, match="VIM nope requested by additionalParams.vimId for vnfProfile P is not registered"):
        place(vims(), vnf(), profile="P", pinned="nope")


def test_pin_outside_location():
    with pytest.raises(PlacementError, match="pinned VIM de does not match locationConstraints countryCode=FR"):
        place(vims(), vnf(), pinned="id-de", location={"countryCode": "FR"})


def test_current_vim_keeps_a_scaled_vnf_where_it_is():
    assert place(vims(), vnf(), current_vim="id-de").vim_id == "id-de"
    with pytest.raises(PlacementError, match="runs on VIM gone"):
        place(vims(), vnf(), current_vim="gone")


# -- capacity and tie-break ---------------------------------------------------------------------
def test_most_free_capacity_wins_then_name():
    d = place(vims(fr={"vcpus": 4, "memoryMb": 8192}, de={"vcpus": 16, "memoryMb": 8192}, de2={"vcpus": 16, "memoryMb": 8192}), vnf())
    assert d.vim_id == "id-de"  # de and de2 tie on capacity: the name decides
    d = place(vims(fr={"vcpus": 4}, de={"vcpus": 8}, de2={"vcpus": 9}), vnf())
    assert d.vim_id == "id-de2"
    assert place(vims(), vnf()).vim_id == "id-de"  # all unknown: by name
    assert rank_key(Candidate("a", "a", free={"vcpus": 1})) < rank_key(Candidate("b", "b"))  # known before unknown


def test_capacity_refusal_names_each_vim():
    with pytest.raises(PlacementError) as e:
        place(vims(fr={"vcpus": 2, "memoryMb": 100000}), vnf(n=4, vcpus=2), profile="VNF1", location={"countryCode": "FR"})
    assert e.value.reason == "insufficient capacity for vnfProfile VNF1: VIM fr has 2 free vCPUs, VNF needs 8"


def test_capacity_of_several_dimensions_and_skips_full_vims():
    with pytest.raises(PlacementError, match="VIM fr has 2 free vCPUs, VNF needs 8, 10 free MB memory, VNF needs 4096"):
        place(vims(fr={"vcpus": 2, "memoryMb": 10}), vnf(n=4, vcpus=2), location={"countryCode": "FR"})
    d = place(vims(fr={"vcpus": 0}, de={"vcpus": 0}, de2={"vcpus": 100}), vnf())
    assert d.vim_id == "id-de2"
    assert shortfall(None, {"vcpus": 1000}) is None


def test_resource_needs_from_vnfd():
    vnfd = {"flavours": [{"flavour_id": "simple", "vdus": [
        {"vdu_id": "VDU1", "virtual_compute": {"num_vcpus": 4, "memory_mb": 2048}, "storages": [{"id": "st1", "size_gb": 10}]}]}]}
    got = resource_needs(vnfd, "simple", [{"id": "a", "type": "COMPUTE", "vduId": "VDU1", "resourceTemplateId": "VDU1"},
                                          {"id": "b", "type": "STORAGE", "resourceTemplateId": "st1"},
                                          {"id": "c", "type": "VL", "resourceTemplateId": "vl"}])
    assert [(r.id, r.need) for r in got] == [("a", {"vcpus": 4, "memoryMb": 2048}), ("b", {"storageGb": 10}), ("c", {})]
    with pytest.raises(PlacementError, match="10 free GB storage, VNF needs 10.5"):
        place([Candidate("x", "x", free={"storageGb": 10})], got + [Resource("d", "STORAGE", {"storageGb": 0.5})])


# -- placementConstraints -------------------------------------------------------------------------
def rule(kind, scope, *ids, **existing):
    refs = [{"idType": "GRANT", "resourceId": i} for i in ids]
    if existing:
        refs.append({"idType": "RES_MGMT", "resourceId": "r", **existing})
    return {"affinityOrAntiAffinity": kind, "scope": scope, "resource": refs}


def test_anti_affinity_at_nfvi_pop_spreads_over_vims():
    d = place(vims(), vnf(n=2), placement_constraints=[rule("ANTI_AFFINITY", "NFVI_POP", "c0", "c1")])
    assert d.vim_of["c0"] != d.vim_of["c1"]
    assert d.vim_of["vl"] == d.vim_id  # what no rule separates stays with the VNF


def test_anti_affinity_at_nfvi_pop_needs_enough_vims():
    with pytest.raises(PlacementError, match="ANTI_AFFINITY at NFVI_POP needs 2 eligible VIMs for the VNF, only 1"):
        place(vims(), vnf(n=2), location={"countryCode": "FR"}, placement_constraints=[rule("ANTI_AFFINITY", "NFVI_POP", "c0", "c1")])


def test_affinity_at_nfvi_pop_and_with_existing_resources():
    d = place(vims(), vnf(n=3), placement_constraints=[rule("ANTI_AFFINITY", "NFVI_POP", "c0", "c1"), rule("AFFINITY", "NFVI_POP", "c1", "c2")])
    assert d.vim_of["c1"] == d.vim_of["c2"] != d.vim_of["c0"]
    d = place(vims(), vnf(), placement_constraints=[rule("AFFINITY", "NFVI_POP", "c0", vimConnectionId="id-de2")])
    assert d.vim_of["c0"] == "id-de2"
    d = place(vims(), vnf(), placement_constraints=[rule("ANTI_AFFINITY", "NFVI_POP", "c0", vimConnectionId="id-de")])
    assert d.vim_of["c0"] != "id-de"
    with pytest.raises(PlacementError, match="AFFINITY at NFVI_POP asks for VIM id-de, which is not eligible"):
        place(vims(), vnf(), location={"countryCode": "FR"}, placement_constraints=[rule("AFFINITY", "NFVI_POP", "c0", vimConnectionId="id-de")])


def test_conflicting_rules():
    with pytest.raises(PlacementError, match="conflict"):
        place(vims(), vnf(n=2), placement_constraints=[rule("AFFINITY", "NFVI_POP", "c0", "c1"), rule("ANTI_AFFINITY", "NFVI_POP", "c0", "c1")])


def test_anti_affinity_at_zone():
    d = place(vims(), vnf(n=2), location={"countryCode": "FR"}, placement_constraints=[rule("ANTI_AFFINITY", "ZONE", "c0", "c1")])
    assert {d.zone_of["c0"], d.zone_of["c1"]} == {"az1", "az2"} and d.vim_of["c0"] == d.vim_of["c1"] == "id-fr"
    with pytest.raises(PlacementError, match="ANTI_AFFINITY at ZONE needs 2 zones on VIM de, it has 1"):
        place(vims(), vnf(n=2), pinned="id-de", placement_constraints=[rule("ANTI_AFFINITY", "ZONE", "c0", "c1")])


def test_affinity_at_zone_and_zone_group():
    d = place(vims(), vnf(n=2), location={"countryCode": "FR"}, placement_constraints=[rule("AFFINITY", "ZONE_GROUP", "c0", "c1")])
    assert d.zone_of["c0"] == d.zone_of["c1"]
    with pytest.raises(PlacementError, match="AFFINITY at ZONE binds c0 and c1, which are on different VIMs"):
        place(vims(), vnf(n=2), placement_constraints=[rule("ANTI_AFFINITY", "NFVI_POP", "c0", "c1"), rule("AFFINITY", "ZONE", "c0", "c1")])


def test_nfvi_node_is_left_to_the_vim_and_bad_rules_are_refused():
    assert place(vims(), vnf(n=2), placement_constraints=[rule("ANTI_AFFINITY", "NFVI_NODE", "c0", "c1")]).vim_id == "id-de"
    with pytest.raises(PlacementError, match="scope 'RACK' is not supported"):
        place(vims(), vnf(), placement_constraints=[rule("AFFINITY", "RACK", "c0")])
    with pytest.raises(PlacementError, match="affinityOrAntiAffinity 'MAYBE'"):
        place(vims(), vnf(), placement_constraints=[rule("MAYBE", "ZONE", "c0")])
    with pytest.raises(PlacementError, match="name resources zz that are not in addResources"):
        place(vims(), vnf(), placement_constraints=[rule("AFFINITY", "ZONE", "zz")])


def test_from_vim_reads_the_registration():
    c = Candidate.from_vim({"id": "i", "name": "n", "site": {"name": "s", "location": {"countryCode": "FR"}},
                            "zones": [{"zoneId": "b"}, {"zoneId": "a"}]}, {"vcpus": 3})
    assert (c.location, c.zones, c.free) == ({"countryCode": "FR"}, ["a", "b"], {"vcpus": 3})
    assert Candidate.from_vim({"id": "i", "name": "n", "site": "lab"}).location == {}


def test_log_lines_never_carry_credentials():
    from magi.telemetry import redact_secrets

    event = {"event": "x", "vim": {"vimType": "T", "accessInfo": {"password": "p"}}, "password": "p", "items": [{"token": "t"}]}
    out = redact_secrets(None, "info", event)
    assert "p" not in str(out["vim"]["accessInfo"]) and out["password"] == "***" and out["items"][0]["token"] == "***"
