"""Extraction in worker processes, one per core, apart from the fetching threads.

A capture thread spends ~100 ms waiting on the network and ~15 ms of CPU in trafilatura,
lxml and dateparser. In one process the GIL serialises that CPU across every capture
thread, so fetching slots sit idle behind extraction and one core does all the work.
`ProcessExtractor` hands the bytes to a `ProcessPoolExecutor` and the thread waits on the
future with the GIL released: fetching goes on while pages are extracted on every core.
Its processes come from a fork server (not a fork of the worker process, which runs
threads): the server imports the extraction code and fills its first-call caches once
(`worker.sites.warmed`), and each process forked from it starts ready, where a spawned
one spent ~1.3 CPU s importing and warming on its own.

A process that dies mid-page (a C-level crash in lxml, the OOM killer) breaks the whole
pool: the pool is rebuilt and the page tried once more in the new one, so the other
pages that were in flight are not blamed; after a second crash the page is tried in a
process of its own, and only a page that kills that one too becomes an
`ExtractionFailure` naming the crash. A page still running after `timeout` seconds (a
parser loop on hostile HTML) is abandoned and its pool killed, so it cannot hold a
process and a capture thread for good. `InlineExtractor` calls `extract` in the calling
thread: for prefork children (already one process per task) and `extract_processes=0`.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from worker import timings
from worker.extract.page import ExtractedPage, ExtractionFailure, ExtractOptions
from worker.sites.registry import extract_page, warm

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 120.0  # seconds a new process may take to import, on a loaded machine

__all__ = ["Extractor", "InlineExtractor", "ProcessExtractor", "build_extractor"]

ExtractFn = Callable[..., ExtractedPage | ExtractionFailure]
A = TypeVar("A")
R = TypeVar("R")


class Extractor(Protocol):
    def extract(
        self,
        html: bytes,
        *,
        url: str,
        charset: str | None,
        options: ExtractOptions,
        content_type: str = "text/html",
    ) -> ExtractedPage | ExtractionFailure: ...

    def map(self, fn: Callable[[A], R], items: Sequence[A]) -> list[R]:
        """`[fn(x) for x in items]`, on the pool's processes when there are any (the
        report's name checks: seconds of CPU for a few thousand sources)."""
        ...

    def call(self, fn: Callable[[A], R], item: A) -> R:
        """`fn(item)` in one of the pool's processes when there are any (the report's
        same-text search: its imports are warm there, and this process's GIL stays free)."""
        ...

    def start(self) -> None:
        """Get ready before the first page (no-op where there is nothing to start)."""
        ...

    def close(self) -> None: ...


class InlineExtractor:
    """`worker.sites.registry.extract_page` in the calling thread."""

    def __init__(self, fn: ExtractFn = extract_page) -> None:
        self._fn = fn

    def extract(
        self,
        html: bytes,
        *,
        url: str,
        charset: str | None,
        options: ExtractOptions,
        content_type: str = "text/html",
    ) -> ExtractedPage | ExtractionFailure:
        with timings.span("extract"):
            return self._fn(
                html, url=url, charset=charset, options=options, content_type=content_type
            )

    def map(self, fn: Callable[[A], R], items: Sequence[A]) -> list[R]:
        return [fn(item) for item in items]

    def call(self, fn: Callable[[A], R], item: A) -> R:
        return fn(item)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


