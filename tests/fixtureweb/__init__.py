"""Fixture web: a local proxy on 127.0.0.1 that plays the September digest's web.

Usage in a test module or ``tests/conftest.py``::

    from tests.fixtureweb import fixture_web, fixture_web_env, fixture_web_session  # noqa: F401

    def test_fetch(fixture_web):
        with httpx.Client(proxy=fixture_web.proxy_url,
                          verify=fixture_web.ssl_context()) as c:
            assert c.get("https://rus.azattyq.org/a/31446385.html").status_code == 200

Outside pytest: ``with start_fixture_web("september") as fw: ...`` or
``python -c 'from tests.fixtureweb.server import main; main()'`` (prints the proxy URL
and CA path; runs until Ctrl-C / SIGTERM).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest

from tests.fixtureweb.server import (
    FAULTS_HOST,
    FixtureWeb,
    LoggedRequest,
    Request,
    RequestSpan,
    Response,
    gzip_bomb,
    html,
    redirect,
    text,
)

__all__ = [
    "FAULTS_HOST",
    "FixtureWeb",
    "LoggedRequest",
    "Request",
    "RequestSpan",
    "Response",
    "fixture_web",
    "fixture_web_env",
    "fixture_web_session",
    "gzip_bomb",
    "html",
    "redirect",
    "route_through",
    "start_fixture_web",
    "text",
]


def start_fixture_web(site: Literal["september"] | None = "september") -> FixtureWeb:
    """Build and start a fixture web, with the September site installed unless ``site`` is None.

    The caller owns it: ``stop()`` it, or use the return value as a context manager.
    """
    fw = FixtureWeb()
    if site == "september":
        from tests.fixtureweb.pages import install_september

        install_september(fw)
    elif site is not None:
        raise ValueError(f"unknown fixture site {site!r}")
    return fw.start()


@pytest.fixture(scope="session")
def fixture_web_session() -> Iterator[FixtureWeb]:
    """One September fixture web for the whole session (started once, ~0.1 s).

    Shared state: prefer ``fixture_web``, which undoes route changes and clears the log.
    """
    fw = start_fixture_web("september")
    try:
        yield fw
    finally:
        fw.stop()


@pytest.fixture
def fixture_web(fixture_web_session: FixtureWeb) -> Iterator[FixtureWeb]:
    """The session fixture web, with an empty request log; ``route``/``set_unreachable``/
    ``set_latency`` changes made by the test are undone afterwards."""
    with fixture_web_session.scoped() as fw:
        yield fw


@pytest.fixture
def fixture_web_env(fixture_web: FixtureWeb, monkeypatch: pytest.MonkeyPatch) -> FixtureWeb:
    """``fixture_web`` plus HTTP(S)_PROXY / SSL_CERT_FILE set in ``os.environ`` for the test,
    so code that honours the standard variables goes through it unchanged."""
    route_through(monkeypatch, fixture_web)
    return fixture_web


def route_through(mp: pytest.MonkeyPatch, fw: FixtureWeb, *, embedded: bool = False) -> None:
    """Send every request through ``fw``: its proxy and CA in the standard variables, and no
    NO_PROXY/ALL_PROXY left over from the caller's environment. ``embedded`` also unsets
    SOURCEVAULT_BROKER_URL, so `run` uses the embedded default."""
    for key, value in fw.env().items():
        mp.setenv(key, value)
    for key in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        mp.delenv(key, raising=False)
    if embedded:
        mp.delenv("SOURCEVAULT_BROKER_URL", raising=False)
