"""Fetch one URL: follow redirects by hand, stream raw bodies to spools, never raise.

`fetch(url, client, limits)` returns a `FetchResult` holding one `archive.records.HttpExchange`
per hop (request headers as sent, raw response headers, raw still-content-encoded body in a
SpooledTemporaryFile with its sha256 computed in the same loop), and the `FetchError` that
stopped it, if any. Network failures land in `.error`; they are never raised.

Limits, each enforced here because httpx alone does not:
- a hard byte cap per body: over it we stop, keep what came, mark `truncated`, record
  TooLarge;
- a wall-clock deadline per fetch (all hops): httpx's read timeout is per read and never
  fires on a server dripping a byte a second, so the read loop checks the clock;
- redirects: at most `max_redirects`, each hop egress-checked before any byte is sent,
  loops detected;
- politeness: with a `worker.fetch.politeness.Gate` (per process, or shared in Redis), each hop
  holds a per-host slot.

`fetch_with_retries` wraps it for transient failures (timeouts, refused/reset, 5xx, 408,
429 with Retry-After), with exponential backoff + jitter and `sleep` as a seam.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import hashlib
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from types import TracebackType
from typing import BinaryIO, cast

import httpx

from archive.records import HttpExchange, Truncation
from worker import timings
from worker.fetch.egress import ALLOWED_SCHEMES, EgressPolicy
from worker.fetch.errors import (
    BadLocation,
    ConnectError,
    DeadlineExceeded,
    EgressRefused,
    FetchError,
    NameNotResolved,
    RedirectLoop,
    TimeoutError_,
    TooLarge,
    TooManyRedirects,
    map_httpx_errors,
    name_error_class,
)
from worker.fetch.politeness import Gate
from worker.fetch.tlsinfo import connection_info
from worker.settings import Settings

logger = logging.getLogger(__name__)

__all__ = [
    "REDIRECT_CODES",
    "SPOOL_MEMORY",
    "FetchLimits",
    "FetchResult",
    "RetryPolicy",
    "fetch",
    "fetch_with_retries",
    "retry_delay",
]

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
SPOOL_MEMORY = 1024 * 1024  # bodies above this spill to a temp file
RETRY_STATUSES = frozenset({408, 429})

Clock = Callable[[], float]
Now = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class FetchLimits:
    max_body_bytes: int
    total_timeout: float
    max_redirects: int

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchLimits:
        return cls(
            max_body_bytes=settings.max_body_bytes,
            total_timeout=settings.total_timeout,
            max_redirects=settings.max_redirects,
        )


@dataclass
class FetchResult:
    """Every hop of one fetch, and what stopped it. Close it (or use `with`) to free spools."""

    url: str
    exchanges: list[HttpExchange]
    error: FetchError | None
    elapsed: float
    attempts: int = 1
    retry_reasons: list[str] = field(default_factory=list)

    @property
    def final(self) -> HttpExchange | None:
        return self.exchanges[-1] if self.exchanges else None

    @property
    def status_code(self) -> int | None:
        return self.final.status if self.final else None

    @property
    def final_url(self) -> str | None:
        return self.final.url if self.final else None

    @property
    def truncated(self) -> bool:
        return bool(self.final and self.final.truncated)

    def close(self) -> None:
        for exchange in self.exchanges:
            exchange.body.close()

    def __enter__(self) -> FetchResult:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _latin1(pairs: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    # Header bytes are not UTF-8 by contract; latin-1 maps every byte, so WARC writing
    # can encode them back to exactly the bytes on the wire.
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in pairs]


def _cap(value: float | None, remaining: float) -> float:
    return remaining if value is None else min(value, remaining)


def _peer_ip(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        addr = stream.get_extra_info("server_addr")
    except Exception:  # a transport without socket info: the IP is optional evidence
        return None
    if isinstance(addr, tuple) and addr:
        return str(addr[0])
    return None


def _truncation(error: FetchError | None) -> Truncation:
    """`WARC-Truncated`'s word for what cut a body: our size cap, a clock, or the network."""
    if isinstance(error, TooLarge):
        return "length"
    if isinstance(error, TimeoutError_):  # the wall-clock deadline or a read timeout
        return "time"
    return "disconnect" if error is not None else "unspecified"


