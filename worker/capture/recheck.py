"""Re-check archived sources on a schedule: health with hysteresis, history, content drift.

    due_sources       which canonical URLs are due (seeding health from the first capture)
    recheck_source    fetch → extract → verify (the same pieces as a first capture),
                      compare the text with the first capture's, take a new capture when it
                      changed (or the status did), record the check and step the health
    health_report     the schemas.SourceHealth a report shows, history included

Health follows InternetArchiveBot: one failure makes a source `suspect` at once; it is
declared `dead` only after three failures at least three days apart (a failure sooner
than that after the last counted one is recorded but not counted); any success resets.
`login_wall` and `blocked` say nothing about whether the page still exists: they are
recorded, and leave the state alone. Every function takes `now` (the clock seam), so
tests walk a simulated calendar.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas import CheckKind, Evidence, HealthState, SourceCheck, SourceHealth, SourceStatus
from worker.custody import events as custody_events
from worker.judge.statuses import FAILING, HEALTHY, INCONCLUSIVE, NEVER_FETCHED
from worker.settings import Settings
from worker.store.models import (
    CaptureJob,
    CaptureRow,
    EvidenceRow,
    JobStatus,
    SourceCheckRow,
    SourceHealthRow,
    as_utc,
)

if TYPE_CHECKING:
    from worker.capture import steps as capture_steps
    from worker.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadRule:
    """When failing re-checks make a source dead: `failures` counted failures, each at
    least `spacing` after the last counted one (a flaky afternoon is one failure)."""

    failures: int = 3
    spacing: dt.timedelta = dt.timedelta(days=3)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeadRule:
        return cls(
            failures=settings.dead_after_failures,
            spacing=dt.timedelta(days=settings.dead_after_spacing_days),
        )


MAX_DIFF_CHARS = 20_000
DIFF_WIDTH = 100


# --- hysteresis ---------------------------------------------------------------------------


def step_health(
    health: SourceHealthRow,
    status: SourceStatus,
    now: dt.datetime,
    rule: DeadRule = DeadRule(),
) -> bool:
    """Move `health` by one check; True when the check is a failure counted towards dead."""
    health.last_checked_at = now
    health.last_status = status.value
    if status in HEALTHY:
        health.state = HealthState.HEALTHY
        health.last_seen_healthy = now
        health.first_seen_failing = None
        health.consecutive_failures = 0
        health.counted_failures = 0
        health.last_counted_failure = None
        health.declared_dead_at = None
        return False
    if status not in FAILING:
        return False  # login wall, blocked: the page may be alive behind it
    health.consecutive_failures = (health.consecutive_failures or 0) + 1
    if health.first_seen_failing is None:
        health.first_seen_failing = now
    last = as_utc(health.last_counted_failure)
    counted = last is None or now - last >= rule.spacing
    if counted:
        health.counted_failures = (health.counted_failures or 0) + 1
        health.last_counted_failure = now
    if health.counted_failures >= rule.failures:
        if health.state != HealthState.DEAD:
            health.declared_dead_at = now
        health.state = HealthState.DEAD
    else:
        health.state = HealthState.SUSPECT
    return counted


def next_check(state: str, now: dt.datetime, settings: Settings) -> dt.datetime:
    """Failing sources daily, healthy (and already declared dead) ones weekly, by default."""
    days = (
        settings.recheck_failing_days
        if state == HealthState.SUSPECT
        else settings.recheck_healthy_days
    )
    return now + dt.timedelta(days=days)


# --- drift --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    similarity: float
    changed: bool
    diff: str | None


def _normalise(text: str) -> str:
    """Whitespace and empty lines are layout, not content: they never count as drift."""
    lines = (re.sub(r"\s+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _lines(text: str) -> list[str]:
    out: list[str] = []
    for para in _normalise(text).splitlines():
        out.extend(textwrap.wrap(para, DIFF_WIDTH) or [""])
    return out


def compare_text(baseline: str, text: str, threshold: float) -> Drift:
    """rapidfuzz ratio (0-100) and a unified diff, wrapped so a reader can follow it."""
    a, b = _normalise(baseline), _normalise(text)
    similarity = round(float(fuzz.ratio(a, b)), 2)
    changed = similarity < threshold
    diff = None
    if a != b:
        lines = difflib.unified_diff(
            _lines(baseline), _lines(text), "first capture", "this check", n=1, lineterm=""
        )
        diff = "\n".join(lines)
        if len(diff) > MAX_DIFF_CHARS:
            diff = diff[:MAX_DIFF_CHARS] + "\n… (diff cut)"
    return Drift(similarity, changed, diff)


# --- seeding and due sources --------------------------------------------------------------


def _first_capture(
    session: Session, url: str
) -> tuple[CaptureJob, Evidence, CaptureRow | None] | None:
    row = session.execute(
        select(CaptureJob, EvidenceRow, CaptureRow)
        .join(EvidenceRow, EvidenceRow.job_id == CaptureJob.id)
        .outerjoin(CaptureRow, CaptureRow.job_id == CaptureJob.id)
        .where(CaptureJob.canonical_url == url, CaptureJob.status == JobStatus.DONE)
        .order_by(CaptureJob.finished_at, CaptureJob.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    job, ev_row, cap = row
    return job, Evidence.model_validate(ev_row.data), cap


def _first_check(job: CaptureJob, evidence: Evidence, cap: CaptureRow | None) -> SourceCheckRow:
    when = as_utc(cap.captured_at if cap is not None else job.finished_at) or dt.datetime.now(
        dt.UTC
    )
    return SourceCheckRow(
        canonical_url=job.canonical_url,
        checked_at=when,
        kind=CheckKind.CAPTURE.value,
        status=evidence.status.value,
        http_status=evidence.http_status,
        reason=evidence.reason,
        capture_id=cap.id if cap is not None else None,
    )


def ensure_health(session: Session, url: str, settings: Settings) -> SourceHealthRow | None:
    """The health row of `url`, created from its first capture if it has none yet."""
    health = session.scalar(select(SourceHealthRow).where(SourceHealthRow.canonical_url == url))
    if health is not None:
        return health
    first = _first_capture(session, url)
    if first is None:
        return None
    job, evidence, cap = first
    check = _first_check(job, evidence, cap)
    health = SourceHealthRow(canonical_url=url, state=HealthState.HEALTHY.value)
    check.counted = step_health(
        health, evidence.status, check.checked_at, DeadRule.from_settings(settings)
    )
    health.next_check_at = next_check(health.state, check.checked_at, settings)
    if evidence.status in HEALTHY and evidence.text:
        health.baseline_text = evidence.text
    session.add_all([health, check])
    session.flush()
    return health


def checkable_urls(session: Session, run_id: str | None = None) -> list[str]:
    """Canonical URLs that were fetched (never the not_public, invalid or refused ones)."""
    query = (
        select(CaptureJob.canonical_url)
        .join(EvidenceRow, EvidenceRow.job_id == CaptureJob.id)
        .where(CaptureJob.status == JobStatus.DONE)
        .where(EvidenceRow.status.not_in([s.value for s in NEVER_FETCHED]))
        .distinct()
    )
    if run_id is not None:
        query = query.where(CaptureJob.run_id == run_id)
    return sorted(session.scalars(query))


def due_sources(
    session: Session, settings: Settings, now: dt.datetime, *, limit: int | None = None
) -> list[SourceHealthRow]:
    """Health rows due for a re-check at `now` (seeding any source not seen before)."""
    known = set(session.scalars(select(SourceHealthRow.canonical_url)))
    for url in checkable_urls(session):
        if url not in known:
            ensure_health(session, url, settings)
    session.commit()
    query = (
        select(SourceHealthRow)
        .where(SourceHealthRow.next_check_at <= now)
        .order_by(SourceHealthRow.next_check_at, SourceHealthRow.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# --- one re-check -------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    canonical_url: str
    status: SourceStatus
    state: HealthState
    counted: bool
    changed: bool
    similarity: float | None
    captured: bool


def recheck_source(runtime: Runtime, url: str, *, now: dt.datetime | None = None) -> CheckResult:
    """Fetch, extract and verify `url` again, compare, maybe capture, record, step health."""
    # The capture steps themselves (worker.capture.steps, the soft-404 probe included), so
    # a re-check sees exactly what a first capture would and can never drift from it.
    from worker.capture import steps as capture_steps

    settings = runtime.settings
    now = now or runtime.clock()
    with runtime.writing() as session:
        health = ensure_health(session, url, settings)
        session.commit()
        baseline = health.baseline_text if health is not None else None
        last_status = health.last_status if health is not None else None
    seen = capture_steps.observe(runtime, url, now=now)
    evidence = seen.evidence
    try:
        drift = None
        if evidence.status in HEALTHY and evidence.text and baseline:
            drift = compare_text(baseline, evidence.text, settings.drift_threshold)
        status_changed = last_status is not None and last_status != evidence.status.value
        first_good = evidence.status in HEALTHY and not baseline and bool(evidence.text)
        written = None
        if (drift is not None and drift.changed) or status_changed or first_good:
            written = capture_steps.write_records(runtime, seen)
        capture = written.capture if written is not None else None
    finally:
        seen.close()
    with runtime.writing() as session:
        health = ensure_health(session, url, settings)
        if health is None:  # a URL no run ever captured: start its history here
            health = SourceHealthRow(canonical_url=url, state=HealthState.HEALTHY.value)
            session.add(health)
        counted = step_health(health, evidence.status, now, DeadRule.from_settings(settings))
        health.next_check_at = next_check(health.state, now, settings)
        if first_good:
            health.baseline_text = evidence.text
        if drift is not None:
            health.changed = drift.changed
            health.similarity = drift.similarity
        check = SourceCheckRow(
            canonical_url=url,
            checked_at=now,
            kind=CheckKind.RECHECK.value,
            status=evidence.status.value,
            http_status=evidence.http_status,
            reason=evidence.reason,
            counted=counted,
            similarity=drift.similarity if drift else None,
            changed=bool(drift and drift.changed),
            diff=drift.diff if drift and drift.changed else None,
        )
        if capture is not None:
            check.warc_file = capture.warc_file
            check.offset = capture.offset
            check.end_offset = capture.end_offset
            check.record_id = capture.record_id
            check.sha256 = capture.sha256
        session.add(check)
        if written is not None:
            written.add_rows(session, url)
        # the source's custody log says it was looked at again, and what was kept
        entry = _recheck_entry(check, state=health.state, written=written)
        custody_events.record_recheck(session, url, entry, clock=runtime.clock)
        session.commit()
        state = HealthState(health.state)
    log.info("re-checked %s: %s, %s", url, evidence.status.value, state.value)
    if settings.fallback_lookup and (
        state is not HealthState.HEALTHY or evidence.status in INCONCLUSIVE
    ):
        _fallbacks_once(runtime, url, now)
    return CheckResult(
        canonical_url=url,
        status=evidence.status,
        state=state,
        counted=counted,
        changed=bool(drift and drift.changed),
        similarity=drift.similarity if drift else None,
        captured=capture is not None,
    )


def _recheck_entry(
    check: SourceCheckRow, *, state: str, written: capture_steps.Written | None
) -> dict[str, Any]:
    stored = None
    if check.warc_file is not None and written is not None:
        stored = {
            "warc_file": check.warc_file,
            "offset": check.offset,
            "record_id": check.record_id,
            "payload_sha256": check.sha256,
            "requisites": [custody_events.requisite_ref(r) for r in written.requisites],
            "requisites_missing": [m.as_dict() for m in written.missing],
        }
    return {
        "checked_at": check.checked_at.isoformat(),
        "status": check.status,
        "http_status": check.http_status,
        "reason": check.reason,
        "health": state,
        "changed": check.changed,
        "similarity": check.similarity,
        "stored": stored,
    }


def _fallbacks_once(runtime: Runtime, url: str, now: dt.datetime) -> None:
    """Look for copies in other archives the first time a source stops being readable."""
    from worker.capture import fallbacks

    with runtime.sessions() as session:
        if fallbacks.stored_copies(session, url):
            return
    fallbacks.lookup_and_store(runtime.client, runtime.sessions, runtime.settings, url, now)


# --- reading it back ----------------------------------------------------------------------


def _check_model(row: SourceCheckRow) -> SourceCheck:
    return SourceCheck(
        checked_at=as_utc(row.checked_at) or row.checked_at,
        kind=CheckKind(row.kind),
        status=SourceStatus(row.status),
        http_status=row.http_status,
        reason=row.reason,
        counted=row.counted,
        similarity=row.similarity,
        changed=row.changed,
        diff=row.diff,
        warc_file=row.warc_file,
        record_id=row.record_id,
        sha256=row.sha256,
    )


def health_report(
    session: Session,
    url: str,
    *,
    evidence: Evidence | None = None,
    captured_at: dt.datetime | None = None,
    never_rechecked: bool = False,
) -> SourceHealth | None:
    """The health a report shows. Before any re-check, the first capture alone decides:
    a failing source is `suspect` at once. `never_rechecked`: the caller already knows the
    source has no health row (a report looks them up for all its sources in one query)."""
    health = (
        None
        if never_rechecked
        else session.scalar(select(SourceHealthRow).where(SourceHealthRow.canonical_url == url))
    )
    if health is None:
        if evidence is None or evidence.status not in HEALTHY | FAILING | INCONCLUSIVE:
            return None
        when = as_utc(captured_at)
        failing = evidence.status in FAILING
        first = (
            SourceCheck(
                checked_at=when,
                kind=CheckKind.CAPTURE,
                status=evidence.status,
                http_status=evidence.http_status,
                reason=evidence.reason,
                counted=failing,
            )
            if when is not None
            else None
        )
        return SourceHealth(
            state=HealthState.SUSPECT if failing else HealthState.HEALTHY,
            first_seen_failing=when if failing else None,
            last_seen_healthy=when if evidence.status in HEALTHY else None,
            consecutive_failures=1 if failing else 0,
            counted_failures=1 if failing else 0,
            last_checked_at=when,
            history=[first] if first else [],
        )
    checks = session.scalars(
        select(SourceCheckRow)
        .where(SourceCheckRow.canonical_url == url)
        .order_by(SourceCheckRow.checked_at, SourceCheckRow.id)
    )
    return SourceHealth(
        state=HealthState(health.state),
        first_seen_failing=as_utc(health.first_seen_failing),
        last_seen_healthy=as_utc(health.last_seen_healthy),
        consecutive_failures=health.consecutive_failures,
        counted_failures=health.counted_failures,
        declared_dead_at=as_utc(health.declared_dead_at),
        last_checked_at=as_utc(health.last_checked_at),
        next_check_at=as_utc(health.next_check_at),
        changed=health.changed,
        similarity=health.similarity,
        history=[_check_model(c) for c in checks],
    )


# --- entry points for the tasks and the CLI ----------------------------------------------


def queue_due(
    runtime: Runtime, enqueue: Callable[[int], object], *, now: dt.datetime | None = None
) -> list[str]:
    """Queue one re-check per due source; pushes the next check forward so the next beat
    tick does not queue it again while it waits in the queue."""
    settings = runtime.settings
    now = now or runtime.clock()
    with runtime.sessions() as session:
        due = due_sources(session, settings, now, limit=settings.recheck_batch)
        ids = [(h.id, h.canonical_url) for h in due]
        for health in due:
            health.next_check_at = now + dt.timedelta(days=settings.recheck_failing_days)
        session.commit()
    for health_id, _url in ids:
        enqueue(health_id)
    return [url for _id, url in ids]


def recheck_by_id(
    runtime: Runtime, health_id: int, *, now: dt.datetime | None = None
) -> CheckResult | None:
    with runtime.sessions() as session:
        health = session.get(SourceHealthRow, health_id)
        url = health.canonical_url if health is not None else None
    if url is None:
        log.warning("re-check of unknown source health id %d", health_id)
        return None
    return recheck_source(runtime, url, now=now)


def recheck_run(
    runtime: Runtime, run_id: str | None = None, *, now: dt.datetime | None = None
) -> list[CheckResult]:
    """By hand (`sourcevault recheck [ID]`): every fetched source of one run, or of all."""
    with runtime.sessions() as session:
        urls = checkable_urls(session, run_id)
    return [recheck_source(runtime, url, now=now) for url in urls]
