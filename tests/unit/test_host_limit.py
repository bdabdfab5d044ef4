"""The deployment-wide per-host limit (worker.fetch.host_limit) on a real redis-server.

Each gate instance has its own Redis connection, standing in for a worker process.
Time is a fake clock passed to every gate; `sleep` advances it, so nothing sleeps.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from worker.fetch.host_limit import RedisHostGate


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}"


def _gate(
    redis_url: str, prefix: str, clock: FakeClock, *, per_host: int = 2, delay: float = 0.5
) -> RedisHostGate:
    return RedisHostGate(
        redis.Redis.from_url(redis_url),
        per_host=per_host,
        delay=delay,
        lease=60,
        prefix=prefix,
        clock=clock,
        sleep=clock.sleep,
    )


def test_the_slot_bound_holds_across_processes(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    a, b = _gate(redis_url, prefix, clock), _gate(redis_url, prefix, clock)
    first = a.try_acquire("tirek.info")
    second = b.try_acquire("TIREK.info")  # host names are case-insensitive
    assert first is not None and second is not None
    assert a.try_acquire("tirek.info") is None
    assert b.try_acquire("tirek.info") is None
    assert b.try_acquire("kaztag.kz") is not None  # other hosts are not affected
    assert a.in_flight("tirek.info") == 2
    a.release("tirek.info", first[0])
    assert b.try_acquire("tirek.info") is not None


def test_request_starts_are_spaced_deployment_wide(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    a, b = _gate(redis_url, prefix, clock, per_host=5), _gate(redis_url, prefix, clock, per_host=5)
    waits = [g.try_acquire("rus.azattyq.org") for g in (a, b, a, b)]
    assert [w[1] for w in waits if w] == [0.0, 0.5, 1.0, 1.5]
    clock.now += 10  # long after: no wait
    later = b.try_acquire("rus.azattyq.org")
    assert later is not None and later[1] == 0.0


def test_a_dead_workers_slot_expires_with_its_lease(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    dead, alive = (_gate(redis_url, prefix, clock, per_host=1) for _ in range(2))
    assert dead.try_acquire("kaztag.kz") is not None  # never released: the worker died
    assert alive.try_acquire("kaztag.kz") is None
    clock.now += 61
    assert alive.try_acquire("kaztag.kz") is not None


def test_slot_waits_for_a_free_slot_then_for_its_turn(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    holder = _gate(redis_url, prefix, clock, per_host=1, delay=2.0)
    held = holder.try_acquire("infoprof.su")
    assert held is not None
    waiter = _gate(redis_url, prefix, clock, per_host=1, delay=2.0)
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        clock.now += seconds
        if len(polls) == 3:  # the holder finishes while the waiter polls
            holder.release("infoprof.su", held[0])

    waiter._sleep = sleep
    with waiter.acquire("infoprof.su") as waited:
        assert holder.in_flight("infoprof.su") == 1
    # three polls of 0.05 s, then the rest of the 2 s spacing after the holder's start
    assert polls[:3] == [waiter.poll] * 3
    assert waited == pytest.approx(2.0 - 3 * waiter.poll)
    assert holder.in_flight("infoprof.su") == 0


def test_threads_never_exceed_the_bound(redis_url: str, prefix: str) -> None:
    gates = [
        RedisHostGate(
            redis.Redis.from_url(redis_url), per_host=2, delay=0, prefix=prefix, poll=0.001
        )
        for _ in range(3)
    ]
    lock = threading.Lock()
    inside = peak = 0
    entered = 0

    def work(gate: RedisHostGate) -> None:
        nonlocal inside, peak, entered
        for _ in range(15):
            with gate.slot("secure.avaaz.org"):
                with lock:
                    inside += 1
                    entered += 1
                    peak = max(peak, inside)
                threading.Event().wait(0.001)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=work, args=(g,)) for g in gates for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert entered == 90
    assert 1 <= peak <= 2


def test_bad_parameters_are_refused() -> None:
    client = redis.Redis()  # never connects: the checks come first
    with pytest.raises(ValueError, match="per_host"):
        RedisHostGate(client, per_host=0)
    with pytest.raises(ValueError, match="delay"):
        RedisHostGate(client, delay=-1)


def test_a_pages_requisites_hold_slots_but_not_the_hosts_turn(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    a, b = _gate(redis_url, prefix, clock, per_host=3), _gate(redis_url, prefix, clock, per_host=3)
    page = a.try_acquire("rus.azattyq.org")
    # the page's images, from another worker even: at once, and the next page's turn stays
    image = b.try_acquire("rus.azattyq.org", spaced=False)
    assert page is not None and image is not None and image[1] == 0.0
    assert b.try_acquire("rus.azattyq.org", spaced=False) is not None
    assert a.try_acquire("rus.azattyq.org", spaced=False) is None  # the in-flight bound holds
    a.release("rus.azattyq.org", image[0])
    next_page = a.try_acquire("rus.azattyq.org")
    assert next_page is not None and next_page[1] == 0.5
