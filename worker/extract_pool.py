"""Extraction in worker processes, one per core, apart from the fetching threads.

A capture thread spends ~100 ms waiting on the network and ~15 ms of CPU in trafilatura,
lxml and dateparser. In one process the GIL serialises that CPU across every capture
thread, so fetching slots sit idle behind extraction and one core does all the work.
`ProcessExtractor` hands the bytes to a `ProcessPoolExecutor` (forkserver: the worker
process already runs threads, and forking a threaded process is unsafe) and the thread
waits on the future with the GIL released: fetching goes on while pages are extracted
on every core.

A process that dies mid-page (a C-level crash in lxml, the OOM killer) breaks the whole
pool: the pool is rebuilt and the page tried once more in the new one, so the other
pages that were in flight are not blamed; a page that kills its process twice becomes an
`ExtractionFailure` naming the crash. `InlineExtractor` calls `extract` in the calling
thread: for prefork children (already one process per task) and `extract_processes=0`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from worker.extract import ExtractedPage, ExtractionFailure, ExtractOptions, extract

log = logging.getLogger(__name__)

__all__ = ["Extractor", "InlineExtractor", "ProcessExtractor", "build_extractor"]

ExtractFn = Callable[..., ExtractedPage | ExtractionFailure]


class Extractor(Protocol):
    def extract(
        self, html: bytes, *, url: str, charset: str | None, options: ExtractOptions
    ) -> ExtractedPage | ExtractionFailure: ...

    def close(self) -> None: ...


class InlineExtractor:
    """`worker.extract.extract` in the calling thread."""

    def __init__(self, fn: ExtractFn = extract) -> None:
        self._fn = fn

    def extract(
        self, html: bytes, *, url: str, charset: str | None, options: ExtractOptions
    ) -> ExtractedPage | ExtractionFailure:
        return self._fn(html, url=url, charset=charset, options=options)

    def close(self) -> None:
        pass


class ProcessExtractor:
    """`fn` (default `worker.extract.extract`) in a pool of `processes` processes."""

    def __init__(self, processes: int, *, fn: ExtractFn = extract) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        self.processes = processes
        self._fn = fn
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0  # bumped per rebuild, so racing threads rebuild only once

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                # the forkserver imports extraction once; each process forks from it warm
                context.set_forkserver_preload(["worker.extract"])
                self._pool = ProcessPoolExecutor(self.processes, mp_context=context)
            return self._pool, self._generation

    def _rebuild(self, broken_generation: int) -> None:
        with self._lock:
            if self._generation != broken_generation or self._pool is None:
                return  # another thread already replaced it
            old, self._pool = self._pool, None
            self._generation += 1
        old.shutdown(wait=False, cancel_futures=True)

    def extract(
        self, html: bytes, *, url: str, charset: str | None, options: ExtractOptions
    ) -> ExtractedPage | ExtractionFailure:
        for attempt in (1, 2):
            pool, generation = self._current()
            try:
                future = pool.submit(self._fn, html, url=url, charset=charset, options=options)
                return future.result()
            except BrokenProcessPool as exc:
                log.warning(
                    "extraction process died on %s (attempt %d): %s; new pool", url, attempt, exc
                )
                self._rebuild(generation)
        return ExtractionFailure(
            reason="extraction crashed its process twice (killed or a crash in the HTML parser)"
        )

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def default_processes() -> int:
    """One per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def build_extractor(processes: int | None) -> Extractor:
    """`processes` None: one per core; 0: inline (in the capture thread)."""
    count = default_processes() if processes is None else processes
    return ProcessExtractor(count) if count > 0 else InlineExtractor()
