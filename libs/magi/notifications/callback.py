"""HTTP calls to a subscriber's callback URI, authenticated as the subscription asks (SOL013 §8.3.4)."""
from __future__ import annotations

import json
import ssl
import time
from datetime import date, datetime
from typing import Any
from urllib.parse import quote_plus

import aiohttp

# Errors that mean "the callback could not be reached", as opposed to a bug of ours.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError, ValueError)
TOKEN_MARGIN = 30.0  # refresh OAuth2 tokens this many seconds before they expire


class CallbackError(Exception):
    """The callback (or its OAuth2 token endpoint) could not be used; str(e) says why."""


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):  # BSON dates read back from the store
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=_json_default).encode()


class CallbackClient:
    """Sends GET (endpoint test) and POST (notification) to callback URIs.

    `auth` is a validated SubscriptionAuthentication as a dict, or None. OAuth2 tokens are cached in
    memory per (endpoint, client): a restart only costs one token request.
    """

    def __init__(self, http: aiohttp.ClientSession | None = None, *, timeout: float = 5.0,
                 version: str | None = None, tls_context: ssl.SSLContext | None = None):
        self._http = http
        self._own = http is None
        self.timeout = timeout
        self.version = version
        self.tls_context = tls_context
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._http is None or (self._own and self._http.closed):
            self._http = aiohttp.ClientSession()  # created lazily: needs a running loop
        return self._http

    async def close(self) -> None:
        if self._own and self._http is not None and not self._http.closed:
            await self._http.close()
        self._http = None if self._own else self._http

    def can_tls(self) -> bool:
        return self.tls_context is not None

    async def call(self, method: str, uri: str, auth: dict[str, Any] | None, body: Any = None) -> int:
        """Status code of the callback's answer; raises CallbackError if there was no answer."""
        headers = {"Accept": "application/json"}
        if self.version:
            headers["Version"] = self.version  # the notification endpoints of SOL002/3/5 require it
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = encode(body)
        oauth = (auth or {}).get("paramsOauth2ClientCredentials")
        try:
            headers.update(await self._auth_headers(auth))
            async with self.session().request(
                method, uri, data=data, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout), ssl=self._ssl(auth, uri),
            ) as resp:
                await resp.read()  # drain, so the connection can be reused
                if resp.status == 401 and oauth:
                    self._tokens.pop(_token_key(oauth), None)  # revoked or expired early: fetch anew
                return resp.status
        except CallbackError:
            raise
        except NETWORK_ERRORS as exc:
            raise CallbackError(f"{method} {uri} failed: {type(exc).__name__}: {exc}".rstrip(": ")) from None

    def _ssl(self, auth: dict[str, Any] | None, uri: str) -> ssl.SSLContext | bool:
        wants_tls = auth is not None and "TLS_CERT" in auth.get("authType", [])
        if wants_tls and self.tls_context is not None and uri.lower().startswith("https:"):
            return self.tls_context  # carries our client certificate: mutual TLS
        return True

    async def _auth_headers(self, auth: dict[str, Any] | None) -> dict[str, str]:
        if not auth:
            return {}
        oauth = auth.get("paramsOauth2ClientCredentials")
        if oauth is not None:
            return {"Authorization": f"Bearer {await self._token(oauth)}"}
        basic = auth.get("paramsBasic")
        if basic is not None:
            return {"Authorization": aiohttp.encode_basic_auth(basic["userName"], basic["password"])}
        return {}  # TLS_CERT only: the TLS session authenticates us

    async def _token(self, params: dict[str, Any]) -> str:
        key = _token_key(params)
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        endpoint = params["tokenEndpoint"]
        try:
            async with self.session().post(
                endpoint, data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json", "Authorization": _client_auth(params)},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                if resp.status != 200:
                    raise CallbackError(f"OAuth2 token endpoint {endpoint} answered {resp.status}")
                data = await resp.json(content_type=None)
        except NETWORK_ERRORS as exc:
            raise CallbackError(f"OAuth2 token endpoint {endpoint} failed: {type(exc).__name__}: {exc}") from None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise CallbackError(f"OAuth2 token endpoint {endpoint} returned no access_token")
        try:
            ttl = float(data.get("expires_in", 300))
        except (TypeError, ValueError):
            ttl = 300.0
        self._tokens[key] = (token, time.monotonic() + max(0.0, ttl - TOKEN_MARGIN))
        return token


def _client_auth(params: dict[str, Any]) -> str:
    # RFC 6749 §2.3.1: client id and secret are form-encoded before the Basic encoding.
    return aiohttp.encode_basic_auth(quote_plus(params["clientId"]), quote_plus(params["clientPassword"]))


def _token_key(params: dict[str, Any]) -> tuple[str, str, str]:
    return (params["tokenEndpoint"], params["clientId"], params["clientPassword"])
