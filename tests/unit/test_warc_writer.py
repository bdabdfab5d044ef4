"""archive.warc_writer: rotation, locking, truncate-on-error, crash recovery."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import hashlib
import io
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import tracemalloc
from pathlib import Path
from typing import BinaryIO

import cdxj_indexer.main  # noqa: F401  (imported up front: import cost is not writer memory)
import pytest

from archive.cdxj import read_index
from archive.collection import Collection
from archive.records import HttpExchange, sha256_hex, text_uri
from archive.warc_reader import check_file, read_record
from archive.warc_writer import WarcWriter, WrittenRecord, recover_open_files

ROOT = Path(__file__).resolve().parents[2]
CLOCK = dt.datetime(2021, 9, 30, 8, 0, tzinfo=dt.UTC)


def exchange(url: str, body: bytes | BinaryIO, length: int | None = None) -> HttpExchange:
    stream: BinaryIO
    if isinstance(body, bytes):
        length, sha, stream = len(body), sha256_hex(body), io.BytesIO(body)
    else:
        assert length is not None
        stream, sha = body, _sha_stream(body)
    return HttpExchange(
        url=url,
        method="GET",
        request_headers=[("Host", "example.org"), ("Accept-Encoding", "gzip")],
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=[("Content-Type", "text/html"), ("Content-Length", str(length))],
        body=stream,
        body_length=length,
        body_sha256=sha,
        fetched_at=dt.datetime(2021, 9, 14, 10, 30, tzinfo=dt.UTC),
        peer_ip="192.0.2.1",
    )


def _sha_stream(f: BinaryIO) -> str:
    h = hashlib.sha256()
    f.seek(0)
    while chunk := f.read(1 << 20):
        h.update(chunk)
    f.seek(0)
    return h.hexdigest()


def make_writer(coll: Collection, **kw: object) -> WarcWriter:
    counter = itertools.count(1)
    opts: dict[str, object] = {
        "prefix": "sv",
        "max_size": 10 * 1024 * 1024,
        "make_id": lambda: f"<urn:uuid:00000000-0000-4000-8000-{next(counter):012d}>",
        "clock": lambda: CLOCK,
        "hostname": "test-host",
    }
    opts.update(kw)
    return WarcWriter(coll.archive_dir, **opts)  # type: ignore[arg-type]


@pytest.fixture
def coll(tmp_path: Path) -> Collection:
    return Collection(tmp_path, "test").ensure()


def warcio_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_all_valid(archive_dir: Path) -> list[Path]:
    files = sorted(archive_dir.glob("*.warc.gz"))
    assert files
    assert not list(archive_dir.glob("*.open"))
    for f in files:
        result = warcio_check(f)
        assert result.returncode == 0, result.stdout + result.stderr
        assert check_file(f).ok, check_file(f).first_problem
    return files


def test_write_read_close(coll: Collection) -> None:
    w = make_writer(coll)
    req, resp = w.write_exchange(exchange("https://example.org/a", b"<p>a</p>"))
    meta = w.write_metadata(
        text_uri("https://example.org/a"), resp.record_id, b"{}", "application/json"
    )
    # open while writing, under the documented name
    open_files = list(coll.archive_dir.glob("*.warc.gz.open"))
    assert [p.name for p in open_files] == [resp.warc_file + ".open"]
    assert re.fullmatch(r"sv-20210930080000000-00000\.warc\.gz", resp.warc_file)
    assert req.warc_file == resp.warc_file == meta.warc_file
    assert req.offset > 0  # warcinfo comes first
    assert resp.offset == req.offset + req.length
    w.sync()
    w.close()
    w.close()  # idempotent
    (path,) = assert_all_valid(coll.archive_dir)
    first = read_record(path, 0)
    assert first.rec_type == "warcinfo"
    assert b"software: sourcevault" in first.payload
    r = read_record(path, resp.offset)
    assert (r.rec_type, r.record_id, r.payload) == ("response", resp.record_id, b"<p>a</p>")
    q = read_record(path, req.offset)
    assert q.rec_type == "request"
    assert q.warc_header("WARC-Concurrent-To") == resp.record_id
    m = read_record(path, meta.offset)
    assert (m.rec_type, m.warc_header("WARC-Refers-To")) == ("metadata", resp.record_id)
    lines = read_index(coll.indexes_dir)
    page = [ln for ln in lines if ln.url == "https://example.org/a"]
    assert [(ln.offset, ln.length, ln.filename) for ln in page] == [
        (resp.offset, resp.length, resp.warc_file)
    ]


def test_revisit_written_and_valid(coll: Collection) -> None:
    with make_writer(coll) as w:
        _, resp = w.write_exchange(exchange("https://example.org/r", b"same"))
        rev = w.write_revisit(
            exchange("https://example.org/r", b"same"),
            refers_to_id=resp.record_id,
            refers_to_uri="https://example.org/r",
            refers_to_date=dt.datetime(2021, 9, 14, 10, 30, tzinfo=dt.UTC),
        )
    (path,) = assert_all_valid(coll.archive_dir)
    r = read_record(path, rev.offset)
    assert r.rec_type == "revisit"
    assert r.warc_header("WARC-Refers-To") == resp.record_id
    assert r.payload == b""


def test_no_file_until_first_write(coll: Collection) -> None:
    make_writer(coll).close()
    assert list(coll.archive_dir.iterdir()) == []


def test_rotation_never_splits_a_pair(coll: Collection) -> None:
    written: list[tuple[WrittenRecord, WrittenRecord]] = []
    with make_writer(coll, max_size=3000) as w:
        for i in range(6):
            body = os.urandom(1500)  # incompressible, so sizes are predictable
            written.append(w.write_exchange(exchange(f"https://example.org/{i}", body)))
    files = assert_all_valid(coll.archive_dir)
    assert len(files) >= 3
    for req, resp in written:
        assert req.warc_file == resp.warc_file
        assert read_record(coll.archive_dir / resp.warc_file, 0).rec_type == "warcinfo"
    names = [p.name for p in files]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    # every closed file was indexed
    assert {ln.filename for ln in read_index(coll.indexes_dir)} == set(names)


class FailingBody(io.BytesIO):
    """Fails once the writer is streaming it into the file (after the digest passes)."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        super().__init__(data)
        self.fail_after = fail_after
        self.total = 0

    def read(self, n: int | None = -1) -> bytes:
        chunk = super().read(n)
        self.total += len(chunk)
        if self.total > self.fail_after:
            raise OSError("disk went away")
        return chunk


