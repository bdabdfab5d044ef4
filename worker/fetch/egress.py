"""Egress policy: which URLs the worker may connect to.

A digest is untrusted input: a footnote (or a redirect) pointing at 127.0.0.1, an
intranet host or the cloud metadata service (169.254.169.254) must never be fetched.
`EgressPolicy.check(url)` refuses non-http(s) schemes and names that resolve to anything
that is not a global unicast address — loopback, RFC 1918 / ULA private, link-local,
CGNAT 100.64/10, multicast, reserved, unspecified; IPv4 and IPv6 — unless the address
sits inside `allow_networks` (intranets, tests).

Through a proxy, name resolution is the proxy's business, so the policy never resolves a
proxied name; `proxied` says which URLs go through a proxy. What it still refuses there,
without any lookup: IP literals that are not public (in every spelling a resolver would
accept: `127.1`, `0x7f.0.0.1`, `2130706433`, `[::1]`, `[::ffff:10.0.0.1]`) and the
well-known names that mean "this machine" or "the cloud metadata service"
(`METADATA_NAMES`, `localhost` and `*.localhost`), because a proxy would happily fetch
its own loopback or its cloud's credentials for us and we would archive them.

DNS rebinding: a check that resolves, followed by a connect that resolves again, can be
fooled by a name whose answer changes in between. `PinningBackend` closes that gap for
direct connections: it is the httpcore network backend of the direct transport
(see `worker.fetch.client`), and it resolves, checks and connects to the *checked*
address in one step, while TLS SNI and the Host header keep the hostname.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpcore
import httpx

from worker.fetch.errors import EgressRefused

logger = logging.getLogger(__name__)

__all__ = [
    "ALLOWED_SCHEMES",
    "METADATA_NAMES",
    "EgressDecision",
    "EgressPolicy",
    "PinnedTransport",
    "PinningBackend",
    "Resolver",
    "address_problem",
    "ip_literal",
    "special_name_problem",
    "system_resolver",
]

Resolver = Callable[[str, int], list[str]]
"""(host, port) -> IP address strings; raises socket.gaierror when the name does not exist."""

ALLOWED_SCHEMES = frozenset({"http", "https"})
# Names that reach a cloud's instance metadata (credentials) from inside that cloud.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def system_resolver(host: str, port: int) -> list[str]:
    """The OS resolver, deduplicated, in the order getaddrinfo returned them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


def ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells, if it is an IP literal in any form a resolver accepts.

    `ipaddress` takes only the canonical forms; `inet_aton` also takes the legacy ones
    (`127.1`, `0x7f.1`, `017700000001`, `2130706433`) that getaddrinfo, curl and most
    proxies still resolve to an address without asking DNS.
    """
    bare = host.strip("[]").split("%", 1)[0]  # drop brackets and an IPv6 zone id
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if bare and all(c in "0123456789abcdefxABCDEFX." for c in bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def special_name_problem(host: str) -> str | None:
    """Why `host` names this machine or a metadata service, or None."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback name (RFC 6761)"
    if name in METADATA_NAMES:
        return "a cloud metadata service name"
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address, or None if it is one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_problem(ip.ipv4_mapped)  # ::ffff:10.0.0.1 is 10.0.0.1
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "carrier-grade NAT (100.64/10)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    ]
    return next((why for bad, why in checks if bad), None)


@dataclass(frozen=True)
class EgressDecision:
    """The outcome of `EgressPolicy.check`. `addresses` are the checked IPs (empty if proxied).

    `unresolved=True` means the name did not resolve: not a policy refusal; `dns_errno`
    is getaddrinfo's code, which tells NXDOMAIN (a fact about the name) from a failed
    lookup (`worker.fetch.errors.name_error_class`).
    """

    allowed: bool
    reason: str
    addresses: list[str] = field(default_factory=list)
    proxied: bool = False
    unresolved: bool = False
    dns_errno: int | None = None


