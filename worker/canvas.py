"""The per-digest chord: one capture task per pending job, then finalize_run."""

from __future__ import annotations

from celery import chord
from celery.result import AsyncResult
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db import CaptureJob, JobStatus, Run
from worker.tasks import capture_source, finalize_run


def enqueue_run(session: Session, run_id: str) -> str:
    """Queue the chord for a committed run; returns the chord's id (stored on the run)."""
    job_ids = list(
        session.scalars(
            select(CaptureJob.id)
            .where(CaptureJob.run_id == run_id, CaptureJob.status != JobStatus.SKIPPED)
            .order_by(CaptureJob.id)
        )
    )
    if job_ids:
        result: AsyncResult = chord(capture_source.s(run_id, job_id) for job_id in job_ids)(
            finalize_run.s(run_id)
        )
    else:  # nothing to fetch: the report still has to be built
        result = finalize_run.delay([], run_id)
    run = session.get(Run, run_id)
    assert run is not None
    run.celery_id = result.id
    session.commit()
    return str(result.id)
