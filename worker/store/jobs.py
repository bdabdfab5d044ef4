"""Durable capture jobs: create, claim atomically, record attempts, finish, sweep stale claims.

A Celery task may be delivered twice (acks_late + a killed worker). The claim is a
compare-and-swap on the job row, so only one delivery does the work; a later one sees
`done` and returns the existing capture.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from schemas import Digest, Evidence
from worker.store.models import (
    Attempt,
    CaptureJob,
    CaptureRow,
    EvidenceRow,
    JobStatus,
    RequisiteRow,
    Run,
    RunState,
    ScreenshotRow,
    SourceCheckRow,
    utcnow,
)

log = logging.getLogger(__name__)


class ClaimLost(RuntimeError):
    """Our claim was taken over (our worker looked dead); the new owner's capture counts."""


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    ALREADY_DONE = "already_done"
    BUSY = "busy"  # another live delivery holds it
    MISSING = "missing"


@dataclass(frozen=True)
class ClaimedJob:
    """The columns of a capture job a claim reads (not a session object: read on the
    table, once per source, inside the write turn)."""

    id: int
    run_id: str
    canonical_url: str
    status: str
    attempts: int


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    job: ClaimedJob | None
    attempt_id: int | None = None


def create_run(
    session: Session,
    run_id: str,
    digest: Digest,
    *,
    source_name: str = "",
    owner: str | None = None,
) -> Run:
    """Insert the run and one job per unique source, committed BEFORE anything is queued.
    `owner`: the `sourcevault run` process that waits on it (see `resumable_run`)."""
    run = Run(
        id=run_id,
        digest_id=digest.id,
        title=digest.title,
        digest_json=digest.model_dump_json(),
        source_name=source_name,
        state=RunState.QUEUED,
        owner=owner,
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
    from worker.custody.events import record_queued  # custody: `queued` in this transaction

    record_queued(session, run_id, digest_id=digest.id)
    session.commit()
    return run


def resumable_run(
    session: Session, digest: Digest, *, alive: Callable[[str], bool]
) -> tuple[str, str] | None:
    """The latest unfinished run of this very digest (same id and content) whose owning
    `run` process is dead: (run id, its owner). A re-run resumes it instead of starting
    a new one (`resume_run`)."""
    rows = session.execute(
        select(Run.id, Run.owner, Run.digest_json)
        .where(Run.digest_id == digest.id)
        .where(Run.state.in_([RunState.QUEUED, RunState.RUNNING]))
        .where(Run.owner.is_not(None))
        .order_by(Run.created_at.desc())
    ).all()
    content = digest.model_dump_json()
    for run_id, owner, digest_json in rows:
        if owner is not None and digest_json == content and not alive(owner):
            return str(run_id), str(owner)
    return None


def resume_run(session: Session, run_id: str, *, old_owner: str, owner: str) -> bool:
    """Take a dead owner's run over (compare-and-swap on `owner`); its in-progress jobs go
    back to pending (their process is gone). False if another process took it first."""
    now = utcnow()
    moved = session.execute(
        update(Run).where(Run.id == run_id, Run.owner == old_owner).values(owner=owner)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        session.rollback()
        return False
    orphaned = select(CaptureJob.id).where(
        CaptureJob.run_id == run_id, CaptureJob.status == JobStatus.IN_PROGRESS
    )
    session.execute(
        update(Attempt)
        .where(Attempt.job_id.in_(orphaned), Attempt.finished_at.is_(None))
        .values(finished_at=now, outcome="lost", detail="its `run` process died; resumed")
    )
    session.execute(
        update(CaptureJob)
        .where(CaptureJob.run_id == run_id, CaptureJob.status == JobStatus.IN_PROGRESS)
        .values(status=JobStatus.PENDING, last_error="its `run` process died; resumed")
    )
    session.commit()
    return True


def run_owner(session: Session, run_id: str) -> str | None:
    run = session.get(Run, run_id, populate_existing=True)
    return run.owner if run is not None else None


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
    session: Session,
    job_id: int,
    task_id: str | None,
    *,
    stale_after: dt.timedelta,
) -> Claim:
    """Compare-and-swap pending → in_progress, or take over a claim that is stale (its
    heartbeat older than `stale_after`: see `Heartbeat`) or held by this same Celery task id.

    The same task id with an unfinished attempt is this very message delivered again: its
    worker died (reject_on_worker_lost requeues it at once, e.g. an OOM-killed prefork
    child) or it is retrying after an error. Time limits under the visibility timeout mean
    it cannot still be running, so waiting `stale_after` would only burn its retries.
    """
    now = utcnow()
    # task_id None: `task_id = NULL` is never true, so no delivery counts as this one
    result = session.execute(
        _CLAIM, {"b_job": job_id, "b_now": now, "b_stale": now - stale_after, "b_task": task_id}
    )
    row = session.execute(_CLAIMED_JOB, {"b_job": job_id}).first()
    job = ClaimedJob(*row) if row is not None else None
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.rollback()
        if job is None:
            return Claim(ClaimOutcome.MISSING, None)
        if job.status in (JobStatus.DONE, JobStatus.SKIPPED):
            return Claim(ClaimOutcome.ALREADY_DONE, job)
        return Claim(ClaimOutcome.BUSY, job)
    assert job is not None
    # Core statements, not unit-of-work objects: this runs once per source, inside the
    # SQLite write lock (worker.runtime), and the ORM's bookkeeping was most of its cost.
    # An attempt still open now was taken over: its delivery died (the attempt log says so).
    if job.attempts > 1:  # the first claim has no earlier attempt to close
        session.execute(
            update(Attempt)
            .where(Attempt.job_id == job_id, Attempt.finished_at.is_(None))
            .values(finished_at=now, outcome="lost", detail="taken over by a later delivery")
        )
    attempt_id = session.scalar(
        _NEW_ATTEMPT, {"job_id": job_id, "task_id": task_id, "started_at": now}
    )
    session.execute(_RUN_STARTED, {"b_run": job.run_id})
    session.commit()
    return Claim(ClaimOutcome.CLAIMED, job, attempt_id)


def finish_job(
    session: Session,
    job_id: int,
    attempt_id: int | None,
    *,
    capture: CaptureRow | None,
    evidence: Evidence,
    extra_rows: Callable[[Session], None] | None = None,
    commit: bool = True,
    text_signature: list[int] | None = None,
    name_matches: dict[str, Any] | None = None,
) -> None:
    """Save capture + evidence and mark the job done, in one transaction.

    `text_signature`: the MinHash of the evidence's text, stored beside it for the
    report's same-text search (worker.report.syndicated); `name_matches`: the people the
    run's incidents name, matched in the evidence's text, for the report's names checks
    (EvidenceRow.names).

    `extra_rows(session)` adds rows that must commit with it (the custody log's entries).
    Without `commit` the caller's transaction holds other work too (worker.store.
    group_commit): a lost claim then raises before this wrote anything, and rolls nothing back.
    """
    # Ours only while our attempt is open: a sweeper or a later delivery that took the job
    # over (our worker looked dead) closed it, and its capture is the one that counts.
    if not _close_attempt(session, attempt_id, "done", evidence.status):
        if commit:
            session.rollback()
        raise ClaimLost(f"capture job {job_id}: attempt {attempt_id} was taken over")
    if capture is not None:
        capture.job_id = job_id
        session.add(capture)
    # Core statements for the rest (see claim_job): evidence replaced if a retry left one
    data = evidence.model_dump(mode="json")
    _upsert_evidence(session, job_id, evidence.status, data, text_signature, name_matches)
    done = session.execute(_JOB_DONE, {"b_job": job_id, "b_now": utcnow()})
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise ValueError(f"capture job {job_id} does not exist")
    if extra_rows is not None:
        session.flush()  # the capture row gets its id first
        extra_rows(session)
    if commit:
        session.commit()


def _upsert_evidence(
    session: Session,
    job_id: int,
    status: str,
    data: dict[str, Any],
    signature: list[int] | None = None,
    names: dict[str, Any] | None = None,
) -> None:
    """Add the job's evidence, or replace the one a retry may have left: one statement
    (an UPDATE, then an INSERT when it matched nothing, serialised the JSON twice)."""
    upsert = _EVIDENCE_UPSERT[session.get_bind().dialect.name]
    row = {"job_id": job_id, "status": status, "data": data, "signature": signature, "names": names}
    session.execute(upsert, row)


def fail_job(session: Session, job_id: int, attempt_id: int | None, error: str) -> None:
    """Record a failed attempt; the job goes back to `failed` (a retry may claim it again).
    Nothing changes if the attempt was taken over meanwhile (the new owner decides)."""
    session.rollback()
    if not _close_attempt(session, attempt_id, "failed", error):
        session.rollback()
        return
    session.execute(
        update(CaptureJob)
        .where(CaptureJob.id == job_id)
        .values(status=JobStatus.FAILED, last_error=error)
    )
    session.commit()


def release_job(
    session: Session, job_id: int, attempt_id: int | None, error: str, *, due_in: float = 0
) -> None:
    """A local failure (WARC dir, disk, database): nothing is known about the link, so the
    job goes back to `pending` for a retry due in `due_in` seconds, with no evidence."""
    session.rollback()
    if not _close_attempt(session, attempt_id, "storage_error", error):
        session.rollback()
        return
    session.execute(
        update(CaptureJob)
        .where(CaptureJob.id == job_id, CaptureJob.status == JobStatus.IN_PROGRESS)
        .values(
            status=JobStatus.PENDING,
            last_error=error,
            enqueued_at=utcnow() + dt.timedelta(seconds=due_in),
        )
    )
    session.commit()


def fail_on_storage(session: Session, run_id: str, job_id: int, error: str) -> None:
    """Retries spent on a local failure: the job fails, and so does its run, naming the
    error. The link is not judged: no evidence row is written."""
    session.rollback()
    session.execute(
        update(CaptureJob)
        .where(CaptureJob.id == job_id, CaptureJob.status != JobStatus.DONE)
        .values(status=JobStatus.FAILED, last_error=error, finished_at=utcnow())
    )
    fail_run(session, run_id, error)


def fail_run(session: Session, run_id: str, error: str) -> None:
    """The run ends `failed` with its cause recorded (the first cause is kept)."""
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.state != RunState.FAILED)
        .values(state=RunState.FAILED, error=error[:4000], finished_at=utcnow())
    )
    session.commit()


