"""Per-host rate limit shared by every worker process, kept in Redis (the broker's server).

`worker.fetch.politeness.HostGate` bounds one process. With three workers on three machines,
three gates would let three times the traffic through to one news site. `RedisHostGate`
holds the same two rules in Redis, so they bind the whole deployment:

- at most `per_host` requests in flight to a host: a sorted set of leases per host whose
  scores are expiry times, so a worker killed mid-request frees its slot after `lease`
  seconds instead of holding it forever;
- request starts to a host spaced by `delay` seconds: a per-host "next start" time that
  each caller reads and pushes forward atomically, then sleeps until its turn.

Both steps are one Lua script each, so concurrent callers never race. Time comes from
`clock` (wall-clock seconds, comparable across machines; a test seam, as is `sleep`),
passed into the script, never read inside Redis.

Interface (the same shape as HostGate): `gate.slot(host)` is a context manager held
around one request that yields the seconds waited for the turn; `gate.acquire(host)` is
an alias returning that context manager.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import redis

from worker.fetch.politeness import check_limits

__all__ = ["RedisHostGate"]

log = logging.getLogger(__name__)

# KEYS[1] leases zset, KEYS[2] next-start key; ARGV now, per_host, lease, delay, token,
# spaced ('1': wait for the host's turn and push it on; '0': a slot only).
# Returns the start time granted, or -1 when every slot is taken.
_ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return '-1'
end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 1)
if ARGV[6] == '0' then
  return tostring(now)
end
local start = now
local nxt = tonumber(redis.call('GET', KEYS[2]) or '-1')
if nxt > start then start = nxt end
local delay = tonumber(ARGV[4])
redis.call('SET', KEYS[2], tostring(start + delay), 'EX', math.ceil(start - now + delay) + 1)
return tostring(start)
"""


class RedisHostGate:
    """Bounds concurrency and spaces requests per host name, across processes (Redis)."""

    def __init__(
        self,
        client: redis.Redis,
        per_host: int = 2,
        delay: float = 0.5,
        *,
        lease: float = 300.0,
        poll: float = 0.05,
        prefix: str = "sourcevault:host",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_limits(per_host, delay)
        if lease <= 0:
            raise ValueError(f"lease must be positive, not {lease}")
        self.client = client
        self.per_host = per_host
        self.delay = delay
        self.lease = lease
        self.poll = poll
        self.prefix = prefix
        self._clock = clock
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> RedisHostGate:
        """A gate on the Redis at `url` (e.g. the broker's), e.g. `per_host=2, delay=0.5`."""
        return cls(redis.Redis.from_url(url), **kwargs)  # type: ignore[arg-type]

    def _keys(self, host: str) -> list[str]:
        host = host.lower()
        return [f"{self.prefix}:{host}:leases", f"{self.prefix}:{host}:next"]

    def try_acquire(self, host: str, *, spaced: bool = True) -> tuple[str, float] | None:
        """One attempt: (lease token, seconds to wait for the turn), or None if all slots
        are taken. Call `release(host, token)` after the request."""
        token = uuid.uuid4().hex
        now = self._clock()
        start = float(
            self._acquire(
                keys=self._keys(host),
                args=[repr(now), self.per_host, self.lease, self.delay, token, int(spaced)],
            )
        )
        if start < 0:
            return None
        return token, max(0.0, start - now)

    def release(self, host: str, token: str) -> None:
        self.client.zrem(self._keys(host)[0], token)

    @contextmanager
    def slot(self, host: str, *, spaced: bool = True) -> Iterator[float]:
        """Hold one of `host`'s slots (deployment-wide) for the `with` body; yields seconds
        waited for the turn (slot waits not included; no turn when not `spaced`)."""
        while True:
            got = self.try_acquire(host, spaced=spaced)
            if got is not None:
                break
            self._sleep(self.poll)
        token, wait = got
        try:
            if wait > 0:
                log.debug("host limit: waiting %.2fs before the next request to %s", wait, host)
                self._sleep(wait)
            yield wait
        finally:
            self.release(host, token)

    def acquire(self, host: str) -> AbstractContextManager[float]:
        """`with gate.acquire(host): ...` — the same as `slot(host)`."""
        return self.slot(host)

    def in_flight(self, host: str) -> int:
        """Unexpired leases on `host` right now (for tests and progress logs)."""
        key = self._keys(host)[0]
        return int(self.client.zcount(key, f"({self._clock()!r}", "+inf"))
