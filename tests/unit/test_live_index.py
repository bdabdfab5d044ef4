"""Captures in a still-open WARC file are indexed as they are written (indexes/live.cdxj)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from archive.cdxj import (
    INDEX_NAME,
    LIVE_INDEX_NAME,
    LIVE_INDEX_NAMES,
    RECENT_INDEX_NAME,
    ensure_index_files,
    index_lines,
    index_range,
    parse_line,
    read_index,
    read_live_index,
)
from archive.collection import Collection
from archive.records import text_uri
from archive.warc_reader import read_record
from archive.warc_writer import recover_open_files
from tests.unit.test_warc_writer import exchange, make_writer, run_dead_writer


@pytest.fixture
def coll(tmp_path: Path) -> Collection:
    return Collection(tmp_path, "test").ensure()


def live(coll: Collection) -> list[dict[str, str]]:
    lines = read_live_index(coll.indexes_dir)  # both live files
    # pages only: the extracted-text records (urn:text:…) are indexed too, under their urn
    return [
        {"url": ln.url, "filename": ln.filename, "offset": str(ln.offset)}
        for ln in lines
        if not ln.url.startswith("urn:")
    ]


def test_each_batch_is_indexed_while_the_file_is_open(coll: Collection) -> None:
    w = make_writer(coll)
    with w.batch() as b:
        _req, resp = b.write_exchange(exchange("https://example.org/a", "<p>а</p>".encode()))
        b.write_metadata(text_uri("https://example.org/a"), resp.record_id, b"{}", "text/plain")
    open_name = resp.warc_file + ".open"
    assert live(coll) == [
        {"url": "https://example.org/a", "filename": open_name, "offset": str(resp.offset)}
    ]
    # the line points at the record as it sits in the .open file (pywb reads it there)
    rec = read_record(coll.archive_dir / open_name, resp.offset)
    assert (rec.rec_type, rec.record_id) == ("response", resp.record_id)
    with w.batch() as b:
        _req, resp_b = b.write_exchange(exchange("https://example.org/b", b"<p>b</p>"))
    assert [x["url"] for x in live(coll)] == ["https://example.org/a", "https://example.org/b"]
    assert not read_index(coll.indexes_dir)  # index.cdxj waits for the close
    w.close()
    assert live(coll) == []
    final = {
        (ln.url, ln.filename, ln.offset)
        for ln in read_index(coll.indexes_dir)
        if not ln.url.startswith("urn:")
    }
    assert final == {
        ("https://example.org/a", resp.warc_file, resp.offset),
        ("https://example.org/b", resp_b.warc_file, resp_b.offset),
    }


def _index_file(coll: Collection) -> list[str]:
    return (coll.indexes_dir / INDEX_NAME).read_text(encoding="utf-8").splitlines(True)


def test_closing_a_file_indexes_what_reading_it_again_would(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import archive.cdxj as cdxj

    w = make_writer(coll)
    with w.batch() as b:
        _req, resp = b.write_exchange(exchange("https://example.org/a", "<p>а</p>".encode()))
        b.write_metadata(text_uri("https://example.org/a"), resp.record_id, b"{}", "text/plain")
    w.write_exchange(exchange("https://example.org/b", b"<p>b</p>"))

    def no_second_read(path: object) -> list[str]:
        raise AssertionError(f"{path} read again at close")

    monkeypatch.setattr(cdxj, "index_lines", no_second_read)
    w.close()
    monkeypatch.undo()
    final = coll.archive_dir / resp.warc_file
    assert _index_file(coll) == index_lines(final)  # from the live lines, renamed
    assert len(index_lines(final)) >= 3


def test_a_failed_live_indexing_makes_the_close_read_the_file(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import archive.warc_writer as warc_writer

    w = make_writer(coll)
    with w.batch() as b:
        _req, resp = b.write_exchange(exchange("https://example.org/a", b"<p>a</p>"))
    real = warc_writer.add_live_lines

    def broken(*args: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(warc_writer, "add_live_lines", broken)
    w.write_exchange(exchange("https://example.org/missed", b"<p>m</p>"))
    monkeypatch.setattr(warc_writer, "add_live_lines", real)
    w.write_exchange(exchange("https://example.org/c", b"<p>c</p>"))
    w.close()
    final = coll.archive_dir / resp.warc_file
    assert _index_file(coll) == index_lines(final)
    assert any("example.org/missed" in line for line in _index_file(coll))


def test_a_failed_batch_adds_no_lines(coll: Collection) -> None:
    w = make_writer(coll)
    with w.batch() as b:
        b.write_exchange(exchange("https://example.org/kept", b"kept"))
    with pytest.raises(RuntimeError), w.batch() as b:
        b.write_exchange(exchange("https://example.org/lost", b"lost"))
        raise RuntimeError("extraction blew up")
    assert [x["url"] for x in live(coll)] == ["https://example.org/kept"]
    w.close()


def test_plain_writes_are_indexed_too(coll: Collection) -> None:
    w = make_writer(coll)
    _req, resp = w.write_exchange(exchange("https://example.org/plain", b"plain"))
    assert live(coll) == [
        {
            "url": "https://example.org/plain",
            "filename": resp.warc_file + ".open",
            "offset": str(resp.offset),
        }
    ]
    w.close()


def test_index_range_offsets_are_absolute(coll: Collection) -> None:
    w = make_writer(coll)
    _r1, first = w.write_exchange(exchange("https://example.org/1", b"one"))
    req2, second = w.write_exchange(exchange("https://example.org/2", b"two"))
    path = coll.archive_dir / (first.warc_file + ".open")
    lines = [parse_line(ln) for ln in index_range(path, req2.offset, filename="x.warc.gz")]
    assert [(ln.url, ln.offset, ln.filename) for ln in lines] == [
        ("https://example.org/2", second.offset, "x.warc.gz")
    ]
    w.close()


def test_recovery_drops_the_dead_writers_live_lines(coll: Collection) -> None:
    pairs = run_dead_writer(coll.archive_dir)
    name = str(pairs[0][3])
    # what the dead writer's live indexing would have left behind
    lines = index_range(coll.archive_dir / (name + ".open"), 0, filename=name + ".open")
    # some already merged into the big live file, some still in the recent one
    (coll.indexes_dir / LIVE_INDEX_NAME).write_text("".join(lines[::2]))
    (coll.indexes_dir / RECENT_INDEX_NAME).write_text("".join(lines[1::2]))
    assert live(coll)
    committed = int(pairs[0][2])
    recover_open_files(coll.archive_dir, keep=lambda n: committed)
    assert live(coll) == []
    assert [ln.url for ln in read_index(coll.indexes_dir)] == ["https://example.org/0"]


def test_recovery_that_deletes_the_file_drops_its_live_lines(coll: Collection) -> None:
    pairs = run_dead_writer(coll.archive_dir)
    name = str(pairs[0][3])
    lines = index_range(coll.archive_dir / (name + ".open"), 0, filename=name + ".open")
    (coll.indexes_dir / LIVE_INDEX_NAME).write_text("".join(lines))
    reports = recover_open_files(coll.archive_dir, keep=lambda n: 0)
    assert reports[0].removed
    assert live(coll) == []


def test_ensure_index_files_creates_all_empty(coll: Collection) -> None:
    ensure_index_files(coll.indexes_dir)
    for name in (INDEX_NAME, *LIVE_INDEX_NAMES):
        assert (coll.indexes_dir / name).read_text() == ""


def test_live_lines_that_do_not_name_the_file_make_the_close_read_it(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import archive.warc_writer as warc_writer

    w = make_writer(coll)
    _req, resp = w.write_exchange(exchange("https://example.org/a", b"<p>a</p>"))

    def mismatch(lines: list[str], open_name: str, final_name: str) -> list[str]:
        raise ValueError("a live line names another file")

    monkeypatch.setattr(warc_writer, "renamed", mismatch)
    w.close()  # the file's lines still reach index.cdxj: nothing lost, nothing raised
    final = coll.archive_dir / resp.warc_file
    assert _index_file(coll) == index_lines(final)
    assert any("example.org/a" in line for line in _index_file(coll))


def test_the_next_batch_is_written_while_the_last_is_indexed(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import archive.warc_writer as warc_writer

    w = make_writer(coll)
    indexing, go_on = threading.Event(), threading.Event()
    real = warc_writer.index_range

    def held(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if not indexing.is_set():  # the first batch's indexing waits for the test
            indexing.set()
            assert go_on.wait(10), "the held indexing was never let go"
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(warc_writer, "index_range", held)

    def first() -> None:
        with w.batch() as b:
            b.write_exchange(exchange("https://example.org/a", b"<p>a</p>"))

    a = threading.Thread(target=first)
    a.start()
    assert indexing.wait(10)
    # the writer lock is free while the first batch is indexed: the second is written
    second_written = threading.Event()

    def second() -> None:
        with w.batch() as b:
            b.write_exchange(exchange("https://example.org/b", b"<p>b</p>"))
            second_written.set()

    b = threading.Thread(target=second)
    b.start()
    assert second_written.wait(10)
    go_on.set()
    a.join(10)
    b.join(10)
    # both indexed, in the order they were written; the close indexes the whole file
    assert [x["url"] for x in live(coll)] == ["https://example.org/a", "https://example.org/b"]
    w.close()
    assert [ln.url for ln in read_index(coll.indexes_dir) if not ln.url.startswith("urn:")] == [
        "https://example.org/a",
        "https://example.org/b",
    ]


def test_a_batch_is_indexed_up_to_its_end_while_the_next_is_half_written(
    coll: Collection, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import gzip
    import os

    import archive.warc_writer as warc_writer

    w = make_writer(coll)
    real = warc_writer.index_range
    half = gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\n" + b"x" * 5000)[:200]

    def mid_write(path: Path, start: int, **kwargs: object) -> list[str]:
        # the lock is free while a batch is indexed: another thread's next batch has
        # begun after it, half a gzip member so far
        size = os.path.getsize(path)
        with open(path, "ab") as f:
            f.write(half)
        try:
            return real(path, start, **kwargs)  # type: ignore[arg-type]
        finally:
            os.truncate(path, size)  # the test's stand-in writer never finishes

    monkeypatch.setattr(warc_writer, "index_range", mid_write)
    with w.batch() as b:
        b.write_exchange(exchange("https://example.org/a", b"<p>a</p>"))
    w.write_exchange(exchange("https://example.org/b", b"<p>b</p>"))  # a plain write too
    assert "live CDXJ indexing" not in caplog.text
    assert [x["url"] for x in live(coll)] == ["https://example.org/a", "https://example.org/b"]
    w.close()
    assert {ln.url for ln in read_index(coll.indexes_dir)} >= {
        "https://example.org/a",
        "https://example.org/b",
    }


def test_index_range_reads_nothing_past_its_end(coll: Collection) -> None:
    w = make_writer(coll)
    _req, first = w.write_exchange(exchange("https://example.org/a", b"<p>a</p>"))
    w.write_exchange(exchange("https://example.org/b", b"<p>b</p>"))
    path = coll.archive_dir / (first.warc_file + ".open")
    lines = index_range(path, first.offset, end=first.offset + first.length, filename="x")
    assert [parse_line(ln).url for ln in lines] == ["https://example.org/a"]
    w.close()
