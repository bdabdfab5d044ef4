"""With a proxy configured, IP literals and metadata names are refused before the proxy.

A real forward proxy on 127.0.0.1 records every request it is asked to make and answers
each with fake "credentials", as a proxy inside a cloud would. The fetcher talks to it
through the client `worker.fetch.client` builds from HTTP_PROXY, exactly as in production.
The proxy never connects anywhere: it only answers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from worker.fetch.client import build_client, build_egress_policy
from worker.fetch.egress import EgressPolicy
from worker.fetch.errors import EgressRefused
from worker.fetch.fetcher import FetchLimits, fetch
from worker.settings import Settings


class _Proxy(BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if "news.test/moved" in self.path:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)  # type: ignore[attr-defined]
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"AccessKeyId": "FAKE", "SecretAccessKey": "FAKE"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[ThreadingHTTPServer, list[str]]]:
    seen: list[str] = []
    handler = type("Proxy", (_Proxy,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.redirect_to = "http://169.254.169.254/latest/meta-data/"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, seen
    server.shutdown()
    server.server_close()


def _fetch_via(server: ThreadingHTTPServer, url: str, tmp_path) -> object:
    env = {"HTTP_PROXY": f"http://127.0.0.1:{server.server_address[1]}"}
    settings = Settings(data_dir=tmp_path)
    policy = build_egress_policy(settings, env)
    with build_client(settings, policy=policy, environ=env) as client:
        result = fetch(url, client, FetchLimits(10_000, 5, 3), policy=policy)
    result.close()
    return result


REFUSED = [
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://[fd00::1]/",
    "http://0.0.0.0/",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://Metadata.Google.Internal./computeMetadata/v1/",
    "http://localhost:8000/",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/",  # and in hex, shortened
    "http://[::ffff:169.254.169.254]/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_literal_and_metadata_hosts_never_reach_the_proxy(proxy, url, tmp_path) -> None:
    server, seen = proxy
    result = _fetch_via(server, url, tmp_path)
    assert isinstance(result.error, EgressRefused), result.error  # type: ignore[attr-defined]
    assert "refused before the proxy" in str(result.error)  # type: ignore[attr-defined]
    assert result.exchanges == []  # type: ignore[attr-defined]
    assert seen == []


def test_names_still_go_to_the_proxy(proxy, tmp_path) -> None:
    server, seen = proxy
    result = _fetch_via(server, "http://news.test/article", tmp_path)
    assert result.error is None  # type: ignore[attr-defined]
    assert seen == ["http://news.test/article"]


def test_a_redirect_to_the_metadata_address_is_refused_at_that_hop(proxy, tmp_path) -> None:
    server, seen = proxy
    result = _fetch_via(server, "http://news.test/moved", tmp_path)
    assert isinstance(result.error, EgressRefused)  # type: ignore[attr-defined]
    assert seen == ["http://news.test/moved"]  # the 302 itself, never its target
    assert len(result.exchanges) == 1  # type: ignore[attr-defined]


def test_allow_networks_still_admits_a_literal_through_the_proxy() -> None:
    policy = EgressPolicy(["10.0.0.0/8"], proxied=True)
    assert policy.check("http://10.0.0.1/").allowed
    assert not policy.check("http://10.0.0.1.localhost/").allowed
