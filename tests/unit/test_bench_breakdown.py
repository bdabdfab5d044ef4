"""bench.breakdown reads a timings file into where a run's wall time went (no timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.breakdown import describe, summarise


def _capture(thread: int, began: float, spans: dict[str, float], **extra: object) -> str:
    total = sum(spans.values())
    line = {"thread": thread, "began": began, "ended": began + total, "total": total}
    return json.dumps({**line, "spans": spans, "job_id": 1, **extra})


def test_steps_threads_gaps_and_the_fixed_costs(tmp_path: Path) -> None:
    lines = [
        json.dumps({"mark": "command", "at": 100.5}),
        json.dumps({"mark": "worker", "at": 101.0}),
        json.dumps({"mark": "enqueued", "at": 101.25}),
        # thread 1: two captures, 0.25 s apart; thread 2: one
        _capture(1, 101.5, {"fetch": 0.25, "host_turn": 0.5, "other": 0.25}),
        _capture(1, 102.75, {"fetch": 0.25, "commit": 0.25}),
        _capture(2, 101.5, {"fetch": 0.5, "other": 0.5}),
        # a second delivery of a finished job is not a capture
        _capture(2, 103.0, {"claim": 9.0}, repeated=True),
        json.dumps({"mark": "finalize", "at": 103.5}),
        json.dumps({"mark": "sealed", "at": 104.0}),
    ]
    path = tmp_path / "timings.jsonl"
    path.write_text("\n".join(lines) + "\n")
    s = summarise(path, began=100.0, ended=105.0)
    assert s["captures"] == 3 and s["threads"] == 2
    steps = s["steps_ms"]
    assert isinstance(steps, dict)
    assert steps == pytest.approx(
        {"fetch": 1000 / 3, "host_turn": 500 / 3, "other": 250, "commit": 250 / 3}
    )
    assert next(iter(steps)) == "fetch"  # the largest first
    assert s["held_ms"] == pytest.approx(2500 / 3)
    assert s["held_p50_ms"] == pytest.approx(1000) and s["held_p90_ms"] == pytest.approx(1000)
    assert s["between_ms"] == pytest.approx(250.0)  # thread 1: 102.5 → 102.75
    # 2.5 s of captures on 2 threads over 101.5 → 103.25
    assert s["busy"] == pytest.approx(2.5 / (2 * 1.75))
    start, end = s["start"], s["end"]
    assert isinstance(start, list) and isinstance(end, list)
    assert [label for label, _ in start] == [
        "interpreter + imports",
        "broker + worker up",
        "enqueue",
        "first task to its claim",
    ]
    assert [sec for _, sec in start] == pytest.approx([0.5, 0.5, 0.25, 0.25])
    # from the last capture's end (103.25), the marks present, then the exit
    assert [label for label, _ in end] == ["chord callback", "custody seal", "interpreter exit"]
    assert [sec for _, sec in end] == pytest.approx([0.25, 0.5, 1.0])
    text = "\n".join(describe("run", s))
    assert "fetch 333" in text and "busy capturing 71%" in text and "enqueue 0.25" in text


def test_a_run_without_timings_says_nothing(tmp_path: Path) -> None:
    path = tmp_path / "timings.jsonl"
    path.write_text(json.dumps({"mark": "command", "at": 1.0}) + "\n")
    assert summarise(path, began=0.0, ended=2.0) == {}
    assert describe("run", {}) == []
