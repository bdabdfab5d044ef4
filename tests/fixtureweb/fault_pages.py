"""Extra hostile pages for the fault-injection suite, added as routes on ``faults.test``.

The server's built-in faults (``/drip``, ``/huge``, ``/gzip-bomb``, ``/reset``…) cover most
of the hostile web; these add what the hardening suite also needs, without touching the
server:

* ``/endless``: a chunked body with no length that never ends by itself (it stops only
  when the client hangs up, or after ``ENDLESS_CAP`` bytes so the handler stays bounded);
* ``/brotli-bomb?mb=N``: a valid ``Content-Encoding: br`` body inflating to N MiB of zeros
  (~1.6 KB on the wire for 1 GiB);
* ``/binary``: deterministic binary garbage (NULs, control bytes) labelled ``text/html``;
* ``BAD_TLS_HOST``: a host whose tunnel presents a certificate from an untrusted CA;
* ``/healthy``: an ordinary article, to show the worker still captures after a fault.

``install_fault_pages(fw)`` registers them on a ``FixtureWeb``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import brotli

from tests.fixtureweb.server import FAULTS_HOST, FixtureWeb, Request, Response

__all__ = [
    "BAD_TLS_HOST",
    "ENDLESS_CAP",
    "HEALTHY_HTML",
    "HEALTHY_PATH",
    "binary_garbage",
    "brotli_bomb",
    "install_fault_pages",
]

BAD_TLS_HOST = "badtls.test"
ENDLESS_CAP = 4 * 1024 * 1024 * 1024  # "never-ending" to any client with a sane body cap
MAX_BROTLI_MB = 4096

HEALTHY_PATH = "/healthy"
HEALTHY_HTML = (
    "<!DOCTYPE html><html lang='ru'><head><meta charset='utf-8'>"
    "<title>Суд над активистом</title></head><body><article><h1>Суд над активистом</h1>"
    + "<p>Суд в Алматы приговорил активиста Кайырбека Ахметова к ограничению свободы. "
    "Правозащитники назвали приговор политически мотивированным.</p>"
    * 5
    + "</article></body></html>"
)

_BOMB_CACHE: dict[int, bytes] = {}
_BOMB_LOCK = threading.Lock()


def brotli_bomb(mb: int = 1024) -> bytes:
    """A brotli stream inflating to ``mb`` MiB of zeros. Cached (building 1 GiB takes ~1 s)."""
    with _BOMB_LOCK:
        if mb not in _BOMB_CACHE:
            comp = brotli.Compressor(quality=5)
            zeros = bytes(1 << 20)
            parts = [comp.process(zeros) for _ in range(mb)]
            parts.append(comp.finish())
            _BOMB_CACHE[mb] = b"".join(parts)
        return _BOMB_CACHE[mb]


def binary_garbage(size: int = 64 * 1024, seed: int = 9) -> bytes:
    """Deterministic random bytes: what a misconfigured server sends as ``text/html``."""
    return random.Random(seed).randbytes(size)


def _endless(block: int = 64 * 1024) -> Iterator[bytes]:
    piece = b"<p>" + b"endless " * (block // 8 - 1) + b"</p>"
    sent = 0
    while sent < ENDLESS_CAP:
        sent += len(piece)
        yield piece


def _num(req: Request, name: str, default: int, hi: int) -> int:
    try:
        value = int(req.arg(name) or default)
    except ValueError:
        value = default
    return min(max(value, 1), hi)


def _brotli_page(req: Request) -> Response:
    mb = _num(req, "mb", 1024, MAX_BROTLI_MB)
    return Response(body=brotli_bomb(mb), headers=[("Content-Encoding", "br")])


def install_fault_pages(fw: FixtureWeb) -> FixtureWeb:
    """Register the extra faults on ``fw`` (and the bad-TLS host); returns ``fw``."""
    fw.route(FAULTS_HOST, "/endless", lambda req: Response(body=_endless(), chunked=True))
    fw.route(FAULTS_HOST, "/brotli-bomb", _brotli_page)
    fw.route(FAULTS_HOST, "/binary", Response(body=binary_garbage()))
    fw.route(FAULTS_HOST, HEALTHY_PATH, HEALTHY_HTML)
    fw.add_host(BAD_TLS_HOST)
    fw.route(BAD_TLS_HOST, "/", "<html><body><p>never served</p></body></html>")
    fw.set_unreachable(BAD_TLS_HOST, "bad_tls")
    return fw
