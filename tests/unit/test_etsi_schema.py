"""tests/etsi_schema.py: ETSI v3.7.1 schema validation with the ERRATA corrections applied."""

from __future__ import annotations

import copy
import re

import pytest
from jsonschema import ValidationError

from tests.etsi_schema import ERRATA_CORRECTIONS, EtsiSchemas, require_etsi, schemas

VNFLCM = "SOL003/VNFLifecycleManagement"
NSLCM = "SOL005/NSLifecycleManagement"
NSD = "SOL005/NSDManagement"
SOL003_PKG = "SOL003/VNFPackageManagement"

# The APIs MAGI produces or consumes; every definition reachable from them must resolve.
MAGI_APIS = [
    "SOL003/VNFLifecycleManagement",
    "SOL003/VNFLifecycleManagementNotification",
    "SOL003/VNFLifecycleOperationGranting",
    "SOL003/VNFPackageManagement",
    "SOL005/NSLifecycleManagement",
    "SOL005/NSLifecycleManagementNotification",
    "SOL005/VNFPackageManagement",
    "SOL005/NSDManagement",
]

LINK = {"href": "https://magi.example/x"}
VNF_INSTANCE = {
    "id": "vnf-1",
    "vnfdId": "vnfd-1",
    "vnfProvider": "MAGI",
    "vnfProductName": "demo",
    "vnfSoftwareVersion": "1.0",
    "vnfdVersion": "1.0",
    "instantiationState": "NOT_INSTANTIATED",
    "_links": {"self": LINK},
}
NS_LCM_OP_OCC = {
    "id": "op-1",
    "operationState": "PROCESSING",
    "statusEnteredTime": "2025-01-01T00:00:00Z",
    "nsInstanceId": "ns-1",
    "lcmOperationType": "INSTANTIATE",
    "startTime": "2025-01-01T00:00:00Z",
    "isAutomaticInvocation": False,
    "isCancelPending": False,
    "_links": {"self": LINK, "nsInstance": LINK},
}
NSD_INFO = {
    "id": "nsd-info-1",
    "nsdOnboardingState": "CREATED",
    "nsdOperationalState": "DISABLED",
    "nsdUsageState": "NOT_IN_USE",
    "_links": {"self": LINK, "nsd_content": LINK},
}
VNF_LCM_OP_OCC = {
    "id": "op-1",
    "operationState": "COMPLETED",
    "stateEnteredTime": "2025-01-01T00:00:00Z",
    "startTime": "2025-01-01T00:00:00Z",
    "vnfInstanceId": "vnf-1",
    "operation": "MODIFY_INFO",
    "isAutomaticInvocation": False,
    "isCancelPending": False,
}
VNF_PKG_INFO = {
    "id": "pkg-1",
    "onboardingState": "CREATED",
    "operationalState": "DISABLED",
    "usageState": "NOT_IN_USE",
    "_links": {"self": LINK, "packageContent": LINK},
}


@pytest.fixture(scope="module")
def etsi() -> EtsiSchemas:
    require_etsi()  # skips without the ETSI folder (fails under CI=true)
    return schemas()


def without(body: dict[str, object], key: str) -> dict[str, object]:
    out = copy.deepcopy(body)
    del out[key]
    return out


@pytest.mark.etsi
def test_minimal_vnf_instance_passes(etsi: EtsiSchemas) -> None:
    etsi.validate(VNF_INSTANCE, "VnfInstance", api=VNFLCM)


@pytest.mark.etsi
def test_missing_required_attribute_is_named(etsi: EtsiSchemas) -> None:
    with pytest.raises(AssertionError, match="'instantiationState' is a required property"):
        etsi.validate(without(VNF_INSTANCE, "instantiationState"), "VnfInstance", api=VNFLCM)


@pytest.mark.etsi
def test_failure_message_carries_json_path(etsi: EtsiSchemas) -> None:
    body = {**VNF_INSTANCE, "_links": {"self": {"href": 42}}}
    with pytest.raises(AssertionError, match=re.escape("$['_links'].self.href: 42 is not of type 'string'")):
        etsi.validate(body, "VnfInstance", api=VNFLCM)


@pytest.mark.etsi
def test_ns_lcm_op_occ_operation_params_is_an_object(etsi: EtsiSchemas) -> None:
    # ERRATA row 1: the YAML declares the NsLcmOpType enum here.
    etsi.validate({**NS_LCM_OP_OCC, "operationParams": {"nsFlavourId": "df-1"}}, "NsLcmOpOcc", api=NSLCM)
    with pytest.raises(AssertionError, match="operationParams"):
        etsi.validate({**NS_LCM_OP_OCC, "operationParams": "INSTANTIATE"}, "NsLcmOpOcc", api=NSLCM)


