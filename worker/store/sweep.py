"""The sweepers' side of the job table: dead workers' claims taken over, lost messages
found, runs finalized whose callback never came, the claims' heartbeat.

Every change is a compare-and-swap, so several sweepers (one per worker) never take
the same job or run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from worker.store.jobs import last_sign_of_life
from worker.store.models import (
    Attempt,
    CaptureJob,
    JobStatus,
    Run,
    RunState,
    utcnow,
)

log = logging.getLogger(__name__)


def abandon_stale(session: Session, *, stale_after: dt.timedelta) -> int:
    """Fail in_progress jobs claimed longer ago than any delivery could still be running.

    `stale_after` must exceed the visibility timeout plus the hard time limit: past it,
    the broker has re-delivered the task or never will (a hard time limit kills it).
    """
    result = session.execute(
        update(CaptureJob)
        .where(CaptureJob.status == JobStatus.IN_PROGRESS)
        .where(last_sign_of_life() < utcnow() - stale_after)
        .values(status=JobStatus.FAILED, last_error="abandoned: no worker finished the capture")
    )
    session.commit()
    n = int(result.rowcount)  # type: ignore[attr-defined]
    if n:
        log.warning("marked %d abandoned capture jobs failed", n)
    return n


def unfinalized_runs(session: Session, *, grace: dt.timedelta | None = None) -> list[str]:
    """Runs whose every job has ended but which were never marked done (a lost callback).

    With `grace`, only runs whose last job ended longer ago than that: the chord callback
    of a run that just finished is still on its way."""
    open_jobs = (
        select(CaptureJob.run_id)
        .where(CaptureJob.status.in_([JobStatus.PENDING, JobStatus.IN_PROGRESS]))
        .distinct()
    )
    query = (
        select(Run.id)
        .where(Run.state.in_([RunState.QUEUED, RunState.RUNNING]))
        .where(Run.id.not_in(open_jobs))
        .order_by(Run.created_at)
    )
    if grace is not None:
        recent = (
            select(CaptureJob.run_id).where(CaptureJob.finished_at >= utcnow() - grace).distinct()
        )
        query = query.where(Run.id.not_in(recent))
    return list(session.scalars(query))


@dataclass(frozen=True)
class LostJob:
    run_id: str
    job_id: int
    why: str


def take_over_stale(session: Session, *, stale_after: dt.timedelta) -> list[LostJob]:
    """In-progress jobs whose claim heartbeat stopped (their worker died): back to
    `pending`, their open attempt closed as lost, for the caller to send again.

    Each job is moved by a compare-and-swap on its row, so of several sweepers (one per
    worker) exactly one re-sends it."""
    now = utcnow()
    candidates = session.execute(
        select(CaptureJob.id, CaptureJob.run_id)
        .join(Run, Run.id == CaptureJob.run_id)
        .where(CaptureJob.status == JobStatus.IN_PROGRESS)
        .where(last_sign_of_life() < now - stale_after)
        .where(Run.state.in_([RunState.QUEUED, RunState.RUNNING]))
    ).all()
    lost = []
    for job_id, run_id in candidates:
        moved = session.execute(
            update(CaptureJob)
            .where(CaptureJob.id == job_id, CaptureJob.status == JobStatus.IN_PROGRESS)
            .where(last_sign_of_life() < now - stale_after)
            .values(
                status=JobStatus.PENDING,
                enqueued_at=now,
                last_error="worker lost: its claim heartbeat stopped",
            )
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            continue
        session.execute(
            update(Attempt)
            .where(Attempt.job_id == job_id, Attempt.finished_at.is_(None))
            .values(finished_at=now, outcome="lost", detail="its worker stopped heartbeating")
        )
        lost.append(LostJob(run_id, job_id, "stale claim"))
    session.commit()
    return lost


def take_over_unsent(session: Session, *, lost_after: dt.timedelta) -> list[LostJob]:
    """Pending jobs of active runs sent (or due) longer ago than `lost_after`.

    Call it only when the broker's queues are empty: then such a job's message is
    nowhere a live worker will see it (held by a dead worker's reservation until the
    visibility timeout, or lost by a broker restart). A duplicate is harmless: the
    claim lets one delivery do the work. Compare-and-swap on `enqueued_at`."""
    now = utcnow()
    candidates = session.execute(
        select(CaptureJob.id, CaptureJob.run_id, CaptureJob.enqueued_at)
        .join(Run, Run.id == CaptureJob.run_id)
        .where(CaptureJob.status == JobStatus.PENDING)
        .where(func.coalesce(CaptureJob.enqueued_at, Run.created_at) < now - lost_after)
        .where(Run.state.in_([RunState.QUEUED, RunState.RUNNING]))
    ).all()
    lost = []
    for job_id, run_id, enqueued_at in candidates:
        same = (
            CaptureJob.enqueued_at.is_(None)
            if enqueued_at is None
            else CaptureJob.enqueued_at == enqueued_at
        )
        moved = session.execute(
            update(CaptureJob)
            .where(CaptureJob.id == job_id, CaptureJob.status == JobStatus.PENDING, same)
            .values(enqueued_at=now)
        )
        if moved.rowcount:  # type: ignore[attr-defined]
            lost.append(LostJob(run_id, job_id, "message lost"))
    session.commit()
    return lost


def claim_finalize(session: Session, run_id: str, *, retry_after: dt.timedelta) -> str | None:
    """The task id for a sweeper's finalize of the run, or None if another sweeper sent one
    less than `retry_after` ago: a compare-and-swap on the run's `celery_id`, which then
    holds `sweep-<unix time>-<uuid>`."""
    run = session.get(Run, run_id, populate_existing=True)
    if run is None or run.state not in (RunState.QUEUED, RunState.RUNNING):
        session.rollback()
        return None
    now = utcnow()
    previous = run.celery_id or ""
    if previous.startswith("sweep-"):
        try:
            sent = dt.datetime.fromtimestamp(float(previous.split("-")[1]), dt.UTC)
        except (IndexError, ValueError):
            sent = now - retry_after
        if now - sent < retry_after:
            session.rollback()
            return None
    token = f"sweep-{now.timestamp():.3f}-{uuid.uuid4()}"
    same = Run.celery_id.is_(None) if run.celery_id is None else Run.celery_id == run.celery_id
    moved = session.execute(update(Run).where(Run.id == run_id, same).values(celery_id=token))
    session.commit()
    return token if moved.rowcount else None  # type: ignore[attr-defined]


def live_claims(session: Session, run_id: str, *, stale_after: dt.timedelta) -> int:
    """Jobs of the run whose claim is still beating (a live worker is capturing them)."""
    return int(
        session.scalar(
            select(func.count(CaptureJob.id)).where(
                CaptureJob.run_id == run_id,
                CaptureJob.status == JobStatus.IN_PROGRESS,
                last_sign_of_life() >= utcnow() - stale_after,
            )
        )
        or 0
    )


INTERRUPTED = "interrupted: its run was sealed as it stood (`sourcevault verify --seal`)"


def interrupt_unfinished(session: Session, run_id: str) -> int:
    """End a dead run's unfinished jobs as failed (never captured), so it can be sealed."""
    now = utcnow()
    unfinished = [JobStatus.PENDING, JobStatus.IN_PROGRESS]
    open_jobs = select(CaptureJob.id).where(
        CaptureJob.run_id == run_id, CaptureJob.status.in_(unfinished)
    )
    session.execute(
        update(Attempt)
        .where(Attempt.job_id.in_(open_jobs), Attempt.finished_at.is_(None))
        .values(finished_at=now, outcome="lost", detail=INTERRUPTED)
    )
    result = session.execute(
        update(CaptureJob)
        .where(CaptureJob.run_id == run_id, CaptureJob.status.in_(unfinished))
        .values(status=JobStatus.FAILED, last_error=INTERRUPTED, finished_at=now)
    )
    session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_due(session: Session, job_id: int, seconds: float) -> None:
    """A retry of the job is due in `seconds`: the sweeper counts its message as sent."""
    session.execute(
        update(CaptureJob)
        .where(CaptureJob.id == job_id)
        .values(enqueued_at=utcnow() + dt.timedelta(seconds=seconds))
    )
    session.commit()


