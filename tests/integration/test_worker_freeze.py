"""A started worker freezes what it loaded (worker.collector.freeze_loaded), so the
collector's full passes skip the imported code: the embedded worker of `run` and a
`sourcevault worker`'s `worker_ready` both do it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.queue.app import app, configure
from worker.queue.embedded import embedded_broker, in_process_worker
from worker.settings import load_settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()  # what another test (or import) froze moves back to the oldest generation
    yield
    gc.unfreeze()


def test_the_embedded_worker_freezes_what_is_loaded_when_it_starts(
    tmp_path: Path, unfrozen: None
) -> None:
    assert gc.get_freeze_count() == 0
    with embedded_broker(tmp_path) as url:
        configure(load_settings(data_dir=tmp_path), url)
        with in_process_worker(app, concurrency=1):
            frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imported code: celery, the app, the pipeline


def test_a_deployment_worker_freezes_when_it_is_ready(unfrozen: None) -> None:
    from celery.signals import worker_ready

    import worker.queue.app

    # its receivers, not the signal sent: that would start the sweeper thread too
    (handler,) = [
        r
        for r in worker_ready._live_receivers(None)  # type: ignore[attr-defined]
        if getattr(r, "__module__", "") == worker.queue.app.__name__
    ]
    handler(sender=None)
    assert gc.get_freeze_count() > 10_000
