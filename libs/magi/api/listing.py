"""GET on a collection with SOL013 filtering, attribute selectors and paging, done once."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from magi.api.app import json_response
from magi.api.problem import Problem
from magi.api.query import (QueryError, apply_selector, check_filter_attributes, check_known_params, link_header,
                            matches, paginate, parse_filter, parse_selector)

PAGE_SIZE = 100


def attributes(*top: str) -> Any:
    """Allowed filter paths: a top-level attribute of the resource type, and anything below it."""
    names = frozenset(top)
    return lambda path: bool(path) and path[0] in names


def list_response(request: web.Request, docs: Iterable[dict[str, Any]], *, allowed: Any,
                  default_excluded: Iterable[str] = (), selectors: bool = True, page_size: int = PAGE_SIZE) -> web.Response:
    q = request.query
    try:
        check_known_params(q)
        if not selectors:
            bad = [p for p in ("all_fields", "fields", "exclude_fields", "exclude_default") if p in q]
            if bad:
                raise QueryError(f"this resource does not support attribute selectors: {', '.join(bad)}")
        exprs = parse_filter(q["filter"]) if "filter" in q else []
        check_filter_attributes(exprs, allowed)
        sel = parse_selector(q) if selectors else None
        items = sorted((d for d in docs if matches(d, exprs)), key=lambda d: d["id"])
        page, marker = paginate(items, page_size=page_size, marker=q.get("nextpage_opaque_marker"))
    except QueryError as exc:
        raise Problem(400, str(exc)) from None
    body = [apply_selector(d, sel, default_excluded) for d in page] if sel else page
    headers = {}
    if marker:
        headers["Link"] = link_header(f"{request.scheme}://{request.host}{request.path}", q, marker)
    return json_response(body, headers=headers)


def one_response(request: web.Request, doc: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    if request.query:
        raise Problem(400, f"unknown query parameters: {', '.join(sorted(request.query))}")
    return json_response(doc, status=status, headers=headers)
