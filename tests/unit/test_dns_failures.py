"""Only NXDOMAIN is a dead name: SERVFAIL, a resolver timeout or no address is `unreachable`.

The resolver is the egress policy's seam; each test's resolver raises what getaddrinfo
raises for that DNS answer. Both places a name is resolved are covered: the policy's
check before a hop, and the DNS-pinning connection backend.
"""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from schemas import SourceStatus
from worker.fetch.egress import EgressPolicy, PinnedTransport, PinningBackend
from worker.fetch.errors import NameNotResolved, ResolverFailure, map_httpx_errors
from worker.fetch.fetcher import FetchLimits, RetryPolicy, fetch_with_retries
from worker.judge.network import NETWORK_ERROR_KINDS
from worker.judge.rules import classify

ANSWERS = {
    "nxdomain": (socket.EAI_NONAME, "Name or service not known"),
    "servfail": (socket.EAI_AGAIN, "Temporary failure in name resolution"),
    "broken": (socket.EAI_FAIL, "Non-recoverable failure in name resolution"),
    "nodata": (socket.EAI_NODATA, "No address associated with hostname"),
}


def resolver_saying(answer: str):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        errno, message = ANSWERS[answer]
        raise socket.gaierror(errno, message)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def _fetch(answer: str):
    resolver = resolver_saying(answer)
    policy = EgressPolicy([], resolver=resolver)
    transport = PinnedTransport(
        policy, ssl_context=ssl.create_default_context(), limits=httpx.Limits()
    )
    with httpx.Client(transport=transport) as client:
        result = fetch_with_retries(
            "https://gone.test/a",
            client,
            FetchLimits(1000, 5, 3),
            policy=policy,
            retry=RetryPolicy(retries=2, backoff_base=0.0),
            sleep=lambda _s: None,
        )
    result.close()
    return result, resolver.calls


def test_nxdomain_is_dead_and_not_retried() -> None:
    result, calls = _fetch("nxdomain")
    assert isinstance(result.error, NameNotResolved)
    assert classify(result)[0] is SourceStatus.DEAD
    assert len(calls) == 1


@pytest.mark.parametrize("answer", ["servfail", "broken", "nodata"])
def test_a_failed_lookup_is_unreachable_and_retried(answer: str) -> None:
    result, calls = _fetch(answer)
    assert isinstance(result.error, ResolverFailure)
    assert not isinstance(result.error, NameNotResolved)
    assert classify(result)[0] is SourceStatus.UNREACHABLE
    assert len(calls) == 3  # the first try and two retries
    assert result.error.kind in NETWORK_ERROR_KINDS  # "our network is down" still applies


@pytest.mark.parametrize(
    ("answer", "cls"), [("nxdomain", NameNotResolved), ("servfail", ResolverFailure)]
)
def test_the_pinning_backend_keeps_the_resolver_code(answer: str, cls: type) -> None:
    # The second place a name is resolved: the connection backend (DNS pinning).
    policy = EgressPolicy([], resolver=resolver_saying(answer))
    transport = PinnedTransport(
        policy, ssl_context=ssl.create_default_context(), limits=httpx.Limits()
    )
    assert isinstance(transport._pool._network_backend, PinningBackend)

    with (
        httpx.Client(transport=transport) as client,
        pytest.raises(cls),
        map_httpx_errors("https://gone.test/a"),
    ):
        client.get("https://gone.test/a")
