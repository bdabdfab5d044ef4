"""Per-host politeness: at most N requests in flight to one host, and a pause between them.

A digest cites one news site dozens of times; two dozen capture threads firing at it at once
look like an attack and get us blocked (`blocked`, 429). `HostGate.slot(host)` is held
around every request (every redirect hop, every retry): it waits for one of the host's
`per_host` slots, then for the host's next start time, which it pushes `delay` seconds
further before releasing its lock, so concurrent callers are spaced out, not bunched.
`slot(host, spaced=False)` takes a slot only: a page's requisites (its images, styles,
scripts) load right after it, as a browser's would, within the same in-flight bound; the
spacing is between page visits.

The gate is per process and thread-safe (the embedded worker runs threads; a prefork
child has its own gate, so the per-host bound there is per child). `clock` and `sleep`
are seams: tests pass a fake clock whose sleep advances it, and never sleep for real.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

logger = logging.getLogger(__name__)

__all__ = ["Gate", "HostGate", "Unspaced", "check_limits", "spread_by_host", "unspaced"]

T = TypeVar("T")


class Gate(Protocol):
    """What fetch needs of a per-host limit: this process's `HostGate`, or the
    deployment-wide `worker.fetch.host_limit.RedisHostGate` (the same rules, kept in Redis)."""

    def slot(self, host: str, *, spaced: bool = True) -> AbstractContextManager[float]:
        """Hold one of `host`'s slots around one request (after the host's turn, when
        `spaced`); yields seconds waited for the turn."""
        ...


class Unspaced:
    """`gate` for the requests that load with a page (its requisites): they hold the
    host's in-flight slots but do not wait for, or push on, its turn between pages."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def slot(self, host: str, *, spaced: bool = True) -> AbstractContextManager[float]:
        # `spaced` is the Gate protocol's; a requisite is never spaced, whoever asks
        return self.gate.slot(host, spaced=False)


def unspaced(gate: Gate | None) -> Gate | None:
    """`gate` for a page's requisites (None stays None: no per-host limit at all)."""
    return None if gate is None else Unspaced(gate)


_PRUNE_AT = 1024  # forget idle hosts once this many are tracked


@dataclass
class _Host:
    slots: threading.BoundedSemaphore
    next_start: float = float("-inf")
    holders: int = 0
    waiting: int = field(default=0)


def check_limits(per_host: int, delay: float) -> None:
    """The rules every gate takes: at least one request in flight, no negative delay."""
    if per_host < 1:
        raise ValueError(f"per_host must be at least 1, not {per_host}")
    if delay < 0:
        raise ValueError(f"delay must not be negative, not {delay}")


class HostGate:
    """Bounds concurrency and spaces requests per host name (case-insensitive)."""

    def __init__(
        self,
        per_host: int = 2,
        delay: float = 0.5,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_limits(per_host, delay)
        self.per_host = per_host
        self.delay = delay
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._hosts: dict[str, _Host] = {}

    def _state(self, host: str) -> _Host:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                if len(self._hosts) >= _PRUNE_AT:
                    self._prune()
                state = self._hosts[host] = _Host(threading.BoundedSemaphore(self.per_host))
            state.waiting += 1
            return state

    def _prune(self) -> None:
        now = self._clock()
        idle = [
            h
            for h, s in self._hosts.items()
            if not s.holders and not s.waiting and s.next_start <= now
        ]
        for h in idle:
            del self._hosts[h]

    def acquire(self, host: str, *, blocking: bool = True, spaced: bool = True) -> float | None:
        """Take one of `host`'s slots and (when `spaced`) wait for its turn; returns seconds
        waited for the turn (None, with nothing taken, when `blocking=False` and no slot
        is free)."""
        host = host.lower()
        state = self._state(host)
        try:
            if not state.slots.acquire(blocking=blocking):
                return None
        finally:
            with self._lock:
                state.waiting -= 1
        with self._lock:
            state.holders += 1
            if not spaced:
                return 0.0
            now = self._clock()
            start = max(now, state.next_start)
            state.next_start = start + self.delay
        wait = start - now
        if wait > 0:
            logger.debug("politeness: waiting %.2fs before the next request to %s", wait, host)
            self._sleep(wait)
        return wait

    def release(self, host: str) -> None:
        host = host.lower()
        with self._lock:
            state = self._hosts[host]
            state.holders -= 1
        state.slots.release()

    @contextmanager
    def slot(self, host: str, *, spaced: bool = True) -> Iterator[float]:
        """Hold one of `host`'s slots for the body of the `with`; yields seconds waited."""
        waited = self.acquire(host, spaced=spaced)
        assert waited is not None  # blocking acquire always gets a slot
        try:
            yield waited
        finally:
            self.release(host)

    def in_flight(self, host: str) -> int:
        """Requests to `host` holding a slot right now."""
        with self._lock:
            state = self._hosts.get(host.lower())
            return state.holders if state is not None else 0

    def waiting(self, host: str) -> int:
        """Callers blocked on `host`'s slots right now (for tests and progress logs)."""
        with self._lock:
            state = self._hosts.get(host.lower())
            return state.waiting if state is not None else 0


def spread_by_host(items: Sequence[T], host_of: Callable[[T], str]) -> list[T]:
    """`items` reordered round-robin over their hosts (first item of each host, then the
    second of each…), keeping each host's own order.

    A queue consumed in digest order sends runs of one site's URLs to every slot at
    once: all but one wait out the host's delay while other hosts sit idle. Spread, the
    slots work on different hosts and the busiest host starts at once.
    """
    by_host: dict[str, list[T]] = {}
    for item in items:
        by_host.setdefault(host_of(item).lower(), []).append(item)
    groups = list(by_host.values())
    spread: list[T] = []
    for k in range(max(map(len, groups), default=0)):
        spread.extend(group[k] for group in groups if k < len(group))
    return spread
