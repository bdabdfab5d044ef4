"""Thin Celery tasks: take ids, load state from the database, call plain functions."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import Task
from celery.signals import worker_process_shutdown, worker_shutdown
from sqlalchemy.exc import OperationalError

from worker import jobs, pipeline, recheck, report
from worker.celery_app import app
from worker.runtime import close_runtime, get_runtime
from worker.settings import Settings

log = logging.getLogger(__name__)


def _settings() -> Settings:
    settings = app.conf.get("sourcevault_settings")
    if settings is None:  # a worker started without configure(): read the environment
        from worker.settings import load_settings

        settings = load_settings()
        app.conf.sourcevault_settings = settings
    return settings


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
)
def capture_source(self: Task, run_id: str, job_id: int) -> dict[str, Any]:
    runtime = get_runtime(_settings())
    outcome = pipeline.capture_one(runtime, run_id, job_id, task_id=self.request.id)
    return {"run_id": run_id, "job_id": job_id, "status": outcome.status}


@app.task(name="sourcevault.finalize", autoretry_for=(OperationalError,), retry_backoff=2)
def finalize_run(_results: list[Any] | None, run_id: str) -> dict[str, Any]:
    # Reads the database, not the chord results: a failed header task must not stop it.
    runtime = get_runtime(_settings())
    summary = report.finalize(runtime, run_id)
    return {"run_id": run_id, **summary}


@app.task(name="sourcevault.recheck_due", ignore_result=True, autoretry_for=(OperationalError,))
def recheck_due() -> dict[str, Any]:
    # Beat's periodic tick: queue one re-check per due source (worker.recheck decides which).
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
        abandoned = jobs.abandon_stale(session, stale_after=stale)
        run_ids = jobs.unfinalized_runs(session)
    for run_id in run_ids:
        report.finalize(runtime, run_id)
    return {"abandoned": abandoned, "finalized": run_ids}


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close(**_: Any) -> None:
    close_runtime()
