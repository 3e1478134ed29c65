"""ETSI GS NFV-SOL 013 query conventions: attribute filters (§5.2), attribute selectors (§5.3), paging (§5.4).

Pure functions on plain dicts, no web framework: the API layer maps `QueryError` to 400 ProblemDetails.
"""
from __future__ import annotations

import base64
import binascii
import bisect
import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode


class QueryError(ValueError):
    """Bad query: the API layer turns it into a 400 ProblemDetails; str(e) is the detail."""


KNOWN_QUERY_PARAMS = frozenset(
    {"filter", "all_fields", "fields", "exclude_fields", "exclude_default", "nextpage_opaque_marker"}
)


def check_known_params(params: Mapping[str, str], extra: Iterable[str] = ()) -> None:
    """Reject query parameters the resource does not define (the ETSI tests expect 400 for them)."""
    known = KNOWN_QUERY_PARAMS | frozenset(extra)
    unknown = sorted(name for name in params if name not in known)
    if unknown:
        raise QueryError(f"Unknown query parameter(s): {', '.join(unknown)}")


def _split_path(text: str, what: str) -> tuple[str, ...]:
    # "/" is the SOL013 separator; "." only when there is no "/", so keys like "a.b" stay reachable.
    parts = tuple(text.split("/" if "/" in text or "." not in text else "."))
    if not all(parts):
        raise QueryError(f"Invalid attribute path in {what}: {text!r}")
    return parts


# ---------------------------------------------------------------- §5.2 attribute-based filtering

# SOL013 Table 5.2.2-1: these operators take a list of values, all others exactly one.
_MULTI_VALUE_OPS = frozenset({"in", "nin", "cont", "ncont"})
_SINGLE_VALUE_OPS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte"})
# A negated operator holds when its positive twin matches no value (missing attribute included).
_NEGATION = {"neq": "eq", "nin": "in", "ncont": "cont"}


@dataclass(frozen=True)
class FilterExpr:
    op: str
    path: tuple[str, ...]
    values: tuple[str, ...]


def parse_filter(text: str) -> list[FilterExpr]:
    """Parse `(op,attr,value[,value]*)[;(...)]*`; a value may be 'quoted' ('' is a quote inside)."""
    if not text:
        raise QueryError("Empty filter")
    exprs: list[FilterExpr] = []
    pos = 0
    while True:
        expr, pos = _parse_expr(text, pos)
        exprs.append(expr)
        if pos == len(text):
            return exprs
        if text[pos] != ";":
            raise QueryError(f"Malformed filter {text!r}: expected ';' at position {pos}")
        pos += 1


def _parse_expr(text: str, pos: int) -> tuple[FilterExpr, int]:
    if pos >= len(text) or text[pos] != "(":
        raise QueryError(f"Malformed filter {text!r}: expected '(' at position {pos}")
    start = pos
    items: list[str] = []
    pos += 1
    while True:
        item, pos = _read_item(text, pos)
        items.append(item)
        if text[pos] == ")":
            pos += 1
            break
        pos += 1  # the ","
    raw = text[start:pos]
    if len(items) < 3:
        raise QueryError(f"Malformed filter expression {raw!r}: expected (op,attribute,value[,value]*)")
    op, attr, values = items[0], items[1], tuple(items[2:])
    if op not in _MULTI_VALUE_OPS | _SINGLE_VALUE_OPS:
        raise QueryError(f"Unknown filter operator {op!r} in {raw!r}")
    if op in _SINGLE_VALUE_OPS and len(values) != 1:
        raise QueryError(f"Filter operator {op!r} takes exactly one value in {raw!r}")
    return FilterExpr(op, _split_path(attr, "filter"), values), pos


def _read_item(text: str, pos: int) -> tuple[str, int]:
    """Read one comma-separated item; return it and the position of the ',' or ')' after it."""
    n = len(text)
    if pos < n and text[pos] == "'":
        buf: list[str] = []
        i = pos + 1
        while True:
            j = text.find("'", i)
            if j < 0:
                raise QueryError(f"Malformed filter {text!r}: unterminated quote at position {pos}")
            buf.append(text[i:j])
            if text[j + 1 : j + 2] == "'":  # '' is an escaped quote
                buf.append("'")
                i = j + 2
                continue
            end = j + 1
            break
        if end >= n or text[end] not in ",)":
            raise QueryError(f"Malformed filter {text!r}: expected ',' or ')' after quoted value")
        return "".join(buf), end
    end = pos
    while end < n and text[end] not in ",)":
        if text[end] == "'":
            raise QueryError(f"Malformed filter {text!r}: a value containing a quote must be quoted")
        end += 1
    if end >= n:
        raise QueryError(f"Malformed filter {text!r}: missing ')'")
    if end == pos:
        raise QueryError(f"Malformed filter {text!r}: empty item at position {pos} (use '' for an empty string)")
    return text[pos:end], end


