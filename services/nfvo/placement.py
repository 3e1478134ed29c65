"""Multi-VIM placement: which VIM and zone each resource of a grant goes to (pure functions).

Inputs: the registered VIMs (site location, zones, free capacity if the VIM adapter told it),
the grant's resources and what each needs (from the VNFD), and the constraints — the NS's
SOL005 `LocationConstraints` for the VNF's profile, a VIM pinned by `additionalParams.vimId`
(MAGI extension), the VIM the VNF already runs on, and SOL003 `placementConstraints`.
A decision that cannot be made raises `PlacementError` whose text names the reason; the
grant answers it as a 403 ProblemDetails. docs/placement.md describes the rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DIMENSIONS = (("vcpus", "vCPUs"), ("memoryMb", "MB memory"), ("storageGb", "GB storage"))
POP_SCOPES = {"NFVI_POP"}
ZONE_SCOPES = {"ZONE", "ZONE_GROUP"}
Need = dict[str, float]


class PlacementError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Candidate:
    """A registered VIM as placement sees it."""
    id: str
    name: str
    location: dict[str, Any] = field(default_factory=dict)  # LocationConstraints shape (+ MAGI `point`)
    zones: list[str] = field(default_factory=list)  # zoneIds
    free: Need | None = None  # None: the VIM's capacity is unknown (not checked)

    @classmethod
    def from_vim(cls, vim: dict[str, Any], free: Need | None = None) -> "Candidate":
        site = vim.get("site") if isinstance(vim.get("site"), dict) else {}
        zones = sorted(z["zoneId"] for z in vim.get("zones") or [])
        return cls(vim["id"], vim["name"], dict(site.get("location") or {}), zones, free)


@dataclass
class Resource:
    id: str
    type: str = "COMPUTE"  # COMPUTE | VL | STORAGE | LINKPORT
    need: Need = field(default_factory=dict)


# -- location ---------------------------------------------------------------------------------
def _inside(point: list[float], polygon: dict[str, Any]) -> bool:
    """Ray casting over the outer ring of a GeoJSON Polygon; point is [lon, lat]."""
    try:
        ring = polygon["coordinates"][0]
        x, y = float(point[0]), float(point[1])
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _point(location: dict[str, Any]) -> list[float] | None:
    p = location.get("point")
    if isinstance(p, dict):
        p = p.get("coordinates")
    return p if isinstance(p, list) and len(p) >= 2 else None


def location_matches(site: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    """A VIM site matches LocationConstraints when the countryCode is equal, every civic address
    element asked for is one of the site's, and its point (MAGI `point`, [lon, lat]) is in the area."""
    if not wanted:
        return True
    if wanted.get("countryCode") and (site.get("countryCode") or "").upper() != wanted["countryCode"].upper():
        return False
    have = {(int(e["caType"]), str(e["caValue"]).casefold()) for e in site.get("civicAddressElement") or []}
    for e in wanted.get("civicAddressElement") or []:
        if (int(e["caType"]), str(e["caValue"]).casefold()) not in have:
            return False
    if wanted.get("area"):
        pt = _point(site)
        if pt is None or not _inside(pt, wanted["area"]):
            return False
    return True


def describe_location(wanted: dict[str, Any]) -> str:
    parts = []
    if wanted.get("countryCode"):
        parts.append(f"countryCode={wanted['countryCode']}")
    for e in wanted.get("civicAddressElement") or []:
        parts.append(f"caType {e.get('caType')}={e.get('caValue')}")
    if wanted.get("area"):
        parts.append("area")
    return ", ".join(parts) or "(empty)"


# -- needs ------------------------------------------------------------------------------------
def resource_needs(vnfd: dict[str, Any] | None, flavour_id: str | None, add_resources: list[dict[str, Any]]) -> list[Resource]:
    """What each added resource takes from its VIM, read from the normalized VNFD (`_vnfd`)."""
    vdus: dict[str, dict[str, Any]] = {}
    storages: dict[str, float] = {}
    flavours = (vnfd or {}).get("flavours") or []
    chosen = [f for f in flavours if f.get("flavour_id") == flavour_id] or flavours
    for fl in chosen:
        for vdu in fl.get("vdus") or []:
            vdus.setdefault(vdu["vdu_id"], vdu)
            for st in vdu.get("storages") or []:
                storages.setdefault(st["id"], float(st.get("size_gb") or 1))
    out = []
    for r in add_resources:
        need: Need = {}
        tmpl = r.get("resourceTemplateId") or r.get("vduId")
        if r.get("type") == "COMPUTE":
            vc = (vdus.get(r.get("vduId") or tmpl) or {}).get("virtual_compute") or {}
            need = {"vcpus": float(vc.get("num_vcpus") or 1), "memoryMb": float(vc.get("memory_mb") or 512)}
        elif r.get("type") == "STORAGE":
            need = {"storageGb": storages.get(tmpl, 1.0)}
        out.append(Resource(r["id"], r.get("type", "COMPUTE"), need))
    return out


