"""Which per-host gate a process uses (worker.fetch.politeness.Gate).

- A deployment (a broker URL in Settings): `RedisHostGate` on the broker's Redis, so the
  per-host limit binds every worker process on every machine together; adding workers
  never multiplies the traffic to one site.
- The embedded default (`sourcevault run` without a broker): one process, so the
  in-memory `HostGate` is exact (its private Valkey starts only after the runtime).

While Redis is unreachable (a broker restart mid-run), `SharedGate` falls back to the
process's own `HostGate` instead of failing the capture: politeness degrades to per
process for those requests, and the broker being down stops new work anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from worker.fetch.host_limit import RedisHostGate
from worker.fetch.politeness import Gate, HostGate
from worker.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["SharedGate", "build_gate"]


class SharedGate:
    """A `RedisHostGate` with a per-process `HostGate` to fall back on when Redis fails."""

    def __init__(self, shared: RedisHostGate, local: HostGate) -> None:
        self.shared = shared
        self.local = local

    @contextmanager
    def slot(self, host: str, *, spaced: bool = True) -> Iterator[float]:
        try:
            slot = self.shared.slot(host, spaced=spaced)
            waited = slot.__enter__()
        except redis.RedisError as exc:
            log.warning("host limit: Redis unavailable (%s); per-process limit for %s", exc, host)
            with self.local.slot(host, spaced=spaced) as local_waited:
                yield local_waited
            return
        try:
            yield waited
        finally:
            try:
                slot.__exit__(None, None, None)
            except redis.RedisError as exc:  # the lease expires by itself
                log.warning("host limit: could not release %s's slot: %s", host, exc)


def build_gate(settings: Settings) -> Gate:
    """The gate for this process's runtime (see the module docstring)."""
    local = HostGate(settings.per_host_concurrency, settings.per_host_delay)
    if not settings.broker_url:
        return local
    shared = RedisHostGate.from_url(
        settings.broker_url,
        per_host=settings.per_host_concurrency,
        delay=settings.per_host_delay,
        # A task is killed after task_time_limit: a slot held longer is a dead worker's.
        lease=float(settings.task_time_limit),
    )
    return SharedGate(shared, local)
