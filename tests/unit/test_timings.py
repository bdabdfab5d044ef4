"""worker.timings: the exclusive steps of one capture, as bench/ reads them."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from worker import timings


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(t) for t in path.read_text().splitlines()]


def test_a_step_inside_another_is_taken_out_of_it(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    with timings.capture(out, job_id=7), timings.span("fetch"):
        timings.add("host_turn", 3600.0)  # a wait the gate reported, longer than the span
        with timings.span("decode"):
            pass
    (line,) = _lines(out)
    spans = line["spans"]
    assert isinstance(spans, dict)
    assert line["job_id"] == 7
    assert spans["host_turn"] == 3600.0
    assert spans["fetch"] == 0.0  # its child took all of it (and more): never negative
    assert set(spans) == {"fetch", "host_turn", "decode", "other"}
    assert line["thread"] == threading.get_ident()


def test_the_steps_add_up_to_the_capture(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    with timings.capture(out):
        for _ in range(3):
            with timings.span("claim"):
                sum(range(10_000))
        with timings.span("probe", group=True), timings.span("fetch"):
            timings.add("host_turn", 0.0)
    (line,) = _lines(out)
    spans = line["spans"]
    assert isinstance(spans, dict)
    assert sum(spans.values()) == pytest.approx(line["total"], rel=1e-9)
    # a group names the steps inside it after itself; after it, names are plain again
    assert {"probe", "probe.fetch", "probe.host_turn"} <= set(spans)
    assert "fetch" not in spans and "host_turn" not in spans


def test_nothing_is_timed_or_written_outside_a_timed_capture(tmp_path: Path) -> None:
    with timings.span("fetch"):
        timings.add("host_turn", 1.0)
    with timings.capture(None), timings.span("fetch"):  # off (the default): spans are free
        pass
    timings.mark(None, "runtime")
    assert list(tmp_path.iterdir()) == []


def test_marks_and_captures_append_to_one_file(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    timings.mark(out, "runtime")

    def one(job: int) -> None:
        with timings.capture(out, job_id=job), timings.span("fetch"):
            pass

    threads = [threading.Thread(target=one, args=(job,)) for job in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    timings.mark(out, "run_done")
    lines = _lines(out)
    assert lines[0]["mark"] == "runtime" and lines[-1]["mark"] == "run_done"
    assert sorted(line["job_id"] for line in lines[1:-1]) == list(range(8))  # type: ignore[type-var]


def test_a_timings_file_that_cannot_be_written_is_logged_and_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "no-such-dir" / "t.jsonl"
    with timings.capture(out, job_id=1) as line:
        line["status"] = "ok"
    timings.mark(out, "runtime")
    assert not out.parent.exists()
    assert sum("cannot append" in r.getMessage() for r in caplog.records) == 2
    assert str(out) in caplog.records[0].getMessage()
