"""The bench web: one asyncio process on 127.0.0.1 that is every bench host, over plain HTTP.

It answers as a forward proxy (absolute-form `GET http://host/path`, as httpx and wget
send through `HTTP_PROXY`) and as an origin (`Host:` header). Every response waits the
configured latency, with uniform jitter, before its first byte; keep-alive is honoured.
Pages come from `bench.site` (built once at start, gzip copies for clients that accept
it). Faults: `404` pages, `slow` pages (served after `slow_seconds`), `redirect` (301 to
the article). Requisites the pages link to (stylesheets, photos, teaser images:
`bench.site.asset`) answer 200 on every host. `/_huge?mb=N` on any host streams N MB of
incompressible bytes.

Run as a subprocess: `python -m bench.web [site options] --latency 0.1 --jitter 0.3`
prints `PORT <n>` once it listens, and serves until SIGTERM. A separate process keeps
its CPU apart from the measured clients' (it is counted in the run's notes, not theirs).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
import random
import signal
import sys
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bench.site import SiteSpec, asset, build_urls, not_found_html, page_html

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Route:
    status: int
    body: bytes
    gz: bytes | None = None
    location: str | None = None
    delay: float = 0.0
    ctype: str = "text/html; charset=utf-8"


def build_routes(spec: SiteSpec) -> dict[tuple[str, str], Route]:
    routes: dict[tuple[str, str], Route] = {}
    for u in build_urls(spec):
        if u.fault == "404":
            body = not_found_html(u.host)
            routes[(u.host, u.path)] = Route(404, body, gzip.compress(body, 6))
            continue
        body = page_html(u)
        page = Route(
            200, body, gzip.compress(body, 6), delay=spec.slow_seconds if u.fault == "slow" else 0
        )
        routes[(u.host, u.page_path)] = page
        if u.fault == "redirect":
            routes[(u.host, u.path)] = Route(301, b"", location=f"http://{u.host}{u.page_path}")
    return routes


class BenchWeb:
    def __init__(self, spec: SiteSpec, latency: float, jitter: float, seed: int = 1) -> None:
        self.routes = build_routes(spec)
        self.hosts = {host for host, _ in self.routes}
        self.latency = latency
        self.jitter = jitter
        self.rng = random.Random(seed)
        self.requests = 0
        self.assets: dict[tuple[str, str], Route | None] = {}

    def _delay(self) -> float:
        j = self.jitter
        return self.latency * self.rng.uniform(1 - j, 1 + j) if self.latency else 0.0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = [*lines[0].split(" "), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        self.requests += 1
        parts = urlsplit(target)
        host = (parts.hostname or headers.get("host", "").split(":")[0]).lower()
        path = parts.path or "/"
        keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        await asyncio.sleep(self._delay())
        if method == "CONNECT" or host not in self.hosts:
            await self._send(writer, 502 if method == "CONNECT" else 404, b"", keep=keep)
            return keep
        if path == "/_huge":
            mb = int(parse_qs(parts.query).get("mb", ["1"])[0])
            await self._stream_huge(writer, mb, keep)
            return keep
        route = self.routes.get((host, path)) or self._asset(host, path)
        if route is None:
            await self._send(writer, 404, not_found_html(host), keep=keep)
            return keep
        if route.delay:
            await asyncio.sleep(route.delay)
        body, enc = route.body, None
        if route.gz is not None and "gzip" in headers.get("accept-encoding", ""):
            body, enc = route.gz, "gzip"
        extra = [("Location", route.location)] if route.location else []
        if enc:
            extra.append(("Content-Encoding", enc))
        await self._send(
            writer, route.status, body, keep=keep, extra=extra, head=method == "HEAD",
            ctype=route.ctype,
        )  # fmt: skip
        return keep

    def _asset(self, host: str, path: str) -> Route | None:
        """A page requisite (bench.site.asset), built at its first request and kept."""
        key = (host, path)
        if key not in self.assets:
            found = asset(path)
            self.assets[key] = None if found is None else Route(200, found[1], ctype=found[0])
        return self.assets[key]

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        *,
        keep: bool,
        extra: list[tuple[str, str]] | None = None,
        head: bool = False,
        ctype: str = "text/html; charset=utf-8",
    ) -> None:
        reason = {200: "OK", 301: "Moved Permanently", 404: "Not Found", 502: "Bad Gateway"}
        lines = [
            f"HTTP/1.1 {status} {reason.get(status, 'Status')}",
            "Server: bench-web",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
            f"Connection: {'keep-alive' if keep else 'close'}",
            "Vary: Accept-Encoding",
        ]
        lines += [f"{k}: {v}" for k, v in extra or []]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head:
            writer.write(body)
        await writer.drain()

    async def _stream_huge(self, writer: asyncio.StreamWriter, mb: int, keep: bool) -> None:
        total = mb * 1024 * 1024
        chunk = os.urandom(_CHUNK)  # incompressible, so gzip in the WARC writer works for real
        head = (
            "HTTP/1.1 200 OK\r\nServer: bench-web\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {total}\r\nConnection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        )
        writer.write(head.encode())
        sent = 0
        while sent < total:
            piece = chunk[: min(_CHUNK, total - sent)]
            writer.write(piece)
            sent += len(piece)
            await writer.drain()


def site_args(parser: argparse.ArgumentParser) -> None:
    """The SiteSpec options, shared by bench.web and bench.run."""
    d = SiteSpec()
    parser.add_argument("--urls", type=int, default=d.urls)
    parser.add_argument("--hosts", type=int, default=d.hosts)
    parser.add_argument("--min-kb", type=int, default=d.min_kb)
    parser.add_argument("--max-kb", type=int, default=d.max_kb)
    parser.add_argument("--fault-rate", type=float, default=d.fault_rate)
    parser.add_argument("--slow-seconds", type=float, default=d.slow_seconds)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before each response")
    parser.add_argument("--jitter", type=float, default=0.3, help="latency × U(1-j, 1+j)")


def spec_from(args: argparse.Namespace) -> SiteSpec:
    return SiteSpec(
        urls=args.urls,
        hosts=args.hosts,
        min_kb=args.min_kb,
        max_kb=args.max_kb,
        fault_rate=args.fault_rate,
        slow_seconds=args.slow_seconds,
        seed=args.seed,
    )


def site_argv(args: argparse.Namespace) -> list[str]:
    """The command-line form of the site options (to start `python -m bench.web`)."""
    return [
        f"--urls={args.urls}",
        f"--hosts={args.hosts}",
        f"--min-kb={args.min_kb}",
        f"--max-kb={args.max_kb}",
        f"--fault-rate={args.fault_rate}",
        f"--slow-seconds={args.slow_seconds}",
        f"--seed={args.seed}",
        f"--latency={args.latency}",
        f"--jitter={args.jitter}",
    ]


async def _serve(web: BenchWeb, port: int) -> None:
    server = await asyncio.start_server(web.handle, "127.0.0.1", port, backlog=1024)
    sock_port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {sock_port}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    site_args(parser)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    web = BenchWeb(spec_from(args), args.latency, args.jitter)
    asyncio.run(_serve(web, args.port))


if __name__ == "__main__":
    main()
