"""Parsing off the event loop, in a process that is killed when it takes too long.

A hostile upload (a .docx whose XML expands to gigabytes, a digest whose one incident
cites 100,000 markers) must not hold the event loop, the GIL or the app's memory: the web
app reads uploads and parses digests in a small `ProcessPoolExecutor` (spawn: the app
runs threads) and awaits the result. A job still running after `timeout` seconds is
abandoned: its pool's processes are killed (a thread could not be) and a new pool is
started for the next job, so `/healthz` and every other request keep answering.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from worker.pool import watch_parent

log = logging.getLogger(__name__)

R = TypeVar("R")

DEFAULT_TIMEOUT = 30.0


class ParseTimeout(RuntimeError):
    """The job ran longer than the pool's timeout and its process was killed."""


class ParseCrashed(RuntimeError):
    """The job's process died (out of memory, killed, a crash in a C parser)."""


class ParsePool:
    """`await pool.run(fn, *args)`: `fn(*args)` in one of `processes` processes."""

    def __init__(self, processes: int = 1, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        self.processes = processes
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=watch_parent,
                    initargs=(os.getpid(),),
                )
            return self._pool, self._generation

    def pids(self) -> list[int]:
        """The pool's live process ids (for tests and logs)."""
        with self._lock:
            processes = getattr(self._pool, "_processes", None) or {}
            return [p.pid for p in processes.values() if p.pid is not None]

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        pool, generation = self._current()
        future = pool.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError as exc:
            log.warning("%s took over %g s; killing its process", fn.__name__, self.timeout)
            self._replace(generation, kill=True)
            raise ParseTimeout(
                f"reading and parsing took longer than {self.timeout:g} s and was stopped"
            ) from exc
        except BrokenProcessPool as exc:
            log.warning("%s: its process died (%s); new pool", fn.__name__, exc)
            self._replace(generation)
            raise ParseCrashed(
                "the process reading the digest died (too much memory?) and was replaced"
            ) from exc

    def _replace(self, generation: int, *, kill: bool = False) -> None:
        with self._lock:
            if self._generation != generation or self._pool is None:
                return  # another job already replaced it
            old, self._pool = self._pool, None
            self._generation += 1
        if kill:
            # no public way to stop a busy worker before Python 3.14's terminate_workers
            processes = getattr(old, "_processes", None) or {}
            for process in list(processes.values()):
                process.kill()
        old.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
