"""FakeOpenStack: one aiohttp server on 127.0.0.1 serving Keystone, Nova, Neutron,
Glance and Cinder under path prefixes, with auth, fault injection and microversions
handled in one middleware."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from . import state as S
from .compute import Compute, mv_tuple, MAX_VERSION as NOVA_MAX
from .identity import Identity
from .image import Image
from .network import Network
from .state import MV, ApiError, State, error, jresp
from .volume import Volume, MAX_VERSION as CINDER_MAX

# version documents are readable without a token, like the real services
_PUBLIC = re.compile(r"^/(identity(/v3)?|compute(/v2\.1)?|network(/v2\.0)?|image(/versions)?|volume(/v3)?)/?$")


class FakeOpenStack:
    def __init__(self, build_seconds: float = 0.05):
        st = self._st = State(build_seconds)
        self.identity = Identity(st)
        st.network = self.network_api = Network(st)
        st.volume = self.volume_api = Volume(st)
        self.image_api = Image(st)
        self.compute = Compute(st)
        self._services = [("identity", "/identity/v3"), ("compute", "/compute/v2.1"),
                          ("network", "/network/v2.0"), ("image", "/image/v2"),
                          ("volume", self.volume_api.prefix), ("identity", "/identity"),
                          ("compute", "/compute"), ("network", "/network"), ("image", "/image"),
                          ("volume", "/volume")]
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------
    async def __aenter__(self) -> "FakeOpenStack":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        for svc in (self.identity, self.compute, self.network_api, self.image_api, self.volume_api):
            app.add_routes(svc.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._st.base_url = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    # --- request pipeline ------------------------------------------------
    def _split(self, path: str) -> tuple[str | None, str]:
        for svc, prefix in self._services:
            if path == prefix or path.startswith(prefix + "/"):
                return svc, path[len(prefix):]
        return None, path

    @web.middleware
    async def _middleware(self, req: web.Request, handler) -> web.StreamResponse:
        st = self._st
        st.requests.append((req.method, req.path))
        st.tick()
        svc, rest = self._split(req.path)
        mv_hdrs: dict[str, str] = {}
        if svc in ("compute", "volume"):
            name, maxv = ("compute", NOVA_MAX) if svc == "compute" else ("volume", CINDER_MAX)
            asked = req.headers.get("OpenStack-API-Version", "")
            ver = asked.split()[-1] if asked.lower().startswith(name) else (
                req.headers.get("X-OpenStack-Nova-API-Version") if svc == "compute" else None)
            ver = ver or ("2.1" if svc == "compute" else "3.0")
            if ver == "latest":
                ver = maxv
            try:
                if mv_tuple(ver) > mv_tuple(maxv):
                    return error(svc, 406, f"Version {ver} is not supported by the API. Minimum is "
                                           f"{'2.1' if svc == 'compute' else '3.0'} and maximum is {maxv}.")
            except ValueError:
                return error(svc, 400, f"Invalid microversion {ver}")
            req[MV] = mv_tuple(ver)
            mv_hdrs = {"OpenStack-API-Version": f"{name} {ver}", "Vary": "OpenStack-API-Version"}
            if svc == "compute":
                mv_hdrs["X-OpenStack-Nova-API-Version"] = ver
                mv_hdrs["Vary"] += ", X-OpenStack-Nova-API-Version"
        # a fault pattern may be written against the path after the versioned prefix
        # ("/servers"), after the catalog root ("/v2.0/ports") or the whole path
        root = "/" + req.path.split("/")[1]
        candidates = (rest, req.path[len(root):], req.path)
        inj = st.take_injection(req.method, candidates) if svc else None
        if inj is not None:
            if inj["body"] is not None:
                resp = jresp(inj["body"], inj["status"]) if not isinstance(inj["body"], (str, bytes)) else \
                    web.Response(status=inj["status"], body=inj["body"])
            else:
                resp = error(svc, inj["status"], f"Injected fault ({inj['status']})")
            resp.headers.update(mv_hdrs)
            return resp
        is_public = _PUBLIC.match(req.path) or (req.method == "POST" and req.path == "/identity/v3/auth/tokens")
        if not is_public:
            tok = st.tokens.get(req.headers.get("X-Auth-Token", ""))
            if tok is None or tok["project"] is None and svc != "identity":
                return error(svc or "identity", 401, "The request you have made requires authentication.")
        try:
            resp = await handler(req)
        except ApiError as e:
            resp = error(svc or "identity", e.status, e.message, e.kind)
        except web.HTTPNotFound:
            st.unhandled.append((req.method, req.path))
            resp = error(svc or "identity", 404, f"The resource could not be found: {req.path}")
        except web.HTTPMethodNotAllowed:
            st.unhandled.append((req.method, req.path))
            resp = error(svc or "identity", 405, f"Method {req.method} not allowed")
        except ValueError as e:  # malformed JSON bodies
            resp = error(svc or "identity", 400, f"Malformed request body: {e}")
        resp.headers.update(mv_hdrs)
        st.tick()
        return resp

    # --- public helpers used by tests ------------------------------------
    @property
    def auth_url(self) -> str:
        return f"{self._st.base_url}/identity/v3"

    @property
    def base_url(self) -> str:
        return self._st.base_url

    def vim_connection_info(self, vim_id: str, app_credential: bool = False) -> dict:
        if app_credential:
            access = {"applicationCredentialId": S.APP_CRED_ID, "applicationCredentialSecret": S.APP_CRED_SECRET,
                      "region": S.REGION}
        else:
            access = {"username": S.USERNAME, "password": S.PASSWORD, "region": S.REGION,
                      "project": S.PROJECT_NAME, "projectDomain": S.DOMAIN_NAME, "userDomain": S.DOMAIN_NAME}
        return {"vimId": vim_id, "vimType": "ETSINFV.OPENSTACK_KEYSTONE.V_3",
                "interfaceInfo": {"endpoint": self.auth_url}, "accessInfo": access}

    def _kind(self, kind: str) -> dict[str, dict]:
        self._st.tick()
        if kind == "servers":
            for srv in self._st.res["servers"].values():
                self.compute.refresh(srv)
        return self._st.res[kind]

    servers = property(lambda self: self._kind("servers"))
    networks = property(lambda self: self._kind("networks"))
    subnets = property(lambda self: self._kind("subnets"))
    ports = property(lambda self: self._kind("ports"))
    volumes = property(lambda self: self._kind("volumes"))
    images = property(lambda self: self._kind("images"))
    flavors = property(lambda self: self._kind("flavors"))
    server_groups = property(lambda self: self._kind("server_groups"))
    security_groups = property(lambda self: self._kind("security_groups"))
    security_group_rules = property(lambda self: self._kind("security_group_rules"))
    keypairs = property(lambda self: self._kind("keypairs"))  # keyed by name, as Nova is

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self._st.requests

    @property
    def unhandled(self) -> list[tuple[str, str]]:
        return self._st.unhandled

    @property
    def project_id(self) -> str:
        return S.PROJECT_ID

    def count(self) -> dict[str, int]:
        return self._st.count()

    def inject(self, method: str, path_regex: str, status: int = 500, times: int = 1, body: Any = None) -> None:
        self._st.injections.append({"method": method.upper(), "path": path_regex, "status": status,
                                    "times": times, "body": body})

    def fail_builds(self, times: int = 1, message: str = "No valid host was found") -> None:
        self._st.build_failures += [message] * times

    def set_quota(self, **limits: int) -> None:
        unknown = set(limits) - set(self._st.quota)
        if unknown:
            raise KeyError(f"unknown quota {sorted(unknown)}")
        self._st.quota.update(limits)

    def oob_delete(self, kind: str, rid: str) -> None:
        """Someone deleted it behind our back: effects happen at once, with Nova/Neutron side effects."""
        st = self._st
        st.tick()
        if rid not in st.res[kind]:
            raise KeyError(f"{kind}/{rid}")
        if kind == "servers":
            self.compute.purge(rid)
        elif kind == "volumes":
            vol = st.res["volumes"][rid]
            vol["attachments"] = []
            self.volume_api.purge(rid)
        elif kind == "networks":
            net = st.res["networks"][rid]
            for p in [p for p in st.res["ports"].values() if p["network_id"] == rid]:
                st.remove("ports", p["id"])
            for sid in net["subnets"]:
                st.remove("subnets", sid)
            st.remove(kind, rid)
        else:
            st.remove(kind, rid)

    def oob_set(self, kind: str, rid: str, **attrs: Any) -> dict:
        st = self._st
        st.tick()
        obj = st.res[kind][rid]
        if kind == "servers" and "status" in attrs:
            vm = {"ACTIVE": ("active", 1), "SHUTOFF": ("stopped", 4), "ERROR": ("error", 0),
                  "PAUSED": ("paused", 3), "SUSPENDED": ("suspended", 4)}.get(attrs["status"])
            if vm:
                obj.update({"OS-EXT-STS:vm_state": vm[0], "OS-EXT-STS:power_state": vm[1],
                            "OS-EXT-STS:task_state": None})
        obj.update(attrs)
        return obj

    def oob_create(self, kind: str, **attrs: Any) -> dict:
        st = self._st
        st.tick()
        if kind == "servers":
            return self.compute.oob_server(attrs)
        if kind in ("networks", "subnets", "ports", "security_groups", "security_group_rules"):
            return self.network_api.build(kind, attrs)
        if kind == "volumes":
            return self._oob_volume(attrs)
        if kind == "images":
            img = self.image_api._new(attrs)
            return img
        raise KeyError(f"oob_create does not support {kind}")

    def _oob_volume(self, attrs: dict) -> dict:
        vol = self.volume_api.create_internal(int(attrs.pop("size", 1)), attrs.pop("name", ""),
                                              status=attrs.pop("status", "available"), counted=True,
                                              metadata=attrs.pop("metadata", None))
        vol.update(attrs)
        return vol
