"""Credentials at rest: VIM `accessInfo` is sealed (Fernet: AES-128-CBC + HMAC-SHA256) before a
service stores it, and opened only where a VIM call needs it.

The key is `MAGI_SECRET_KEY` (any string; it is stretched to a Fernet key) or, when unset, one
generated once into `<data_dir>/secret.key` (0600) so `magi up` needs no setup. In Helm the key
comes from a Secret so every replica opens what another sealed.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from magi.config import MagiSettings

SEALED = "sealed"  # the key under which a sealed value is stored: {"sealed": "<token>"}
# Keys whose values never appear in logs or API responses (see `redact`).
SECRET_KEYS = frozenset({"password", "accessInfo", "applicationCredentialSecret", "clientSecret", "secret", "token",
                         "authorization", "sealed"})


class SecretError(Exception):
    pass


def _fernet_key(material: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())


def key_material(settings: MagiSettings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = os.path.join(settings.data_dir, "secret.key")
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(settings.data_dir, exist_ok=True)
    material = base64.urlsafe_b64encode(os.urandom(32)).decode()
    try:  # O_EXCL: if two services start at once, the first writer wins and the other reads it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(material)
    return material


class SecretBox:
    def __init__(self, material: str):
        self._f = Fernet(_fernet_key(material))

    @classmethod
    def from_settings(cls, settings: MagiSettings) -> "SecretBox":
        return cls(key_material(settings))

    def seal(self, value: Any) -> dict[str, str]:
        return {SEALED: self._f.encrypt(json.dumps(value, sort_keys=True).encode()).decode()}

    @staticmethod
    def is_sealed(value: Any) -> bool:
        return isinstance(value, dict) and set(value) == {SEALED}

    def open(self, sealed: Any) -> Any:
        """The value of `seal`; a value that was never sealed passes through (older records)."""
        if not self.is_sealed(sealed):
            return sealed
        try:
            return json.loads(self._f.decrypt(sealed[SEALED].encode()))
        except InvalidToken:
            raise SecretError("a sealed credential cannot be opened with this MAGI_SECRET_KEY") from None


def redact(value: Any) -> Any:
    """A copy with every secret-named key's value replaced by "***" (for logs and responses)."""
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_KEYS and v is not None else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
