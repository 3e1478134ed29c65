"""The request body of POST …/subscriptions (SOL003/SOL005 LccnSubscriptionRequest and kin)."""
from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def check_uri(value: str) -> str:
    """`value` if it is an absolute http(s) URI, else ValueError."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("must be an absolute http(s) URI") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be an absolute http(s) URI")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class BasicParams(_Strict):
    userName: str
    password: str


class OAuth2Params(_Strict):
    clientId: str
    clientPassword: str
    tokenEndpoint: str

    @field_validator("tokenEndpoint")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return check_uri(value)


class SubscriptionAuthentication(_Strict):
    authType: list[Literal["BASIC", "OAUTH2_CLIENT_CREDENTIALS", "TLS_CERT"]] = Field(min_length=1)
    paramsBasic: BasicParams | None = None
    paramsOauth2ClientCredentials: OAuth2Params | None = None

    @model_validator(mode="after")
    def _params_match_types(self) -> "SubscriptionAuthentication":
        # Nothing is provisioned out of band, so the params of each named type are mandatory.
        for auth_type, params, name in (("BASIC", self.paramsBasic, "paramsBasic"),
                                        ("OAUTH2_CLIENT_CREDENTIALS", self.paramsOauth2ClientCredentials,
                                         "paramsOauth2ClientCredentials")):
            if auth_type in self.authType and params is None:
                raise ValueError(f"{name} is required when authType contains {auth_type}")
            if auth_type not in self.authType and params is not None:
                raise ValueError(f"{name} is only allowed when authType contains {auth_type}")
        return self


class SubscriptionRequest(_Strict):
    callbackUri: str
    filter: dict[str, Any] | None = None
    authentication: SubscriptionAuthentication | None = None
    verbosity: Literal["FULL", "SHORT"] | None = None

    @field_validator("callbackUri")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return check_uri(value)
