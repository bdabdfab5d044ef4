"""Every worker's sweeper: dead workers' jobs, lost messages, runs without a callback.

Its own module (in the Celery app's `include`, so every worker loads it) because it
sends tasks through `worker.queue.canvas`, which imports the tasks themselves.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown

from worker.queue.app import app_settings
from worker.queue.canvas import sweep_once
from worker.settings import Settings
from worker.store.engine import make_engine, make_session_factory

log = logging.getLogger(__name__)


class Sweeper:
    """In every worker: every `sweep_interval` s, send again the jobs of dead workers
    (claim heartbeat stale) and lost messages (pending, queues empty), and finalize runs
    whose every job ended but whose chord callback never came (worker.queue.canvas.sweep_once).
    A thread of the worker's main process, beside the consumer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sourcevault-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def _run(self) -> None:
        engine = make_engine(self.settings.effective_database_url)
        try:
            sessions = make_session_factory(engine)
            while not self._stop.wait(self.settings.sweep_interval):
                try:
                    sweep_once(self.settings, sessions)
                except Exception:  # the broker or database is restarting: next round
                    log.warning("sweep failed", exc_info=True)
        finally:
            engine.dispose()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


_sweepers: list[Sweeper] = []


@worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    _sweepers.append(Sweeper(app_settings()).start())


@worker_process_shutdown.connect
@worker_shutdown.connect
def _stop_sweepers(**_: Any) -> None:
    while _sweepers:
        _sweepers.pop().stop()
