"""archive.web.parse_pool: jobs run in a process; one that runs too long is killed and the
event loop keeps serving meanwhile (issue #15.4, #15.8). No durations are asserted."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from archive.web.parse_pool import ParseCrashed, ParsePool, ParseTimeout
from archive.web.uploads import read_and_parse


def _forever() -> None:
    time.sleep(3600)


def _die() -> None:
    os._exit(9)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child not yet reaped is a zombie: dead for our purposes
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def test_a_job_over_the_time_limit_is_killed_and_the_loop_keeps_running() -> None:
    pool = ParsePool(1, timeout=2.0)

    async def scenario() -> tuple[int, list[int]]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        job = asyncio.create_task(pool.run(_forever))
        while not pool.pids():
            await asyncio.sleep(0.05)
        pids = pool.pids()
        with pytest.raises(ParseTimeout, match="longer than 2 s"):
            await job
        ticking.cancel()
        return ticks, pids

    try:
        ticks, pids = asyncio.run(scenario())
        assert ticks > 0  # other coroutines ran while the job was stuck
        for _ in range(100):  # kill() is sent; reaping takes a moment
            if not any(_alive(p) for p in pids):
                break
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
        # a fresh pool serves the next job
        text, digest = asyncio.run(
            pool.run(read_and_parse, None, "September 1, x [1]", 0, "d", 2021)
        )
        assert text == "September 1, x [1]"
        assert digest.incidents[0].footnotes == [1]
        assert not set(pool.pids()) & set(pids)
    finally:
        pool.close()


def test_a_job_that_kills_its_process_is_reported_and_the_pool_replaced() -> None:
    pool = ParsePool(1, timeout=60)
    try:
        with pytest.raises(ParseCrashed, match="died"):
            asyncio.run(pool.run(_die))
        _text, digest = asyncio.run(pool.run(read_and_parse, None, "x", 0, "d", None))
        assert digest.incidents == []
    finally:
        pool.close()