def _as_deadline(exc: FetchError, url: str, clock: Clock, deadline: float) -> FetchError:
    """A timeout that fires because we shrank it to the remaining budget is the deadline."""
    if isinstance(exc, TimeoutError_) and clock() >= deadline - 0.05:
        new = DeadlineExceeded(f"wall-clock deadline passed ({exc})", url=url)
        new.__cause__ = exc
        return new
    return exc


def _raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    """`iter_raw()`, or the body a transport already read (httpx.Response(content=...)).

    Real transports always stream; a pre-read response only comes from mock transports,
    where httpx has already decoded any Content-Encoding, so we say so in the log.
    """
    if response.is_stream_consumed:
        try:
            content = response.content
        except httpx.ResponseNotRead:
            content = None  # consumed but not kept: let iter_raw raise StreamConsumed
        if content is not None:
            if response.headers.get("content-encoding"):
                logger.warning("pre-read response for %s: body stored decoded", response.url)
            yield content
            return
    yield from response.iter_raw()


@dataclass
class _Hop:
    exchange: HttpExchange | None
    error: FetchError | None
    location: str | None = None


def _one_hop(
    client: httpx.Client,
    url: str,
    jar: httpx.Cookies,
    limits: FetchLimits,
    deadline: float,
    *,
    proxied: bool,
    clock: Clock,
    now: Now,
    headers: Mapping[str, str] | None = None,
) -> _Hop:
    remaining = deadline - clock()
    if remaining <= 0:
        return _Hop(None, DeadlineExceeded("wall-clock deadline passed before request", url=url))
    t = client.timeout
    # Shrink every phase to the budget left, so a silent server cannot outlive the deadline.
    timeout = httpx.Timeout(
        connect=_cap(t.connect, remaining),
        read=_cap(t.read, remaining),
        write=_cap(t.write, remaining),
        pool=_cap(t.pool, remaining),
    )
    fetched_at = now()
    try:
        with map_httpx_errors(url, proxied=proxied):
            request = client.build_request("GET", url, timeout=timeout, headers=headers)
            jar.set_cookie_header(request)
            response = client.send(request, stream=True, follow_redirects=False)
    except FetchError as exc:
        if isinstance(exc, EgressRefused):
            exc.url = url  # raised by the pinning backend, which only knows host:port
        return _Hop(None, _as_deadline(exc, url, clock, deadline))

    # Not a `with`: the spool outlives this function as the exchange's body.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
    digest = hashlib.sha256()
    length = 0
    truncated = False
    error: FetchError | None = None
    try:
        jar.extract_cookies(response)
        peer_ip = None if proxied else _peer_ip(response)
        connection = connection_info(response)  # TLS through a CONNECT tunnel is the origin's
        try:
            with map_httpx_errors(url, proxied=proxied):
                for chunk in _raw_chunks(response):
                    room = limits.max_body_bytes - length
                    if len(chunk) > room:
                        chunk = chunk[:room]
                        truncated = True
                        error = TooLarge(
                            f"body larger than max_body_bytes={limits.max_body_bytes}", url=url
                        )
                    spool.write(chunk)
                    digest.update(chunk)
                    length += len(chunk)
                    if truncated:
                        break
                    if clock() >= deadline:
                        truncated = True
                        error = DeadlineExceeded(
                            f"wall-clock deadline ({limits.total_timeout}s) passed mid-body "
                            f"after {length} bytes",
                            url=url,
                        )
                        break
        except FetchError as exc:
            truncated = True
            error = _as_deadline(exc, url, clock, deadline)
        request = response.request
        location = None
        if response.status_code in REDIRECT_CODES:
            location = response.headers.get("location")
        reason = response.extensions.get("reason_phrase")
        if isinstance(reason, bytes):
            reason = reason.decode("latin-1")
        exchange = HttpExchange(
            url=str(request.url),
            method=request.method,
            request_headers=_latin1(request.headers.raw),
            http_version=response.http_version,
            status=response.status_code,
            reason=reason if isinstance(reason, str) else response.reason_phrase,
            response_headers=_latin1(response.headers.raw),
            body=cast(BinaryIO, spool),
            body_length=length,
            body_sha256=digest.hexdigest(),
            fetched_at=fetched_at,
            peer_ip=peer_ip,
            truncated=truncated,
            truncation=_truncation(error) if truncated else None,
            connection=connection,
        )
    except BaseException:
        spool.close()
        raise
    finally:
        response.close()  # an unfinished stream closes its connection instead of pooling it
    spool.seek(0)
    return _Hop(exchange, error, location)


