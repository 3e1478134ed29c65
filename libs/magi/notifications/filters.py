"""Subscription filters of VNF LCM (SOL003 `LifecycleChangeNotificationsFilter`), NS LCM, VNF package
management (SOL005 `PkgmNotificationsFilter`) and NSD management (SOL005 `NsdmNotificationsFilter`).

A filter is validated against a small schema (unknown attributes and enum values → 400) from which
the SOL013 `?filter=` attributes of GET /subscriptions are derived too. Matching follows the GS:
attributes AND-ed, the values of one array OR-ed; an empty array constrains nothing.

The notification handed to `matches` may carry a private `_match` dict with instance facts the body
lacks: VNF `vnfdId, vnfProvider, vnfProductName, vnfSoftwareVersion, vnfdVersion, vnfInstanceName`;
NS `nsdId, nsInstanceName, vnfdIds, pnfdIds`. `_match["instances"]` (a list of such dicts, each with
its `nsInstanceId`/`vnfInstanceId`) is for notifications about several instances, e.g.
NsLcmCapacityShortageNotification: the instance filter matches if any of them matches.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from magi.api.problem import Problem
from magi.notifications.subscriptions import SubscriptionKind


# ---------------------------------------------------------------- a tiny schema language


@dataclass(frozen=True)
class _Str:
    enum: frozenset[str] | None = None


@dataclass(frozen=True)
class _List:
    item: Any


@dataclass(frozen=True)
class _Obj:
    fields: dict[str, Any]
    required: tuple[str, ...] = field(default=())


def _bad(path: str, msg: str) -> Problem:
    return Problem(400, f"invalid filter: {path}: {msg}")


def _validate(value: Any, spec: Any, path: str) -> None:
    if isinstance(spec, _Obj):
        if not isinstance(value, dict):
            raise _bad(path, "must be an object")
        for name in value:
            if name not in spec.fields:
                raise _bad(f"{path}/{name}", "is not an attribute of this filter")
        for name in spec.required:
            if name not in value:
                raise _bad(f"{path}/{name}", "is required")
        for name, item in value.items():
            _validate(item, spec.fields[name], f"{path}/{name}")
    elif isinstance(spec, _List):
        if not isinstance(value, list):
            raise _bad(path, "must be an array")
        for i, item in enumerate(value):
            _validate(item, spec.item, f"{path}/{i}")
    elif not isinstance(value, str):
        raise _bad(path, "must be a string")
    elif spec.enum is not None and value not in spec.enum:
        raise _bad(path, f"{value!r} is not one of {', '.join(sorted(spec.enum))}")


def _paths(spec: Any, prefix: str) -> set[str]:
    """The "/"-paths of every leaf: SOL013 filters see through arrays."""
    if isinstance(spec, _Obj):
        return set().union(*(_paths(s, f"{prefix}/{name}") for name, s in spec.fields.items()))
    if isinstance(spec, _List):
        return _paths(spec.item, prefix)
    return {prefix}


def _strings(enum: set[str] | None = None) -> _List:
    return _List(_Str(frozenset(enum) if enum is not None else None))


def _check_typed(flt: dict[str, Any], rules: dict[str, str], aliases: dict[str, str]) -> None:
    """Type-specific attributes "shall be absent" unless notificationTypes names their type."""
    named = {aliases.get(t, t) for t in flt.get("notificationTypes") or []}
    if not named:
        return
    for attr, ntype in rules.items():
        if flt.get(attr) and ntype not in named:
            raise _bad(f"filter/{attr}", f"only allowed when notificationTypes contains {ntype}")


# ---------------------------------------------------------------- matching helpers


def _facts(notification: dict[str, Any]) -> list[dict[str, Any]]:
    extra = notification.get("_match") or {}
    base = {k: v for k, v in notification.items() if not k.startswith("_")} | extra
    instances = extra.get("instances")
    if isinstance(instances, list) and instances:
        return [base | i for i in instances if isinstance(i, dict)]
    return [base]


def _hit(wanted: list[Any] | None, have: Any) -> bool:
    """True if the filter attribute is absent/empty or one of `have` (scalar or list) is wanted."""
    if not wanted:
        return True
    values = have if isinstance(have, list) else [have]
    return any(v in wanted for v in values if v is not None)


def _typed_ok(flt: dict[str, Any], n: dict[str, Any], ntype: str, pairs: tuple[tuple[str, str], ...]) -> bool:
    """Filter attributes that constrain only notifications of type `ntype`: (filter attr, body attr)."""
    if n.get("notificationType") != ntype:
        return True
    return all(_hit(flt.get(attr), n.get(body_attr)) for attr, body_attr in pairs)


def _kind(prefix: str, version: str | None, spec: _Obj, rules: dict[str, str], aliases: dict[str, str],
          matcher: Callable[[dict[str, Any], dict[str, Any]], bool], verbose: str, omit: set[str]) -> SubscriptionKind:
    def validate(flt: dict[str, Any]) -> None:
        _validate(flt, spec, "filter")
        _check_typed(flt, rules, aliases)

    def matches(flt: dict[str, Any] | None, notification: dict[str, Any]) -> bool:
        return not flt or matcher(flt, notification)

    return SubscriptionKind(
        api_prefix=prefix, matches=matches, validate_filter=validate,
        filter_attributes=frozenset({"id", "callbackUri", "verbosity"} | _paths(spec, "filter")),
        version=version, verbosity_types=frozenset({verbose}), short_omit=frozenset(omit),
    )


# ---------------------------------------------------------------- SOL003 VNF LCM

VNF_OP_OCC = "VnfLcmOperationOccurrenceNotification"
VNF_TYPES = {VNF_OP_OCC, "VnfIdentifierCreationNotification", "VnfIdentifierDeletionNotification"}
VNF_OPERATIONS = {"INSTANTIATE", "SCALE", "SCALE_TO_LEVEL", "CHANGE_FLAVOUR", "TERMINATE", "HEAL", "OPERATE",
                  "CHANGE_EXT_CONN", "MODIFY_INFO", "CREATE_SNAPSHOT", "REVERT_TO_SNAPSHOT", "CHANGE_VNFPKG"}
VNF_STATES = {"STARTING", "PROCESSING", "COMPLETED", "FAILED_TEMP", "FAILED", "ROLLING_BACK", "ROLLED_BACK"}

VNF_INSTANCE_FILTER = _Obj({
    "vnfdIds": _strings(),
    "vnfProductsFromProviders": _List(_Obj({
        "vnfProvider": _Str(),
        "vnfProducts": _List(_Obj({
            "vnfProductName": _Str(),
            "versions": _List(_Obj({"vnfSoftwareVersion": _Str(), "vnfdVersions": _strings()},
                                   ("vnfSoftwareVersion",))),
        }, ("vnfProductName",))),
    }, ("vnfProvider",))),
    "vnfInstanceIds": _strings(),
    "vnfInstanceNames": _strings(),
})
VNF_FILTER = _Obj({
    "vnfInstanceSubscriptionFilter": VNF_INSTANCE_FILTER,
    "notificationTypes": _strings(VNF_TYPES),
    "operationTypes": _strings(VNF_OPERATIONS),
    "operationStates": _strings(VNF_STATES),
})
VNF_SHORT_OMIT = {"affectedVnfcs", "affectedVirtualLinks", "affectedExtLinkPorts", "affectedVirtualStorages",
                  "affectedVipCps", "changedInfo", "changedExtConnectivity", "modificationsTriggeredByVnfPkgChange"}


def _vnf_product_ok(provider: dict[str, Any], fx: dict[str, Any]) -> bool:
    if provider["vnfProvider"] != fx.get("vnfProvider"):
        return False
    products = provider.get("vnfProducts")
    return not products or any(
        p["vnfProductName"] == fx.get("vnfProductName") and (not p.get("versions") or any(
            v["vnfSoftwareVersion"] == fx.get("vnfSoftwareVersion") and _hit(v.get("vnfdVersions"), fx.get("vnfdVersion"))
            for v in p["versions"]))
        for p in products)


def _vnf_instance_ok(f: dict[str, Any], fx: dict[str, Any]) -> bool:
    providers = f.get("vnfProductsFromProviders")
    return (_hit(f.get("vnfdIds"), fx.get("vnfdId"))
            and (not providers or any(_vnf_product_ok(p, fx) for p in providers))
            and _hit(f.get("vnfInstanceIds"), fx.get("vnfInstanceId"))
            and _hit(f.get("vnfInstanceNames"), fx.get("vnfInstanceName")))


def _vnf_matches(flt: dict[str, Any], n: dict[str, Any]) -> bool:
    inst = flt.get("vnfInstanceSubscriptionFilter")
    return (_hit(flt.get("notificationTypes"), n.get("notificationType"))
            and _typed_ok(flt, n, VNF_OP_OCC, (("operationTypes", "operation"), ("operationStates", "operationState")))
            and (not inst or any(_vnf_instance_ok(inst, fx) for fx in _facts(n))))


def vnflcm_kind(prefix: str = "/vnflcm/v2", version: str | None = "2.0.0") -> SubscriptionKind:
    rules = {"operationTypes": VNF_OP_OCC, "operationStates": VNF_OP_OCC}
    return _kind(prefix, version, VNF_FILTER, rules, {}, _vnf_matches, VNF_OP_OCC, VNF_SHORT_OMIT)


# ---------------------------------------------------------------- SOL005 NS LCM

NS_OP_OCC = "NsLcmOperationOccurrenceNotification"
NS_CHANGE = "NsChangeNotification"
NS_SHORTAGE = "NsLcmCapacityShortageNotification"
# The v3.7.1 YAML enum misspells the op-occ type and lacks the shortage one: accept the GS names and the slip.
NS_ALIASES = {"NsLcmOperationOccurenceNotification": NS_OP_OCC}
NS_TYPES = {NS_OP_OCC, "NsIdentifierCreationNotification", "NsIdentifierDeletionNotification", NS_CHANGE, NS_SHORTAGE}
NS_OPERATIONS = {"INSTANTIATE", "SCALE", "UPDATE", "TERMINATE", "HEAL"}
NS_STATES = {"PROCESSING", "COMPLETED", "PARTIALLY_COMPLETED", "FAILED_TEMP", "FAILED", "ROLLING_BACK", "ROLLED_BACK"}
NS_COMPONENT_TYPES = {"VNF", "PNF", "NS"}
NS_CHANGE_OP_NAMES = {f"VNF_{op}" for op in VNF_OPERATIONS} | {f"NS_{op}" for op in NS_OPERATIONS}
# GS Table 6.5.4.7-1; the YAML wrongly repeats the operation names here.
NS_CHANGE_OP_STATUS = {"START", "COMPLETED", "PARTIALLY_COMPLETED", "FAILED", "ROLLED_BACK"}

NS_INSTANCE_FILTER = _Obj({
    "nsdIds": _strings(), "vnfdIds": _strings(), "pnfdIds": _strings(),
    "nsInstanceIds": _strings(), "nsInstanceNames": _strings(),
})
NS_FILTER = _Obj({
    "nsInstanceSubscriptionFilter": NS_INSTANCE_FILTER,
    "notificationTypes": _strings(NS_TYPES | set(NS_ALIASES)),
    "operationTypes": _strings(NS_OPERATIONS),
    "operationStates": _strings(NS_STATES),
    "affectedNsInstanceIds": _strings(),
    "nsComponentTypes": _strings(NS_COMPONENT_TYPES),
    "lcmOpNameImpactingNsComponent": _strings(NS_CHANGE_OP_NAMES),
    "lcmOpOccStatusImpactingNsComponent": _strings(NS_CHANGE_OP_STATUS),
})
NS_RULES = {"operationTypes": NS_OP_OCC, "operationStates": NS_OP_OCC, "affectedNsInstanceIds": NS_SHORTAGE,
            "nsComponentTypes": NS_CHANGE, "lcmOpNameImpactingNsComponent": NS_CHANGE,
            "lcmOpOccStatusImpactingNsComponent": NS_CHANGE}
NS_SHORT_OMIT = {"affectedVnf", "affectedPnf", "affectedVl", "affectedVnffg", "affectedNs", "affectedSap"}


def _ns_instance_ok(f: dict[str, Any], fx: dict[str, Any]) -> bool:
    return (_hit(f.get("nsdIds"), fx.get("nsdId"))
            and _hit(f.get("vnfdIds"), fx.get("vnfdIds"))
            and _hit(f.get("pnfdIds"), fx.get("pnfdIds"))
            and _hit(f.get("nsInstanceIds"), fx.get("nsInstanceId"))
            and _hit(f.get("nsInstanceNames"), fx.get("nsInstanceName")))


def _ns_matches(flt: dict[str, Any], n: dict[str, Any]) -> bool:
    types = [NS_ALIASES.get(t, t) for t in flt.get("notificationTypes") or []]
    inst = flt.get("nsInstanceSubscriptionFilter")
    affected = [o.get("affectedNsId") for o in n.get("affectedOpOccs") or [] if isinstance(o, dict)]
    return (_hit(types, n.get("notificationType"))
            and _typed_ok(flt, n, NS_OP_OCC, (("operationTypes", "operation"), ("operationStates", "operationState")))
            and _typed_ok(flt, n, NS_CHANGE, (("nsComponentTypes", "nsComponentType"),
                                             ("lcmOpNameImpactingNsComponent", "lcmOpNameImpactingNsComponent"),
                                             ("lcmOpOccStatusImpactingNsComponent", "lcmOpOccStatusImpactingNsComponent")))
            and (n.get("notificationType") != NS_SHORTAGE or _hit(flt.get("affectedNsInstanceIds"), affected))
            and (not inst or any(_ns_instance_ok(inst, fx) for fx in _facts(n))))


def nslcm_kind(prefix: str = "/nslcm/v2", version: str | None = "2.0.0") -> SubscriptionKind:
    return _kind(prefix, version, NS_FILTER, NS_RULES, NS_ALIASES, _ns_matches, NS_OP_OCC, NS_SHORT_OMIT)


# ---------------------------------------------------------------- SOL005 VNF package management

PKG_ONBOARDING = "VnfPackageOnboardingNotification"
PKG_CHANGE = "VnfPackageChangeNotification"
PKG_FILTER = _Obj({
    "notificationTypes": _strings({PKG_ONBOARDING, PKG_CHANGE}),
    "vnfProductsFromProviders": VNF_INSTANCE_FILTER.fields["vnfProductsFromProviders"],
    "vnfdId": _strings(), "vnfPkgId": _strings(),
    "operationalState": _strings({"ENABLED", "DISABLED"}),
    "usageState": _strings({"IN_USE", "NOT_IN_USE"}),
    "vnfmInfo": _strings(),
})
PKG_RULES = {"vnfPkgId": PKG_CHANGE, "operationalState": PKG_CHANGE, "usageState": PKG_CHANGE}


def _pkg_matches(flt: dict[str, Any], n: dict[str, Any]) -> bool:
    """`_match` carries the package facts: vnfProvider, vnfProductName, vnfSoftwareVersion,
    vnfdVersion, operationalState, usageState, vnfmInfo."""
    fx = _facts(n)[0]
    providers = flt.get("vnfProductsFromProviders")
    return (_hit(flt.get("notificationTypes"), n.get("notificationType"))
            and _hit(flt.get("vnfdId"), fx.get("vnfdId"))
            and _hit(flt.get("vnfPkgId"), fx.get("vnfPkgId"))
            and _hit(flt.get("vnfmInfo"), fx.get("vnfmInfo"))
            and (not providers or any(_vnf_product_ok(p, fx) for p in providers))
            and _typed_ok(flt, fx, PKG_CHANGE, (("operationalState", "operationalState"), ("usageState", "usageState"))))


def vnfpkgm_kind(prefix: str = "/vnfpkgm/v2", version: str | None = "2.0.0") -> SubscriptionKind:
    def validate(flt: dict[str, Any]) -> None:
        _validate(flt, PKG_FILTER, "filter")
        _check_typed(flt, PKG_RULES, {})

    # PkgmSubscriptionRequest has no verbosity: no verbosity types, so the manager rejects it
    return SubscriptionKind(
        api_prefix=prefix, matches=lambda flt, n: not flt or _pkg_matches(flt, n), validate_filter=validate,
        filter_attributes=frozenset({"id", "callbackUri"} | _paths(PKG_FILTER, "filter")), version=version)


# ---------------------------------------------------------------- SOL005 NSD management

NSD_ONBOARDING = "NsdOnBoardingNotification"
NSD_ONBOARDING_FAILURE = "NsdOnBoardingFailureNotification"
NSD_CHANGE = "NsdChangeNotification"
NSD_DELETION = "NsdDeletionNotification"
PNFD_ONBOARDING = "PnfdOnBoardingNotification"
PNFD_ONBOARDING_FAILURE = "PnfdOnBoardingFailureNotification"
PNFD_DELETION = "PnfdDeletionNotification"
NSDM_TYPES = {NSD_ONBOARDING, NSD_ONBOARDING_FAILURE, NSD_CHANGE, NSD_DELETION,
              PNFD_ONBOARDING, PNFD_ONBOARDING_FAILURE, PNFD_DELETION}
# MAGI sends the notification type names (NOTE 1 of NsdmNotificationsFilter: "spelled exactly as the
# names of the notification types"). The v3.7.1 YAML filter enum says NsdOnboardingFailureNotification
# and the bodies' descriptions say Nsd/PnfdOnboarding(Failure)Notification: accepted in filters too.
NSDM_ALIASES = {"NsdOnboardingNotification": NSD_ONBOARDING, "NsdOnboardingFailureNotification": NSD_ONBOARDING_FAILURE,
                "PnfdOnboardingNotification": PNFD_ONBOARDING, "PnfdOnboardingFailureNotification": PNFD_ONBOARDING_FAILURE}
_ONBOARDING_STATES = {"CREATED", "UPLOADING", "PROCESSING", "ONBOARDED", "ERROR"}
_USAGE_STATES = {"IN_USE", "NOT_IN_USE"}
NSDM_FILTER = _Obj({
    "notificationTypes": _strings(NSDM_TYPES | set(NSDM_ALIASES)),
    "nsdInfoId": _strings(), "nsdId": _strings(), "nsdName": _strings(), "nsdVersion": _strings(),
    "nsdDesigner": _strings(), "nsdInvariantId": _strings(), "vnfPkgIds": _strings(), "pnfdInfoIds": _strings(),
    "nestedNsdInfoIds": _strings(), "nsdOnboardingState": _strings(_ONBOARDING_STATES),
    "nsdOperationalState": _strings({"ENABLED", "DISABLED"}), "nsdUsageState": _strings(_USAGE_STATES),
    "pnfdId": _strings(), "pnfdName": _strings(), "pnfdVersion": _strings(), "pnfdProvider": _strings(),
    "pnfdInvariantId": _strings(), "pnfdOnboardingState": _strings(_ONBOARDING_STATES),
    "pnfdUsageState": _strings(_USAGE_STATES),
})


def _nsdm_matches(flt: dict[str, Any], n: dict[str, Any]) -> bool:
    """Every filter attribute is a fact of the notification's subject, matched literally: a
    notification without the fact does not match (a PNFD notification has no nsdId, so
    `{"nsdId": [...]}` selects NSD notifications only).

    `_match` carries the subject's facts. NSD: its NsdInfo attributes, plus `pnfdId` = the pnfdIds
    of the PNFDs it references (NOTE 3: pnfdId and pnfdInfoIds are alternatives, and pnfdInfoIds
    matches "the PNFD referenced by the on-boarded NSD"). PNFD: its PnfdInfo attributes, plus
    `pnfdInfoIds` = [its own id].
    """
    fx = _facts(n)[0]
    types = [NSDM_ALIASES.get(t, t) for t in flt.get("notificationTypes") or []]
    return _hit(types, n.get("notificationType")) and all(
        _hit(wanted, fx.get(attr)) for attr, wanted in flt.items() if attr != "notificationTypes")


def nsd_kind(prefix: str = "/nsd/v2", version: str | None = "2.0.0") -> SubscriptionKind:
    # NsdmSubscriptionRequest has no verbosity either
    return SubscriptionKind(
        api_prefix=prefix, matches=lambda flt, n: not flt or _nsdm_matches(flt, n),
        validate_filter=lambda flt: _validate(flt, NSDM_FILTER, "filter"),
        filter_attributes=frozenset({"id", "callbackUri"} | _paths(NSDM_FILTER, "filter")), version=version)