def total(needs: list[Need]) -> Need:
    out: Need = {}
    for n in needs:
        for k, v in n.items():
            out[k] = out.get(k, 0) + v
    return out


def shortfall(free: Need | None, need: Need) -> str | None:
    """None if `need` fits in `free` (unknown capacity fits), else why not."""
    if free is None:
        return None
    short = [(k, label) for k, label in DIMENSIONS if need.get(k, 0) > 0 and need[k] > free.get(k, float("inf"))]
    if not short:
        return None
    return ", ".join(f"{free[k]:g} free {label}, VNF needs {need[k]:g}" for k, label in short)


def rank_key(c: Candidate) -> tuple[Any, ...]:
    """Most free capacity first (vCPUs, then memory, then storage; unknown counts as none), then name."""
    f = c.free or {}
    return tuple(-float(f.get(k, 0)) for k, _ in DIMENSIONS) + (c.name, c.id)


# -- the decision -----------------------------------------------------------------------------
@dataclass
class Decision:
    vim_of: dict[str, str]  # resourceId -> vimId
    zone_of: dict[str, str | None]  # resourceId -> zoneId
    vim_id: str  # the VNF's main VIM


class _Groups:
    def __init__(self, ids: list[str]):
        self.parent = {i: i for i in ids}

    def find(self, i: str) -> str:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _refs(constraint: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(resourceIds of this grant's resources, refs to existing resources)."""
    ours, existing = [], []
    for ref in constraint.get("resource") or []:
        (ours if ref.get("idType", "GRANT") == "GRANT" else existing).append(ref)
    return [r["resourceId"] for r in ours], existing


def place(candidates: list[Candidate], resources: list[Resource], *, profile: str | None = None,
          location: dict[str, Any] | None = None, pinned: str | None = None, current_vim: str | None = None,
          placement_constraints: list[dict[str, Any]] | None = None) -> Decision:
    """Place a grant's resources; raises PlacementError naming the reason when it cannot."""
    what = f"vnfProfile {profile}" if profile else "the VNF"
    if not candidates:
        raise PlacementError("no VIM is registered: register one at /magi/v1/vims")
    eligible = sorted(candidates, key=lambda c: (c.name, c.id))
    if pinned:
        eligible = [c for c in eligible if pinned in (c.id, c.name)]
        if not eligible:
            raise PlacementError(f"VIM {pinned} requested by additionalParams.vimId for {what} is not registered")
    if location:
        matching = [c for c in eligible if location_matches(c.location, location)]
        if not matching:
            if pinned:
                raise PlacementError(f"the pinned VIM {eligible[0].name} does not match locationConstraints {describe_location(location)} for {what}")
            raise PlacementError(f"no registered VIM matches locationConstraints {describe_location(location)} for {what}")
        eligible = matching
    if current_vim:
        same = [c for c in eligible if c.id == current_vim]
        if not same:
            raise PlacementError(f"the VNF runs on VIM {current_vim}, which is not registered or no longer eligible")
        eligible = same
    constraints = placement_constraints or []
    ids = [r.id for r in resources]
    known = set(ids)
    groups = _Groups(ids)
    anti_pop: list[list[str]] = []
    forced_vim: dict[str, set[str]] = {}  # resource -> VIMs it must be on (affinity with existing)
    banned_vim: dict[str, set[str]] = {}
    for c in constraints:
        kind, scope = c.get("affinityOrAntiAffinity"), c.get("scope")
        if kind not in ("AFFINITY", "ANTI_AFFINITY"):
            raise PlacementError(f"placementConstraints: affinityOrAntiAffinity {kind!r} is not AFFINITY or ANTI_AFFINITY")
        if scope not in POP_SCOPES | ZONE_SCOPES | {"NFVI_NODE"}:
            raise PlacementError(f"placementConstraints: scope {scope!r} is not supported (NFVI_POP, ZONE, ZONE_GROUP, NFVI_NODE)")
        ours, existing = _refs(c)
        unknown = [r for r in ours if r not in known]
        if unknown:
            raise PlacementError(f"placementConstraints name resources {', '.join(unknown)} that are not in addResources")
        if scope not in POP_SCOPES:
            continue
        if kind == "AFFINITY":
            for a, b in zip(ours, ours[1:]):
                groups.union(a, b)
            for ref in existing:
                if ref.get("vimConnectionId"):
                    for r in ours:
                        forced_vim.setdefault(r, set()).add(ref["vimConnectionId"])
        else:
            anti_pop.append(ours)
            for ref in existing:
                if ref.get("vimConnectionId"):
                    for r in ours:
                        banned_vim.setdefault(r, set()).add(ref["vimConnectionId"])
    # Resources no anti-affinity rule separates stay together with the VNF (its internal VLs need that).
    in_anti = {r for rule in anti_pop for r in rule}
    free_ids = [r for r in ids if r not in in_anti]
    for a, b in zip(free_ids, free_ids[1:]):
        groups.union(a, b)
    for rule in anti_pop:
        roots = [groups.find(r) for r in rule]
        if len(set(roots)) != len(roots):
            raise PlacementError("placementConstraints conflict: resources under ANTI_AFFINITY at NFVI_POP are also under AFFINITY")
    comps: dict[str, list[Resource]] = {}
    for r in resources:
        comps.setdefault(groups.find(r.id), []).append(r)
    main_root = groups.find(free_ids[0]) if free_ids else (groups.find(ids[0]) if ids else None)
    order = sorted(comps, key=lambda k: (k != main_root, k))
    used: dict[str, Need] = {}
    vim_of: dict[str, str] = {}
    by_id = {c.id: c for c in eligible}
    for root in order:
        members = comps[root]
        need = total([r.need for r in members])
        conflicts = {vim_of[o] for rule in anti_pop if any(m.id in rule for m in members)
                     for o in rule if o in vim_of and groups.find(o) != root}
        must = set.intersection(*[forced_vim[m.id] for m in members if m.id in forced_vim]) if any(m.id in forced_vim for m in members) else None
        banned = set().union(*[banned_vim.get(m.id, set()) for m in members])
        options = [c for c in eligible if c.id not in conflicts and c.id not in banned and (must is None or c.id in must)]
        if not options:
            if must is not None:
                raise PlacementError(f"placementConstraints: AFFINITY at NFVI_POP asks for VIM {', '.join(sorted(must))}, which is not eligible for {what}")
            raise PlacementError(f"placementConstraints: ANTI_AFFINITY at NFVI_POP needs {len(conflicts) + 1} eligible VIMs for {what}, "
                                 f"only {len(eligible)} ({', '.join(c.name for c in eligible)})")
        fitting, reasons = [], []
        for c in options:
            left = None if c.free is None else {k: v - used.get(c.id, {}).get(k, 0) for k, v in c.free.items()}
            why = shortfall(left, need)
            if why is None:
                fitting.append((c, left))
            else:
                reasons.append(f"VIM {c.name} has {why}")
        if not fitting:
            raise PlacementError(f"insufficient capacity for {what}: " + "; ".join(reasons))
        best = min(fitting, key=lambda cl: rank_key(Candidate(cl[0].id, cl[0].name, free=cl[1])))[0]
        for m in members:
            vim_of[m.id] = best.id
        used[best.id] = total([used.get(best.id, {}), need])
    zone_of = _zones(resources, vim_of, by_id, constraints)
    main = vim_of[comps[main_root][0].id] if main_root else min(eligible, key=rank_key).id
    return Decision(vim_of, zone_of, main)


def _zones(resources: list[Resource], vim_of: dict[str, str], vims: dict[str, Candidate],
           constraints: list[dict[str, Any]]) -> dict[str, str | None]:
    """Zone per resource: the VIM's first zone, unless ZONE-scope rules spread or bind them."""
    ids = [r.id for r in resources]
    groups = _Groups(ids)
    anti: list[list[str]] = []
    for c in constraints:
        if c.get("scope") not in ZONE_SCOPES:
            continue
        ours, _ = _refs(c)
        if c["affinityOrAntiAffinity"] == "AFFINITY":
            for a, b in zip(ours, ours[1:]):
                if vim_of[a] != vim_of[b]:
                    raise PlacementError(f"placementConstraints: AFFINITY at {c['scope']} binds {a} and {b}, which are on different VIMs")
                groups.union(a, b)
        else:
            anti.append(ours)
    zone_of: dict[str, str | None] = {}
    comp_zone: dict[str, str | None] = {}
    for rule in anti:
        per_vim: dict[str, list[str]] = {}
        for r in rule:
            per_vim.setdefault(vim_of[r], []).append(groups.find(r))
        for vim_id, roots in per_vim.items():
            roots = sorted(set(roots), key=roots.index)
            if len(roots) != len([r for r in rule if vim_of[r] == vim_id]):
                raise PlacementError("placementConstraints conflict: resources under ANTI_AFFINITY at ZONE are also under AFFINITY")
            zones = vims[vim_id].zones
            if len(zones) < len(roots):
                raise PlacementError(f"placementConstraints: ANTI_AFFINITY at ZONE needs {len(roots)} zones on VIM {vims[vim_id].name}, "
                                     f"it has {len(zones)}")
            taken = {comp_zone[r] for r in roots if r in comp_zone}
            spare = [z for z in zones if z not in taken]
            for r in roots:
                if r not in comp_zone:
                    comp_zone[r] = spare.pop(0)
            if len({comp_zone[r] for r in roots}) != len(roots):
                raise PlacementError(f"placementConstraints: ANTI_AFFINITY at ZONE cannot be met on VIM {vims[vim_id].name}")
    for r in ids:
        root = groups.find(r)
        zones = vims[vim_of[r]].zones
        zone_of[r] = comp_zone.get(root, zones[0] if zones else None)
    return zone_of
