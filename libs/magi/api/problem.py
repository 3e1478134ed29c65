"""RFC 7807 ProblemDetails: the only shape an error ever leaves a MAGI API in."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise anywhere below a handler to answer with a ProblemDetails."""

    def __init__(self, status: int, detail: str, title: str | None = None, type_: str | None = None, **extra: Any):
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.extra = extra
        self.headers: dict[str, str] = {}
        super().__init__(detail)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        b: dict[str, Any] = {"status": self.status, "detail": self.detail, "title": self.title}
        if self.type:
            b["type"] = self.type
        if instance:
            b["instance"] = instance
        b.update(self.extra)
        return b


def bad_request(detail: str) -> Problem:
    return Problem(400, detail)


def not_found(what: str, id_: str) -> Problem:
    return Problem(404, f"{what} {id_} does not exist")


def conflict(detail: str) -> Problem:
    return Problem(409, detail)


def unprocessable(detail: str) -> Problem:
    return Problem(422, detail)


def problem_response(p: Problem, instance: str | None = None) -> web.Response:
    resp = web.json_response(p.body(instance), status=p.status, content_type=PROBLEM_JSON)
    resp.headers.update(p.headers)
    return resp
