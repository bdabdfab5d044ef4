"""Durable capture jobs: create, claim atomically, record attempts, finish, sweep stale claims.

A Celery task may be delivered twice (acks_late + a killed worker). The claim is a
compare-and-swap on the job row, so only one delivery does the work; a later one sees
`done` and returns the existing capture.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from schemas import Digest, Evidence
from worker.db import Attempt, CaptureJob, CaptureRow, EvidenceRow, JobStatus, Run, RunState, utcnow

log = logging.getLogger(__name__)


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    ALREADY_DONE = "already_done"
    BUSY = "busy"  # another live delivery holds it
    MISSING = "missing"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    job: CaptureJob | None
    attempt_id: int | None = None


def create_run(session: Session, run_id: str, digest: Digest, *, source_name: str = "") -> Run:
    """Insert the run and one job per unique source, committed BEFORE anything is queued."""
    run = Run(
        id=run_id,
        digest_id=digest.id,
        title=digest.title,
        digest_json=digest.model_dump_json(),
        source_name=source_name,
        state=RunState.QUEUED,
    )
    session.add(run)
    session.flush()  # the run row first: the jobs' foreign keys point at it
    for source in digest.sources:
        job = CaptureJob(
            run_id=run_id,
            source_id=source.id,
            url=source.url,
            canonical_url=source.canonical_url,
            status=JobStatus.PENDING if source.fetchable else JobStatus.SKIPPED,
        )
        session.add(job)
        if not source.fetchable:
            assert source.status is not None
            session.flush()
            evidence = Evidence(
                status=source.status,
                reason=source.problems[0].message if source.problems else "not fetched",
                problems=source.problems,
            )
            session.add(
                EvidenceRow(
                    job_id=job.id, status=source.status, data=evidence.model_dump(mode="json")
                )
            )
    session.commit()
    return run


def next_run_id(session: Session, digest_id: str) -> str:
    """The digest id for the first run of a digest, then `<id>-2`, `<id>-3`…"""
    taken = set(
        session.scalars(
            select(Run.id).where(or_(Run.id == digest_id, Run.id.like(f"{digest_id}-%")))
        )
    )
    if digest_id not in taken:
        return digest_id
    n = 2
    while f"{digest_id}-{n}" in taken:
        n += 1
    return f"{digest_id}-{n}"


def claim_job(
    session: Session, job_id: int, task_id: str | None, *, stale_after: dt.timedelta
) -> Claim:
    """Compare-and-swap pending → in_progress (or reclaim a claim older than `stale_after`)."""
    now = utcnow()
    stale_before = now - stale_after
    result = session.execute(
        update(CaptureJob)
        .where(CaptureJob.id == job_id)
        .where(
            or_(
                CaptureJob.status.in_([JobStatus.PENDING, JobStatus.FAILED]),
                (CaptureJob.status == JobStatus.IN_PROGRESS)
                & (CaptureJob.claimed_at < stale_before),
            )
        )
        .values(status=JobStatus.IN_PROGRESS, claimed_at=now, attempts=CaptureJob.attempts + 1)
    )
    job = session.get(CaptureJob, job_id, populate_existing=True)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.rollback()
        if job is None:
            return Claim(ClaimOutcome.MISSING, None)
        if job.status in (JobStatus.DONE, JobStatus.SKIPPED):
            return Claim(ClaimOutcome.ALREADY_DONE, job)
        return Claim(ClaimOutcome.BUSY, job)
    attempt = Attempt(job_id=job_id, task_id=task_id, started_at=now)
    session.add(attempt)
    run = session.get(Run, job.run_id) if job else None
    if run is not None and run.state == RunState.QUEUED:
        run.state = RunState.RUNNING
    session.commit()
    return Claim(ClaimOutcome.CLAIMED, job, attempt.id)


def finish_job(
    session: Session,
    job_id: int,
    attempt_id: int | None,
    *,
    capture: CaptureRow | None,
    evidence: Evidence,
) -> None:
    """Save capture + evidence and mark the job done, in one transaction."""
    job = session.get(CaptureJob, job_id)
    assert job is not None
    if capture is not None:
        capture.job_id = job_id
        session.add(capture)
    existing = session.scalar(select(EvidenceRow).where(EvidenceRow.job_id == job_id))
    data = evidence.model_dump(mode="json")
    if existing is None:
        session.add(EvidenceRow(job_id=job_id, status=evidence.status, data=data))
    else:
        existing.status = evidence.status
        existing.data = data
    job.status = JobStatus.DONE
    job.finished_at = utcnow()
    job.last_error = None
    _close_attempt(session, attempt_id, "done", evidence.status)
    session.commit()


def fail_job(session: Session, job_id: int, attempt_id: int | None, error: str) -> None:
    """Record a failed attempt; the job goes back to `failed` (a retry may claim it again)."""
    session.rollback()
    job = session.get(CaptureJob, job_id)
    if job is None:
        return
    job.status = JobStatus.FAILED
    job.last_error = error
    _close_attempt(session, attempt_id, "failed", error)
    session.commit()


def _close_attempt(session: Session, attempt_id: int | None, outcome: str, detail: str) -> None:
    if attempt_id is None:
        return
    attempt = session.get(Attempt, attempt_id)
    if attempt is not None:
        attempt.finished_at = utcnow()
        attempt.outcome = outcome
        attempt.detail = detail[:2000]


def existing_capture(session: Session, job_id: int) -> CaptureRow | None:
    return session.scalar(select(CaptureRow).where(CaptureRow.job_id == job_id))


def earlier_capture_with_payload(session: Session, sha256: str) -> CaptureRow | None:
    """The first full (non-revisit) capture of an identical payload, for a revisit record."""
    return session.scalar(
        select(CaptureRow)
        .where(CaptureRow.sha256 == sha256, CaptureRow.revisit_of.is_(None))
        .order_by(CaptureRow.id)
        .limit(1)
    )


def committed_end(session: Session, warc_file: str) -> int:
    """End offset of the last record the database knows in `warc_file` (0 if none)."""
    end = session.scalar(
        select(func.max(CaptureRow.end_offset)).where(CaptureRow.warc_file == warc_file)
    )
    return int(end or 0)


@dataclass(frozen=True)
class Progress:
    state: str
    done: int
    total: int
    failed: int


def run_progress(session: Session, run_id: str) -> Progress | None:
    run = session.get(Run, run_id, populate_existing=True)
    if run is None:
        return None
    rows = session.execute(
        select(CaptureJob.status, func.count())
        .where(CaptureJob.run_id == run_id)
        .group_by(CaptureJob.status)
    ).all()
    counts = {status: n for status, n in rows}
    total = sum(counts.values())
    finished = counts.get(JobStatus.DONE, 0) + counts.get(JobStatus.SKIPPED, 0)
    return Progress(run.state, finished, total, counts.get(JobStatus.FAILED, 0))


def mark_run(session: Session, run_id: str, state: RunState) -> None:
    run = session.get(Run, run_id)
    if run is None:
        return
    run.state = state
    if state in (RunState.DONE, RunState.FAILED):
        run.finished_at = utcnow()
    session.commit()


def sweep_stale(session: Session, *, stale_after: dt.timedelta) -> int:
    """Put in_progress jobs whose claim is older than `stale_after` back to pending."""
    result = session.execute(
        update(CaptureJob)
        .where(CaptureJob.status == JobStatus.IN_PROGRESS)
        .where(CaptureJob.claimed_at < utcnow() - stale_after)
        .values(status=JobStatus.PENDING)
    )
    session.commit()
    n = int(result.rowcount)  # type: ignore[attr-defined]
    if n:
        log.warning("swept %d stale capture jobs back to pending", n)
    return n
