"""Credentials at rest: sealing, the generated key file, redaction."""
from __future__ import annotations

import os
import stat

import pytest

from magi.config import MagiSettings
from magi.secrets import SEALED, SecretBox, SecretError, key_material, redact

ACCESS = {"username": "magi", "password": "s3cret", "project": "p", "region": "RegionOne"}


def test_seal_and_open_round_trip_and_hide_the_value():
    box = SecretBox("one key")
    sealed = box.seal(ACCESS)
    assert set(sealed) == {SEALED} and "s3cret" not in sealed[SEALED]
    assert box.open(sealed) == ACCESS
    assert box.seal(ACCESS) != sealed  # a fresh IV each time: equal secrets do not look equal at rest


def test_a_value_never_sealed_passes_through():
    assert SecretBox("k").open(ACCESS) == ACCESS


def test_another_key_cannot_open_it():
    with pytest.raises(SecretError, match="MAGI_SECRET_KEY"):
        SecretBox("other").open(SecretBox("one key").seal(ACCESS))


def test_generated_key_is_kept_private_and_reused(tmp_path):
    s = MagiSettings(data_dir=str(tmp_path), secret_key=None)
    first = key_material(s)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert key_material(s) == first and len(first) >= 40
    assert SecretBox.from_settings(s).open(SecretBox(first).seal(ACCESS)) == ACCESS
    assert key_material(MagiSettings(data_dir=str(tmp_path), secret_key="given")) == "given"


def test_redact_hides_every_secret_named_value_at_any_depth():
    out = redact({"vimConnectionInfo": {"vimId": "v", "accessInfo": ACCESS},
                  "list": [{"password": "x", "name": "n"}], "applicationCredentialSecret": "y", "keep": None})
    assert out == {"vimConnectionInfo": {"vimId": "v", "accessInfo": "***"},
                   "list": [{"password": "***", "name": "n"}], "applicationCredentialSecret": "***", "keep": None}
