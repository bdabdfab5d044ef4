"""Extraction functions that misbehave on cue, for tests/unit/test_extract_pool.py.

They live in an importable module (not the test file) because `ProcessExtractor` pickles
its function by reference: a pool process imports `tests.unit.extract_pool_helpers` by
name. Cues are HTML comments, so the rest of the page still extracts normally:

- `<!--crash-->`: the process exits at once (what a segfault in lxml looks like to the pool).
- `<!--crash-once:PATH-->`: exits if PATH does not exist yet, after creating it; the retry
  finds PATH and extracts.
- `<!--started:PATH-->`: appends a line to PATH (counts the attempts at a page).
- `<!--gate:PATH-->`: waits until PATH exists (keeps a page in flight until the test says).
- `<!--lines:PATH:N-->`: waits until PATH has N lines (e.g. another page's `started` log).
- `<!--hang-->`: never returns (a parser stuck on hostile HTML); only a kill ends it.

Cues are obeyed in document order, so `crash-once:M`, `lines:LOG:2`, `crash` makes a
page that crashes at once, then crashes again once another page has started twice.

Waits poll the file system with a generous deadline, so a bug can fail a test but never
hang the suite.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from worker.extract.page import ExtractedPage, ExtractionFailure, ExtractOptions, extract

__all__ = ["cue", "misbehaving_extract", "square_where", "wait_for"]

_CUE = re.compile(rb"<!--([a-z]+(?:-[a-z]+)*)(?::([^>]*?))?-->")
_WAIT_LIMIT = 30.0  # seconds; only reached when the code under test is broken


def cue(html: bytes, *cues: str) -> bytes:
    """`html` with `<!--cue-->` comments inserted right after `<head>` (or in front)."""
    comments = "".join(f"<!--{c}-->" for c in cues).encode("ascii")
    head = html.find(b"<head>")
    if head < 0:
        return comments + html
    at = head + len(b"<head>")
    return html[:at] + comments + html[at:]


def wait_for(path: Path, lines: int = 0) -> None:
    """Until `path` exists with at least `lines` lines (gives up after a minute)."""
    deadline = time.monotonic() + _WAIT_LIMIT
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_bytes().splitlines()) >= lines:
            return
        time.sleep(0.01)


def misbehaving_extract(
    html: bytes,
    *,
    url: str,
    charset: str | None,
    options: ExtractOptions,
    content_type: str = "text/html",
) -> ExtractedPage | ExtractionFailure:
    """`worker.extract.page.extract`, after obeying the cues in `html` (in document order)."""
    for match in _CUE.finditer(html):
        name, arg = match.group(1).decode(), (match.group(2) or b"").decode()
        if name == "started":
            with open(arg, "ab") as log:
                log.write(f"{os.getpid()}\n".encode())
        elif name == "gate":
            wait_for(Path(arg))
        elif name == "crash":
            os._exit(1)
        elif name == "crash-once":
            marker = Path(arg)
            if not marker.exists():
                marker.touch()
                os._exit(1)
        elif name == "hang":
            while True:
                time.sleep(60)
        elif name == "lines":
            path, count = arg.rsplit(":", 1)
            wait_for(Path(path), int(count))
    return extract(html, url=url, charset=charset, options=options)


def square_where(item: tuple[int, int]) -> tuple[int, int]:
    """`(x*x, pid)` for `(x, parent_pid)`; x < 0 kills the process unless it is the parent."""
    x, parent = item
    if x < 0 and os.getpid() != parent:
        os._exit(1)
    return x * x, os.getpid()


def frozen_objects(_item: object) -> int:
    """How many objects the collector leaves alone in this process (gc.freeze)."""
    import gc

    return gc.get_freeze_count()
