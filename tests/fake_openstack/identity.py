"""Keystone v3: version documents, password / application-credential tokens, catalog."""

from __future__ import annotations

import datetime as _dt
import secrets

from aiohttp import web

from . import state as S
from .state import ApiError, State, jresp

TOKEN_TTL = _dt.timedelta(hours=1)


def _version(base: str) -> dict:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


def catalog(base: str) -> list[dict]:
    # public and internal endpoints, the sdk picks "public" unless told otherwise
    services = [
        ("identity", "keystone", f"{base}/identity"),
        ("compute", "nova", f"{base}/compute/v2.1"),
        ("network", "neutron", f"{base}/network"),
        ("image", "glance", f"{base}/image"),
        ("block-storage", "cinder", f"{base}/volume/v3/{S.PROJECT_ID}"),
        ("volumev3", "cinderv3", f"{base}/volume/v3/{S.PROJECT_ID}"),
    ]
    out = []
    for i, (typ, name, url) in enumerate(services):
        out.append({"type": typ, "name": name, "id": f"svc{i:04d}",
                    "endpoints": [{"interface": iface, "region": S.REGION, "region_id": S.REGION,
                                   "url": url, "id": f"ep{i:04d}{iface[0]}"}
                                  for iface in ("public", "internal")]})
    return out


class Identity:
    prefix = "/identity"

    def __init__(self, st: State):
        self.st = st

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        return [
            web.get(p, self.versions), web.get(p + "/", self.versions),
            web.get(p + "/v3", self.version), web.get(p + "/v3/", self.version),
            web.post(p + "/v3/auth/tokens", self.issue),
            web.get(p + "/v3/auth/tokens", self.validate),
            web.get(p + "/v3/projects", self.projects), web.get(p + "/v3/projects/{id}", self.project),
            web.get(p + "/v3/auth/projects", self.projects),
        ]

    def _project(self) -> dict:
        return {"id": S.PROJECT_ID, "name": S.PROJECT_NAME, "domain_id": S.DOMAIN_ID, "enabled": True,
                "is_domain": False, "parent_id": S.DOMAIN_ID, "description": "", "tags": [], "options": {},
                "links": {"self": f"{self.st.base_url}/identity/v3/projects/{S.PROJECT_ID}"}}

    async def projects(self, req):
        items = [self._project()]
        for key in ("name", "id", "domain_id"):
            if key in req.query:
                items = [p for p in items if p[key] == req.query[key]]
        return jresp({"projects": items, "links": {"self": str(req.url), "next": None, "previous": None}})

    async def project(self, req):
        if req.match_info["id"] not in (S.PROJECT_ID, S.PROJECT_NAME):
            raise ApiError(404, f"Could not find project: {req.match_info['id']}.")
        return jresp({"project": self._project()})

    async def versions(self, req):
        return jresp({"versions": {"values": [_version(self.st.base_url)]}}, 300)

    async def version(self, req):
        return jresp({"version": _version(self.st.base_url)})

    def _authenticate(self, ident: dict, scope: dict | None) -> tuple[list[str], str | None]:
        methods = ident.get("methods") or []
        if "password" in methods:
            user = (ident.get("password") or {}).get("user") or {}
            dom = user.get("domain") or {}
            by_name = user.get("name") == S.USERNAME and (
                dom.get("name") == S.DOMAIN_NAME or dom.get("id") == S.DOMAIN_ID)
            if not (by_name or user.get("id") == S.USER_ID) or user.get("password") != S.PASSWORD:
                raise ApiError(401, "The request you have made requires authentication.")
            proj = (scope or {}).get("project")
            if not proj:
                return ["password"], None  # unscoped token: no catalog
            pdom = proj.get("domain") or {}
            ok = proj.get("id") == S.PROJECT_ID or (
                proj.get("name") == S.PROJECT_NAME
                and (pdom.get("name") == S.DOMAIN_NAME or pdom.get("id") == S.DOMAIN_ID))
            if not ok:
                raise ApiError(401, "User has no access to project")
            return ["password"], S.PROJECT_ID
        if "application_credential" in methods:
            ac = ident.get("application_credential") or {}
            cred = self.st.app_credentials.get(ac.get("id", "")) or next(
                (c for c in self.st.app_credentials.values() if c["name"] == ac.get("name")), None)
            if cred is None or ac.get("secret") != cred["secret"]:
                raise ApiError(401, "The request you have made requires authentication.")
            return ["application_credential"], cred["project_id"]
        raise ApiError(401, "Unsupported authentication method")

    async def issue(self, req):
        try:
            body = await req.json()
            auth = body["auth"]
        except Exception:
            raise ApiError(400, "Expecting to find auth in request body")
        methods, project = self._authenticate(auth.get("identity") or {}, auth.get("scope"))
        token = secrets.token_hex(16)
        now = _dt.datetime.now(_dt.timezone.utc)
        fmt = "%Y-%m-%dT%H:%M:%S.000000Z"
        tok = {"methods": methods, "expires_at": (now + TOKEN_TTL).strftime(fmt),
               "issued_at": now.strftime(fmt), "audit_ids": [token[:22]],
               "user": {"id": S.USER_ID, "name": S.USERNAME, "password_expires_at": None,
                        "domain": {"id": S.DOMAIN_ID, "name": S.DOMAIN_NAME}}}
        if project:
            tok["project"] = {"id": project, "name": S.PROJECT_NAME,
                              "domain": {"id": S.DOMAIN_ID, "name": S.DOMAIN_NAME}}
            tok["roles"] = [{"id": "r-member", "name": "member"}, {"id": "r-reader", "name": "reader"},
                            {"id": "r-admin", "name": "admin"}]
            tok["catalog"] = catalog(self.st.base_url)
            tok["is_domain"] = False
        if "application_credential" in methods:
            tok["application_credential"] = {"id": S.APP_CRED_ID, "name": S.APP_CRED_NAME,
                                             "restricted": True}
        self.st.tokens[token] = {"project": project, "expires": now + TOKEN_TTL, "body": tok}
        return jresp({"token": tok}, 201, headers={"X-Subject-Token": token})

    async def validate(self, req):
        t = self.st.tokens.get(req.headers.get("X-Subject-Token", ""))
        if not t:
            raise ApiError(404, "Could not find token")
        return jresp({"token": t["body"]}, headers={"X-Subject-Token": req.headers["X-Subject-Token"]})