def _jar_state(jar: httpx.Cookies) -> tuple[tuple[str, str, str, str], ...]:
    return tuple(sorted((c.domain, c.path, c.name, c.value or "") for c in jar.jar))


@timings.timed("fetch")  # each attempt (the retries' sleeps are `retry_wait`)
def fetch(
    url: str,
    client: httpx.Client,
    limits: FetchLimits,
    *,
    policy: EgressPolicy | None = None,
    clock: Clock = time.monotonic,
    now: Now = _utcnow,
    gate: Gate | None = None,
    cookies: CookieJar | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResult:
    """GET `url`, following redirects by hand; every hop recorded, checked and capped.
    `headers` go with every hop, over the client's defaults (a requisite's Referer, Accept).

    `policy` checks each hop before it is requested (scheme, and resolved addresses for
    direct connections); without one, only the scheme is checked here. `clock` measures
    the deadline and `elapsed`; `now` stamps `fetched_at`. `gate` (worker.fetch.politeness)
    holds a per-host slot around each hop; time spent waiting for it does not count
    against the deadline.
    """
    start = clock()
    deadline = start + limits.total_timeout
    exchanges: list[HttpExchange] = []
    error: FetchError | None = None
    jar = httpx.Cookies()  # per fetch: cookies set by a redirect hop are sent onwards
    for cookie in cookies or ():  # a login profile (worker.sites.profiles), copied: never mutated
        jar.jar.set_cookie(cookie)
    current = url
    seen: set[tuple[str, tuple[tuple[str, str, str, str], ...]]] = set()
    try:
        while True:
            # A redirect that comes back to the same URL with the same cookies will loop
            # forever; one that comes back after a cookie was set is a normal consent dance.
            key = (current, _jar_state(jar))
            if key in seen:
                error = RedirectLoop(f"redirect loop back to {current}", url=current)
                break
            seen.add(key)

            error = _egress_error(current, policy)
            if error is not None:
                break
            proxied = policy.is_proxied(current) if policy else False
            with _host_slot(gate, current) as waited:
                timings.add("host_turn", waited)
                deadline += waited  # politeness is our own delay, not the server's
                hop = _one_hop(
                    client,
                    current,
                    jar,
                    limits,
                    deadline,
                    proxied=proxied,
                    clock=clock,
                    now=now,
                    headers=headers,
                )
            if hop.exchange is not None:
                exchanges.append(hop.exchange)
            if hop.error is not None or hop.exchange is None or hop.location is None:
                error = hop.error
                break
            if len(exchanges) > limits.max_redirects:
                error = TooManyRedirects(
                    f"more than max_redirects={limits.max_redirects} redirects", url=current
                )
                break
            try:
                target = httpx.URL(hop.exchange.url).join(hop.location).copy_with(fragment=None)
                target.host  # noqa: B018 (decodes IDNA: "xn--" raises here, not at egress)
            except (httpx.InvalidURL, ValueError) as exc:  # IDNAError is a ValueError
                error = BadLocation(f"bad Location {hop.location!r}: {exc}", url=current)
                break
            logger.debug("redirect %s %s -> %s", hop.exchange.status, current, target)
            current = str(target)
    except BaseException:
        for exchange in exchanges:
            exchange.body.close()
        raise
    elapsed = clock() - start
    if error is not None:
        logger.info("fetch %s: %s (%s)", url, error.kind, error)
    return FetchResult(url=url, exchanges=exchanges, error=error, elapsed=elapsed)


@contextlib.contextmanager
def _host_slot(gate: Gate | None, url: str) -> Iterator[float]:
    if gate is None:
        yield 0.0
        return
    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, TypeError):
        host = ""
    with gate.slot(host) as waited:
        yield waited


