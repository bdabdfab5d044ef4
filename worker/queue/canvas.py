"""The per-digest chord: one capture task per pending job, then finalize_run.

Each task's queue and priority come from the run's kind and its editor's backlog
(worker.queue.priorities): interactive ahead of bulk, fair shares between editors.
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

from celery import chord
from celery.result import AsyncResult
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.fetch.politeness import spread_by_host
from worker.queue.app import WORKER_QUEUES, app
from worker.queue.priorities import (
    BANDS,
    Kind,
    callback_route,
    capture_queue,
    editor_backlog,
    run_priorities,
)
from worker.queue.tasks import capture_source, finalize_run
from worker.settings import Settings
from worker.store import sweep
from worker.store.models import CaptureJob, JobStatus, Run

log = logging.getLogger(__name__)


def enqueue_run(session: Session, run_id: str, *, kind: Kind = Kind.BULK, editor: str = "") -> str:
    """Queue the chord for a committed run; returns the chord's id (stored on the run).

    `kind` picks the queue and priority band; `editor` (whoever queued it; "" for
    nobody in particular) whose backlog sets the fair-share priorities."""
    run = session.get(Run, run_id)
    if run is None:
        raise KeyError(f"no run {run_id!r} to queue")
    run.kind, run.editor = kind.value, editor
    session.commit()  # recorded first: a concurrent enqueue by the editor counts these jobs
    rows = session.execute(
        select(CaptureJob.id, CaptureJob.canonical_url)
        .where(CaptureJob.run_id == run_id, CaptureJob.status != JobStatus.SKIPPED)
        .order_by(CaptureJob.id)
    ).all()
    # hosts interleaved, so the slots keep every host busy within its politeness delay
    job_ids = [job.id for job in spread_by_host(rows, lambda job: _host(job.canonical_url))]
    queue = capture_queue(kind)
    callback_queue, callback_priority = callback_route(kind)
    backlog = editor_backlog(session, editor, kind, exclude_run=run_id)
    priorities = run_priorities(kind, backlog, len(job_ids))
    body = finalize_run.s(run_id).set(queue=callback_queue, priority=callback_priority)
    sweep.mark_enqueued(session, job_ids)  # the sweeper's clock for lost messages
    if job_ids:
        header = [
            capture_source.s(run_id, job_id).set(queue=queue, priority=priority)
            for job_id, priority in zip(job_ids, priorities, strict=True)
        ]
        result: AsyncResult = chord(header)(body)
    else:  # nothing to fetch: the report still has to be built
        result = body.delay([])
    log.info(
        "queued run %s: %d %s captures on %r (editor %r, backlog %d, priorities %s..%s)",
        run_id,
        len(job_ids),
        kind.value,
        queue,
        editor,
        backlog,
        priorities[0] if priorities else "-",
        priorities[-1] if priorities else "-",
    )
    run = session.get(Run, run_id)
    assert run is not None
    run.celery_id = result.id
    session.commit()
    _stop_tracking(result)
    return str(result.id)


def send_again(session: Session, lost: list[sweep.LostJob]) -> None:
    """A fresh capture task per lost job, on its run's queue. It is not in the run's chord
    (that waits for the lost message for good), so `sweep_once` finalizes such runs."""
    for item in lost:
        run = session.get(Run, item.run_id)
        kind = Kind(run.kind) if run is not None else Kind.BULK
        capture_source.s(item.run_id, item.job_id).set(
            queue=capture_queue(kind), priority=BANDS[kind][0]
        ).apply_async()
        log.warning("run %s: job %d sent again (%s)", item.run_id, item.job_id, item.why)


def queued_messages(queues: tuple[str, ...] = WORKER_QUEUES) -> int:
    """Messages waiting in the broker's queues (every priority level), not reserved.
    (Declaring is idempotent; a passive declare fails for a queue no binding names yet.)"""
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        return sum(
            channel.queue_declare(queue=q, durable=True, auto_delete=False).message_count
            for q in queues
        )


def sweep_once(settings: Settings, sessions: sessionmaker[Session]) -> dict[str, object]:
    """One round of every worker's sweeper (worker.queue.tasks.Sweeper):

    1. in-progress jobs whose claim heartbeat is older than `claim_stale_after` (their
       worker died) go back to pending and are sent again;
    2. when the queues are empty, pending jobs sent longer ago than that are sent again
       (their message sits in a dead worker's reservation, or a broker restart lost it);
    3. runs whose every job ended `finalize_grace` ago but which are not done get a
       finalize task (the chord waits for a lost header task for good).
    Duplicates are harmless (jobs.claim_job); compare-and-swaps keep them rare."""
    stale = dt.timedelta(seconds=settings.claim_stale_after)
    with sessions() as session:
        lost = sweep.take_over_stale(session, stale_after=stale)
        send_again(session, lost)
        unsent: list[sweep.LostJob] = []
        if queued_messages() == 0:
            unsent = sweep.take_over_unsent(session, lost_after=stale)
            send_again(session, unsent)
        grace = dt.timedelta(seconds=settings.finalize_grace)
        finalized = []
        for run_id in sweep.unfinalized_runs(session, grace=grace):
            # sent again only if the last one did not finish it in a minute (lost too)
            token = sweep.claim_finalize(session, run_id, retry_after=dt.timedelta(minutes=1))
            if token is not None:
                run = session.get(Run, run_id)
                kind = Kind(run.kind) if run is not None else Kind.BULK
                queue, priority = callback_route(kind)
                finalize_run.s(None, run_id).set(queue=queue, priority=priority).apply_async(
                    task_id=token
                )
                log.warning("run %s: every job ended, no callback came: finalizing", run_id)
                finalized.append(run_id)
    return {"taken_over": len(lost), "sent_again": len(unsent), "finalized": finalized}


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def _stop_tracking(result: AsyncResult) -> None:
    """Nobody waits on these results (the database is the source of truth).

    Sending a chord registers its header results with the backend's pub/sub consumer;
    unless dropped now they stay subscribed for the life of the process and try to
    unsubscribe from a broker that may be gone at interpreter exit. Celery has no public
    call for "forget every pending result", so this reads the backend's own table.
    """
    backend = result.backend
    pending = getattr(backend, "_pending_results", None)
    if pending is None:  # a backend without pub/sub tracking
        return
    concrete = pending[0]
    for waiters in list(concrete.values()):
        for tracked in list(waiters.values()):
            backend.remove_pending_result(tracked)
