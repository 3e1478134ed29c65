"""Validate API bodies against the official ETSI NFV-SOL 002/003/005 v3.7.1 OpenAPI schemas.

Usage in a test::

    from tests.etsi_schema import schemas

    schemas().validate(body, "VnfInstance", api="SOL003/VNFLifecycleManagement")

``api`` names an API folder of the ETSI tree (``SOL002/<Api>``, ``SOL003/<Api>``,
``SOL005/<Api>``; see ``EtsiSchemas.apis()``); ``schema`` is a definition name. The name is looked
up in the API's own ``definitions/*_def.yaml``, then in the family's shared definitions
(``SOL00x_def.yaml``), then in every definition file those reference.

The ETSI files are never modified: they are read, patched in memory with ``ERRATA_CORRECTIONS``
(one entry per row of the folder's ERRATA.md) and converted from the OpenAPI 3.0 schema dialect
to JSON Schema 2020-12. ``format`` is not enforced.
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
import pathlib
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator

ENV_DIR = "MAGI_ETSI_OPENAPI_DIR"
SKIP_REASON = f"ETSI OpenAPI folder not found: set {ENV_DIR}"
_REPO = pathlib.Path(__file__).resolve().parents[1]
_FAMILY_DIRS = {"SOL002": "SOL002-SOL003/SOL002", "SOL003": "SOL002-SOL003/SOL003", "SOL005": "SOL005"}
# Each family duplicates the SOL013 common types (ProblemDetails, Link, ApiVersionInformation, ...)
# in one shared file; it is searched right after the API's own definitions.
_FAMILY_SHARED = {
    "SOL002": "SOL002-SOL003/SOL002/General_Definitions/SOL002_def.yaml",
    "SOL003": "SOL002-SOL003/SOL003/General_Definitions/SOL003_def.yaml",
    "SOL005": "SOL005/definitions/SOL005_def.yaml",
}
_Validator = jsonschema.Draft202012Validator
_MAX_ERRORS = 10
_MAX_MESSAGE = 300


# --------------------------------------------------------------------------------------------
# Errata (ERRATA.md of the ETSI folder), applied in memory after loading, before conversion.
# --------------------------------------------------------------------------------------------

DROP: Any = object()  # marker in Correction.replace: delete the key


@dataclass(frozen=True)
class Correction:
    """One row of ERRATA.md. ``files`` empty = nothing to patch at definition level."""

    row: int  # 1-based row of the ERRATA.md table
    slip: str
    files: tuple[str, ...] = ()  # relative to the ETSI folder
    pointer: str = ""  # JSON pointer of the schema node to patch, in every file
    expect: Any = None  # key/value pairs the node has today: a drifted file fails loudly
    replace: Any = None  # key/value pairs set on the node (DROP deletes the key)


_VNFLCM_DEFS = (
    "SOL002-SOL003/SOL002/VNFLifecycleManagement/definitions/SOL002VNFLifecycleManagement_def.yaml",
    "SOL002-SOL003/SOL003/VNFLifecycleManagement/definitions/SOL003VNFLifecycleManagement_def.yaml",
)
_GENERAL_DEFS = (_FAMILY_SHARED["SOL002"], _FAMILY_SHARED["SOL003"])
_RESPONSE_LEVEL = "response/path level, not a definition: callers validate collections with validate_list()"

ERRATA_CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        1, "NsLcmOpOcc.operationParams is the NsLcmOpType enum; it is the operation's request body",
        ("SOL005/NSLifecycleManagement/definitions/SOL005NSLifecycleManagement_def.yaml",),
        "/definitions/NsLcmOpOcc/properties/operationParams",
        expect={"type": "string"},
        replace={"type": "object", "enum": DROP},
    ),
    Correction(
        2, "NsdInfo anyOf(vnfPkgIds, nestedNsdInfoIds) always required; only once ONBOARDED (NOTE 1)",
        ("SOL005/NSDManagement/definitions/SOL005NSDescriptorManagement_def.yaml",),
        "/definitions/NsdInfo",
        expect={"anyOf": [{"required": ["vnfPkgIds"]}, {"required": ["nestedNsdInfoIds"]}]},
        replace={
            "anyOf": DROP,
            "if": {"required": ["nsdOnboardingState"], "properties": {"nsdOnboardingState": {"const": "ONBOARDED"}}},
            "then": {"anyOf": [{"required": ["vnfPkgIds"]}, {"required": ["nestedNsdInfoIds"]}]},
        },
    ),
    Correction(3, "SOL002/SOL003 VNFLCM + VNFFM: GET /subscriptions 200 is one object, not an array; " + _RESPONSE_LEVEL),
    Correction(4, "responses VnfLcmOpOccs.Get.200 and Alarms.Get.200 are one object, not an array; " + _RESPONSE_LEVEL),
    Correction(
        5, "VnfLcmOpOcc oneOf(changedInfo, modificationsTriggeredByVnfPkgChange): at most one (NOTE 2)",
        _VNFLCM_DEFS,
        "/definitions/VnfLcmOpOcc",
        expect={"oneOf": [{"required": ["changedInfo"]}, {"required": ["modificationsTriggeredByVnfPkgChange"]}]},
        replace={"oneOf": DROP, "not": {"required": ["changedInfo", "modificationsTriggeredByVnfPkgChange"]}},
    ),
    Correction(
        6, "IpOverEthernetAddressInfo oneOf(addresses, addressRange) names attributes of ipAddresses items",
        _VNFLCM_DEFS,
        "/definitions/IpOverEthernetAddressInfo",
        expect={"oneOf": [{"required": ["addresses"]}, {"required": ["addressRange"]}]},
        replace={"oneOf": DROP},
    ),
    Correction(
        7, "IpOverEthernetAddressData oneOf(fixedAddresses, numDynamicAddresses, ipAddressRange) names nested attributes",
        _GENERAL_DEFS,
        "/definitions/IpOverEthernetAddressData",
        expect={"oneOf": [{"required": ["fixedAddresses"]}, {"required": ["numDynamicAddresses"]},
                          {"required": ["ipAddressRange"]}]},
        replace={"oneOf": DROP},
    ),
    Correction(
        8, "Checksum is `type: string` ('no definition found'); it is {algorithm, hash}",
        _GENERAL_DEFS,
        "/definitions/Checksum",
        expect={"type": "string"},
        replace={
            "type": "object",
            "required": ["algorithm", "hash"],
            "properties": {"algorithm": {"type": "string"}, "hash": {"type": "string"}},
        },
    ),
    Correction(9, "SOL005 NSLCM fail/cancel paths prefixed /nslcm/v1/; " + _RESPONSE_LEVEL),
    Correction(10, "SOL003 VNFPM version endpoint /api-versions; " + _RESPONSE_LEVEL),
    Correction(11, "SOL003 VNFIndicator /indicators/subscriptions/{id}; " + _RESPONSE_LEVEL),
    Correction(
        12, "CreateVnfSnapshotRequest.required names vnfSnapshotResId; the attribute is vnfSnapshotInfoId",
        (_VNFLCM_DEFS[1],),
        "/definitions/CreateVnfSnapshotRequest",
        expect={"required": ["vnfSnapshotResId"]},
        replace={"required": ["vnfSnapshotInfoId"]},
    ),
)


# Slips MAGI found that ERRATA.md does not list yet (row 0): same mechanism, kept apart so the
# ERRATA rows stay one-to-one with the table.
MAGI_CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        0, "SOL005 LcmOpOccStatusForChangeNotificationType repeats the operation-name enum (its description is the one "
           "of LcmOpNameForChangeNotificationType); SOL005 table 6.5.4.7-1 lists the statuses",
        ("SOL005/NSLifecycleManagement/definitions/SOL005NSLifecycleManagement_def.yaml",),
        "/definitions/LcmOpOccStatusForChangeNotificationType",
        expect={"type": "string"},
        replace={"enum": ["START", "COMPLETED", "PARTIALLY_COMPLETED", "FAILED", "ROLLED_BACK"]},
    ),
    Correction(
        0, "SOL005 NsChangeNotification.required truncates lcmOpOccStatusImpactingNsComponent to lcmOpOccStatusImpactingNsCompon",
        ("SOL005/NSLifecycleManagementNotification/definitions/SOL005NSLifecycleManagementNotification_def.yaml",),
        "/definitions/NsChangeNotification",
        expect={"required": ["id", "nsInstanceId", "nsComponentType", "nsComponentId", "lcmOpOccIdImpactingNsComponent",
                             "lcmOpNameImpactingNsComponent", "lcmOpOccStatusImpactingNsCompon", "notificationType",
                             "subscriptionId", "timestamp", "_links"]},
        replace={"required": ["id", "nsInstanceId", "nsComponentType", "nsComponentId", "lcmOpOccIdImpactingNsComponent",
                              "lcmOpNameImpactingNsComponent", "lcmOpOccStatusImpactingNsComponent", "notificationType",
                              "subscriptionId", "timestamp", "_links"]},
    ),
    Correction(
        0, "SOL005 LifecycleChangeNotificationsFilter.notificationTypes misspells NsLcmOperationOccurenceNotification "
           "and lacks NsLcmCapacityShortageNotification (GS SOL005 6.5.3.8)",
        ("SOL005/NSLifecycleManagement/definitions/SOL005NSLifecycleManagement_def.yaml",),
        "/definitions/LifecycleChangeNotificationsFilter/properties/notificationTypes/items",
        expect={"enum": ["NsLcmOperationOccurenceNotification", "NsIdentifierCreationNotification",
                         "NsIdentifierDeletionNotification", "NsChangeNotification"]},
        replace={"enum": ["NsLcmOperationOccurrenceNotification", "NsLcmOperationOccurenceNotification",
                          "NsIdentifierCreationNotification", "NsIdentifierDeletionNotification", "NsChangeNotification",
                          "NsLcmCapacityShortageNotification"]},
    ),
    Correction(
        0, "SOL005 AffectedVnf anyOf(changedExtConnectivity, oneOf(changedVnfInfo, modificationsTriggeredByVnfPkgChange)) "
           "names attributes of changedInfo, and would forbid INSTANTIATE/TERMINATE entries (same slip as ERRATA rows 6-7)",
        ("SOL005/NSLifecycleManagement/definitions/SOL005NSLifecycleManagement_def.yaml",),
        "/definitions/AffectedVnf",
        expect={"anyOf": [{"required": ["changedExtConnectivity"]},
                          {"oneOf": [{"required": ["changedVnfInfo"]}, {"required": ["modificationsTriggeredByVnfPkgChange"]}]}]},
        replace={"anyOf": DROP},
    ),
    Correction(
        0, "SOL005 NsdmNotificationsFilter anyOf(oneOf(nsdId, nsdInfoId), oneOf(pnfdId, pnfdInfoIds)) requires an NSD and "
           "a PNFD reference in every filter; NOTEs 2-3 only say the alternatives should not be used both (no attribute is "
           "required: a filter on notificationTypes alone is valid)",
        ("SOL005/NSDManagement/definitions/SOL005NSDescriptorManagement_def.yaml",),
        "/definitions/NsdmNotificationsFilter",
        expect={"anyOf": [{"oneOf": [{"required": ["nsdId"]}, {"required": ["nsdInfoId"]}]},
                          {"oneOf": [{"required": ["pnfdId"]}, {"required": ["pnfdInfoIds"]}]}]},
        replace={"anyOf": DROP},
    ),
    Correction(
        0, "SOL005 NsdmNotificationsFilter.notificationTypes spells NsdOnboardingFailureNotification; the notification "
           "type is NsdOnBoardingFailureNotification (NOTE 1: spelled exactly as the type names)",
        ("SOL005/NSDManagement/definitions/SOL005NSDescriptorManagement_def.yaml",),
        "/definitions/NsdmNotificationsFilter/properties/notificationTypes/items",
        expect={"enum": ["NsdOnBoardingNotification", "NsdOnboardingFailureNotification", "NsdChangeNotification",
                         "NsdDeletionNotification", "PnfdOnBoardingNotification", "PnfdOnBoardingFailureNotification",
                         "PnfdDeletionNotification"]},
        replace={"enum": ["NsdOnBoardingNotification", "NsdOnBoardingFailureNotification", "NsdOnboardingFailureNotification",
                          "NsdChangeNotification", "NsdDeletionNotification", "PnfdOnBoardingNotification",
                          "PnfdOnBoardingFailureNotification", "PnfdDeletionNotification"]},
    ),
)


def _pointer_get(doc: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/"):
        doc = doc[part.replace("~1", "/").replace("~0", "~")]
    return doc


def _apply_errata(relpath: str, doc: dict[str, Any]) -> None:
    for fix in ERRATA_CORRECTIONS + MAGI_CORRECTIONS:
        if relpath not in fix.files:
            continue
        node = _pointer_get(doc, fix.pointer)
        drifted = {k: node.get(k) for k, v in fix.expect.items() if node.get(k) != v}
        if drifted:
            raise RuntimeError(f"ERRATA row {fix.row}: {relpath}#{fix.pointer} changed ({drifted}); review the correction")
        for key, value in fix.replace.items():
            if value is DROP:
                node.pop(key, None)
            else:
                node[key] = copy.deepcopy(value)


# --------------------------------------------------------------------------------------------
# OpenAPI 3.0 schema object -> JSON Schema 2020-12
# --------------------------------------------------------------------------------------------

_SCHEMA_VALUED = ("items", "additionalProperties", "not", "if", "then", "else")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _subschemas(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Direct child schemas of a schema node (property maps are not schemas themselves)."""
    for key in _SCHEMA_VALUED:
        if isinstance(node.get(key), dict):
            yield node[key]
    for key in _SCHEMA_LISTS:
        yield from (s for s in node.get(key) or () if isinstance(s, dict))
    props = node.get("properties")
    if isinstance(props, dict):
        yield from (s for s in props.values() if isinstance(s, dict))