def _egress_error(url: str, policy: EgressPolicy | None) -> FetchError | None:
    if policy is None:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ALLOWED_SCHEMES:
            return EgressRefused(f"scheme {scheme!r} is not allowed", url=url)
        return None
    decision = policy.check(url)
    if decision.allowed:
        return None
    if decision.unresolved:
        cls = name_error_class(decision.dns_errno)
        what = "name not resolved" if cls is NameNotResolved else "name lookup failed"
        return cls(f"{what}: {decision.reason}", url=url)
    return EgressRefused(decision.reason, url=url)


# --- retries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    max_retry_after: float = 60.0  # keep well under Celery's limits and Redis visibility

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(retries=settings.retries, backoff_base=settings.retry_backoff)


def _retryable(result: FetchResult) -> str | None:
    """Why this outcome is worth another try, or None when it is final."""
    err = result.error
    if err is not None:
        if isinstance(err, NameNotResolved):
            return None  # the name does not exist; asking again will not create it
        if isinstance(err, TimeoutError_ | ConnectError):
            return err.kind
        return None  # egress, TLS, protocol, redirects, too large: not transient
    status = result.status_code
    if status is not None and (status >= 500 or status in RETRY_STATUSES):
        return f"HTTP {status}"
    return None


def _retry_after(result: FetchResult, now: Now) -> float | None:
    final = result.final
    if final is None:
        return None
    value = next((v for k, v in final.response_headers if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now()).total_seconds())


def retry_delay(
    result: FetchResult,
    attempt: int,
    policy: RetryPolicy,
    *,
    rng: Callable[[], float] = random.random,
    now: Now = _utcnow,
) -> float | None:
    """Seconds to wait before retry number `attempt + 1`, or None if `result` is final."""
    if attempt >= policy.retries or _retryable(result) is None:
        return None
    after = _retry_after(result, now)
    if after is not None:
        return min(after, policy.max_retry_after)
    backoff = min(policy.backoff_cap, policy.backoff_base * 2**attempt)
    return backoff + rng() * policy.backoff_base  # jitter: spread retries from many workers


def fetch_with_retries(
    url: str,
    client: httpx.Client,
    limits: FetchLimits,
    *,
    policy: EgressPolicy | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    clock: Clock = time.monotonic,
    now: Now = _utcnow,
    gate: Gate | None = None,
    cookies: CookieJar | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResult:
    """`fetch`, retried on transient failures. Returns the last attempt; earlier ones closed."""
    retry = retry or RetryPolicy()
    reasons: list[str] = []
    attempt = 0
    while True:
        result = fetch(
            url,
            client,
            limits,
            policy=policy,
            clock=clock,
            now=now,
            gate=gate,
            cookies=cookies,
            headers=headers,
        )
        delay = retry_delay(result, attempt, retry, rng=rng, now=now)
        if delay is None:
            result.attempts = attempt + 1
            result.retry_reasons = reasons
            return result
        why = _retryable(result) or "?"
        reasons.append(why)
        logger.info("retrying %s in %.1fs (attempt %d: %s)", url, delay, attempt + 1, why)
        result.close()
        with timings.span("retry_wait"):
            sleep(delay)
        attempt += 1
