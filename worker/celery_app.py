"""The Celery app. Reliability settings are set together, each with the reason.

The app is configured at start-up from Settings (`configure`), so the same code path
serves a deployment (`sourcevault worker`) and the embedded default (`sourcevault run`).
"""

from __future__ import annotations

from celery import Celery

from worker.settings import Settings

app = Celery("sourcevault", include=["worker.tasks"])

CAPTURE_QUEUE = "capture"
DEFAULT_QUEUE = "default"


def configure(settings: Settings, broker_url: str) -> Celery:
    """Point the app at a broker and apply the reliability settings."""
    app.conf.update(
        broker_url=broker_url,
        # Chords need a result backend; Redis is one. Results stay small (ids only).
        result_backend=settings.result_backend or broker_url,
        result_expires=7 * 24 * 3600,
        # At-least-once delivery: ack after the task ran, and give a task back to the
        # queue when its worker dies. Idempotency comes from jobs.claim_job.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Hard limits well under Redis's visibility timeout, or the broker re-delivers
        # a task that is still running (settings.load_settings checks the order).
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=True,
        # Network-bound captures apart from everything else.
        task_default_queue=DEFAULT_QUEUE,
        task_routes={"sourcevault.capture": {"queue": CAPTURE_QUEUE}},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        sourcevault_settings=settings,
    )
    # The threads pool runs tasks in executor threads, where Celery's "current app" is
    # thread-local and would otherwise fall back to a default app without a backend.
    app.set_default()
    app.set_current()
    return app