def _convert(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        # OAS 3.0: siblings of $ref are ignored. ETSI relies on it (VipCpInfo.metadata says
        # `type: array, items: <empty>` next to a $ref to the KeyValuePairs object).
        out: dict[str, Any] = {"$ref": node["$ref"]}
        return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") is True else out
    # Empty YAML values (`items:` / `type:` left blank upstream) mean "no constraint".
    out = {k: v for k, v in node.items() if v is not None and k != "nullable"}
    for key in _SCHEMA_VALUED:
        if isinstance(out.get(key), dict):
            out[key] = _convert(out[key])
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_convert(s) if isinstance(s, dict) else s for s in out[key]]
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _convert(v) if isinstance(v, dict) else v for k, v in out["properties"].items()}
    for bound in ("Minimum", "Maximum"):  # OAS 3.0 boolean exclusiveMinimum/Maximum -> numeric
        key = f"exclusive{bound}"
        if isinstance(out.get(key), bool):
            if out.pop(key) and bound.lower() in out:
                out[key] = out.pop(bound.lower())
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _definition_maps(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(JSON pointer prefix, name -> schema) of a definitions file; ETSI uses both layouts."""
    if isinstance(doc.get("definitions"), dict):
        yield "/definitions/", doc["definitions"]
    schemas_map = (doc.get("components") or {}).get("schemas")
    if isinstance(schemas_map, dict):
        yield "/components/schemas/", schemas_map


# --------------------------------------------------------------------------------------------
# Schema store
# --------------------------------------------------------------------------------------------


class EtsiSchemas:
    """Lazily loaded, errata-corrected ETSI definitions under ``root``."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root.resolve()
        self._docs: dict[str, dict[str, Any]] = {}  # relative path -> converted document
        self._scopes: dict[str, list[str]] = {}  # api -> definition files, in lookup order
        self._validators: dict[tuple[str, str], Validator] = {}
        self._checked: set[str] = set()  # absolute schema URIs already checked
        self._registry: referencing.Registry[Any] = referencing.Registry(retrieve=self._retrieve)

    # -- public ------------------------------------------------------------------------------

    def apis(self) -> list[str]:
        """Every api key with definition files (``SOL003/VNFLifecycleManagement``, ...)."""
        keys = []
        for family, rel in _FAMILY_DIRS.items():
            for sub in sorted((self.root / rel).iterdir()):
                if sub.is_dir() and self._own_files(sub):
                    keys.append(f"{family}/{sub.name}")
        return keys

    def names(self, api: str) -> list[str]:
        seen: dict[str, None] = {}
        for rel in self._scope(api):
            for _, defs in _definition_maps(self._doc(rel)):
                seen.update(dict.fromkeys(defs))
        return list(seen)

    def validate(self, body: object, schema: str, *, api: str) -> None:
        """Raise AssertionError listing every violation (JSON path + message)."""
        validator = self._validator(api, schema)
        errors = sorted(validator.iter_errors(body), key=lambda e: (e.json_path, e.message))
        if errors:
            lines = [f"{api} {schema}: {len(errors)} ETSI schema violation(s)"]
            lines += [_describe(e) for e in errors[:_MAX_ERRORS]]
            if len(errors) > _MAX_ERRORS:
                lines.append(f"  ... {len(errors) - _MAX_ERRORS} more")
            raise AssertionError("\n".join(lines))

    def validate_list(self, body: object, schema: str, *, api: str) -> None:
        """A collection response (JSON array of ``schema``), e.g. GET /vnf_instances."""
        assert isinstance(body, list), f"{api} {schema}: expected a JSON array, got {type(body).__name__}"
        for i, item in enumerate(body):
            try:
                self.validate(item, schema, api=api)
            except AssertionError as exc:
                raise AssertionError(f"item [{i}]: {exc}") from None

    def check_errata(self) -> None:
        """Load every corrected file: fails if a correction no longer matches the ETSI text."""
        for fix in ERRATA_CORRECTIONS + MAGI_CORRECTIONS:
            for rel in fix.files:
                self._doc(rel)

    # -- lookup --------------------------------------------------------------------------------

    def _validator(self, api: str, schema: str) -> Validator:
        key = (api, schema)
        if key not in self._validators:
            uri = self._uri_of(api, schema)
            self._check_closure(uri)
            self._validators[key] = _Validator({"$ref": uri}, registry=self._registry, format_checker=None)
        return self._validators[key]

    def _uri_of(self, api: str, schema: str) -> str:
        for rel in self._scope(api):
            for prefix, defs in _definition_maps(self._doc(rel)):
                if schema in defs:
                    return f"{(self.root / rel).as_uri()}#{prefix}{schema}"
        close = difflib.get_close_matches(schema, self.names(api), n=5)
        raise KeyError(f"no ETSI definition {schema!r} for api {api!r}; close: {close}")

    def _scope(self, api: str) -> list[str]:
        """Own definition files, the family's shared file, then files they reference (BFS)."""
        if api not in self._scopes:
            family, _, name = api.partition("/")
            if family not in _FAMILY_DIRS or not name:
                raise KeyError(f"unknown api {api!r}; expected e.g. 'SOL003/VNFLifecycleManagement'")
            own = self._own_files(self.root / _FAMILY_DIRS[family] / name)
            if not own:
                raise KeyError(f"unknown api {api!r}; known: {self.apis()}")
            order = [*own, _FAMILY_SHARED[family]]
            i = 0
            while i < len(order):
                for ref in self._file_refs(order[i]):
                    if ref not in order:
                        order.append(ref)
                i += 1
            self._scopes[api] = list(dict.fromkeys(order))
        return self._scopes[api]

    def _own_files(self, folder: pathlib.Path) -> list[str]:
        files = sorted((folder / "definitions").glob("*_def.yaml")) or sorted(folder.glob("*_def.yaml"))
        return [f.relative_to(self.root).as_posix() for f in files]

    def _file_refs(self, rel: str) -> list[str]:
        """Other definition files referenced by ``rel`` (relative paths)."""
        base = (self.root / rel).as_uri()
        found: dict[str, None] = {}
        stack = [s for _, defs in _definition_maps(self._doc(rel)) for s in defs.values() if isinstance(s, dict)]
        while stack:
            node = stack.pop()
            target = str(node.get("$ref", "")).partition("#")[0]
            if target:
                found[self._relpath(urllib.parse.urljoin(base, target))] = None
            stack.extend(_subschemas(node))
        return list(found)

    # -- loading ---------------------------------------------------------------------------------

    def _relpath(self, uri: str) -> str:
        path = pathlib.Path(urllib.request.url2pathname(urllib.parse.urlparse(uri).path)).resolve()
        return path.relative_to(self.root).as_posix()  # ValueError: a $ref leaving the ETSI folder

    def _doc(self, rel: str) -> dict[str, Any]:
        if rel not in self._docs:
            raw = yaml.safe_load((self.root / rel).read_text(encoding="utf-8")) or {}
            _apply_errata(rel, raw)
            for _, defs in _definition_maps(raw):
                for name, node in defs.items():
                    if isinstance(node, dict):
                        defs[name] = _convert(node)
            self._docs[rel] = raw
        return self._docs[rel]

    def _retrieve(self, uri: str) -> referencing.Resource[Any]:
        return referencing.jsonschema.DRAFT202012.create_resource(self._doc(self._relpath(uri)))

    def _check_closure(self, uri: str) -> None:
        """Resolve every $ref reachable from ``uri`` and check each schema against the
        meta-schema now, so a broken reference fails even for bodies that never reach it."""
        resolver = self._registry.resolver()
        stack = [uri]
        while stack:
            current = stack.pop()
            if current in self._checked:
                continue
            contents = resolver.lookup(current).contents  # raises referencing.exceptions.Unresolvable
            _Validator.check_schema(contents)  # raises jsonschema.SchemaError
            self._checked.add(current)
            nodes = [contents]
            while nodes:
                node = nodes.pop()
                if "$ref" in node:
                    stack.append(urllib.parse.urljoin(current, node["$ref"]))
                nodes.extend(_subschemas(node))


def _describe(error: ValidationError) -> str:
    line = f"  {error.json_path}: {_short(error.message)}"
    if error.context:  # anyOf/oneOf: name the closest branch's failure too
        inner = best_match(error.context)
        line += f" [closest: {inner.json_path}: {_short(inner.message)}]"
    return line


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


# --------------------------------------------------------------------------------------------
# Locating the folder
# --------------------------------------------------------------------------------------------


def etsi_dir() -> pathlib.Path | None:
    """$MAGI_ETSI_OPENAPI_DIR, else <repo>/../shared/etsi-openapi; None if not a directory."""
    configured = os.environ.get(ENV_DIR)
    path = pathlib.Path(configured) if configured else _REPO.parent / "shared" / "etsi-openapi"
    return path if path.is_dir() else None


def require_etsi() -> pathlib.Path:
    """The ETSI folder; skips the calling test if absent, but fails under CI=true (CI must have it)."""
    path = etsi_dir()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError(f"{SKIP_REASON} (required when CI=true)")
        pytest.skip(SKIP_REASON)
    return path


@functools.cache
def _schemas_at(root: pathlib.Path) -> EtsiSchemas:
    return EtsiSchemas(root)


def schemas() -> EtsiSchemas:
    """Process-wide EtsiSchemas for etsi_dir(); skips or raises like require_etsi()."""
    return _schemas_at(require_etsi().resolve())
