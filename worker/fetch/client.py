"""Build the one httpx.Client the fetcher uses.

- Proxies: HTTP_PROXY / HTTPS_PROXY / ALL_PROXY (http, https, socks5, socks5h) and NO_PROXY,
  lower case winning over upper case as in urllib. httpx 0.28 does map ALL_PROXY=socks5://
  to an `all://` mount itself, but only when no `transport=` is given — and we always give
  one (the DNS-pinning transport, or a test transport) — so we build the same mount table
  ourselves (`ProxyRoutes`) and the egress policy reads the same table.
- TLS: certifi's roots plus `settings.ca_bundle` plus SSL_CERT_FILE / SSL_CERT_DIR (added
  to, not instead of, certifi: an editor's corporate or test CA must not cost us the web).
- `follow_redirects=False`: `worker.fetch.fetcher` follows by hand, so every hop is recorded and
  egress-checked. HTTP/1.1 only (its raw headers are what WARC records hold).
- Cookies: the client's jar is disabled; `fetch` keeps a jar per fetch so one source's
  cookies never leak into another's request.
- `transport=` is the test seam: with it, every request goes to that transport (no proxy
  mounts, no pinning), exactly as httpx itself behaves.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import Cookie, CookieJar
from typing import Any

import certifi
import httpx
from httpx._utils import URLPattern  # private, but it is exactly httpx's mount matching

from worker.fetch.body import supported_encodings
from worker.fetch.egress import EgressPolicy, PinnedTransport
from worker.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

__all__ = [
    "ProxyRoutes",
    "build_client",
    "build_egress_policy",
    "build_ssl_context",
    "build_vantage",
    "proxy_routes_from_env",
]

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _env(environ: Mapping[str, str], name: str) -> str:
    # urllib's rule: the lower-case variable wins when both are set.
    return (environ.get(name.lower()) or environ.get(name.upper()) or "").strip()


@dataclass(frozen=True)
class ProxyRoutes:
    """httpx mount patterns → proxy URL, or None for "go direct" (NO_PROXY entries)."""

    table: dict[str, str | None] = field(default_factory=dict)

    def proxy_for(self, url: str | httpx.URL) -> str | None:
        """The proxy URL httpx will use for `url`, matching mounts in httpx's own order."""
        target = httpx.URL(url)
        for pattern in sorted(URLPattern(p) for p in self.table):
            if pattern.matches(target):
                return self.table[pattern.pattern]
        return None

    def is_proxied(self, url: str | httpx.URL) -> bool:
        return self.proxy_for(url) is not None

    def __bool__(self) -> bool:
        return any(v is not None for v in self.table.values())


def proxy_routes_from_env(environ: Mapping[str, str] | None = None) -> ProxyRoutes:
    """Read the standard proxy variables into a mount table (httpx's rules, env as a seam)."""
    env = os.environ if environ is None else environ
    table: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        value = _env(env, f"{scheme}_proxy")
        if not value:
            continue
        proxy = value if "://" in value else f"http://{value}"
        proxy_scheme = proxy.split("://", 1)[0].lower()
        if proxy_scheme not in PROXY_SCHEMES:
            raise SettingsError(
                f"bad setting {scheme.upper()}_PROXY: scheme {proxy_scheme!r} is not one of "
                f"{', '.join(PROXY_SCHEMES)}"
            )
        table[f"{scheme}://"] = proxy
    for host in (h.strip() for h in _env(env, "no_proxy").split(",")):
        if not host:
            continue
        if host == "*":
            return ProxyRoutes({})
        if "://" in host:
            table[host] = None
        elif _is_ipv6(host):
            table[f"all://[{host.strip('[]')}]"] = None
        elif _is_ip_or_localhost(host):
            table[f"all://{host}"] = None
        else:
            # curl's rule as httpx implements it: ".example.com" matches subdomains only,
            # "example.com" matches the name and its subdomains.
            table[f"all://*{host}"] = None
    return ProxyRoutes(table)


def _is_ipv6(host: str) -> bool:
    return ":" in host


def _is_ip_or_localhost(host: str) -> bool:
    return host.lower() == "localhost" or host.replace(".", "").isdigit()


