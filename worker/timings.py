"""Where one capture's wall time goes, and where a run's start and end go: for `bench/`.

Off unless `Settings.timings_file` names a file. Then every capture writes one JSON line:
its thread, wall start and end, and the seconds of each named step (`span`). Spans nest
and count their own time only: a span's children are taken out of it, so the steps of
one capture add up to its whole wall time, the rest going to `other`. A group span
(the soft-404 probe) names the steps inside it after itself: `probe.fetch`. A `mark` line is
one moment of a run (the broker ready, the report written), for the fixed costs.

The steps are few and named the same everywhere (fetch, host_turn, extract_wait…); code
that is not inside a timed capture pays one context-variable read per span.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import ParamSpec, TypeVar

__all__ = ["Stopwatch", "add", "capture", "entering", "mark", "span", "timed"]

P = ParamSpec("P")
T = TypeVar("T")

_current: contextvars.ContextVar[Stopwatch | None] = contextvars.ContextVar(
    "sourcevault_timings", default=None
)
_append_lock = threading.Lock()
log = logging.getLogger(__name__)


class Stopwatch:
    """The exclusive seconds of each step of one capture (a step's children excluded)."""

    def __init__(self) -> None:
        self.began = time.time()
        self._t0 = time.perf_counter()
        self.spans: dict[str, float] = {}
        self._children: list[float] = [0.0]  # children's seconds, one slot per open span
        self._prefix = ""  # "probe." inside the group span "probe"

    def _count(self, name: str, seconds: float) -> None:
        name = self._prefix + name
        self.spans[name] = self.spans.get(name, 0.0) + seconds

    @contextlib.contextmanager
    def span(self, name: str, *, group: bool = False) -> Iterator[None]:
        t0 = time.perf_counter()
        self._children.append(0.0)
        outer = self._prefix
        if group:
            self._prefix = f"{outer}{name}."
        try:
            yield
        finally:
            self._prefix = outer
            elapsed = time.perf_counter() - t0
            children = self._children.pop()
            self._count(name, max(0.0, elapsed - children))
            self._children[-1] += elapsed

    def add(self, name: str, seconds: float) -> None:
        """`seconds` measured elsewhere (a child process's extraction, a wait reported by a
        gate) inside the open span, which is charged that much less."""
        seconds = max(0.0, seconds)
        self._count(name, seconds)
        self._children[-1] += seconds

    def line(self, **fields: object) -> dict[str, object]:
        total = time.perf_counter() - self._t0
        spans = dict(self.spans)
        spans["other"] = max(0.0, total - sum(spans.values()))
        return {
            **fields,
            "thread": threading.get_ident(),
            "began": self.began,
            "ended": self.began + total,
            "total": total,
            "spans": spans,
        }


@contextlib.contextmanager
def span(name: str, *, group: bool = False) -> Iterator[None]:
    """Count the block's own time to step `name` of the capture being timed, if any;
    a `group` names the steps inside it `name.step`."""
    watch = _current.get()
    if watch is None:
        yield
        return
    with watch.span(name, group=group):
        yield


def timed(name: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A function whose every call is the step `name` (`span` around it)."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            with span(name):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


@contextlib.contextmanager
def entering(name: str, manager: AbstractContextManager[object]) -> Iterator[None]:
    """`with manager:`, the wait to enter it counted as step `name` (a lock's turn)."""
    with contextlib.ExitStack() as stack:
        with span(name):
            stack.enter_context(manager)
        yield


def add(name: str, seconds: float) -> None:
    watch = _current.get()
    if watch is not None:
        watch.add(name, seconds)


@contextlib.contextmanager
def capture(path: Path | None, **fields: object) -> Iterator[dict[str, object]]:
    """Time the block as one capture and append its line to `path` (nothing if None),
    with `fields` and whatever the block adds to the dict it is given (its outcome)."""
    if path is None:
        yield dict(fields)
        return
    watch = Stopwatch()
    token = _current.set(watch)
    try:
        yield fields
    finally:
        _current.reset(token)
        _append(path, watch.line(**fields))


def mark(path: Path | None, name: str) -> None:
    """One moment of a run (wall clock), as its own line."""
    if path is not None:
        _append(path, {"mark": name, "at": time.time()})


def _append(path: Path, line: dict[str, object]) -> None:
    """A diagnostic: a file that cannot be written is logged, never a capture's failure."""
    text = json.dumps(line, separators=(",", ":")) + "\n"
    try:
        with _append_lock, path.open("a", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        log.warning("SOURCEVAULT_TIMINGS_FILE %s: cannot append: %s", path, exc)