def check_filter_attributes(
    exprs: Iterable[FilterExpr], allowed: Callable[[tuple[str, ...]], bool] | set[str] | frozenset[str]
) -> None:
    """Raise QueryError for a filter attribute that the resource type does not have.

    With a set of "/"-joined paths, an entry "x/*" also admits every path below "x" (free-form maps).
    """
    for expr in exprs:
        if callable(allowed):
            ok = allowed(expr.path)
        else:
            joined = "/".join(expr.path)
            ok = joined in allowed or any(
                entry.endswith("/*") and joined.startswith(entry[:-1]) for entry in allowed
            )
        if not ok:
            raise QueryError(f"Invalid attribute in filter: {'/'.join(expr.path)}")


def matches(doc: Mapping[str, Any], exprs: Iterable[FilterExpr]) -> bool:
    """True if doc satisfies every expression (logical AND)."""
    return all(_matches_one(doc, expr) for expr in exprs)


def _matches_one(doc: Mapping[str, Any], expr: FilterExpr) -> bool:
    leaves = _resolve(doc, expr.path)
    if expr.op in _NEGATION:
        return not any(_test(_NEGATION[expr.op], leaf, expr.values) for leaf in leaves)
    return any(_test(expr.op, leaf, expr.values) for leaf in leaves)


def _flatten(values: Iterable[Any]) -> Iterable[Any]:
    for v in values:
        if isinstance(v, list):
            yield from _flatten(v)
        else:
            yield v


def _resolve(doc: Any, path: tuple[str, ...]) -> list[Any]:
    """All values at path; a list on the way fans out to its elements (SOL013: any element may match)."""
    current = [doc]
    for step in path:
        current = [v[step] for v in _flatten(current) if isinstance(v, dict) and step in v]
    return [v for v in _flatten(current) if v is not None]


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def _compare(actual: Any, text: str) -> int | None:
    """Three-way compare a document value with a filter value; None when they cannot be compared."""
    if isinstance(actual, bool):  # before int: bool is an int subclass
        wanted = {"true": True, "false": False}.get(text.lower())
        return 0 if wanted is actual else None  # booleans only support (n)eq
    if isinstance(actual, (int, float)):
        if not _NUMBER.fullmatch(text):
            return None
        number = float(text) if any(c in text for c in ".eE") else int(text)
        return (actual > number) - (actual < number)
    if isinstance(actual, str):  # ISO 8601 date-times in one format order correctly as strings
        return (actual > text) - (actual < text)
    return None  # objects are not comparable with a scalar


def _test(op: str, actual: Any, values: tuple[str, ...]) -> bool:
    if op in ("eq", "in"):
        return any(_compare(actual, v) == 0 for v in values)
    if op == "cont":
        return isinstance(actual, str) and any(v in actual for v in values)
    c = _compare(actual, values[0])
    if c is None or isinstance(actual, bool):
        return False
    return {"gt": c > 0, "gte": c >= 0, "lt": c < 0, "lte": c <= 0}[op]


# ---------------------------------------------------------------- §5.3 attribute selectors

_SELECTOR_PARAMS = ("all_fields", "fields", "exclude_fields", "exclude_default")
# SOL013 §5.3.2: the only valid combinations; none given means exclude_default.
_VALID_SELECTOR_SETS = frozenset(
    frozenset(combination)
    for combination in (
        (), ("all_fields",), ("fields",), ("exclude_fields",), ("exclude_default",), ("exclude_default", "fields")
    )
)
# Mandatory on every resource, so no selector may drop them.
_ALWAYS_KEPT = frozenset({"id", "_links"})


