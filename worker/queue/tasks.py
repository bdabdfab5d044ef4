"""Thin Celery tasks: take ids, load state from the database, call plain functions."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import Task
from celery.signals import worker_process_shutdown, worker_shutdown
from sqlalchemy.exc import OperationalError

from worker.capture import pipeline, recheck
from worker.queue.app import app, app_settings
from worker.report import build as report
from worker.runtime import close_runtime, get_runtime
from worker.store import jobs
from worker.store import sweep as job_sweep
from worker.store.models import RunState

log = logging.getLogger(__name__)


_settings = app_settings


@app.task(
    bind=True,
    name="sourcevault.capture",
    # Transient infrastructure faults (a locked or restarting database) are retried with
    # backoff; fetch failures are retried inside the fetcher and never raise here.
    autoretry_for=(OperationalError, pipeline.JobBusy),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
    # Nobody reads a capture's result (the database holds the capture, and finalize_run
    # reads that): not storing it saves a SET and a PUBLISH per task, ~0.4 ms of the
    # worker's GIL. The chord still completes: the Redis backend counts each header
    # task's return on its chord (on_chord_part_return) whether or not it is stored.
    ignore_result=True,
)
def capture_source(self: Task, run_id: str, job_id: int) -> dict[str, Any]:
    settings = _settings()
    runtime = get_runtime(settings)
    try:
        outcome = pipeline.capture_one(runtime, run_id, job_id, task_id=self.request.id)
    except pipeline.StorageError as exc:
        # Our disk or database failed: retried a few times, then the run fails naming it.
        tries = self.request.retries + 1
        if self.request.retries >= settings.storage_retries:
            error = f"capture of job {job_id} failed {tries} times: {exc}"
            log.error("run %s: %s", run_id, error)
            with runtime.writing() as session:
                jobs.fail_on_storage(session, run_id, job_id, error)
            return {"run_id": run_id, "job_id": job_id, "status": "failed", "error": error}
        countdown = min(2.0**self.request.retries, 30.0)
        with runtime.writing() as session:  # the sweeper leaves it alone until it is due
            job_sweep.mark_due(session, job_id, countdown)
        raise self.retry(
            exc=exc, countdown=countdown, max_retries=settings.storage_retries
        ) from exc
    return {"run_id": run_id, "job_id": job_id, "status": outcome.status}


@app.task(name="sourcevault.finalize", autoretry_for=(OperationalError,), retry_backoff=2)
def finalize_run(_results: list[Any] | None, run_id: str) -> dict[str, Any]:
    # Reads the database, not the chord results: a failed header task must not stop it.
    runtime = get_runtime(_settings())
    with runtime.sessions() as session:
        progress = jobs.run_progress(session, run_id)
    if progress is not None and progress.state == RunState.DONE:
        # finalized already (a sweeper, after a lost worker broke the chord, or `run`)
        return {"run_id": run_id, "already": True}
    summary = report.finalize(runtime, run_id)
    return {"run_id": run_id, **summary}


@app.task(name="sourcevault.recheck_due", ignore_result=True, autoretry_for=(OperationalError,))
def recheck_due() -> dict[str, Any]:
    # Beat's periodic tick: queue one re-check per due source (capture.recheck decides which).
    runtime = get_runtime(_settings())
    urls = recheck.queue_due(runtime, lambda health_id: recheck_one.delay(health_id))
    return {"queued": len(urls)}


@app.task(
    name="sourcevault.recheck",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=8,
)
def recheck_one(health_id: int) -> dict[str, Any]:
    runtime = get_runtime(_settings())
    result = recheck.recheck_by_id(runtime, health_id)
    return {"health_id": health_id, "status": result.status if result else None}


@app.task(name="sourcevault.sweep", ignore_result=True, autoretry_for=(OperationalError,))
def sweep() -> dict[str, Any]:
    # Beat's safety net: a capture killed by the hard time limit fails its chord, so its
    # run would never be finalized. Fail abandoned jobs, then finalize finished runs.
    settings = _settings()
    runtime = get_runtime(settings)
    stale = dt.timedelta(seconds=settings.visibility_timeout + settings.task_time_limit)
    with runtime.sessions() as session:
        abandoned = job_sweep.abandon_stale(session, stale_after=stale)
        run_ids = job_sweep.unfinalized_runs(session)
    for run_id in run_ids:
        report.finalize(runtime, run_id)
    return {"abandoned": abandoned, "finalized": run_ids}


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close(**_: Any) -> None:
    close_runtime()
