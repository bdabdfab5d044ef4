"""The live index is two fixed files: a big one rarely rewritten, a small recent one.

A write merges into the small file only; past ~sqrt(n) lines it is merged into the big
one. These tests drive `add_live_lines` / `drop_live_lines` with synthetic lines of the
shape cdxj-indexer writes, several open files interleaved, as writers in several
processes would.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from pathlib import Path

import pytest

from archive.cdxj import (
    LIVE_INDEX_NAME,
    RECENT_INDEX_NAME,
    RECENT_MIN_LINES,
    add_live_lines,
    drop_live_lines,
    ensure_index_files,
    parse_line,
    read_live_index,
)

OPEN_FILES = [f"w{k}-20240101000000-0000{k}.warc.gz.open" for k in range(3)]


def line(n: int, filename: str) -> str:
    # fixed width: every line the same length, so the big file's line count that
    # add_live_lines estimates from its size is exact and the bound below is too
    blob = {"url": f"https://example.org/p{n:07d}", "offset": f"{n:09d}", "filename": filename}
    return f"org,example)/p{n:07d} 20240101000000 {json.dumps(blob)}\n"


def batches(rng: random.Random, count: int) -> list[list[str]]:
    """`count` batches of 1–30 lines, keys shuffled so batches interleave in the sort."""
    keys = list(range(count * 30))
    rng.shuffle(keys)
    out: list[list[str]] = []
    for _ in range(count):
        size = rng.randint(1, 30)
        keys_now, keys = keys[:size], keys[size:]
        name = rng.choice(OPEN_FILES)
        out.append(sorted(line(n, name) for n in keys_now))
    return out


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def assert_union(big: Path, recent: Path, added: Counter[str]) -> None:
    big_lines, recent_lines = lines_of(big), lines_of(recent)
    assert big_lines == sorted(big_lines) and recent_lines == sorted(recent_lines)
    assert Counter(big_lines + recent_lines) == added  # each line once, none lost


def lines_of(path: Path) -> list[str]:
    return [ln for ln in path.read_text("utf-8").splitlines(True) if ln.strip()]


@pytest.fixture
def indexes(tmp_path: Path) -> Path:
    d = tmp_path / "indexes"
    ensure_index_files(d)
    return d


def test_many_writes_keep_every_line_once_sorted_and_the_small_file_bounded(
    indexes: Path,
) -> None:
    big, recent = indexes / LIVE_INDEX_NAME, indexes / RECENT_INDEX_NAME
    names = sorted(p.name for p in indexes.iterdir())
    added: Counter[str] = Counter()
    rewritten = old_rewritten = 0
    for i, batch in enumerate(batches(random.Random(5), 350)):
        rewritten += add_live_lines(indexes, batch)
        added.update(batch)
        old_rewritten += sum(added.values())  # the one-file index rewrote every line
        big_count, recent_count = count_lines(big), count_lines(recent)
        assert recent_count <= max(RECENT_MIN_LINES, math.isqrt(big_count))
        # two fixed names, never a new segment file or a leftover temp file
        assert sorted(p.name for p in indexes.iterdir()) == names
        if i % 25 == 0:  # the full check is O(n): not after every write
            assert_union(big, recent, added)
    assert_union(big, recent, added)
    n = sum(added.values())
    assert math.isqrt(n) > RECENT_MIN_LINES  # the sqrt bound, not just the floor, was hit
    assert lines_of(big) and max(added.values()) == 1
    # the point of it all: far fewer lines rewritten than one file rewritten per write
    assert rewritten * 3 < old_rewritten


def test_dropping_a_file_removes_its_lines_from_both_files(indexes: Path) -> None:
    big, recent = indexes / LIVE_INDEX_NAME, indexes / RECENT_INDEX_NAME
    names = sorted(p.name for p in indexes.iterdir())
    gone = OPEN_FILES[1]

    def in_both() -> bool:
        in_big = {parse_line(ln).filename for ln in lines_of(big)}
        return gone in in_big and gone in {parse_line(ln).filename for ln in lines_of(recent)}

    added: list[str] = []
    for batch in batches(random.Random(7), 400):
        add_live_lines(indexes, batch)
        added += batch
        if len(added) > 200 and in_both():
            break
    assert in_both()  # the drop has work in both files
    drop_live_lines(indexes, gone)
    assert sorted(p.name for p in indexes.iterdir()) == names
    kept = sorted(ln for ln in added if parse_line(ln).filename != gone)
    assert sorted(lines_of(big) + lines_of(recent)) == kept
    assert [ln.filename for ln in read_live_index(indexes)].count(gone) == 0
    # later writes still land, beside what was kept
    extra = [line(10**6, OPEN_FILES[0])]
    add_live_lines(indexes, extra)
    assert sorted(lines_of(big) + lines_of(recent)) == sorted(kept + extra)
    # dropping the rest empties both files, which stay in place
    for name in OPEN_FILES:
        drop_live_lines(indexes, name)
    assert lines_of(big) == lines_of(recent) == []
    assert sorted(p.name for p in indexes.iterdir()) == names


def test_read_live_index_merges_both_files_in_order(indexes: Path) -> None:
    for batch in batches(random.Random(11), 40):
        add_live_lines(indexes, batch)
    assert lines_of(indexes / LIVE_INDEX_NAME) and lines_of(indexes / RECENT_INDEX_NAME)
    keys = [(ln.urlkey, ln.timestamp) for ln in read_live_index(indexes)]
    assert keys == sorted(keys)
    assert len(keys) == len(lines_of(indexes / LIVE_INDEX_NAME)) + len(
        lines_of(indexes / RECENT_INDEX_NAME)
    )


def test_a_writer_without_ensure_creates_both_live_files_at_once(tmp_path: Path) -> None:
    indexes = tmp_path / "indexes"
    add_live_lines(indexes, [line(1, OPEN_FILES[0])])
    assert sorted(p.name for p in indexes.iterdir() if p.suffix == ".cdxj") == sorted(
        [LIVE_INDEX_NAME, RECENT_INDEX_NAME]
    )


def test_concurrent_writers_lose_nothing(indexes: Path) -> None:
    per_thread = [batches(random.Random(seed), 60) for seed in range(4)]
    # distinct keys per thread: offset each thread's synthetic key space
    per_thread = [
        [[ln.replace("/p", f"/t{t}p") for ln in batch] for batch in work]
        for t, work in enumerate(per_thread)
    ]

    def run(work: list[list[str]]) -> None:
        for batch in work:
            add_live_lines(indexes, batch)

    threads = [threading.Thread(target=run, args=(work,)) for work in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = Counter(ln for work in per_thread for batch in work for ln in batch)
    got = lines_of(indexes / LIVE_INDEX_NAME) + lines_of(indexes / RECENT_INDEX_NAME)
    assert Counter(got) == expected