class ProcessExtractor:
    """`fn` (default `worker.sites.registry.extract_page`) in a pool of `processes` processes."""

    def __init__(
        self, processes: int, *, fn: ExtractFn = extract_page, timeout: float | None = None
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        self.processes = processes
        self.timeout = timeout
        self._fn = fn
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0  # bumped per rebuild, so racing threads rebuild only once
        self._warming: list[Future[None]] = []  # the new pool's start-up, not a page's time

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._pool is None:
                self._pool = _new_pool(self.processes)
                # start every process now: Python 3.11 starts them one per submit, and a
                # crash in a process it is still starting goes unnoticed until the pool's
                # next event
                self._warming = [self._pool.submit(warm) for _ in range(self.processes)]
            return self._pool, self._generation

    def _started(self) -> None:
        """Wait for a new pool's processes to import (a page's timeout is for the page)."""
        for future in list(self._warming):
            try:
                future.result(timeout=STARTUP_TIMEOUT)
            except Exception:  # a broken start shows at the page's own submit
                return

    def start(self) -> None:
        """Start the processes now, not at the first page: `run` calls this before it
        starts the broker. In a thread: a new fork server imports for about a second
        before it forks the first process, and the caller has its own start to do."""
        threading.Thread(
            target=self._current, name="sourcevault-extract-start", daemon=True
        ).start()

    def _rebuild(self, broken_generation: int, *, kill: bool = False) -> None:
        with self._lock:
            if self._generation != broken_generation or self._pool is None:
                return  # another thread already replaced it
            old, self._pool = self._pool, None
            self._generation += 1
        if kill:  # a process stuck on a page: the pages beside it are retried (BrokenProcessPool)
            _terminate(old)
        _end_pool(old, wait=False)

    def extract(
        self,
        html: bytes,
        *,
        url: str,
        charset: str | None,
        options: ExtractOptions,
        content_type: str = "text/html",
    ) -> ExtractedPage | ExtractionFailure:
        kwargs = {"url": url, "charset": charset, "options": options, "content_type": content_type}
        for attempt in (1, 2):
            pool, generation = self._current()
            self._started()
            try:
                with timings.span("extract_wait"):  # pickling, a free process, unpickling
                    future = pool.submit(_timed, self._fn, html, **kwargs)
                    took, page = future.result(timeout=self.timeout)
                    timings.add("extract", took)
                return page
            except BrokenProcessPool as exc:
                log.warning(
                    "extraction process died on %s (attempt %d): %s; new pool", url, attempt, exc
                )
                self._rebuild(generation)
            except FutureTimeout:
                # a page that never finishes (a parser loop on hostile HTML) would hold its
                # process and this capture thread for good: kill the pool, keep the rest
                log.warning("extraction of %s took over %s s; killing its pool", url, self.timeout)
                self._rebuild(generation, kill=True)
                return ExtractionFailure(
                    reason=f"extraction took longer than {self.timeout:g} s and was abandoned"
                )
        # Twice in a shared pool may be a neighbour's crash both times: a process of its
        # own says whether this page is the one.
        alone = _new_pool(1)
        try:
            future = alone.submit(_timed, self._fn, html, **kwargs)
            return future.result()[1]
        except BrokenProcessPool:
            log.warning("extraction of %s crashes its process on its own too", url)
        finally:
            _end_pool(alone, wait=True)
        return ExtractionFailure(
            reason="extraction crashed its process (killed, or a crash in the HTML parser)"
        )

    def map(self, fn: Callable[[A], R], items: Sequence[A]) -> list[R]:
        if len(items) < 2 * self.processes:  # not worth the pickling
            return [fn(item) for item in items]
        pool, generation = self._current()
        chunk = max(1, len(items) // (4 * self.processes))
        try:
            return list(pool.map(fn, items, chunksize=chunk))
        except BrokenProcessPool:
            log.warning("a process died during a batch of %d items; doing them here", len(items))
            self._rebuild(generation)
            return [fn(item) for item in items]

    def call(self, fn: Callable[[A], R], item: A) -> R:
        pool, generation = self._current()
        self._started()
        try:
            return pool.submit(fn, item).result()
        except BrokenProcessPool:
            log.warning("a process died during %s; doing it here", _name(fn))
            self._rebuild(generation)
            return fn(item)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            _end_pool(pool, wait=True)


def _timed(
    fn: ExtractFn, html: bytes, **kwargs: object
) -> tuple[float, ExtractedPage | ExtractionFailure]:
    """`fn`'s result and its seconds in the extraction process (worker.timings: the rest
    of the caller's wait is pickling and queueing)."""
    t0 = time.perf_counter()
    page = fn(html, **kwargs)
    return time.perf_counter() - t0, page


# Pools share the process's one fork server, and each process forked from it holds the
# server's "alive" pipe, so the server outlives its processes only: it is stopped when the
# last pool has ended.
_open_pools = 0
_open_lock = threading.Lock()


def _new_pool(processes: int) -> ProcessPoolExecutor:
    global _open_pools
    context = multiprocessing.get_context("forkserver")
    # read when the server starts (the first pool's first process), ignored after
    context.set_forkserver_preload(["worker.sites.warmed", "worker.pool", "worker.judge.names"])
    with _open_lock:
        _open_pools += 1
    return ProcessPoolExecutor(
        processes, mp_context=context, initializer=watch_parent, initargs=(os.getpid(),)
    )


def _end_pool(pool: ProcessPoolExecutor, *, wait: bool) -> None:
    """Shut `pool` down; after the last pool, when its processes are gone (`wait`), stop
    the fork server and reap it, so its CPU time and that of the processes it forked (and
    reaped) is counted to this process, as a spawned child's would be. The next pool
    starts a new server. (`_stop` is what Python's own tests call; there is no public way.)"""
    global _open_pools
    pool.shutdown(wait=wait, cancel_futures=True)
    with _open_lock:
        _open_pools -= 1
        if _open_pools > 0 or not wait:
            return
        server = getattr(multiprocessing.forkserver, "_forkserver", None)
        stop = getattr(server, "_stop", None)
        if stop is not None:
            stop()


def watch_parent(owner: int, interval: float = 1.0) -> None:
    """Pool initializer: exit when `owner`, the process that made the pool, is gone (a
    SIGKILLed `run` or worker must not leave its extraction processes behind). A pool
    process is the owner's child (spawn) or a child of the owner's fork server, which is
    the owner's child until the owner dies. A thread polls; prctl's PDEATHSIG would follow
    the parent *thread* that happened to start the process."""

    def owned() -> bool:
        parent = os.getppid()
        return parent == owner or _parent_of(parent) == owner

    def watch() -> None:
        while owned():
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="sourcevault-watch-parent", daemon=True).start()


def _parent_of(pid: int) -> int | None:
    try:  # /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces and brackets
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _terminate(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public way to stop a busy process before Python 3.14
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    processes: dict[int, multiprocessing.process.BaseProcess] = (
        getattr(pool, "_processes", None) or {}
    )
    for process in list(processes.values()):
        process.terminate()


def default_processes() -> int:
    """One per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def build_extractor(processes: int | None, *, timeout: float | None = None) -> Extractor:
    """`processes` None: one per core; 0: inline (in the capture thread, where `timeout`
    cannot be enforced: the capture's own time limits apply)."""
    count = default_processes() if processes is None else processes
    return ProcessExtractor(count, timeout=timeout) if count > 0 else InlineExtractor()


def _name(fn: Callable[..., object]) -> str:
    """A function's name for a log line; a partial's arguments (a report's every
    signature, say) never go in it."""
    while isinstance(fn, partial):
        fn = fn.func
    return getattr(fn, "__qualname__", type(fn).__name__)