@pytest.mark.etsi
def test_problem_details_requires_detail(etsi: EtsiSchemas) -> None:
    etsi.validate({"status": 404, "detail": "no such NS instance"}, "ProblemDetails", api=NSLCM)
    with pytest.raises(AssertionError, match="'detail' is a required property"):
        etsi.validate({"status": 404, "title": "Not Found"}, "ProblemDetails", api=NSLCM)


@pytest.mark.etsi
def test_nsd_info_needs_vnf_pkg_ids_only_once_onboarded(etsi: EtsiSchemas) -> None:
    # ERRATA row 2: anyOf(vnfPkgIds, nestedNsdInfoIds) applies after onboarding only.
    etsi.validate(NSD_INFO, "NsdInfo", api=NSD)
    onboarded = {**NSD_INFO, "nsdOnboardingState": "ONBOARDED"}
    with pytest.raises(AssertionError):
        etsi.validate(onboarded, "NsdInfo", api=NSD)
    etsi.validate({**onboarded, "vnfPkgIds": ["pkg-1"]}, "NsdInfo", api=NSD)


@pytest.mark.etsi
def test_vnf_lcm_op_occ_needs_at_most_one_change_block(etsi: EtsiSchemas) -> None:
    # ERRATA row 5: oneOf(changedInfo, modificationsTriggeredByVnfPkgChange) means "at most one".
    etsi.validate(VNF_LCM_OP_OCC, "VnfLcmOpOcc", api=VNFLCM)
    both = {**VNF_LCM_OP_OCC, "changedInfo": {}, "modificationsTriggeredByVnfPkgChange": {}}
    with pytest.raises(AssertionError):
        etsi.validate(both, "VnfLcmOpOcc", api=VNFLCM)


@pytest.mark.etsi
def test_checksum_is_an_object(etsi: EtsiSchemas) -> None:
    # ERRATA row 8: SOL003_def.yaml declares Checksum as a string.
    checksum = {"algorithm": "SHA-256", "hash": "9f86d08188"}
    etsi.validate(checksum, "Checksum", api=SOL003_PKG)
    etsi.validate({**VNF_PKG_INFO, "checksum": checksum}, "VnfPkgInfo", api=SOL003_PKG)
    with pytest.raises(AssertionError, match=re.escape("$.checksum")):
        etsi.validate({**VNF_PKG_INFO, "checksum": "9f86d08188"}, "VnfPkgInfo", api=SOL003_PKG)
    with pytest.raises(AssertionError, match="'hash' is a required property"):
        etsi.validate({"algorithm": "SHA-256"}, "Checksum", api=SOL003_PKG)


@pytest.mark.etsi
def test_validate_list_names_the_item(etsi: EtsiSchemas) -> None:
    etsi.validate_list([VNF_INSTANCE, VNF_INSTANCE], "VnfInstance", api=VNFLCM)
    with pytest.raises(AssertionError, match=r"item \[1\]"):
        etsi.validate_list([VNF_INSTANCE, without(VNF_INSTANCE, "id")], "VnfInstance", api=VNFLCM)


@pytest.mark.etsi
def test_unknown_names_are_lookup_errors(etsi: EtsiSchemas) -> None:
    with pytest.raises(KeyError, match="VnfInstance"):
        etsi.validate({}, "VnfInstanc", api=VNFLCM)
    with pytest.raises(KeyError):
        etsi.validate({}, "VnfInstance", api="SOL003/NoSuchApi")


@pytest.mark.etsi
@pytest.mark.parametrize("api", MAGI_APIS)
def test_every_definition_compiles(etsi: EtsiSchemas, api: str) -> None:
    names = etsi.names(api)
    assert {"ProblemDetails", "ApiVersionInformation"} <= set(names)
    for name in names:
        # Reference and schema errors propagate: only a failed *validation* of {} is expected.
        try:
            etsi.validate({}, name, api=api)
        except (AssertionError, ValidationError):
            pass


@pytest.mark.etsi
def test_errata_list_covers_every_errata_row(etsi: EtsiSchemas) -> None:
    table = (etsi.root / "ERRATA.md").read_text(encoding="utf-8").splitlines()
    rows = [line for line in table if line.startswith("|") and not re.match(r"\|\s*(file|-)", line)]
    assert [c.row for c in ERRATA_CORRECTIONS] == list(range(1, len(rows) + 1))
    etsi.check_errata()  # each correction still matches the text it corrects


def test_missing_folder_skips_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("MAGI_ETSI_OPENAPI_DIR", str(tmp_path) + "/absent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="set MAGI_ETSI_OPENAPI_DIR"):
        require_etsi()


def test_missing_folder_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("MAGI_ETSI_OPENAPI_DIR", str(tmp_path) + "/absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="MAGI_ETSI_OPENAPI_DIR"):
        require_etsi()