def mark_enqueued(session: Session, job_ids: list[int]) -> None:
    """Record when the jobs' capture tasks were sent (see `take_over_unsent`)."""
    if job_ids:
        session.execute(
            update(CaptureJob).where(CaptureJob.id.in_(job_ids)).values(enqueued_at=utcnow())
        )
    session.commit()


class Heartbeat:
    """Refreshes `heartbeat_at` of the jobs this process is capturing, every `interval`
    seconds, in one thread per process (started with the first job).

    A worker that dies stops beating; `take_over_stale` (every worker's sweeper) and
    `claim_job` then treat its claims as stale after `claim_stale_after`, instead of
    waiting for the broker's visibility timeout (an hour on Redis)."""

    def __init__(self, sessions: Callable[[], Any], interval: float) -> None:
        self._sessions = sessions  # a context manager factory yielding a write Session
        self._interval = interval
        self._active: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, job_id: int) -> None:
        with self._lock:
            self._active.add(job_id)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="sourcevault-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, job_id: int) -> None:
        with self._lock:
            self._active.discard(job_id)

    def beat(self) -> int:
        with self._lock:
            active = sorted(self._active)
        if not active:
            return 0
        with self._sessions() as session:
            result = session.execute(
                update(CaptureJob)
                .where(CaptureJob.id.in_(active), CaptureJob.status == JobStatus.IN_PROGRESS)
                .values(heartbeat_at=utcnow())
            )
            session.commit()
            return int(result.rowcount)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("claim heartbeat failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