def _close_attempt(session: Session, attempt_id: int | None, outcome: str, detail: str) -> bool:
    """Close an open attempt; False if it was already closed (taken over by another)."""
    if attempt_id is None:
        return True
    closed = session.execute(
        _ATTEMPT_CLOSED,
        {
            "b_attempt": attempt_id,
            "finished_at": utcnow(),
            "outcome": outcome,
            "detail": detail[:2000],
        },
    )
    return bool(closed.rowcount)  # type: ignore[attr-defined]


def existing_capture(session: Session, job_id: int) -> CaptureRow | None:
    return session.scalar(select(CaptureRow).where(CaptureRow.job_id == job_id))


def earlier_capture_with_payload(session: Session, sha256: str) -> ArchivedPayload | None:
    """The first full (non-revisit) capture of an identical payload, for a revisit record."""
    row = session.execute(_EARLIER_PAYLOAD, {"b_sha": sha256}).first()
    return ArchivedPayload(*row) if row is not None else None


@dataclass(frozen=True)
class ArchivedPayload:
    """A full record of a payload already archived, for a requisite's revisit record."""

    record_id: str
    url: str
    captured_at: dt.datetime
    warc_file: str


def archived_payloads(session: Session, sha256s: Iterable[str]) -> dict[str, ArchivedPayload]:
    """The first full (non-revisit, whole) requisite record of each payload already archived."""
    wanted = sorted(set(sha256s))
    found: dict[str, ArchivedPayload] = {}
    for start in range(0, len(wanted), 500):  # bound the IN list
        rows = session.execute(
            select(RequisiteRow)
            .where(
                RequisiteRow.sha256.in_(wanted[start : start + 500]),
                RequisiteRow.revisit_of.is_(None),
                RequisiteRow.http_status < 300,
                RequisiteRow.truncated.is_(False),
            )
            .order_by(RequisiteRow.id)
        ).scalars()
        for row in rows:
            found.setdefault(
                row.sha256, ArchivedPayload(row.record_id, row.url, row.captured_at, row.warc_file)
            )
    return found


