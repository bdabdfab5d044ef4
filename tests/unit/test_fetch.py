"""fetch: hops recorded, raw bodies spooled and hashed, caps, deadline, redirects, retries.

Most tests use httpx.MockTransport. Streaming, timeout and reset behaviour needs real
sockets: a tiny server bound to 127.0.0.1, reached through the real client (with
127.0.0.0/8 in allow_networks so the pinning transport lets it through).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from worker.fetch.client import build_client
from worker.fetch.errors import (
    ConnectionRefused,
    ConnectionReset,
    DeadlineExceeded,
    EgressRefused,
    NameNotResolved,
    ProtocolError,
    RedirectLoop,
    TooLarge,
    TooManyRedirects,
)
from worker.fetch.fetcher import FetchLimits, FetchResult, RetryPolicy, fetch, fetch_with_retries
from worker.settings import Settings

LIMITS = FetchLimits(max_body_bytes=10_000, total_timeout=5.0, max_redirects=5)
NOW = dt.datetime(2021, 9, 30, 12, 0, tzinfo=dt.UTC)


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def body_of(result: FetchResult, index: int = -1) -> bytes:
    exchange = result.exchanges[index]
    exchange.body.seek(0)
    return exchange.body.read()


# --- loopback server -------------------------------------------------------------------


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ", 2)[1].decode()
        try:
            if path == "/drip":
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                for _ in range(200):  # one byte every 50 ms: never silent long enough
                    sock.sendall(b"x")
                    time.sleep(0.05)
            elif path == "/reset":
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"y" * 10)
                time.sleep(0.1)
                # SO_LINGER 0: close with RST, not FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            else:
                body = b"hello"
                sock.sendall(
                    b"HTTP/1.1 200 Fine Thanks\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: 5\r\n\r\n" + body
                )
        except OSError:
            pass  # the client hung up (deadline): expected


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def real_client() -> Iterator[httpx.Client]:
    settings = Settings(allow_networks=["127.0.0.0/8"], read_timeout=5, connect_timeout=2)
    with build_client(settings, environ={}) as client:
        yield client


def test_loopback_exchange_records_wire_facts(server: str, real_client: httpx.Client) -> None:
    with fetch(server + "/ok", real_client, LIMITS) as result:
        assert result.error is None
        ex = result.final
        assert ex is not None
        assert ex.status == 200 and ex.reason == "Fine Thanks" and ex.http_version == "HTTP/1.1"
        assert ex.peer_ip == "127.0.0.1"
        names = [k.lower() for k, _ in ex.request_headers]
        assert names[0] == "host" and "user-agent" in names
        assert ("Content-Length", "5") in ex.response_headers
        assert body_of(result) == b"hello"
        assert ex.body_sha256 == hashlib.sha256(b"hello").hexdigest()


def test_drip_server_hits_the_wall_clock_deadline(server: str, real_client: httpx.Client) -> None:
    limits = FetchLimits(max_body_bytes=1_000_000, total_timeout=1.0, max_redirects=0)
    with fetch(server + "/drip", real_client, limits) as result:
        assert isinstance(result.error, DeadlineExceeded)
        assert result.final is not None and result.final.truncated
        assert 0 < result.final.body_length < 100000
        assert result.final.truncation == "time"  # WARC-Truncated: time


def test_reset_mid_body_keeps_the_exchange(server: str, real_client: httpx.Client) -> None:
    with fetch(server + "/reset", real_client, LIMITS) as result:
        assert isinstance(result.error, ConnectionReset)
        assert result.final is not None and result.final.truncated
        assert result.final.truncation == "disconnect"
        assert body_of(result) == b"y" * 10


def test_connection_refused(real_client: httpx.Client) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    result = fetch(f"http://127.0.0.1:{port}/", real_client, LIMITS)
    assert isinstance(result.error, ConnectionRefused)
    assert result.exchanges == []


def test_loopback_refused_without_allow_networks(server: str) -> None:
    with build_client(Settings(), environ={}) as client:
        result = fetch(server + "/ok", client, LIMITS)  # no policy: the pinned backend decides
    assert isinstance(result.error, EgressRefused)
    assert result.error.url == server + "/ok"


# --- bodies -----------------------------------------------------------------------------


def test_gzip_body_is_stored_raw_with_sha256_of_raw_bytes() -> None:
    html = b"<html>" + b"privet " * 1000 + b"</html>"
    raw = gzip.compress(html)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(raw)
        )

    with mock_client(handler) as client, fetch("https://a.test/", client, LIMITS) as result:
        assert body_of(result) == raw
        assert result.final is not None
        assert result.final.body_length == len(raw)
        assert result.final.body_sha256 == hashlib.sha256(raw).hexdigest()
        assert ("Content-Encoding", "gzip") in result.final.response_headers


def test_body_cap_truncates_and_keeps_what_came() -> None:
    data = bytes(range(256)) * 100  # 25,600 bytes

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(data))

    limits = FetchLimits(max_body_bytes=1000, total_timeout=5, max_redirects=0)
    with mock_client(handler) as client, fetch("https://a.test/", client, limits) as result:
        assert isinstance(result.error, TooLarge)
        assert result.final is not None and result.final.truncated
        assert result.final.truncation == "length"
        assert body_of(result) == data[:1000]
        assert result.final.body_sha256 == hashlib.sha256(data[:1000]).hexdigest()


def test_body_exactly_at_cap_is_complete() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"z" * 1000))

    limits = FetchLimits(max_body_bytes=1000, total_timeout=5, max_redirects=0)
    with mock_client(handler) as client, fetch("https://a.test/", client, limits) as result:
        assert result.error is None and not result.truncated
        assert result.final is not None and result.final.truncation is None


def test_large_body_spills_to_disk() -> None:
    data = b"q" * (3 * 1024 * 1024)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(data))

    limits = FetchLimits(max_body_bytes=10 * 1024 * 1024, total_timeout=5, max_redirects=0)
    with mock_client(handler) as client, fetch("https://a.test/", client, limits) as result:
        assert result.final is not None and result.final.body_length == len(data)
        assert result.final.body._rolled  # type: ignore[attr-defined]


def test_pre_read_mock_response_still_works() -> None:
    with (
        mock_client(lambda r: httpx.Response(200, content=b"plain")) as client,
        fetch("https://a.test/", client, LIMITS) as result,
    ):
        assert body_of(result) == b"plain"


# --- redirects --------------------------------------------------------------------------


def test_redirect_chain_records_every_hop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a":
            return httpx.Response(301, headers={"Location": "/b?x=1"}, content=b"moved")
        if request.url.path == "/b":
            return httpx.Response(302, headers={"Location": "https://c.test/c#frag"})
        return httpx.Response(200, content=b"final")

    with mock_client(handler) as client, fetch("http://a.test/a", client, LIMITS) as result:
        assert result.error is None
        assert [(e.url, e.status) for e in result.exchanges] == [
            ("http://a.test/a", 301),
            ("http://a.test/b?x=1", 302),
            ("https://c.test/c", 200),
        ]
        assert result.final_url == "https://c.test/c" and result.status_code == 200
        assert body_of(result, 0) == b"moved"


def test_redirect_loop_is_detected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        nxt = "/b" if request.url.path == "/a" else "/a"
        return httpx.Response(302, headers={"Location": nxt})

    with mock_client(handler) as client, fetch("http://a.test/a", client, LIMITS) as result:
        assert isinstance(result.error, RedirectLoop)
        assert len(result.exchanges) == 2


def test_cookie_dance_is_not_a_loop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "consent=1" in request.headers.get("cookie", ""):
            return httpx.Response(200, content=b"article")
        return httpx.Response(302, headers={"Location": "/a", "Set-Cookie": "consent=1; Path=/"})

    client = build_client(Settings(), transport=httpx.MockTransport(handler))
    with client, fetch("http://a.test/a", client, LIMITS) as result:
        assert result.error is None and result.status_code == 200
        assert ("Cookie", "consent=1") in result.exchanges[1].request_headers
    # the client's own jar stays empty: no cookie leaks into the next source's fetch
    assert not client.cookies


def test_too_many_redirects() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.path.strip("/") or 0)
        return httpx.Response(302, headers={"Location": f"/{n + 1}"})

    limits = FetchLimits(max_body_bytes=100, total_timeout=5, max_redirects=3)
    with mock_client(handler) as client, fetch("http://a.test/0", client, limits) as result:
        assert type(result.error) is TooManyRedirects
        assert len(result.exchanges) == 4


def test_redirect_to_non_http_scheme_is_refused_without_policy() -> None:
    handler = lambda r: httpx.Response(302, headers={"Location": "file:///etc/passwd"})  # noqa: E731
    with mock_client(handler) as client, fetch("http://a.test/", client, LIMITS) as result:
        assert isinstance(result.error, EgressRefused)


def test_bad_location_is_a_protocol_error() -> None:
    handler = lambda r: httpx.Response(302, headers={"Location": "http://[::1"})  # noqa: E731
    with mock_client(handler) as client, fetch("http://a.test/", client, LIMITS) as result:
        assert isinstance(result.error, ProtocolError)


def test_deadline_checked_between_hops() -> None:
    ticks = iter([0.0, 0.0, 10.0, 10.0, 10.0, 10.0])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "/next"})

    with mock_client(handler) as client:
        result = fetch("http://a.test/", client, LIMITS, clock=lambda: next(ticks))
    assert isinstance(result.error, DeadlineExceeded)
    assert len(result.exchanges) == 1
    result.close()


def test_network_errors_never_raise() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "nope")
        except socket.gaierror as exc:
            raise httpx.ConnectError("nope", request=request) from exc

    with mock_client(handler) as client:
        result = fetch("http://nx.test/", client, LIMITS, now=lambda: NOW)
    assert isinstance(result.error, NameNotResolved)
    assert result.final is None and result.status_code is None and result.final_url is None


def test_fetched_at_uses_the_now_seam() -> None:
    with (
        mock_client(lambda r: httpx.Response(200)) as client,
        fetch("http://a.test/", client, LIMITS, now=lambda: NOW) as result,
    ):
        assert result.final is not None and result.final.fetched_at == NOW


# --- retries ----------------------------------------------------------------------------


def _scripted(responses: list[httpx.Response | Exception]) -> httpx.Client:
    script = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = next(script)
        if isinstance(item, Exception):
            raise item
        return item

    return mock_client(handler)


def test_retries_with_backoff_and_retry_after_seconds() -> None:
    sleeps: list[float] = []
    client = _scripted(
        [
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, content=b"ok"),
        ]
    )
    retry = RetryPolicy(retries=3, backoff_base=1.0)
    with (
        client,
        fetch_with_retries(
            "http://a.test/", client, LIMITS, retry=retry, sleep=sleeps.append, rng=lambda: 0.5
        ) as result,
    ):
        assert result.status_code == 200 and result.attempts == 3
        assert result.retry_reasons == ["HTTP 503", "HTTP 429"]
    assert sleeps == [1.5, 7.0]


def test_retry_after_http_date_and_cap() -> None:
    later = "Thu, 30 Sep 2021 12:00:20 GMT"
    sleeps: list[float] = []
    client = _scripted(
        [
            httpx.Response(503, headers={"Retry-After": later}),
            httpx.Response(503, headers={"Retry-After": "86400"}),
            httpx.Response(200),
        ]
    )
    retry = RetryPolicy(retries=2, max_retry_after=60)
    with client:
        result = fetch_with_retries(
            "http://a.test/", client, LIMITS, retry=retry, sleep=sleeps.append, now=lambda: NOW
        )
    assert sleeps == [20.0, 60.0] and result.status_code == 200


def test_gives_up_after_retries() -> None:
    sleeps: list[float] = []
    client = _scripted([httpx.Response(502)] * 3)
    with client:
        result = fetch_with_retries(
            "http://a.test/", client, LIMITS, retry=RetryPolicy(retries=2), sleep=sleeps.append
        )
    assert result.status_code == 502 and result.attempts == 3 and len(sleeps) == 2


def test_connect_errors_retried_but_not_name_errors() -> None:
    refused = httpx.ConnectError("refused")
    refused.__cause__ = ConnectionRefusedError(111, "refused")
    sleeps: list[float] = []
    with _scripted([refused, httpx.Response(200)]) as client:
        result = fetch_with_retries("http://a.test/", client, LIMITS, sleep=sleeps.append)
    assert result.status_code == 200 and len(sleeps) == 1

    gone = httpx.ConnectError("gone")
    gone.__cause__ = socket.gaierror(socket.EAI_NONAME, "gone")
    with _scripted([gone]) as client:
        result = fetch_with_retries("http://a.test/", client, LIMITS, sleep=sleeps.append)
    assert isinstance(result.error, NameNotResolved) and result.attempts == 1


@pytest.mark.parametrize("status", [404, 410, 400, 401, 403])
def test_client_errors_not_retried(status: int) -> None:
    sleeps: list[float] = []
    with _scripted([httpx.Response(status)]) as client:
        result = fetch_with_retries("http://a.test/", client, LIMITS, sleep=sleeps.append)
    assert result.status_code == status and sleeps == []


def test_too_large_and_refused_not_retried() -> None:
    sleeps: list[float] = []
    limits = FetchLimits(max_body_bytes=1, total_timeout=5, max_redirects=0)
    with _scripted([httpx.Response(200, stream=httpx.ByteStream(b"abc"))]) as client:
        result = fetch_with_retries("http://a.test/", client, limits, sleep=sleeps.append)
    assert isinstance(result.error, TooLarge) and sleeps == []
    result.close()
    with _scripted([]) as client:
        result = fetch_with_retries("gopher://a.test/", client, LIMITS, sleep=sleeps.append)
    assert isinstance(result.error, EgressRefused) and sleeps == []


def test_limits_from_settings() -> None:
    s = Settings(max_body_bytes=123, total_timeout=4.5, max_redirects=2)
    assert FetchLimits.from_settings(s) == FetchLimits(123, 4.5, 2)
