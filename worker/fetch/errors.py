"""The one exception tree for fetching, and the single place httpx errors enter it.

```
FetchError                      every failure of a fetch; `.url` is the URL being fetched
├── TimeoutError_
│   ├── ConnectTimeout          TCP/TLS connect did not finish in time
│   ├── ReadTimeout             the server went silent (per-read timeout)
│   └── DeadlineExceeded        our wall-clock cap per fetch (settings.total_timeout)
├── ConnectError                could not open, or lost, the connection
│   ├── NameNotResolved         the resolver said the name does not exist (NXDOMAIN: EAI_NONAME)
│   ├── ResolverFailure         the lookup itself failed (SERVFAIL, timeout, no address):
│   │                           says nothing about the name, so never `dead`; retried
│   ├── ConnectionRefused       ECONNREFUSED
│   └── ConnectionReset         ECONNRESET, during connect or mid-body
├── TLSError                    handshake or certificate failure (ssl.SSLError)
├── ProtocolError               the peer broke HTTP (bad status line, …)
│   └── BadLocation             a redirect's Location is not a usable URL
├── TooManyRedirects
│   └── RedirectLoop            the same request came round again
├── TooLarge                    the body passed max_body_bytes (the capture is truncated)
├── EgressRefused               the egress policy forbids the scheme or address
├── ProxyError                  the proxy failed or refused the tunnel
└── InvalidURL                  httpx could not even build the request
```

`map_httpx_errors(url)` mirrors httpx's own `map_httpcore_exceptions`: it converts httpx
exceptions into this tree with `raise … from exc`, deciding the subclass from exception
*types* found on the `__cause__`/`__context__` chain (never by matching message strings).
Only `worker/classify.py` turns these classes into status words.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

logger = logging.getLogger(__name__)

__all__ = [
    "BadLocation",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionRefused",
    "ConnectionReset",
    "DeadlineExceeded",
    "EgressRefused",
    "FetchError",
    "InvalidURL",
    "NameNotResolved",
    "ProtocolError",
    "ProxyError",
    "ReadTimeout",
    "RedirectLoop",
    "ResolverFailure",
    "TLSError",
    "TimeoutError_",
    "TooLarge",
    "TooManyRedirects",
    "map_httpx_errors",
    "name_error_class",
]


class FetchError(Exception):
    """Base of every fetch failure. `kind` is a stable machine name for logs and reasons."""

    kind = "fetch_error"

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, url={self.url!r})"


class TimeoutError_(FetchError):  # trailing underscore: do not shadow the builtin
    kind = "timeout"


class ConnectTimeout(TimeoutError_):
    kind = "connect_timeout"


class ReadTimeout(TimeoutError_):
    kind = "read_timeout"


class DeadlineExceeded(TimeoutError_):
    kind = "deadline_exceeded"


class ConnectError(FetchError):
    kind = "connect_error"


class NameNotResolved(ConnectError):
    kind = "name_not_resolved"


class ResolverFailure(ConnectError):
    kind = "resolver_failure"


def name_error_class(errno: int | None) -> type[ConnectError]:
    """NXDOMAIN is a fact about the name; every other resolver failure is about the lookup.

    getaddrinfo says EAI_NONAME for an authoritative "no such name"; EAI_AGAIN for
    SERVFAIL or a resolver that timed out, EAI_FAIL for a broken answer, EAI_NODATA for
    a name with no address record: none of those proves the name is gone.
    """
    return NameNotResolved if errno == socket.EAI_NONAME else ResolverFailure


class ConnectionRefused(ConnectError):
    kind = "connection_refused"


class ConnectionReset(ConnectError):
    kind = "connection_reset"


class TLSError(FetchError):
    kind = "tls_error"


class ProtocolError(FetchError):
    kind = "protocol_error"


class BadLocation(ProtocolError):
    """A redirect whose Location is not a usable URL: the link itself is broken."""

    kind = "bad_location"


class TooManyRedirects(FetchError):
    kind = "too_many_redirects"


class RedirectLoop(TooManyRedirects):
    kind = "redirect_loop"


class TooLarge(FetchError):
    kind = "too_large"


class EgressRefused(FetchError):
    kind = "egress_refused"


class ProxyError(FetchError):
    kind = "proxy_error"


class InvalidURL(FetchError):
    kind = "invalid_url"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything on its cause/context chain (cycle-safe)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    return next((e for e in _chain(exc) if isinstance(e, kind)), None)


def _network_error(exc: BaseException, url: str, *, proxied: bool) -> FetchError:
    """Pick the subclass for a connect/read/write failure from the OS-level cause."""
    # Order matters: SSLError is an OSError, and a handshake can also be reset.
    if _find(exc, ssl.SSLError) is not None:
        return TLSError(f"TLS failure: {exc}", url=url)
    cls: type[FetchError]
    gai = _find(exc, socket.gaierror)
    if gai is not None:
        cls = name_error_class(getattr(gai, "errno", None))
        what = "name not resolved" if cls is NameNotResolved else "name lookup failed"
    elif _find(exc, ConnectionRefusedError) is not None:
        cls, what = ConnectionRefused, "connection refused"
    elif _find(exc, ConnectionResetError) is not None:
        cls, what = ConnectionReset, "connection reset"
    else:
        cls, what = ConnectError, "network error"
    if proxied and isinstance(exc, httpx.ConnectError):
        # Through a proxy we only ever connect to the proxy itself (it resolves the target),
        # so a failed connect is the proxy's failure, not the site's.
        return ProxyError(f"cannot reach proxy ({what}): {exc}", url=url)
    return cls(f"{what}: {exc}", url=url)


def convert(exc: Exception, url: str, *, proxied: bool = False) -> FetchError | None:
    """The FetchError for an httpx (or already-mapped) exception, or None if it is not ours."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, httpx.ConnectTimeout):
        if proxied:
            return ProxyError(f"proxy connect timeout: {exc}", url=url)
        return ConnectTimeout(f"connect timeout: {exc}", url=url)
    if isinstance(exc, httpx.ReadTimeout):
        return ReadTimeout(f"read timeout: {exc}", url=url)
    if isinstance(exc, httpx.TimeoutException):  # write and pool timeouts
        return TimeoutError_(f"timeout: {exc}", url=url)
    if isinstance(exc, httpx.ProxyError):
        return ProxyError(f"proxy error: {exc}", url=url)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return EgressRefused(f"unsupported scheme: {exc}", url=url)
    if isinstance(exc, httpx.ProtocolError):
        return ProtocolError(f"protocol error: {exc}", url=url)
    if isinstance(exc, httpx.NetworkError):  # ConnectError, ReadError, WriteError, CloseError
        return _network_error(exc, url, proxied=proxied)
    if isinstance(exc, httpx.TooManyRedirects):
        return TooManyRedirects(str(exc), url=url)
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(f"decoding error: {exc}", url=url)
    if isinstance(exc, httpx.InvalidURL):
        return InvalidURL(f"invalid URL: {exc}", url=url)
    if isinstance(exc, httpx.TransportError):
        return FetchError(f"transport error: {exc}", url=url)
    return None


@contextmanager
def map_httpx_errors(url: str, *, proxied: bool = False) -> Iterator[None]:
    """Re-raise httpx exceptions as FetchError subclasses (`raise … from exc`).

    `proxied=True` says the request went through a proxy: connect failures then belong to
    the proxy. FetchErrors raised inside (e.g. by the egress backend) pass through as they
    are; anything else (programming errors) propagates untouched.
    """
    try:
        yield
    except FetchError:
        raise
    except Exception as exc:
        mapped = convert(exc, url, proxied=proxied)
        if mapped is None:
            raise
        logger.debug("mapped %s to %s for %s", type(exc).__name__, type(mapped).__name__, url)
        raise mapped from exc