def url_key(url: str) -> str:
    """RequisiteRow.url_sha256 of `url`."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def recent_requisites(
    session: Session, urls: Iterable[str], since: dt.datetime
) -> dict[str, RequisiteRow]:
    """The latest whole 2xx record of each URL archived as a requisite since `since`
    (detached copies, for a later page to stand on instead of fetching it again)."""
    keys = {url_key(u): u for u in urls}
    found: dict[str, RequisiteRow] = {}
    wanted = sorted(keys)
    for start in range(0, len(wanted), 500):
        rows = session.scalars(
            select(RequisiteRow)
            .where(
                RequisiteRow.url_sha256.in_(wanted[start : start + 500]),
                RequisiteRow.http_status >= 200,
                RequisiteRow.http_status < 300,
                RequisiteRow.captured_at >= since,
                RequisiteRow.truncated.is_(False),
            )
            .order_by(RequisiteRow.captured_at.desc(), RequisiteRow.id.desc())
        )
        for row in rows:
            if row.url == keys.get(row.url_sha256):
                found.setdefault(row.url, row)
    for row in found.values():
        session.expunge(row)
    return found


def committed_end(session: Session, warc_file: str) -> int:
    """End offset of the last record the database knows in `warc_file` (0 if none).

    The one answer to "what is committed in this WARC file": first captures, re-check
    captures and screenshots alike; WARC recovery keeps everything up to the furthest.
    """
    ends = [
        session.scalar(select(func.max(row.end_offset)).where(row.warc_file == warc_file))
        for row in (CaptureRow, SourceCheckRow, ScreenshotRow, RequisiteRow)
    ]
    return max(int(e or 0) for e in ends)


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
    """Set a run's state; a `failed` run stays failed (finalize still writes its report)."""
    run = session.get(Run, run_id, populate_existing=True)
    if run is None:
        return
    if run.state == RunState.FAILED and state != RunState.FAILED:
        session.commit()
        return
    run.state = state
    if state in (RunState.DONE, RunState.FAILED):
        run.finished_at = utcnow()
    session.commit()


