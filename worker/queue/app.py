"""The Celery app. Reliability settings are set together, each with the reason.

The app is configured at start-up from Settings (`configure`), so the same code path
serves a deployment (`sourcevault worker`) and the embedded default (`sourcevault run`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_ready

from worker.queue.priorities import (
    BANDS,
    CAPTURE_QUEUE,
    DEFAULT_QUEUE,
    INTERACTIVE_QUEUE,
    RECHECK_PRIORITY,
    Kind,
)
from worker.queue.transport import transport_for
from worker.settings import Settings, load_settings

app = Celery("sourcevault", include=["worker.queue.tasks", "worker.queue.sweeper"])

# What a worker consumes by default, in this order (queue_order_strategy="priority"):
# interactive first; bookkeeping before the network-bound bulk captures.
WORKER_QUEUES = (INTERACTIVE_QUEUE, DEFAULT_QUEUE, CAPTURE_QUEUE)


def configure(settings: Settings, broker_url: str) -> Celery:
    """Point the app at a broker and apply the reliability settings."""
    if app.conf.broker_url and app.conf.broker_url != broker_url:
        _forget_connections()
    app.conf.update(
        broker_url=broker_url,
        broker_transport=transport_for(broker_url),  # one Redis client per channel
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
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # Queue kinds and fair shares (worker.queue.priorities): all ten priority levels, and
            # the worker's queues polled in the order given, not rotated.
            "priority_steps": list(range(10)),
            "queue_order_strategy": "priority",
        },
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=True,
        # Network-bound captures apart from everything else.
        task_default_queue=DEFAULT_QUEUE,
        task_routes={
            # worker.queue.canvas sets queue and priority per task; these are the fallbacks
            "sourcevault.capture": {"queue": CAPTURE_QUEUE, "priority": BANDS[Kind.BULK][0]},
            # network-bound like a capture; scheduled, so behind every editor's digest
            "sourcevault.recheck": {"queue": CAPTURE_QUEUE, "priority": RECHECK_PRIORITY},
        },
        # `sourcevault beat`: every N minutes, look for sources due a re-check (capture.recheck)
        beat_schedule={
            "recheck-due": {
                "task": "sourcevault.recheck_due",
                "schedule": settings.recheck_every_minutes * 60,
            },
            # finalize runs whose chord callback never came (worker.queue.tasks.sweep)
            "sweep": {"task": "sourcevault.sweep", "schedule": 300},
        },
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


def _forget_connections() -> None:
    """Drop the pooled broker connections and cached result backend of an earlier broker.

    Celery builds them on first use and keeps them: a process that is pointed at a new
    broker (the web app, then `run`'s embedded Valkey; tests) would go on sending there.
    """
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


def app_settings() -> Settings:
    """The settings `configure` gave the app, or the environment's (a worker started
    without configure())."""
    settings: Settings | None = app.conf.get("sourcevault_settings")
    if settings is None:
        settings = load_settings()
        app.conf.sourcevault_settings = settings
    return settings


@worker_ready.connect
def _freeze_started_worker(**_: Any) -> None:
    # `sourcevault worker`, once its code is loaded (worker.collector.freeze_loaded says
    # why); the embedded worker of `run` freezes when it starts (worker.queue.embedded)
    from worker.collector import freeze_loaded

    freeze_loaded()