class EgressPolicy:
    """Scheme + address policy for outgoing fetches.

    `proxied` is either a bool (every URL goes through a proxy, or none does) or a
    predicate url -> bool (NO_PROXY exempts some hosts); `worker.fetch.client` builds it
    from the same proxy table it mounts on the client.
    """

    def __init__(
        self,
        allow_networks: Iterable[str] = (),
        resolver: Resolver = system_resolver,
        *,
        proxied: bool | Callable[[str], bool] = False,
    ) -> None:
        self.allow_networks = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
        self.resolver = resolver
        self._proxied = proxied

    def is_proxied(self, url: str) -> bool:
        if callable(self._proxied):
            return self._proxied(url)
        return self._proxied

    @property
    def proxied(self) -> bool:
        """True when a proxy is configured at all (some URLs may still go direct)."""
        return bool(self._proxied)

    def address_allowed(self, address: str) -> tuple[bool, str]:
        """(allowed, reason) for one IP address string."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            return False, f"{address!r} is not an IP address"
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return True, f"{ip} is inside allow_networks"
        problem = address_problem(ip)
        if problem is not None:
            return False, f"{ip} is {problem}"
        return True, f"{ip} is public"

    def check(self, url: str) -> EgressDecision:
        """Decide whether `url` may be fetched. Never connects; resolves at most once."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            return EgressDecision(False, f"invalid URL: {exc}")
        if parsed.scheme not in ALLOWED_SCHEMES:
            return EgressDecision(False, f"scheme {parsed.scheme!r} is not allowed")
        try:
            host = parsed.host
        except ValueError as exc:  # an IDNA label httpx cannot decode
            return EgressDecision(False, f"invalid URL host: {exc}")
        if not host:
            return EgressDecision(False, "URL has no host")
        if self.is_proxied(url):
            return self.check_proxied_host(host)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return self.check_host(host, port)

    def check_proxied_host(self, host: str) -> EgressDecision:
        """A host the proxy will resolve: refuse what needs no lookup to be known bad."""
        literal = ip_literal(host)
        if literal is not None:
            ok, why = self.address_allowed(str(literal))
            if not ok:
                return EgressDecision(False, f"{host} → {why} (refused before the proxy)")
            return EgressDecision(True, f"via proxy: {why}", proxied=True)
        special = special_name_problem(host)
        if special is not None:
            return EgressDecision(False, f"{host} is {special} (refused before the proxy)")
        return EgressDecision(True, "via proxy: the proxy resolves and connects", proxied=True)

    def check_host(self, host: str, port: int) -> EgressDecision:
        """Resolve `host` (unless it is an IP literal) and check every address."""
        literal = ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = self.resolver(host, port)
            except socket.gaierror as exc:
                return EgressDecision(
                    False, f"{host} does not resolve: {exc}", unresolved=True, dns_errno=exc.errno
                )
            except UnicodeError as exc:  # a label too long for IDNA: no such name can exist
                return EgressDecision(
                    False,
                    f"{host} does not resolve: {exc}",
                    unresolved=True,
                    dns_errno=socket.EAI_NONAME,
                )
            if not addresses:
                return EgressDecision(False, f"{host} resolved to nothing", unresolved=True)
        # Every address must pass: a name with one public and one private answer is the
        # classic rebinding set-up, and we cannot know which one a connect would pick.
        for address in addresses:
            ok, why = self.address_allowed(address)
            if not ok:
                return EgressDecision(False, f"{host} → {why}", addresses)
        return EgressDecision(True, f"{host} → {', '.join(addresses)} allowed", addresses)


class PinningBackend(httpcore.SyncBackend):
    """httpcore network backend that resolves, checks and connects in one step.

    httpcore hands us the URL's hostname; we connect to an address the policy just
    approved, so a second DNS answer can never slip in. TLS is started later by httpcore
    with server_hostname = the original hostname, so certificates are still checked
    against the name.
    """

    def __init__(self, policy: EgressPolicy, inner: httpcore.NetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner  # the backend that really connects (a test seam); None = sockets

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        decision = self.policy.check_host(host, port)
        if decision.unresolved:
            # Keep socket.gaierror and its code on the chain: fetch_errors maps it.
            try:
                raise socket.gaierror(decision.dns_errno or socket.EAI_FAIL, decision.reason)
            except socket.gaierror as exc:
                raise httpcore.ConnectError(decision.reason) from exc
        if not decision.allowed:
            raise EgressRefused(decision.reason, url=f"//{host}:{port}")
        last: Exception | None = None
        for address in decision.addresses:
            try:
                if self.inner is not None:
                    return self.inner.connect_tcp(
                        address, port, timeout, local_address, socket_options
                    )
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                logger.debug("connect to %s (%s) port %s failed: %s", host, address, port, exc)
                last = exc
        assert last is not None  # addresses is never empty when allowed
        raise last


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own HTTPTransport, with `PinningBackend` as the connection pool's backend.

    httpx does not expose `network_backend`, so we rebuild the pool it made with the same
    settings plus our backend; `_pool` is the attribute `handle_request` uses (httpx 0.28,
    covered by tests/unit/test_egress.py).
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        ssl_context: ssl.SSLContext,
        limits: httpx.Limits,
        network_backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, http1=True, http2=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=PinningBackend(policy, inner=network_backend),
        )
        self.policy = policy
