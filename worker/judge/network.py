"""Never call a link dead because our own network is down.

If no source of a run got any HTTP answer and the failures are the kind a missing
network causes (names that do not resolve, refused or timed-out connections, a proxy
that cannot connect), the run's `dead` verdicts from name resolution are not evidence
about the links: they become `unreachable`, and the digest gets `network_unavailable`.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas import Evidence, Problem, ProblemCode, SourceStatus
from worker.judge.statuses import NEVER_FETCHED

NETWORK_ERROR_KINDS = frozenset(
    {
        "name_not_resolved",
        "resolver_failure",
        "connect_error",
        "connection_refused",
        "connect_timeout",
        "proxy_error",
        "tls_error",
    }
)


def fetched_count(evidence: Iterable[Evidence]) -> int:
    return sum(1 for e in evidence if e.status not in NEVER_FETCHED)


def network_unavailable(evidence: Iterable[Evidence]) -> bool:
    fetched = [e for e in evidence if e.status not in NEVER_FETCHED]
    if not fetched:
        return False
    if any(e.http_status is not None for e in fetched):
        return False
    return all(e.error_kind in NETWORK_ERROR_KINDS for e in fetched if e.error_kind)


def downgrade(evidence: Evidence) -> Evidence:
    """The same facts, with a name-resolution `dead` turned into `unreachable`."""
    if evidence.status is SourceStatus.DEAD and evidence.error_kind in NETWORK_ERROR_KINDS:
        return evidence.model_copy(
            update={
                "status": SourceStatus.UNREACHABLE,
                "reason": f"network unavailable ({evidence.reason})",
            }
        )
    return evidence


def network_problem(count: int) -> Problem:
    return Problem(
        code=ProblemCode.NETWORK_UNAVAILABLE,
        message=(
            f"none of the {count} fetched sources answered and every failure was a network "
            "failure (names not resolved, connections failed): our network, not the links, "
            "is down; the sources are reported unreachable, not dead"
        ),
    )
