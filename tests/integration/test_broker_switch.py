"""One process pointed at a second broker queues there, not on the first (Celery caches
its connection pool: the web app and `run` in one process, or tests, would cross)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.servers import redis_server
from worker.queue.app import DEFAULT_QUEUE, configure
from worker.queue.tasks import finalize_run
from worker.settings import load_settings

pytestmark = pytest.mark.integration


def test_reconfiguring_the_broker_sends_to_the_new_one(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    with redis_server(tmp_path / "a") as first, redis_server(tmp_path / "b") as second:
        configure(settings, first)
        finalize_run.delay([], "run-on-first")
        configure(settings, second)
        finalize_run.delay([], "run-on-second")
        assert redis.Redis.from_url(first).llen(DEFAULT_QUEUE) == 1
        assert redis.Redis.from_url(second).llen(DEFAULT_QUEUE) == 1
