"""Shared fixtures: the fixture web (a loopback TLS proxy), a real redis-server, settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtureweb import fixture_web, fixture_web_env, fixture_web_session
from tests.pg import database_url, pg_cluster
from tests.servers import redis_server

__all__ = ["database_url", "fixture_web", "fixture_web_env", "fixture_web_session", "pg_cluster"]

ROOT = Path(__file__).resolve().parents[1]
SEPTEMBER_DIGEST = ROOT / "examples" / "2021-09-kazakhstan.txt"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server (Debian's package) on 127.0.0.1, AOF on, for the session."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def september_digest() -> Path:
    return SEPTEMBER_DIGEST