def test_error_mid_write_truncates_and_reraises(coll: Collection) -> None:
    w = make_writer(coll)
    w.write_exchange(exchange("https://example.org/ok", b"fine"))
    path = coll.archive_dir / (str(w.current_file) + ".open")
    size_before = path.stat().st_size
    data = os.urandom(200_000)
    ex = exchange("https://example.org/bad", data)
    # build pass + block-digest pass read it fully; fail half-way through the write
    ex.body = FailingBody(data, fail_after=len(data) * 2 + len(data) // 2)
    with pytest.raises(OSError, match="disk went away"):
        w.write_exchange(ex)
    assert path.stat().st_size == size_before
    req, resp = w.write_exchange(exchange("https://example.org/after", b"after"))
    assert req.offset == size_before  # the next record starts exactly where the cut was
    w.close()
    (final,) = assert_all_valid(coll.archive_dir)
    urls = [ln.url for ln in read_index(coll.indexes_dir)]
    assert "https://example.org/bad" not in urls
    assert read_record(final, resp.offset).payload == b"after"


def test_threads_share_one_writer(coll: Collection) -> None:
    results: list[WrittenRecord] = []
    lock = threading.Lock()
    w = WarcWriter(coll.archive_dir, prefix="sv", max_size=50_000)

    def work(t: int) -> None:
        for i in range(10):
            body = f"thread {t} page {i} ".encode() * 50
            _, resp = w.write_exchange(exchange(f"https://example.org/{t}/{i}", body))
            with lock:
                results.append(resp)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    assert_all_valid(coll.archive_dir)
    for resp in results:
        rec = read_record(coll.archive_dir / resp.warc_file, resp.offset)
        assert rec.record_id == resp.record_id


def test_two_writers_same_prefix_and_clock_never_collide(coll: Collection) -> None:
    a, b = make_writer(coll), make_writer(coll)
    _, ra = a.write_exchange(exchange("https://example.org/a", b"a"))
    _, rb = b.write_exchange(exchange("https://example.org/b", b"b"))
    assert ra.warc_file != rb.warc_file
    a.close()
    b.close()
    assert len(assert_all_valid(coll.archive_dir)) == 2


def test_large_body_bounded_memory(coll: Collection, tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    with tempfile.TemporaryFile(dir=tmp_path) as body:
        block = os.urandom(1 << 20)
        for _ in range(size >> 20):
            body.write(block)
        ex = exchange("https://example.org/huge", body, size)
        gc.collect()
        tracemalloc.start()
        try:
            with make_writer(coll, max_size=1) as w:
                _, resp = w.write_exchange(ex)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes for a {size}-byte body"
    (path,) = coll.archive_dir.glob("*.warc.gz")
    check = check_file(path)  # re-hashes the payload, sha256 included
    assert check.ok, check.first_problem
    assert resp.length > size


# -- recovery ---------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import datetime as dt, io, json, os, sys
    from pathlib import Path
    from archive.records import HttpExchange, sha256_hex
    from archive.warc_writer import WarcWriter

    w = WarcWriter(Path(sys.argv[1]), prefix="dead", max_size=10**9)
    out = []
    for i in range(3):
        body = (b"page %d " % i) * 500
        ex = HttpExchange(
            f"https://example.org/{i}", "GET", [], "HTTP/1.1", 200, "OK", [],
            io.BytesIO(body), len(body), sha256_hex(body), dt.datetime.now(dt.UTC),
        )
        req, resp = w.write_exchange(ex)
        out.append([req.offset, resp.offset, resp.offset + resp.length, resp.warc_file])
    w.sync()
    print(json.dumps(out), flush=True)
    os._exit(0)  # die without closing: the file stays .open
    """
)


def run_dead_writer(archive_dir: Path) -> list[list[int | str]]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(archive_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: list[list[int | str]] = json.loads(proc.stdout)
    return result


def test_recover_file_cut_mid_record(coll: Collection) -> None:
    pairs = run_dead_writer(coll.archive_dir)
    name = str(pairs[0][3])
    open_path = coll.archive_dir / (name + ".open")
    end_second = int(pairs[1][2])
    # the crash hit half-way through the third response
    with open(open_path, "r+b") as f:
        f.truncate((int(pairs[2][1]) + int(pairs[2][2])) // 2)

    # the trap: warcio check is happy with the cut file; ours is not
    assert warcio_check(open_path).returncode == 0
    before = check_file(open_path)
    assert not before.ok
    assert before.first_problem is not None
    assert before.first_problem.offset == pairs[2][1]

    reports = recover_open_files(coll.archive_dir, keep=lambda n: None)
    assert [r.warc_file for r in reports] == [name]
    assert reports[0].kept_size == pairs[2][1]  # the third request survives, alone
    final = coll.archive_dir / name
    assert_all_valid(coll.archive_dir)
    assert final.stat().st_size == pairs[2][1]
    assert {ln.url for ln in read_index(coll.indexes_dir)} == {
        "https://example.org/0",
        "https://example.org/1",
    }
    assert end_second <= final.stat().st_size


def test_recover_cuts_to_committed_end(coll: Collection) -> None:
    pairs = run_dead_writer(coll.archive_dir)
    name = str(pairs[0][3])
    committed = int(pairs[0][2])  # the DB committed only the first exchange
    reports = recover_open_files(coll.archive_dir, keep=lambda n: committed if n == name else None)
    assert reports[0].kept_size == committed
    assert reports[0].records_kept == 3  # warcinfo, request, response
    assert [ln.url for ln in read_index(coll.indexes_dir)] == ["https://example.org/0"]
    assert_all_valid(coll.archive_dir)


def test_recover_with_nothing_committed_removes_file(coll: Collection) -> None:
    pairs = run_dead_writer(coll.archive_dir)
    reports = recover_open_files(coll.archive_dir, keep=lambda n: 0)
    assert reports[0].removed
    assert not (coll.archive_dir / str(pairs[0][3])).exists()
    assert not list(coll.archive_dir.glob("*.open"))


def test_recover_skips_live_writer(coll: Collection) -> None:
    w = make_writer(coll)
    w.write_exchange(exchange("https://example.org/live", b"live"))
    assert recover_open_files(coll.archive_dir, keep=lambda n: 0) == []
    assert len(list(coll.archive_dir.glob("*.open"))) == 1
    w.close()
    assert_all_valid(coll.archive_dir)


def test_gzip_members_one_per_record(coll: Collection) -> None:
    with make_writer(coll) as w:
        w.write_exchange(exchange("https://example.org/m", b"m"))
    (path,) = coll.archive_dir.glob("*.warc.gz")
    data = gzip.decompress(path.read_bytes())
    assert data.count(b"WARC/1.1\r\n") == 3
    check = check_file(path)
    assert [r.rec_type for r in check.records] == ["warcinfo", "request", "response"]


# -- batches ----------------------------------------------------------------------------


def test_batch_keeps_a_capture_together(coll: Collection) -> None:
    with make_writer(coll, max_size=2000) as w:
        for i in range(3):
            with w.batch() as b:
                _, hop = b.write_exchange(exchange(f"https://example.org/{i}", b"moved"))
                _, resp = b.write_exchange(exchange(f"https://example.org/{i}/", os.urandom(1500)))
                meta = b.write_metadata(
                    text_uri(f"https://example.org/{i}/"), resp.record_id, b"{}", "text/plain"
                )
            assert hop.warc_file == resp.warc_file == meta.warc_file
            assert meta.offset == resp.offset + resp.length
    files = assert_all_valid(coll.archive_dir)
    assert len(files) == 3  # rotated between batches, never inside one
    with pytest.raises(RuntimeError, match="after its with-block"):
        b.write_metadata(text_uri("https://example.org/x"), None, b"", "text/plain")


def test_failed_batch_leaves_nothing(coll: Collection) -> None:
    w = make_writer(coll)
    w.write_exchange(exchange("https://example.org/ok", b"fine"))
    path = coll.archive_dir / (str(w.current_file) + ".open")
    size_before = path.stat().st_size
    with pytest.raises(ValueError, match="extraction blew up"), w.batch() as b:
        b.write_exchange(exchange("https://example.org/half", b"half a capture"))
        raise ValueError("extraction blew up")
    assert path.stat().st_size == size_before
    w.close()
    assert_all_valid(coll.archive_dir)
    assert "https://example.org/half" not in {ln.url for ln in read_index(coll.indexes_dir)}


class _HeldFsync:
    """os.fsync that counts its calls and, while `hold` is clear, waits in the first one:
    the real fsync runs after, so the file is as durable as without it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.hold = threading.Event()
        real = os.fsync

        def fsync(fd: int) -> None:
            self.calls += 1
            self.entered.set()
            assert self.hold.wait(10), "the held fsync was never let go"
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)


def _sync_in_thread(w: WarcWriter) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            w.sync()
        except BaseException as exc:  # reaches the test's assertion, not the void
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, errors


def test_writes_go_on_while_another_thread_fsyncs(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_writer(coll)
    w.write_exchange(exchange("https://example.org/a", b"<p>a</p>"))
    held = _HeldFsync(monkeypatch)
    syncer, errors = _sync_in_thread(w)
    assert held.entered.wait(10)
    # the fsync is in progress: a whole batch still gets written (it used to wait for it)
    with w.batch() as batch:
        _req, resp = batch.write_exchange(exchange("https://example.org/b", b"<p>b</p>"))
    held.hold.set()
    syncer.join(10)
    assert not errors
    w.sync()  # b was written after the first fsync began: it needs one of its own
    assert held.calls == 2
    w.sync()  # nothing new: no fsync
    assert held.calls == 2
    w.close()
    (path,) = assert_all_valid(coll.archive_dir)
    assert read_record(path, resp.offset).payload == b"<p>b</p>"


def test_one_fsync_covers_the_syncs_that_waited_for_it(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_writer(coll)
    held = _HeldFsync(monkeypatch)
    w.write_exchange(exchange("https://example.org/a", b"<p>a</p>"))
    first, errors = _sync_in_thread(w)
    assert held.entered.wait(10)
    w.write_exchange(exchange("https://example.org/b", b"<p>b</p>"))
    # three threads written up to here wait for the turn; one fsync does for all three
    waiting = [_sync_in_thread(w) for _ in range(3)]
    held.hold.set()
    for t, errs in [(first, errors), *waiting]:
        t.join(10)
        assert not errs
    assert held.calls == 2


def test_a_rotation_during_an_fsync_leaves_both_files_whole(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_writer(coll, max_size=2000)
    noise = random.Random(7).randbytes(3000)  # gzip leaves it over max_size
    w.write_exchange(exchange("https://example.org/a", noise))
    held = _HeldFsync(monkeypatch)
    syncer, errors = _sync_in_thread(w)
    assert held.entered.wait(10)
    # over max_size: this write finishes (fsyncs, renames, closes) the file being synced
    monkeypatch.undo()
    _req, resp = w.write_exchange(exchange("https://example.org/b", b"<p>b</p>"))
    held.hold.set()
    syncer.join(10)
    assert not errors
    w.sync()
    w.close()
    files = assert_all_valid(coll.archive_dir)
    assert len(files) == 2
    assert resp.warc_file == files[1].name


def _count_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every os.write from now on (until monkeypatch.undo)."""
    writes: list[int] = []
    real = os.write

    def counting(fd: int, data: bytes | memoryview) -> int:
        writes.append(len(data))
        return real(fd, data)

    monkeypatch.setattr(os, "write", counting)
    return writes


def test_a_pages_records_reach_the_file_in_one_system_call(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each write lets the GIL go and waits to take it back, with the writer lock held
    w = make_writer(coll)
    w.write_exchange(exchange("https://example.org/first", b"<p>warcinfo first</p>"))
    writes = _count_writes(monkeypatch)
    page = random.Random(3).randbytes(60_000)
    with w.batch() as batch:
        _req, resp = batch.write_exchange(exchange("https://example.org/a", page))
        meta = batch.write_metadata(
            text_uri("https://example.org/a"), resp.record_id, b"{}", "application/json"
        )
    assert len(writes) == 2  # one per call: the exchange's two records, the metadata
    monkeypatch.undo()
    w.close()
    (path,) = assert_all_valid(coll.archive_dir)
    assert read_record(path, resp.offset).payload == page
    assert read_record(path, meta.offset).rec_type == "metadata"


def test_a_body_larger_than_the_buffer_goes_out_in_bounded_writes(
    coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_writer(coll)
    writes = _count_writes(monkeypatch)
    body = random.Random(4).randbytes(5 * 2**20)  # incompressible: ~5 MiB of gzip out
    _req, resp = w.write_exchange(exchange("https://example.org/big", body))
    monkeypatch.undo()
    assert len(writes) >= 5
    assert max(writes) < 2 * 2**20  # never the whole body in memory at once
    w.close()
    (path,) = assert_all_valid(coll.archive_dir)
    assert read_record(path, resp.offset).payload == body
