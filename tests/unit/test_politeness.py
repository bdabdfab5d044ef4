"""HostGate: per-host slots and spacing, on a fake clock whose sleep advances it.

Nothing here sleeps for real; the one threaded test waits on the gate's own counters.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from worker.fetch.fetcher import FetchLimits, fetch
from worker.fetch.politeness import HostGate, Unspaced
from worker.runtime import build_runtime
from worker.settings import Settings, load_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def gate(per_host: int = 2, delay: float = 0.5) -> tuple[HostGate, FakeClock]:
    fake = FakeClock()
    return HostGate(per_host, delay, clock=fake.clock, sleep=fake.sleep), fake


def test_back_to_back_requests_to_one_host_are_spaced_by_the_delay() -> None:
    g, fake = gate(delay=0.5)
    waits = []
    for _ in range(3):
        with g.slot("rus.azattyq.org") as waited:
            waits.append(waited)
    assert waits == [0.0, 0.5, 0.5]
    assert fake.sleeps == [0.5, 0.5]


def test_concurrent_holders_are_spaced_not_bunched() -> None:
    g, _fake = gate(per_host=2, delay=0.5)
    first = g.acquire("tirek.info")
    second = g.acquire("tirek.info")  # a free slot, but it must start 0.5 s after the first
    assert (first, second) == (0.0, 0.5)
    assert g.in_flight("tirek.info") == 2


def test_requisites_hold_a_slot_but_neither_wait_for_nor_push_the_turn() -> None:
    g, fake = gate(per_host=2, delay=0.5)
    # the page, and its photo at once
    with g.slot("rus.azattyq.org"), Unspaced(g).slot("rus.azattyq.org") as waited:
        assert waited == 0.0 and g.in_flight("rus.azattyq.org") == 2
    assert fake.sleeps == []
    with g.slot("rus.azattyq.org") as waited:  # the next page: one delay after the first
        assert waited == 0.5


def test_unspaced_requests_still_wait_for_a_free_slot() -> None:
    g, _fake = gate(per_host=1, delay=0.5)
    assert g.acquire("tirek.info") == 0.0
    assert g.acquire("tirek.info", blocking=False, spaced=False) is None
    g.release("tirek.info")
    assert g.acquire("tirek.info", blocking=False, spaced=False) == 0.0


def test_time_already_passed_counts_towards_the_delay() -> None:
    g, fake = gate(delay=0.5)
    with g.slot("kaztag.kz"):
        pass
    fake.now += 0.3
    with g.slot("kaztag.kz") as waited:
        assert waited == pytest.approx(0.2)
    fake.now += 5
    with g.slot("kaztag.kz") as waited:
        assert waited == 0.0


def test_hosts_do_not_wait_for_each_other() -> None:
    g, fake = gate(delay=2.0)
    with g.slot("a.test"), g.slot("b.test") as waited_b:
        assert waited_b == 0.0
    assert fake.sleeps == []


def test_slots_are_bounded_per_host_and_case_insensitive() -> None:
    g, _fake = gate(per_host=2, delay=0.0)
    assert g.acquire("Example.TEST") is not None
    assert g.acquire("example.test") is not None
    assert g.acquire("EXAMPLE.test", blocking=False) is None
    assert g.acquire("other.test", blocking=False) is not None  # another host is free
    g.release("example.test")
    assert g.acquire("example.test", blocking=False) is not None
    assert g.in_flight("example.test") == 2


def test_threads_never_exceed_the_per_host_bound() -> None:
    g, _fake = gate(per_host=2, delay=0.0)
    go = threading.Event()
    peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal peak
        with g.slot("facebook.com"):
            with lock:
                peak = max(peak, g.in_flight("facebook.com"))
            go.wait(10)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    give_up = time.monotonic() + 10
    while not (g.in_flight("facebook.com") == 2 and g.waiting("facebook.com") == 4):
        assert time.monotonic() < give_up, "threads never reached the gate"
        time.sleep(0.001)
    go.set()
    for t in threads:
        t.join(10)
    assert peak == 2
    assert g.in_flight("facebook.com") == 0 and g.waiting("facebook.com") == 0


def test_bad_arguments_are_loud() -> None:
    with pytest.raises(ValueError, match="per_host"):
        HostGate(0, 1.0)
    with pytest.raises(ValueError, match="delay"):
        HostGate(1, -1.0)


def test_fetch_holds_a_slot_per_hop_and_the_wait_does_not_eat_the_deadline() -> None:
    g, fake = gate(per_host=1, delay=5.0)
    seen_in_flight: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_in_flight.append(g.in_flight(request.url.host))
        if request.url.path == "/a":
            return httpx.Response(302, headers={"Location": "/b"})
        if request.url.path == "/b":
            return httpx.Response(302, headers={"Location": "/c"})
        return httpx.Response(200, content=b"done")

    limits = FetchLimits(max_body_bytes=1000, total_timeout=1.0, max_redirects=5)
    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        fetch("https://a.test/a", client, limits, clock=fake.clock, gate=g) as result,
    ):
        assert result.error is None and result.status_code == 200
    # three hops to one host, 5 s apart on the fake clock: 10 s of politeness inside a
    # 1 s deadline, which only counts the server's time
    assert fake.sleeps == [5.0, 5.0]
    assert seen_in_flight == [1, 1, 1]
    assert g.in_flight("a.test") == 0


def test_settings_build_the_runtime_gate(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, per_host_concurrency=3, per_host_delay=0.25)
    runtime = build_runtime(settings)
    try:
        assert runtime.gate is not None
        assert (runtime.gate.per_host, runtime.gate.delay) == (3, 0.25)
    finally:
        runtime.close()
    assert (Settings().per_host_concurrency, Settings().per_host_delay) == (2, 0.5)


def test_spread_by_host_interleaves_hosts_and_keeps_each_hosts_order() -> None:
    from worker.fetch.politeness import spread_by_host

    urls = [
        "https://A.example/1",
        "https://a.example/2",
        "https://a.example/3",
        "https://b.example/1",
        "https://c.example/1",
        "https://b.example/2",
    ]
    spread = spread_by_host(urls, lambda u: u.split("/")[2])
    assert spread == [
        "https://A.example/1",
        "https://b.example/1",
        "https://c.example/1",
        "https://a.example/2",
        "https://b.example/2",
        "https://a.example/3",
    ]
    assert sorted(spread) == sorted(urls)  # nothing lost or doubled
    assert spread_by_host([], str) == []
