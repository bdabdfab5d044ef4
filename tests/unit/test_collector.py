"""Loading code with the collector paused, then frozen (worker.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from worker.collector import loading


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_no_collection_while_loading_then_what_loaded_is_frozen() -> None:
    gc.enable()
    gc.unfreeze()
    with loading():
        assert not gc.isenabled()
        made = [{"loaded": i} for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)


def test_a_failing_load_turns_the_collector_back_on() -> None:
    gc.enable()
    with pytest.raises(ImportError), loading():
        raise ImportError("no such module")
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    with loading():
        pass
    assert not gc.isenabled()
