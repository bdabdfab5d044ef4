"""Egress policy: the address table, proxies, and proof that refused hosts get no request.

No test here connects anywhere: names resolve through a stub, and connections go to a
recording transport or httpcore's MockBackend. Public addresses appear as data only.
"""

from __future__ import annotations

import socket
import ssl

import httpcore
import httpx
import pytest

from worker.fetch.egress import EgressPolicy, PinnedTransport, PinningBackend, address_problem
from worker.fetch.errors import EgressRefused, NameNotResolved
from worker.fetch.fetcher import FetchLimits, fetch

NAMES = {
    "intranet.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "loop6.test": ["::1"],
    "ula.test": ["fd00::1"],
    "cgnat.test": ["100.64.1.1"],
    "multicast.test": ["224.0.0.1"],
    "zero.test": ["0.0.0.0"],
    "reserved.test": ["240.0.0.1"],
    "mapped.test": ["::ffff:10.0.0.1"],
    "mixed.test": ["93.184.216.34", "10.0.0.5"],
    "public.test": ["93.184.216.34"],
    "public6.test": ["2606:2800:220:1:248:1893:25c8:1946"],
    "lan.test": ["192.168.1.10"],
}


def stub_resolver(host: str, port: int) -> list[str]:
    try:
        return list(NAMES[host])
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


class RecordingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, content=b"ok")


@pytest.mark.parametrize(
    ("url", "allowed", "why"),
    [
        ("http://intranet.test/", False, "private"),
        ("http://metadata.test/latest/meta-data/", False, "link-local"),
        ("http://loop6.test/", False, "loopback"),
        ("http://ula.test/", False, "private"),
        ("http://cgnat.test/", False, "carrier-grade NAT"),
        ("http://multicast.test/", False, "multicast"),
        ("http://zero.test/", False, "unspecified"),
        ("http://reserved.test/", False, "reserved"),
        ("http://mapped.test/", False, "private"),
        ("http://mixed.test/", False, "private"),
        ("http://127.0.0.1:8080/", False, "loopback"),
        ("http://[::1]/", False, "loopback"),
        ("http://169.254.169.254/", False, "link-local"),
        ("https://public.test/a", True, "allowed"),
        ("https://public6.test/a", True, "allowed"),
        ("ftp://public.test/", False, "scheme"),
        ("file:///etc/passwd", False, "scheme"),
        ("javascript:alert(1)", False, "scheme"),
    ],
)
def test_policy_table(url: str, allowed: bool, why: str) -> None:
    decision = EgressPolicy([], resolver=stub_resolver).check(url)
    assert decision.allowed is allowed
    assert why in decision.reason


def test_allow_networks_open_a_hole() -> None:
    policy = EgressPolicy(["10.0.0.0/8", "fd00::/8"], resolver=stub_resolver)
    assert policy.check("http://intranet.test/").allowed
    assert policy.check("http://ula.test/").allowed
    assert not policy.check("http://lan.test/").allowed


def test_unresolved_is_not_a_refusal() -> None:
    decision = EgressPolicy([], resolver=stub_resolver).check("http://nx.test/")
    assert not decision.allowed and decision.unresolved


def test_proxied_checks_scheme_only() -> None:
    def never(host: str, port: int) -> list[str]:
        raise AssertionError("a proxied URL must not be resolved locally")

    policy = EgressPolicy([], resolver=never, proxied=True)
    assert policy.proxied
    decision = policy.check("http://intranet.test/")
    assert decision.allowed and decision.proxied and decision.addresses == []
    assert not policy.check("ftp://intranet.test/").allowed


def test_proxied_predicate_per_url() -> None:
    policy = EgressPolicy([], resolver=stub_resolver, proxied=lambda url: "intranet" not in url)
    assert policy.check("http://metadata.test/").allowed  # via proxy
    assert not policy.check("http://intranet.test/").allowed  # NO_PROXY: direct, checked


def test_address_problem_accepts_public() -> None:
    import ipaddress

    assert address_problem(ipaddress.ip_address("93.184.216.34")) is None


@pytest.mark.parametrize("host", [h for h, ips in NAMES.items() if "public" not in h])
def test_refused_hosts_get_no_request(host: str) -> None:
    transport = RecordingTransport()
    policy = EgressPolicy([], resolver=stub_resolver)
    with httpx.Client(transport=transport) as client:
        result = fetch(f"http://{host}/x", client, FetchLimits(1000, 5, 3), policy=policy)
    assert isinstance(result.error, EgressRefused)
    assert result.exchanges == []
    assert transport.requests == []


def test_redirect_to_private_address_is_refused_before_the_hop() -> None:
    transport_seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        transport_seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://metadata.test/latest"})

    policy = EgressPolicy([], resolver=stub_resolver)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = fetch("https://public.test/a", client, FetchLimits(1000, 5, 3), policy=policy)
    assert isinstance(result.error, EgressRefused)
    assert transport_seen == ["https://public.test/a"]
    assert len(result.exchanges) == 1  # the redirect itself is kept as evidence
    result.close()


# --- DNS pinning backend ----------------------------------------------------------------


class RecordingBackend(httpcore.MockBackend):
    def __init__(self, buffer: list[bytes]) -> None:
        super().__init__(buffer)
        self.connects: list[tuple[str, int]] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connects.append((host, port))
        return super().connect_tcp(host, port, timeout, local_address, socket_options)


RESPONSE = [b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n\r\n", b"hi"]


def _pinned(policy: EgressPolicy, backend: httpcore.NetworkBackend) -> httpx.Client:
    transport = PinnedTransport(
        policy,
        ssl_context=ssl.create_default_context(),
        limits=httpx.Limits(),
        network_backend=backend,
    )
    return httpx.Client(transport=transport)


def test_pinned_transport_connects_to_the_checked_ip_with_hostname_in_host() -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["93.184.216.34"]

    backend = RecordingBackend(RESPONSE)
    with _pinned(EgressPolicy([], resolver=resolver), backend) as client:
        response = client.get("http://public.test/page")
    assert response.status_code == 200 and response.content == b"hi"
    assert backend.connects == [("93.184.216.34", 80)]  # the IP, not a second lookup
    assert calls == ["public.test"]
    assert response.request.headers["host"] == "public.test"


def test_pinned_transport_refuses_rebinding_without_connecting() -> None:
    answers = iter([["93.184.216.34"], ["10.0.0.5"]])  # first answer public, then private

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    policy = EgressPolicy([], resolver=rebinding)
    assert policy.check("http://rebind.test/").allowed  # the pre-check sees the public IP
    backend = RecordingBackend(RESPONSE)
    with _pinned(policy, backend) as client, pytest.raises(EgressRefused):
        client.get("http://rebind.test/")  # the connect-time check sees the private one
    assert backend.connects == []


def test_pinning_backend_unresolved_maps_to_name_not_resolved() -> None:
    backend = RecordingBackend(RESPONSE)
    policy = EgressPolicy([], resolver=stub_resolver)
    with _pinned(policy, backend) as client:
        # no pre-check: call fetch without a policy so only the backend decides
        result = fetch("http://nx.test/", client, FetchLimits(1000, 5, 3))
    assert isinstance(result.error, NameNotResolved)
    assert backend.connects == []


def test_pinning_backend_is_an_httpcore_backend() -> None:
    assert isinstance(PinningBackend(EgressPolicy([])), httpcore.NetworkBackend)
