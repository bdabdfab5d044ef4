"""Blocked here, or dead everywhere? Another vantage decides (#18 §1).

Sites critical of the government are blocked inside Kazakhstan at times: from inside, such
a site is unreachable (a reset, a timeout, a TLS certificate that is not the site's), its
name does not resolve, or an ISP block page answers in its place (worker.judge.phrases
BLOCK_PAGE_PHRASES). Calling it `dead` would be false. With `SOURCEVAULT_VANTAGES` set
(named proxies: a VPS abroad, Tor), `second_look` fetches a source that looked like that
from here again through each vantage, in order, with the same limits, retries, per-host
gate and cookie profile, and the egress policy of a proxied path:
- a vantage that reads the page (`ok`) makes the source `censored`: its capture is the
  evidence archived (its requisites fetched through it too), and the report names what
  each path saw;
- a name that does not resolve is `dead` only when every vantage agrees; otherwise it is
  `unreachable` here, with what the others saw;
- anything else keeps what this path saw, with the vantages' views recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from schemas import Evidence, SourceStatus, VantageSeen
from worker.extract.page import ExtractedPage, ExtractionFailure
from worker.fetch.egress import EgressPolicy
from worker.fetch.fetcher import FetchLimits, FetchResult, RetryPolicy, fetch_with_retries
from worker.judge.evidence import evidence_for
from worker.runtime import Runtime
from worker.sites import registry as sites

__all__ = ["NetworkPath", "Reached", "looks_blocked", "second_look"]

log = logging.getLogger(__name__)

HERE = "here"
Page = ExtractedPage | ExtractionFailure | None
Extract = Callable[[FetchResult], Page]


@dataclass(frozen=True)
class NetworkPath:
    """A vantage's way out: its name, its client and the egress policy that goes with it."""

    name: str
    client: httpx.Client
    policy: EgressPolicy | None


@dataclass
class Reached:
    """A vantage that read the page: the result to archive, its page and evidence."""

    result: FetchResult
    page: Page
    evidence: Evidence
    path: NetworkPath


def looks_blocked(evidence: Evidence) -> bool:
    """What a block looks like from inside: unreachable, blocked (a 403/451, a block page,
    a challenge), or a name that does not resolve."""
    if evidence.status in (SourceStatus.UNREACHABLE, SourceStatus.BLOCKED):
        return True
    return evidence.status is SourceStatus.DEAD and evidence.http_status is None


def _seen(name: str, evidence: Evidence, *, used: bool = False) -> VantageSeen:
    return VantageSeen(
        vantage=name,
        status=evidence.status,
        http_status=evidence.http_status,
        reason=evidence.reason,
        used=used,
    )


def second_look(
    runtime: Runtime,
    prepared: sites.Prepared,
    evidence: Evidence,
    extract: Extract,
) -> Reached | None:
    """The first vantage that reads a source which looked blocked from here (`evidence`),
    or None: keep this path's look. Either way what each path saw is recorded: on the
    returned evidence, else on `evidence` itself (whose status may turn `unreachable`)."""
    if not runtime.vantages or not looks_blocked(evidence):
        return None
    settings = runtime.settings
    views = [_seen(HERE, evidence)]
    for name, (client, policy) in runtime.vantages.items():
        result = fetch_with_retries(
            prepared.fetch_url,
            client,
            FetchLimits.from_settings(settings),
            policy=policy,
            retry=RetryPolicy.from_settings(settings),
            gate=runtime.gate,
            cookies=prepared.cookies,
        )
        try:
            page = extract(result)
            # no soft-404 probe through a vantage: its sibling path is fetched from here
            seen = evidence_for(result, page, probe=None)
            sites.after_verify(prepared, seen)
        except BaseException:
            result.close()
            raise
        log.info(
            "%s through vantage %s: %s (%s)", prepared.fetch_url, name, seen.status, seen.reason
        )
        if seen.status is SourceStatus.OK:
            views.append(_seen(name, seen, used=True))
            seen.status = SourceStatus.CENSORED
            seen.reason = (
                f"answers through vantage {name!r}, not from here: "
                f"{evidence.status} ({evidence.reason})"
            )
            seen.vantages = views
            return Reached(result, page, seen, NetworkPath(name, client, policy))
        views.append(_seen(name, seen))
        result.close()
    evidence.vantages = views
    name_unknown_here = evidence.status is SourceStatus.DEAD and evidence.http_status is None
    if name_unknown_here and any(v.status is not SourceStatus.DEAD for v in views[1:]):
        others = "; ".join(f"{v.vantage}: {v.status} ({v.reason})" for v in views[1:])
        evidence.status = SourceStatus.UNREACHABLE
        evidence.reason = (
            f"the name does not resolve from here, but the vantages disagree: {others}"
        )
    return None