@dataclass(frozen=True)
class Selector:
    """mode is the starting set: "all_fields" (everything) or "default" (minus the resource's
    default-excluded attributes, of which `fields` re-includes any it overlaps); `exclude_fields`
    is then removed. exclude_fields alone starts from all_fields, as SOL013 prescribes."""

    mode: str
    fields: tuple[tuple[str, ...], ...] = ()
    exclude_fields: tuple[tuple[str, ...], ...] = ()


def parse_selector(params: Mapping[str, str]) -> Selector:
    given = frozenset(p for p in _SELECTOR_PARAMS if p in params)
    if given not in _VALID_SELECTOR_SETS:
        raise QueryError(f"Invalid combination of attribute selectors: {', '.join(sorted(given))}")
    fields = _parse_field_list(params, "fields")
    exclude = _parse_field_list(params, "exclude_fields")
    mode = "all_fields" if given & {"all_fields", "exclude_fields"} else "default"
    return Selector(mode, fields, exclude)


def _parse_field_list(params: Mapping[str, str], name: str) -> tuple[tuple[str, ...], ...]:
    if name not in params:
        return ()
    raw = params[name]
    if not raw:
        raise QueryError(f"{name} must list at least one attribute")
    return tuple(_split_path(item, name) for item in raw.split(","))


def apply_selector(doc: Mapping[str, Any], sel: Selector, default_excluded: Iterable[str]) -> dict[str, Any]:
    """Return a copy of doc reduced by the selector; `default_excluded` holds "/"-paths.

    A `fields` path re-includes a default-excluded attribute whole when it names it, an ancestor
    or a descendant of it: trimming inside would risk dropping mandatory children.
    """
    out = copy.deepcopy(dict(doc))
    if sel.mode == "default":
        for raw in default_excluded:
            path = tuple(raw.split("/"))
            if not any(f[: len(path)] == path or path[: len(f)] == f for f in sel.fields):
                _remove(out, path)
    for path in sel.exclude_fields:
        _remove(out, path)
    return out


def _remove(doc: dict[str, Any], path: tuple[str, ...]) -> None:
    if path[0] not in _ALWAYS_KEPT:
        _remove_at(doc, path)


def _remove_at(node: Any, path: tuple[str, ...]) -> None:
    if isinstance(node, list):  # excluding inside an array applies to every element
        for item in node:
            _remove_at(item, path)
    elif isinstance(node, dict) and path[0] in node:
        if len(path) > 1:
            _remove_at(node[path[0]], path[1:])
        else:
            del node[path[0]]


# ---------------------------------------------------------------- §5.4 paging


def encode_marker(payload: Mapping[str, Any]) -> str:
    """Opaque, URL-safe marker (base64url of compact JSON, no padding)."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


_MARKER_CHARS = re.compile(r"[A-Za-z0-9_-]+")


def decode_marker(marker: str) -> dict[str, Any]:
    if not _MARKER_CHARS.fullmatch(marker or ""):
        raise QueryError("Invalid nextpage_opaque_marker")
    try:
        payload = json.loads(base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4)))
    except (binascii.Error, ValueError):  # ValueError covers bad JSON and bad UTF-8
        raise QueryError("Invalid nextpage_opaque_marker") from None
    if not isinstance(payload, dict):
        raise QueryError("Invalid nextpage_opaque_marker")
    return payload


def paginate(
    items: list[dict[str, Any]], *, page_size: int, marker: str | None, key: str = "id"
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of items (sorted by key) and the marker of the next page, None on the last page.

    The marker holds the last key served, so deleting that item between pages loses nothing.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    start = 0
    if marker is not None:
        payload = decode_marker(marker)
        if "after" not in payload:
            raise QueryError("Invalid nextpage_opaque_marker")
        try:
            start = bisect.bisect_right(items, payload["after"], key=lambda item: item[key])
        except TypeError:  # marker key of another type than the items' keys
            raise QueryError("Invalid nextpage_opaque_marker") from None
    page = items[start : start + page_size]
    if start + page_size >= len(items):
        return page, None
    return page, encode_marker({"after": page[-1][key]})


def link_header(base_url: str, query: Mapping[str, str], next_marker: str) -> str:
    """`Link` value for the next page, repeating the request's other query parameters."""
    params = {k: v for k, v in query.items() if k != "nextpage_opaque_marker"}
    params["nextpage_opaque_marker"] = next_marker
    sep = "&" if "?" in base_url else "?"
    return f'<{base_url}{sep}{urlencode(params, quote_via=quote)}>; rel="next"'
