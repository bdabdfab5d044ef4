"""The per-digest chord: one capture task per pending job, then finalize_run.

Each task's queue and priority come from the run's kind and its editor's backlog
(worker.queues): interactive ahead of bulk, fair shares between editors.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from celery import chord
from celery.result import AsyncResult
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db import CaptureJob, JobStatus, Run
from worker.politeness import spread_by_host
from worker.queues import Kind, callback_route, capture_queue, editor_backlog, run_priorities
from worker.tasks import capture_source, finalize_run

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
    jobs = session.execute(
        select(CaptureJob.id, CaptureJob.canonical_url)
        .where(CaptureJob.run_id == run_id, CaptureJob.status != JobStatus.SKIPPED)
        .order_by(CaptureJob.id)
    ).all()
    # hosts interleaved, so the slots keep every host busy within its politeness delay
    job_ids = [job.id for job in spread_by_host(jobs, lambda job: _host(job.canonical_url))]
    queue = capture_queue(kind)
    callback_queue, callback_priority = callback_route(kind)
    backlog = editor_backlog(session, editor, kind, exclude_run=run_id)
    priorities = run_priorities(kind, backlog, len(job_ids))
    body = finalize_run.s(run_id).set(queue=callback_queue, priority=callback_priority)
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
