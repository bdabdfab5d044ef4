"""A redirect's Location decides the label: forbidden scheme `refused`, unusable `invalid`.

A real server on 127.0.0.1 answers each path with a 302 to a hostile or broken Location;
the fetcher uses the client `worker.fetch.client` builds (loopback allowed for the test).
httpx used to build its own next request from the Location and raise, losing the hop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from schemas import SourceStatus
from worker.fetch.client import build_client, build_egress_policy
from worker.fetch.errors import BadLocation, EgressRefused
from worker.fetch.fetcher import FetchLimits, fetch
from worker.judge.rules import classify_with_rule
from worker.settings import Settings

LOCATIONS = {
    "/js": "javascript:alert(document.cookie)",
    "/data": "data:text/html,<script>alert(1)</script>",
    "/ftp": "ftp://files.test/x",
    "/broken-ipv6": "http://[::1/",
    "/bad-idna": "http://xn--/",
}


class _Redirects(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", LOCATIONS[self.path])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/js", SourceStatus.REFUSED, EgressRefused),
        ("/data", SourceStatus.REFUSED, EgressRefused),
        ("/ftp", SourceStatus.REFUSED, EgressRefused),
        ("/broken-ipv6", SourceStatus.INVALID, BadLocation),
        ("/bad-idna", SourceStatus.INVALID, BadLocation),
    ],
)
def test_the_redirect_is_recorded_and_labelled(
    server: str, path: str, status: SourceStatus, error: type, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, allow_networks=["127.0.0.0/8"])
    env: dict[str, str] = {}  # no proxy: the direct, DNS-pinned path
    policy = build_egress_policy(settings, env)
    with build_client(settings, policy=policy, environ=env) as client:
        result = fetch(server + path, client, FetchLimits(10_000, 5, 3), policy=policy)
    try:
        assert isinstance(result.error, error), result.error
        assert [ex.status for ex in result.exchanges] == [302]  # the hop is evidence
        assert classify_with_rule(result).status is status
    finally:
        result.close()
