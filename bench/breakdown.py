"""Where a run's wall time went, from the JSON lines of `SOURCEVAULT_TIMINGS_FILE`.

Each capture's line has its exclusive steps (worker.timings: they add up to the capture's
wall time); the marks are moments of `run` (imports done, worker up, report built…).
From them: the mean milliseconds a URL spends in each step, how much of the capture
phase the threads were busy capturing, the gap on a thread between one capture and the
next (Celery, the broker, the result backend, waiting for a message), and the start and
the end of the command cut at each mark.
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

__all__ = ["describe", "summarise"]

# what the time before each mark (or after the last capture, up to it) was spent on
START = [
    ("command", "interpreter + imports"),
    ("runtime", "digest parse + runtime"),
    ("run_rows", "run's rows"),
    ("worker", "broker + worker up"),
    ("enqueued", "enqueue"),
    ("first_claim", "first task to its claim"),
]
END = [
    ("finalize", "chord callback"),
    ("report_built", "report built"),
    ("report_files", "report files"),
    ("sealed", "custody seal"),
    ("seen_done", "run marked done, `run` sees it"),
    ("worker_stopped", "worker stop"),
    ("broker_stopped", "broker stop"),
    ("report_written", "report copied + HTML"),
    ("exit", "interpreter exit"),
]


def summarise(path: Path, *, began: float, ended: float) -> dict[str, object]:
    """`began`/`ended`: wall-clock seconds (epoch) of the command's start and exit."""
    captures: list[dict[str, Any]] = []
    marks: dict[str, float] = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        line = json.loads(text)
        if "mark" in line:
            marks.setdefault(line["mark"], line["at"])
        elif "spans" in line and not line.get("repeated"):
            captures.append(line)
    if not captures:
        return {}
    n = len(captures)
    steps: dict[str, float] = {}
    for c in captures:
        for name, seconds in c["spans"].items():
            steps[name] = steps.get(name, 0.0) + seconds
    steps_ms = {k: 1000 * v / n for k, v in sorted(steps.items(), key=lambda kv: -kv[1])}
    first = min(c["began"] for c in captures)
    last = max(c["ended"] for c in captures)
    threads: dict[int, list[tuple[float, float]]] = {}
    for c in captures:
        threads.setdefault(c["thread"], []).append((c["began"], c["ended"]))
    gaps = []
    for spans in threads.values():
        spans.sort()
        gaps += [b0 - a1 for (_a0, a1), (b0, _b1) in itertools.pairwise(spans)]
    busy = sum(c["total"] for c in captures) / (len(threads) * max(last - first, 1e-9))
    held = sorted(1000 * c["total"] for c in captures)
    points = {**marks, "first_claim": first, "exit": ended}
    return {
        "captures": n,
        "threads": len(threads),
        "held_ms": statistics.fmean(held),
        "held_p50_ms": held[len(held) // 2],
        "held_p90_ms": held[min(len(held) - 1, len(held) * 9 // 10)],
        "steps_ms": steps_ms,
        "busy": busy,
        "between_ms": 1000 * statistics.median(gaps) if gaps else 0.0,
        "start": _cut(began, points, START),
        "end": _cut(last, points, END),
    }


def _cut(
    t0: float, points: dict[str, float], order: list[tuple[str, str]]
) -> list[tuple[str, float]]:
    """Seconds from each mark present to the next, labelled by what they were spent on."""
    out, previous = [], t0
    for mark, label in order:
        if mark in points:
            out.append((label, points[mark] - previous))
            previous = points[mark]
    return out


def describe(name: str, s: dict[str, object]) -> list[str]:
    """The summary as the README's lines (empty if the run wrote no timings)."""
    if not s:
        return []
    steps = s["steps_ms"]
    assert isinstance(steps, dict)
    shown = ", ".join(f"{k} {v:.0f}" for k, v in steps.items() if v >= 0.5)
    start, end = s["start"], s["end"]
    assert isinstance(start, list) and isinstance(end, list)
    return [
        f"{name}: a capture's wall time, mean ms per URL ({s['held_ms']:.0f} in all): {shown}; "
        f"its {s['threads']} threads busy capturing {float(s['busy']):.0%} of the capture "  # type: ignore[arg-type]
        f"phase, {float(s['between_ms']):.0f} ms median between one capture and the next "  # type: ignore[arg-type]
        "on a thread (Celery, broker, result backend)",
        f"{name}: start, s: " + ", ".join(f"{label} {sec:.2f}" for label, sec in start),
        f"{name}: end (from the last capture), s: "
        + ", ".join(f"{label} {sec:.2f}" for label, sec in end),
    ]
