"""A local forward proxy that *is* the web: the fixture web.

Clients reach it exactly as they reach a real proxy (``HTTPS_PROXY=http://127.0.0.1:PORT``).
It never opens an outbound connection. Instead it plays every origin itself:

* ``CONNECT host:443`` to a known host is answered ``200``; the proxy then terminates TLS
  with a leaf certificate for that host issued by a private ``trustme`` CA (chosen by SNI,
  cached per host) and serves HTTP/1.1 requests (keep-alive) on the tunnel.
* Absolute-form plain-HTTP requests (``GET http://host/path``) are served directly.
* Origin-form requests sent straight to ``base_url`` with a ``Host`` header are served too
  ("direct origin mode", no proxy needed, plain HTTP only).
* ``CONNECT`` to a host nobody registered answers ``502`` (a proxy whose upstream name does
  not resolve); an unknown path on a known host is a real ``404`` page.

HTTP parsing and framing use ``h11``; every connection gets its own thread. Fault endpoints
(slow, drip, resets, bombs, ...) live on ``faults.test`` and under ``/_faults/`` on every
known host. Every handler finishes by itself within a bounded time.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_mod
import http
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs, quote, urlsplit

import h11
import trustme

FAULTS_HOST = "faults.test"
FAULTS_PREFIX = "/_faults"

# Hard caps so that every fault endpoint stops by itself.
MAX_DELAY = 120.0
MAX_DRIP_BYTES = 120
MAX_HUGE_MB = 4096
MAX_BOMB_MB = 10240
MAX_REQUEST_BODY = 10 * 1024 * 1024


# --------------------------------------------------------------------------- data types


class LoggedRequest(NamedTuple):
    """One request seen by the fixture web (CONNECTs too: path is then ``host:port``)."""

    method: str
    host: str
    path: str
    headers: tuple[tuple[str, str], ...]


class RequestSpan(NamedTuple):
    """When the fixture web answered one (non-CONNECT) request: time.monotonic() when the
    request was read and when its response was fully sent. For overlap checks, never for
    durations."""

    host: str
    path: str
    started: float
    finished: float


@dataclass(frozen=True)
class Request:
    """A parsed request as handed to route handlers."""

    method: str
    scheme: str  # "https" inside a CONNECT tunnel, else "http"
    host: str
    port: int
    target: str  # path + query, as sent (origin form)
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    via: Literal["proxy", "direct"] = "proxy"

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    @property
    def url(self) -> str:
        default_port = 443 if self.scheme == "https" else 80
        netloc = self.host if self.port == default_port else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.target}"


Body = bytes | str | Iterable[bytes]


@dataclass
class Response:
    """What a handler returns. Every field has a sane default; see the helpers below.

    ``body`` may be bytes, str (encoded with ``charset``) or an iterable of bytes
    (streamed; chunked unless ``content_length`` is given). ``gzip`` compresses the body
    (``"auto"``: only if the client sent ``Accept-Encoding: gzip``). ``chunked`` forces
    ``Transfer-Encoding: chunked``. ``delay`` sleeps before the status line,
    ``chunk_delay`` between body chunks. ``raw`` takes over the socket completely (used
    for protocol violations); the connection is closed afterwards.
    """

    status: int = 200
    body: Body = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = "text/html; charset=utf-8"
    charset: str = "utf-8"
    gzip: bool | Literal["auto"] = False
    chunked: bool = False
    chunk_size: int = 8192
    delay: float = 0.0
    chunk_delay: float = 0.0
    content_length: int | None = None
    close: bool = False
    reason: str | None = None
    raw: Callable[[socket.socket, Request], None] | None = None


Handler = Callable[[Request], "Response | str | bytes"]
Routable = Response | str | bytes | Handler


def html(body: str, status: int = 200, charset: str = "utf-8", **kw: Any) -> Response:
    """An HTML response whose Content-Type declares ``charset``."""
    return Response(
        status=status,
        body=body,
        charset=charset,
        content_type=f"text/html; charset={charset}",
        **kw,
    )


def text(body: str, status: int = 200, **kw: Any) -> Response:
    return Response(status=status, body=body, content_type="text/plain; charset=utf-8", **kw)


def redirect(location: str, status: int = 302, **kw: Any) -> Response:
    body = f'<html><body>Moved: <a href="{location}">{location}</a></body></html>'
    resp = html(body, status=status, **kw)
    resp.headers.append(("Location", location))
    return resp


class _Close(Exception):
    """Raised to drop a connection without further ado."""


# --------------------------------------------------------------------------- the server


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256  # default 5 drops connects under a burst of 8+ threads
    fw: FixtureWeb


class _ConnHandler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        self.server.fw._serve_connection(self.request)


class FixtureWeb:
    """The fixture web: a forward proxy on 127.0.0.1 that plays every origin itself.

    Use as a context manager or call :meth:`start` / :meth:`stop`. After start:

    * ``proxy_url`` -- ``http://127.0.0.1:PORT`` for ``HTTP(S)_PROXY`` / httpx ``proxy=``;
    * ``base_url`` -- same address, for direct (proxy-less) plain-HTTP requests with a
      ``Host`` header;
    * ``ca_pem_path`` -- the CA certificate (``SSL_CERT_FILE`` / httpx ``verify=``);
    * ``requests`` -- a snapshot of every :class:`LoggedRequest` seen so far.
    """

    def __init__(self, *, io_timeout: float = 30.0, ca: trustme.CA | None = None) -> None:
        """`ca`: another fixture web's CA, so that a client trusting one trusts both (a
        second vantage playing the same sites)."""
        self.io_timeout = io_timeout
        self._lock = threading.RLock()
        self._routes: dict[str, dict[str, Routable]] = {}
        self._not_found: dict[str, Routable] = {}
        self._hosts: set[str] = set()
        self._unreachable: dict[str, str] = {}
        self._https_only: set[str] = set()
        self._latency: dict[str, float] = {}
        self._log: list[LoggedRequest] = []
        self._spans: list[RequestSpan] = []
        self._answering: dict[int, tuple[Request, float]] = {}  # handler thread -> request, start
        self._sockets: set[socket.socket] = set()
        self._stop = threading.Event()
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ca = ca or trustme.CA(organization_name="fixtureweb test CA")
        self._bad_ca = trustme.CA(organization_name="fixtureweb UNTRUSTED CA")
        self._ctx_cache: dict[tuple[str, bool], ssl.SSLContext] = {}
        self.ca_pem_path: str = ""
        self.proxy_url: str = ""
        self.base_url: str = ""
        self.port: int = 0
        self.add_host(FAULTS_HOST)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FixtureWeb:
        if self._server is not None:
            return self
        self._stop.clear()
        self._tmp = tempfile.TemporaryDirectory(prefix="fixtureweb-")
        ca_path = Path(self._tmp.name) / "fixtureweb-ca.pem"
        self._ca.cert_pem.write_to_path(str(ca_path))
        self.ca_pem_path = str(ca_path)
        server = _TCPServer(("127.0.0.1", 0), _ConnHandler)  # loopback only, random port
        server.fw = self
        self._server = server
        self.port = server.server_address[1]
        self.proxy_url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.proxy_url
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.name = f"fixtureweb:{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stop.set()  # wakes handlers sleeping in delays / drips
        server.shutdown()
        server.server_close()
        with self._lock:
            socks = list(self._sockets)
        for s in socks:
            # socket.socket.shutdown, not SSLSocket.shutdown: just unblock the reader.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(s, socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> FixtureWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ configuration

    def add_host(self, host: str) -> None:
        """Make ``host`` exist (CONNECT succeeds; unrouted paths are 404)."""
        with self._lock:
            self._hosts.add(_norm_host(host))

    def route(self, host: str, path: str, handler: Routable) -> None:
        """Serve ``handler`` at ``host`` + ``path``.

        ``path`` is matched first exactly (with query), then without its query; a path
        ending in ``*`` is a prefix route (longest wins). ``handler`` is a
        :class:`Response`, a str (200 HTML), bytes, or a callable ``Request -> Response``.
        A Response object is served as-is each time, so do not mutate it afterwards.
        """
        host = _norm_host(host)
        with self._lock:
            self._hosts.add(host)
            self._routes.setdefault(host, {})[path] = handler

    def route_url(self, url: str, handler: Routable) -> None:
        """``route`` by full URL (scheme is ignored: routes serve http and https alike)."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.route(parts.hostname or "", target, handler)

    def unroute(self, host: str, path: str) -> None:
        with self._lock:
            self._routes.get(_norm_host(host), {}).pop(path, None)

    def set_not_found(self, host: str, handler: Routable) -> None:
        """The 404 page of ``host`` (default: a plain generic one)."""
        host = _norm_host(host)
        with self._lock:
            self._hosts.add(host)
            self._not_found[host] = handler

    def set_https_only(self, host: str) -> None:
        """Plain-HTTP proxy requests to ``host`` get a 301 to https, like real sites."""
        with self._lock:
            self._https_only.add(_norm_host(host))

    def set_unreachable(
        self, host: str, how: Literal["refused", "reset", "timeout", "bad_tls"] = "refused"
    ) -> None:
        """Make ``host`` fail at connect time.

        ``refused``: CONNECT answers 502; ``reset``: the proxy resets the client's
        connection; ``timeout``: CONNECT gets no answer (connection dropped after at most
        ``io_timeout`` s); ``bad_tls``: the tunnel presents a cert from an untrusted CA.
        """
        with self._lock:
            self._unreachable[_norm_host(host)] = how

    def set_reachable(self, host: str) -> None:
        with self._lock:
            self._unreachable.pop(_norm_host(host), None)

    def set_latency(self, host: str, seconds: float) -> None:
        """Add ``seconds`` before every response from ``host`` (0 removes it)."""
        with self._lock:
            if seconds > 0:
                self._latency[_norm_host(host)] = seconds
            else:
                self._latency.pop(_norm_host(host), None)

    @contextlib.contextmanager
    def scoped(self) -> Iterator[FixtureWeb]:
        """Undo every route/host/fault change made inside the block; clear the log first."""
        with self._lock:
            saved = (
                {h: dict(r) for h, r in self._routes.items()},
                dict(self._not_found),
                set(self._hosts),
                dict(self._unreachable),
                set(self._https_only),
                dict(self._latency),
            )
            self._log.clear()
            self._spans.clear()
        try:
            yield self
        finally:
            with self._lock:
                (
                    self._routes,
                    self._not_found,
                    self._hosts,
                    self._unreachable,
                    self._https_only,
                    self._latency,
                ) = saved

    # ------------------------------------------------------------------ log & helpers

    @property
    def requests(self) -> list[LoggedRequest]:
        """Snapshot of every request seen (thread-safe copy, oldest first)."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()
            self._spans.clear()

    def spans(self, host: str | None = None) -> list[RequestSpan]:
        """When each answered request (CONNECTs aside) was being served, oldest start first."""
        with self._lock:
            spans = list(self._spans)
        if host is not None:
            spans = [s for s in spans if s.host == _norm_host(host)]
        return sorted(spans, key=lambda s: s.started)

    def hits(self, host: str | None = None, path_prefix: str | None = None) -> list[LoggedRequest]:
        """Logged non-CONNECT requests, filtered by host and/or path prefix."""
        out = []
        for r in self.requests:
            if r.method == "CONNECT":
                continue
            if host is not None and r.host != _norm_host(host):
                continue
            if path_prefix is not None and not r.path.startswith(path_prefix):
                continue
            out.append(r)
        return out

    def was_requested(self, url: str) -> bool:
        """Was ``url`` (host + path, query ignored, scheme ignored) ever requested?"""
        parts = urlsplit(url)
        path = parts.path or "/"
        return any(r.path.split("?", 1)[0] == path for r in self.hits(parts.hostname or ""))

    @property
    def ca(self) -> trustme.CA:
        return self._ca

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context trusting only the fixture CA."""
        return ssl.create_default_context(cafile=self.ca_pem_path)

    def env(self) -> dict[str, str]:
        """Environment variables that route a standard client through the fixture web."""
        return {
            "HTTP_PROXY": self.proxy_url,
            "HTTPS_PROXY": self.proxy_url,
            "http_proxy": self.proxy_url,
            "https_proxy": self.proxy_url,
            "SSL_CERT_FILE": self.ca_pem_path,
            "REQUESTS_CA_BUNDLE": self.ca_pem_path,
        }

    # ------------------------------------------------------------------ connection loop

    def _serve_connection(self, sock: socket.socket) -> None:
        self._track(sock)
        try:
            sock.settimeout(self.io_timeout)
            # Small writes + delayed ACK would cost 40 ms per response otherwise.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._http_loop(sock, h11.Connection(h11.SERVER), tunnel=None)
        except (_Close, OSError, h11.ProtocolError, ssl.SSLError):
            pass
        finally:
            self._untrack(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _next_event(self, conn: h11.Connection, sock: socket.socket) -> object:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                data = sock.recv(65536)
            except (TimeoutError, OSError):
                raise _Close() from None
            conn.receive_data(data)

    def _read_request(
        self, conn: h11.Connection, sock: socket.socket
    ) -> tuple[h11.Request, bytes] | None:
        event = self._next_event(conn, sock)
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None
        if not isinstance(event, h11.Request):
            raise _Close()
        if conn.they_are_waiting_for_100_continue:
            sock.sendall(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        while True:
            ev = self._next_event(conn, sock)
            if isinstance(ev, h11.Data):
                body += ev.data
                if len(body) > MAX_REQUEST_BODY:
                    raise _Close()
            elif isinstance(ev, h11.EndOfMessage):
                return event, bytes(body)
            else:
                raise _Close()

    def _http_loop(
        self, sock: socket.socket, conn: h11.Connection, tunnel: tuple[str, int] | None
    ) -> None:
        while not self._stop.is_set():
            try:
                got = self._read_request(conn, sock)
            except h11.RemoteProtocolError:
                with contextlib.suppress(h11.ProtocolError, OSError):
                    self._send(sock, conn, None, text("bad request\n", 400, close=True))
                return
            if got is None:
                return
            event, body = got
            method = event.method.decode("ascii", "replace").upper()
            if method == "CONNECT" and tunnel is None:
                self._handle_connect(sock, conn, event)
                return
            req = self._build_request(event, body, tunnel)
            if req is None:
                self._send(sock, conn, None, text("bad request target\n", 400, close=True))
                return
            try:
                resp = self._dispatch(req)
                if not self._send(sock, conn, req, resp):
                    return
            finally:
                self._log_finished()
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # e.g. MUST_CLOSE for HTTP/1.0 or "Connection: close"
            conn.start_next_cycle()

    def _build_request(
        self, event: h11.Request, body: bytes, tunnel: tuple[str, int] | None
    ) -> Request | None:
        headers = tuple(
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers
        )
        target = event.target.decode("latin-1")
        method = event.method.decode("latin-1").upper()
        host_header = next((v for k, v in headers if k == "host"), "")
        if tunnel is not None:
            host, port = tunnel
            scheme, via = "https", "proxy"
        elif target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            if not parts.hostname:
                return None
            scheme, via = parts.scheme, "proxy"
            host = parts.hostname
            port = parts.port or (443 if scheme == "https" else 80)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        else:
            # Direct origin mode: the Host header says which site is meant.
            parts = urlsplit(f"//{host_header}")
            host = parts.hostname or "127.0.0.1"
            port = parts.port or 80
            scheme, via = "http", "direct"
        if not target.startswith("/"):
            target = "/" + target if target != "*" else "/"
        return Request(
            method=method,
            scheme=scheme,
            host=_norm_host(host),
            port=port,
            target=target,
            headers=headers,
            body=body,
            via=via,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ CONNECT / TLS

    def _handle_connect(
        self, sock: socket.socket, conn: h11.Connection, event: h11.Request
    ) -> None:
        authority = event.target.decode("latin-1")
        headers = tuple(
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers
        )
        parts = urlsplit(f"//{authority}")
        host = _norm_host(parts.hostname or "")
        try:
            port = parts.port or 443
        except ValueError:
            port = 443
        self._log_request(LoggedRequest("CONNECT", host, authority, headers))
        with self._lock:
            known = host in self._hosts
            how = self._unreachable.get(host)
        if not known or how == "refused":
            why = "Name or service not known" if not known else "Connection refused"
            self._send(sock, conn, None, _proxy_error(502, host, why))
            return
        if how == "reset":
            _reset(sock)
            return
        if how == "timeout":
            self._stop.wait(self.io_timeout)
            return
        sock.sendall(
            conn.send(h11.Response(status_code=200, headers=[], reason=b"Connection established"))
        )
        ctx = self._server_context(host, bad=(how == "bad_tls"))
        tls = ctx.wrap_socket(sock, server_side=True)  # handshake; fails if client distrusts
        self._track(tls)
        try:
            self._http_loop(tls, h11.Connection(h11.SERVER), tunnel=(host, port))
        finally:
            self._untrack(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def _server_context(self, host: str, bad: bool = False) -> ssl.SSLContext:
        key = (host, bad)
        with self._lock:
            ctx = self._ctx_cache.get(key)
            if ctx is not None:
                return ctx
        ca = self._bad_ca if bad else self._ca
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(host).configure_cert(ctx)
        ctx.set_alpn_protocols(["http/1.1"])  # we speak HTTP/1.1 only

        if not bad:
            # Pick the certificate by SNI if the client names another host than CONNECT did.
            def on_sni(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
                if name and _norm_host(name) != host:
                    sslobj.context = self._server_context(_norm_host(name))

            ctx.sni_callback = on_sni
        with self._lock:
            return self._ctx_cache.setdefault(key, ctx)

    # ------------------------------------------------------------------ dispatch

    def _log_request(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _log_finished(self) -> None:
        """Record the span of this handler thread's request, now that it is answered."""
        finished = time.monotonic()
        with self._lock:
            open_ = self._answering.pop(threading.get_ident(), None)
            if open_ is not None:
                req, started = open_
                self._spans.append(RequestSpan(req.host, req.target, started, finished))

    def _dispatch(self, req: Request) -> Response:
        self._log_request(LoggedRequest(req.method, req.host, req.target, req.headers))
        with self._lock:
            self._answering[threading.get_ident()] = (req, time.monotonic())
        with self._lock:
            known = req.host in self._hosts
            how = self._unreachable.get(req.host)
            https_only = req.host in self._https_only
            latency = self._latency.get(req.host, 0.0)
            not_found = self._not_found.get(req.host)
            handler = _lookup(self._routes.get(req.host, {}), req.target)
        if req.via == "proxy" and (not known or how is not None):
            why = "Name or service not known" if not known else "Connection refused"
            return _proxy_error(502, req.host, why)
        if req.via == "direct" and not known:
            return text(f"fixtureweb: unknown host {req.host!r}\n", 404)
        if latency:
            self._stop.wait(min(latency, MAX_DELAY))
        if req.via == "proxy" and req.scheme == "http" and https_only:
            return redirect(f"https://{req.host}{req.target}", 301)
        if req.host == FAULTS_HOST or req.path.startswith(FAULTS_PREFIX + "/"):
            name = req.path.removeprefix(FAULTS_PREFIX) if req.host != FAULTS_HOST else req.path
            fault = self._fault(req, name)
            if fault is not None:
                return fault
        if handler is None:
            handler = not_found if not_found is not None else _generic_404
            resp = _call(handler, req)
            if resp.status == 200:
                resp.status = 404
            return resp
        return _call(handler, req)

    # ------------------------------------------------------------------ sending

    def _send(
        self, sock: socket.socket, conn: h11.Connection, req: Request | None, resp: Response
    ) -> bool:
        """Write ``resp``; return False if the connection must not be reused."""
        if resp.delay and self._stop.wait(min(resp.delay, MAX_DELAY)):
            raise _Close()
        if resp.raw is not None:
            assert req is not None
            resp.raw(sock, req)
            raise _Close()

        accept = (req.header("accept-encoding", "") if req else "") or ""
        use_gzip = resp.gzip is True or (resp.gzip == "auto" and "gzip" in accept.lower())
        body = resp.body
        if isinstance(body, str):
            body = body.encode(resp.charset)
        headers: list[tuple[str, str]] = [
            ("Date", formatdate(usegmt=True)),
            ("Server", "fixtureweb"),
        ]
        if resp.content_type and not _has(resp.headers, "content-type"):
            headers.append(("Content-Type", resp.content_type))
        headers += resp.headers
        if use_gzip:
            headers.append(("Content-Encoding", "gzip"))
            if resp.gzip == "auto":
                headers.append(("Vary", "Accept-Encoding"))
        chunks: Iterable[bytes]
        if isinstance(body, bytes):
            if use_gzip:
                body = gzip_mod.compress(body, mtime=0)
            size = resp.chunk_size if resp.chunked or resp.chunk_delay else max(len(body), 1)
            chunks = [body[i : i + size] for i in range(0, len(body), size)]
            if resp.chunked:
                headers.append(("Transfer-Encoding", "chunked"))
            else:
                headers.append(("Content-Length", str(len(body))))
        else:
            chunks = _gzip_stream(body) if use_gzip else body
            if resp.content_length is not None and not use_gzip and not resp.chunked:
                headers.append(("Content-Length", str(resp.content_length)))
            else:
                headers.append(("Transfer-Encoding", "chunked"))
        if resp.close:
            headers.append(("Connection", "close"))
        reason = resp.reason or _reason(resp.status)
        # Buffer small pieces so that a typical response leaves in one write.
        out = bytearray(
            conn.send(
                h11.Response(status_code=resp.status, headers=headers, reason=reason.encode())
            )
        )
        if (req is None or req.method != "HEAD") and resp.status not in (204, 304):
            for chunk in chunks:
                if resp.chunk_delay:
                    if out:
                        sock.sendall(out)
                        out.clear()
                    if self._stop.wait(resp.chunk_delay):
                        raise _Close()
                if chunk:
                    out += conn.send(h11.Data(data=chunk))
                    if len(out) >= 65536 or resp.chunk_delay:
                        sock.sendall(out)
                        out.clear()
        out += conn.send(h11.EndOfMessage())
        sock.sendall(out)
        return not resp.close

    # ------------------------------------------------------------------ faults

    def _fault(self, req: Request, name: str) -> Response | None:
        """Bounded misbehaviours for hardening tests (see README)."""
        if name == "/slow":
            delay = _num(req.arg("delay"), 5.0, 0, MAX_DELAY)
            return html(f"<html><body><p>slow: {delay}s</p></body></html>", delay=delay)
        if name == "/drip":
            n = int(_num(req.arg("bytes"), 10, 1, MAX_DRIP_BYTES))
            interval = _num(req.arg("interval"), 1.0, 0, 5)
            return Response(
                body=iter([b"x"] * n),
                content_type="text/plain",
                content_length=n,
                chunk_delay=interval,
            )
        if name.startswith("/status/"):
            try:
                code = int(name.removeprefix("/status/"))
            except ValueError:
                return None
            if not 200 <= code <= 599:
                return text("status must be 200..599\n", 400)
            resp = html(f"<html><body><h1>{code} {_reason(code)}</h1></body></html>", code)
            if 300 <= code < 400:
                resp.headers.append(("Location", "/status/200"))
            if code in (429, 503):
                resp.headers.append(("Retry-After", "1"))
            return resp
        if name == "/redirect-loop":
            return redirect(f"{_base(req, name)}/redirect-loop-b", 302)
        if name == "/redirect-loop-b":
            return redirect(f"{_base(req, name)}/redirect-loop", 302)
        if name == "/redirect-chain":
            n = int(_num(req.arg("n"), 3, 0, 50))
            if n == 0:
                return html("<html><body><p>end of chain</p></body></html>")
            return redirect(f"{_base(req, name)}/redirect-chain?n={n - 1}", 302)
        if name == "/gzip-bomb":
            mb = int(_num(req.arg("mb"), 1024, 1, MAX_BOMB_MB))
            return Response(body=gzip_bomb(mb), headers=[("Content-Encoding", "gzip")])
        if name == "/huge":
            mb = int(_num(req.arg("mb"), 10, 0, MAX_HUGE_MB))
            return Response(
                body=_huge_stream(mb * 1024 * 1024),
                content_length=mb * 1024 * 1024,
                content_type="text/html; charset=utf-8",
            )
        if name == "/soft404":
            return html(SOFT_404_HTML)
        if name == "/challenge":
            return html(CHALLENGE_HTML, 403, headers=[("cf-mitigated", "challenge")])
        if name == "/empty":
            return Response(body=b"")
        if name == "/close":
            raise _Close()
        if name == "/reset":
            return Response(raw=_raw_reset)
        if name == "/wrong-length":
            return Response(raw=_raw_wrong_length)
        return None


# --------------------------------------------------------------------------- helpers


def _norm_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _has(headers: list[tuple[str, str]], name: str) -> bool:
    return any(k.lower() == name for k, _ in headers)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _num(value: str | None, default: float, lo: float, hi: float) -> float:
    try:
        v = float(value) if value is not None else default
    except ValueError:
        v = default
    return min(max(v, lo), hi)


def _base(req: Request, name: str) -> str:
    """Prefix for redirects inside the fault namespace (keeps /_faults when mounted)."""
    return "" if req.host == FAULTS_HOST else FAULTS_PREFIX


def _lookup(routes: dict[str, Routable], target: str) -> Routable | None:
    if target in routes:
        return routes[target]
    path = target.split("?", 1)[0]
    if path in routes:
        return routes[path]
    best: tuple[int, Routable] | None = None
    for key, handler in routes.items():
        is_prefix = key.endswith("*") and target.startswith(key[:-1])
        if is_prefix and (best is None or len(key) > best[0]):
            best = (len(key), handler)
    return best[1] if best else None


def _call(handler: Routable, req: Request) -> Response:
    try:
        result = handler(req) if callable(handler) else handler
    except Exception:
        return text("fixtureweb handler crashed:\n" + traceback.format_exc(), 500)
    if isinstance(result, Response):
        # Copy so per-request tweaks (404 status, headers) never leak into the route.
        return Response(**{**result.__dict__, "headers": list(result.headers)})
    if isinstance(result, str):
        return html(result)
    if isinstance(result, bytes):
        return Response(body=result, content_type="application/octet-stream")
    return text(f"fixtureweb: bad handler result {type(result).__name__}\n", 500)


def _generic_404(req: Request) -> Response:
    return html(
        "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>"
        f"<h1>Not Found</h1><p>The requested URL {_esc(req.path)} was not found on this "
        "server.</p></body></html>",
        404,
    )


def _proxy_error(status: int, host: str, why: str) -> Response:
    return html(
        f"<html><head><title>{status} Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
        f"<p>fixtureweb proxy: cannot connect to {_esc(host)}: {why}</p></body></html>",
        status,
        close=True,
        headers=[("X-Fixtureweb-Error", why)],
    )


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    comp = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        out = comp.compress(chunk)
        if out:
            yield out
    yield comp.flush()


def _huge_stream(total: int) -> Iterator[bytes]:
    block = ("<p>" + "Большой документ для проверки лимитов. " * 40 + "</p>\n").encode()
    block = (block * (65536 // len(block) + 1))[:65536]
    sent = 0
    while sent < total:
        piece = block[: min(len(block), total - sent)]
        sent += len(piece)
        yield piece


_BOMB_CACHE: dict[int, bytes] = {}
_BOMB_LOCK = threading.Lock()


def gzip_bomb(mb: int = 1024) -> bytes:
    """A valid gzip member inflating to ``mb`` MiB of zeros (~1 KB per MiB). Cached.

    Built without compressing ``mb`` MiB: after a full flush deflate restarts from an empty
    window, so the compressed form of each 1 MiB block of zeros is identical and can be
    repeated.
    """
    with _BOMB_LOCK:
        if mb in _BOMB_CACHE:
            return _BOMB_CACHE[mb]
        zeros = bytes(1 << 20)
        comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
        tail = comp.flush(zlib.Z_FINISH)
        crc = 0
        for _ in range(mb):
            crc = zlib.crc32(zeros, crc)
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        trailer = struct.pack("<II", crc & 0xFFFFFFFF, (mb << 20) & 0xFFFFFFFF)
        data = header + block * mb + tail + trailer
        _BOMB_CACHE[mb] = data
        return data


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0) instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        socket.socket.close(sock)


def _raw_reset(sock: socket.socket, req: Request) -> None:
    body = b"<html><body>" + b"reset me " * 600
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )
    sock.sendall(head + body)
    time.sleep(0.05)  # let the first bytes reach the client before the RST
    _reset(sock)


def _raw_wrong_length(sock: socket.socket, req: Request) -> None:
    body = b"<html><body><p>" + b"short " * 160 + b"</p></body></html>"
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body) * 10}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock.sendall(head + body)


SOFT_404_HTML = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Страница не найдена</title></head>
<body><div class="error-page"><h1>Страница не найдена</h1>
<p>К сожалению, запрошенная вами страница не существует или была удалена.
Ошибка 404. Вернитесь на <a href="/">главную страницу</a> или воспользуйтесь поиском.</p>
</div></body></html>
"""

CHALLENGE_HTML = """<!DOCTYPE html>
<html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="refresh" content="35"></head>
<body><div id="challenge-running">Checking if the site connection is secure</div>
<noscript>Enable JavaScript and cookies to continue</noscript></body></html>
"""


def login_redirect_url(url: str) -> str:
    """Facebook-style ``/login/?next=`` for a logged-out visitor."""
    return "https://www.facebook.com/login/?next=" + quote(url, safe="")


def main() -> None:  # pragma: no cover - manual use
    """Run the September fixture web in the foreground (for manual or subprocess use)."""
    import argparse

    from tests.fixtureweb.pages import install_september

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--site", default="september", choices=["september", "none"])
    args = p.parse_args()
    fw = FixtureWeb()
    if args.site == "september":
        install_september(fw)
    import signal

    def on_term(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not break stop()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)  # so the temp CA dir is cleaned up
    with fw:
        print(f"HTTPS_PROXY={fw.proxy_url}")
        print(f"SSL_CERT_FILE={fw.ca_pem_path}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
