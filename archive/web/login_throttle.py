"""Login throttling: failed logins per user name and per client address, in memory.

Each key (a user name, a client address) keeps its recent failures. Up to `free`
failures a key logs in freely; after that each further attempt must wait an
exponentially growing delay after the last failure (1 s, 2 s, 4 s, … up to `max_delay`),
answered with 429 and `Retry-After` before any password is hashed. Failures older than
`window` are forgotten; a successful login clears its user name's failures (not the
address's: a valid account must not reset an address that is guessing others). At most
`max_keys` keys are kept, the oldest dropped first, so random names cannot fill memory.
One process's memory: behind several app processes each throttles on its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    def __init__(
        self,
        *,
        free_per_user: int = 5,
        free_per_address: int = 20,
        base_delay: float = 1.0,
        max_delay: float = 900.0,
        window: float = 3600.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = {"user": free_per_user, "address": free_per_address}
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()

    def _keys(self, user: str, address: str) -> list[tuple[str, str]]:
        return [("user", user.strip().lower()), ("address", address)]

    def retry_after(self, user: str, address: str) -> int:
        """Seconds to wait before this attempt may be checked; 0 when it may be now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(user, address):
                entry = self._failures.get(key)
                if entry is None:
                    continue
                if now - entry.last > self.window:
                    del self._failures[key]
                    continue
                over = entry.count - self.free[key[0]]
                if over >= 0:
                    delay = min(self.base_delay * 2**over, self.max_delay)
                    wait = max(wait, entry.last + delay - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(user, address):
                entry = self._failures.pop(key, None) or _Failures(0, now)
                entry.count += 1
                entry.last = now
                self._failures[key] = entry  # most recent last
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(("user", user.strip().lower()), None)