def last_sign_of_life() -> Any:
    """When a claimed job's worker last showed it was alive (heartbeat, else the claim)."""
    return func.coalesce(CaptureJob.heartbeat_at, CaptureJob.claimed_at)


# --- the statements of every capture, built once -------------------------------------------
# A claim and a finish run once per source inside the write turn: building their
# statements per call (clauses, cache keys, the ORM's bulk-DML preparation) was most of
# their CPU, several times the SQLite work. Core statements on the tables, prepared here,
# take parameters by name (b_*: a bound name may not be a column's).

_jobs, _attempts, _evidence, _runs, _captures = (
    cast(Table, model.__table__) for model in (CaptureJob, Attempt, EvidenceRow, Run, CaptureRow)
)

_CLAIMED_JOB = select(
    _jobs.c.id, _jobs.c.run_id, _jobs.c.canonical_url, _jobs.c.status, _jobs.c.attempts
).where(_jobs.c.id == bindparam("b_job"))

# every capture asks it before writing its page (a payload seen before is a revisit)
_EARLIER_PAYLOAD = (
    select(_captures.c.record_id, _captures.c.url, _captures.c.captured_at, _captures.c.warc_file)
    .where(_captures.c.sha256 == bindparam("b_sha"), _captures.c.revisit_of.is_(None))
    .order_by(_captures.c.id)
    .limit(1)
)

_CLAIM = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("b_job"))
    .where(
        or_(
            _jobs.c.status.in_([JobStatus.PENDING, JobStatus.FAILED]),
            (_jobs.c.status == JobStatus.IN_PROGRESS)
            & or_(
                func.coalesce(_jobs.c.heartbeat_at, _jobs.c.claimed_at) < bindparam("b_stale"),
                select(_attempts.c.id)
                .where(
                    _attempts.c.job_id == bindparam("b_job"),
                    _attempts.c.task_id == bindparam("b_task"),
                    _attempts.c.finished_at.is_(None),
                )
                .exists(),
            ),
        )
    )
    .values(
        status=JobStatus.IN_PROGRESS,
        claimed_at=bindparam("b_now"),
        heartbeat_at=bindparam("b_now"),
        attempts=_jobs.c.attempts + 1,
    )
)
_NEW_ATTEMPT = insert(_attempts).returning(_attempts.c.id)
_RUN_STARTED = (
    update(_runs)
    .where(_runs.c.id == bindparam("b_run"), _runs.c.state == RunState.QUEUED)
    .values(state=RunState.RUNNING)
)
_ATTEMPT_CLOSED = update(_attempts).where(
    _attempts.c.id == bindparam("b_attempt"), _attempts.c.finished_at.is_(None)
)


def _evidence_upsert(dialect_insert: Callable[[Table], Any]) -> Any:
    added = dialect_insert(_evidence)
    kept = ("status", "data", "signature", "names")
    return added.on_conflict_do_update(
        index_elements=[_evidence.c.job_id], set_={c: added.excluded[c] for c in kept}
    )


# the same ON CONFLICT upsert in both databases' dialects
_EVIDENCE_UPSERT = {
    "sqlite": _evidence_upsert(sqlite.insert),
    "postgresql": _evidence_upsert(postgresql.insert),
}
_JOB_DONE = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("b_job"))
    .values(status=JobStatus.DONE, finished_at=bindparam("b_now"), last_error=None)
)
