"""Shared fixtures: a real MongoDB-wire server and a real RabbitMQ, never stand-ins.

MAGI_MONGODB_URI points the tests at a server (`make test` starts nx-27017); without it, one
nx-27017 is started for the session. MAGI_AMQP_URL (default the local broker) is the RabbitMQ
the `amqp` tests use; when it is unreachable they are skipped, except under CI=true, where a
missing broker fails the run.
"""
from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlparse

import pytest

from magi.store.embedded import EmbeddedMongo, free_port

CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = os.environ.get("MAGI_MONGODB_URI")
    if uri:
        yield uri
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("nx"))
    yield server.start()
    server.stop()


def _reachable(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 5672), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def amqp_url() -> str:
    url = os.environ.get("MAGI_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    if not _reachable(url):
        if CI:
            pytest.fail(f"RabbitMQ is not reachable at {url} (CI=true: nothing is skipped)")
        pytest.skip(f"RabbitMQ is not reachable at {url}; set MAGI_AMQP_URL")
    return url


@pytest.fixture
def db_prefix() -> str:
    """A database prefix of its own for each test: tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}"


def ports() -> dict[str, int]:
    return {f"{s}_port": free_port() for s in ("nfvo", "vnfm", "vim_adapter", "monitoring")}