def build_ssl_context(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> ssl.SSLContext:
    """certifi's roots + settings.ca_bundle + SSL_CERT_FILE/SSL_CERT_DIR; loud on a bad path."""
    env = os.environ if environ is None else environ
    ctx = ssl.create_default_context(cafile=certifi.where())
    extras: list[tuple[str, str, str]] = []  # (setting name, kind, path)
    if settings.ca_bundle:
        extras.append(("SOURCEVAULT_CA_BUNDLE", "file", str(settings.ca_bundle)))
    if env.get("SSL_CERT_FILE"):
        extras.append(("SSL_CERT_FILE", "file", env["SSL_CERT_FILE"]))
    if env.get("SSL_CERT_DIR"):
        extras.append(("SSL_CERT_DIR", "dir", env["SSL_CERT_DIR"]))
    for name, kind, path in extras:
        try:
            if kind == "file":
                ctx.load_verify_locations(cafile=path)
            else:
                ctx.load_verify_locations(capath=path)
        except (OSError, ssl.SSLError) as exc:
            msg = f"bad setting {name}: cannot load CA {kind} {path!r}: {exc}"
            raise SettingsError(msg) from exc
        logger.debug("added CA %s %s from %s", kind, path, name)
    return ctx


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def build_vantage(settings: Settings, proxy: str) -> tuple[httpx.Client, EgressPolicy]:
    """A client (and its policy) that sends every request through `proxy`, another
    vantage: the process's own proxy variables replaced, its CA settings kept."""
    environ = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    environ["ALL_PROXY"] = proxy
    policy = build_egress_policy(settings, environ)
    return build_client(settings, policy=policy, environ=environ), policy


def build_egress_policy(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> EgressPolicy:
    """The policy for `settings`, aware of which URLs the proxy table sends to a proxy."""
    routes = proxy_routes_from_env(environ)
    return EgressPolicy(settings.allow_networks, proxied=routes.is_proxied if routes else False)


def _redacted(table: dict[str, str | None]) -> dict[str, str | None]:
    """The mount table without proxy credentials, for logs."""
    out: dict[str, str | None] = {}
    for pattern, proxy in table.items():
        if proxy is not None:
            proxy = str(httpx.URL(proxy).copy_with(username=None, password=None))
        out[pattern] = proxy
    return out


class _NoCookies(CookieJar):
    """A jar that never stores anything: per-fetch jars live in worker.fetch.fetcher."""

    def set_cookie(self, cookie: Cookie) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


def default_headers(settings: Settings) -> dict[str, str]:
    """Browser-like request headers; Accept-Encoding lists only what content.py can decode."""
    return {
        "User-Agent": settings.user_agent,
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "ru,kk;q=0.9,en;q=0.8",
        "Accept-Encoding": ", ".join(supported_encodings()),
    }


class ManualRedirectClient(httpx.Client):
    """httpx's Client for a fetcher that follows redirects by hand (worker.fetch.fetcher).

    Even with `follow_redirects=False`, httpx builds the next request from every
    redirect's Location and raises, losing the response, when it cannot (`javascript:`,
    `http://[::1/`, an undecodable IDNA host): the hop was never recorded and the source
    got the wrong status. We never send that request, so it is not built; `fetch` reads
    the Location itself, the egress policy refuses a forbidden scheme (`refused`) and an
    unusable one is a `BadLocation` (`invalid`).
    """

    def _build_redirect_request(
        self, request: httpx.Request, response: httpx.Response
    ) -> httpx.Request:
        return request  # `response.next_request` is never used: worker.fetch.fetcher follows


def build_client(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    policy: EgressPolicy | None = None,
    environ: Mapping[str, str] | None = None,
) -> httpx.Client:
    """The fetcher's client. Without `transport`: proxies from env, DNS-pinned direct egress.

    `policy` defaults to `build_egress_policy(settings, environ)`; pass the same policy to
    `worker.fetch.fetcher.fetch`. `environ` defaults to os.environ (a seam for tests).
    """
    limits = httpx.Limits(
        max_connections=max(10, settings.concurrency * 2),
        max_keepalive_connections=max(5, settings.concurrency),
        keepalive_expiry=30.0,
    )
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.connect_timeout,
    )
    mounts: dict[str, httpx.BaseTransport | None] = {}
    if transport is None:
        ctx = build_ssl_context(settings, environ)
        routes = proxy_routes_from_env(environ)
        policy = policy or EgressPolicy(
            settings.allow_networks, proxied=routes.is_proxied if routes else False
        )
        transport = PinnedTransport(policy, ssl_context=ctx, limits=limits)
        for pattern, proxy in routes.table.items():
            # None = direct, which httpx resolves to the default (pinned) transport.
            mounts[pattern] = (
                None
                if proxy is None
                else httpx.HTTPTransport(
                    proxy=proxy, verify=ctx, limits=limits, http1=True, http2=False
                )
            )
        if routes:
            logger.info("proxies in use: %s", _redacted(routes.table))
    return ManualRedirectClient(
        transport=transport,
        mounts=mounts or None,
        trust_env=False,  # we read the environment ourselves, above
        follow_redirects=False,
        http1=True,
        http2=False,
        timeout=timeout,
        limits=limits,
        headers=default_headers(settings),
        cookies=_NoCookies(),
    )
