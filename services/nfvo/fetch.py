"""`upload_from_uri`: the NFVO fetches a VNF package itself (SOL005 UploadVnfPackageFromUriRequest).

Credentials are used for the fetch only and never stored: a crash before the bytes arrive puts
the package back in CREATED, and the client repeats the request with its credentials.
"""
from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import urlparse

import aiohttp
from pydantic import BaseModel, ConfigDict, field_validator

from nfvo.content import READ_CHUNK, Upload, UploadTooLarge, upload_limit

TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=10)


class OAuth2ClientCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clientId: str
    clientPassword: str
    tokenEndpoint: str


class UploadFromUriRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    addressInformation: str
    # a string in v4 (OAUTH2_CLIENT_CREDENTIALS); an array with BASIC in earlier SOL005 versions
    authType: str | list[str] | None = None
    username: str | None = None
    password: str | None = None
    paramsOauth2ClientCredentials: OAuth2ClientCredentials | None = None

    @field_validator("addressInformation")
    @classmethod
    def _http(cls, v: str) -> str:
        if urlparse(v).scheme not in ("http", "https"):
            raise ValueError("addressInformation must be an http(s) URI")
        return v

    @field_validator("authType")
    @classmethod
    def _auth(cls, v: str | list[str] | None) -> list[str] | None:
        types = [v] if isinstance(v, str) else v
        for t in types or []:
            if t not in ("BASIC", "OAUTH2_CLIENT_CREDENTIALS"):
                raise ValueError(f"authType {t} is not BASIC or OAUTH2_CLIENT_CREDENTIALS")
        return types

    def check(self) -> str | None:
        """What is missing for the chosen authType, or None."""
        types = self.authType or []
        if "BASIC" in types and not (self.username and self.password):
            return "authType BASIC needs username and password"
        if "OAUTH2_CLIENT_CREDENTIALS" in types and self.paramsOauth2ClientCredentials is None:
            return "authType OAUTH2_CLIENT_CREDENTIALS needs paramsOauth2ClientCredentials"
        return None


async def fetch_package(req: UploadFromUriRequest, limit: int | None = None) -> Upload:
    """The package, spooled to a temporary file (the caller closes it), named after the URI's file;
    raises on any failure, `UploadTooLarge` as soon as the bytes (or the announced Content-Length)
    cross `limit` (MAGI_PACKAGE_MAX_BYTES)."""
    limit = upload_limit() if limit is None else limit
    headers: dict[str, str] = {}
    types = req.authType or []
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        if "OAUTH2_CLIENT_CREDENTIALS" in types and req.paramsOauth2ClientCredentials:
            p = req.paramsOauth2ClientCredentials
            async with http.post(p.tokenEndpoint, data={"grant_type": "client_credentials"},
                                 headers={"Authorization": aiohttp.encode_basic_auth(p.clientId, p.clientPassword)}) as r:
                r.raise_for_status()
                token: dict[str, Any] = await r.json(content_type=None)
            headers["Authorization"] = f"Bearer {token['access_token']}"
        elif "BASIC" in types:
            headers["Authorization"] = aiohttp.encode_basic_auth(req.username or "", req.password or "")
        async with http.get(req.addressInformation, headers=headers) as r:
            r.raise_for_status()
            if (r.content_length or 0) > limit:
                raise UploadTooLarge(limit)
            up = Upload(posixpath.basename(urlparse(req.addressInformation).path) or None)
            try:
                async for chunk in r.content.iter_chunked(READ_CHUNK):
                    if up.size + len(chunk) > limit:
                        raise UploadTooLarge(limit)
                    up.write(chunk)
            except BaseException:
                up.close()
                raise
    return up
