"""A rotating, locking WARC writer: one gzip member per record, `.open` until closed.

Life of a file (pywb's MultiFileWARCWriter, minus its swallowed errors):

1. Opened lazily on the first write as `<prefix>-<timestamp>-<serial>.warc.gz.open`,
   with an exclusive `fcntl.flock` held for the writer's lifetime: the lock is how
   `recover_open_files` tells a live writer from a dead one.
2. The first record is warcinfo. Every record is its own gzip member, so any record can
   be read at its offset.
3. A write that fails half-way truncates the file back to where that write began, then
   re-raises: no half records, no silent loss.
4. `sync()` fsyncs; the caller commits the capture to the database only after it. The
   fsync runs outside the write lock (other threads go on writing) and is shared: one
   fsync covers every batch written before it began, so threads that sync meanwhile
   wait for it instead of each paying one of their own.
5. Between writes, a file over `max_size` is finished: fsynced, renamed to `.warc.gz`,
   and its CDXJ lines merged into the collection index. Until then every write also
   lands in the file's live index (archive.cdxj), so open files replay too. Rotation
   never splits a request/response pair, because a pair is one write.

Caveat: several threads share one file. A thread can trigger rotation while another
thread's records are written but not yet committed; if the process then dies, those
records sit in a closed file that recovery does not cut. The retry then writes a second
response for that capture. Use one writer per thread (distinct prefixes) to exclude it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from warcio.recordloader import ArcWarcRecord

from archive.cdxj import add_live_lines, append_index, drop_live_lines, index_range, renamed
from archive.records import HttpExchange, RecordFactory, new_record_id, serialize_record, utc_now
from archive.warc_reader import RecordCheck, check_member, scan_members

__all__ = [
    "OPEN_SUFFIX",
    "RecoveryReport",
    "WarcBatch",
    "WarcWriter",
    "WrittenRecord",
    "recover_open_files",
]

log = logging.getLogger(__name__)

OPEN_SUFFIX = ".open"
LIVE_LINES_KEPT = 200_000  # ~60 MB of index lines held for a file's close, at most
WARC_SUFFIX = ".warc.gz"
OFFSET_MAX = 2**63 - 1


@dataclass(frozen=True)
class WrittenRecord:
    """Where a record landed: `warc_file` is the final basename (without `.open`)."""

    warc_file: str
    offset: int
    length: int
    record_id: str


@dataclass
class RecoveryReport:
    warc_file: str  # final basename
    original_size: int
    kept_size: int
    records_kept: int
    requested_keep: int | None
    removed: bool = False  # nothing beyond warcinfo was kept, so the file was deleted
    problems: list[str] = field(default_factory=list)


class _FdOut:
    """A sink over a file descriptor, buffered up to `BUFFER` bytes and drained by
    `_append` at the end of its records (warcio's flush after each record waits for it).

    warcio hands its gzip writer's output over in many small pieces; a system call for
    each let the GIL go and take it back each time, and with two dozen capture threads
    every take-back waits its turn, all while the writer lock is held (measured: most of
    a capture's time in `write`). The buffer is in memory only between the record start
    and the flush, so after an error the file holds a prefix of what was meant and
    truncating back to the record start is still exact.
    """

    BUFFER = 1 << 20  # a page and its records in one write; a huge body in 1 MiB writes

    def __init__(self, fd: int, pos: int) -> None:
        self.fd = fd
        self.pos = pos  # file offset after everything handed over so far
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        self.pos += len(data)
        if len(self._buf) >= self.BUFFER:
            self.drain()
        return len(data)

    def flush(self) -> None:
        pass  # warcio's, after every record: the records of one call go out together

    def drain(self) -> None:
        view = memoryview(self._buf)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        view.release()
        self._buf.clear()


class _RecordSink:
    """The write methods shared by the writer and its batches: build records, then `_write`.

    Records are built before `_write` takes any lock: warcio's digest pass over a large
    body takes a while.
    """

    records: RecordFactory

    def _write(self, records: list[ArcWarcRecord]) -> list[WrittenRecord]:
        raise NotImplementedError

    def write_exchange(self, ex: HttpExchange) -> tuple[WrittenRecord, WrittenRecord]:
        """Write the request and response records (same file); returns (request, response)."""
        request, response = self.records.request_response(ex)
        written = self._write([request, response])
        return written[0], written[1]

    def write_revisit(
        self,
        ex: HttpExchange,
        *,
        refers_to_id: str,
        refers_to_uri: str,
        refers_to_date: dt.datetime | str,
    ) -> WrittenRecord:
        record = self.records.revisit(
            ex,
            refers_to_id=refers_to_id,
            refers_to_uri=refers_to_uri,
            refers_to_date=refers_to_date,
        )
        return self._write([record])[0]

    def write_metadata(
        self,
        target_uri: str,
        refers_to: str | None,
        payload: bytes,
        content_type: str,
        record_type: Literal["metadata", "resource"] = "metadata",
    ) -> WrittenRecord:
        record = self.records.metadata(target_uri, refers_to, payload, content_type, record_type)
        return self._write([record])[0]


class WarcWriter(_RecordSink):
    """Thread- and process-safe rotating WARC writer (see module docstring)."""

    def __init__(
        self,
        archive_dir: Path,
        *,
        prefix: str,
        max_size: int,
        make_id: Callable[[], str] = new_record_id,
        clock: Callable[[], dt.datetime] = utc_now,
        software: str = "sourcevault",
        indexes_dir: Path | None = None,
        hostname: str | None = None,
    ) -> None:
        if not prefix or "/" in prefix:
            raise ValueError(f"invalid WARC prefix {prefix!r}")
        if max_size <= 0:
            raise ValueError("max_size must be positive")
        self.archive_dir = Path(archive_dir)
        # pywb layout: collections/<coll>/{archive,indexes}
        self.indexes_dir = Path(indexes_dir) if indexes_dir else self.archive_dir.parent / "indexes"
        self.prefix = prefix
        self.max_size = max_size
        self.clock = clock
        self.software = software
        self.hostname = hostname or socket.gethostname()
        self.records = RecordFactory(make_id=make_id, clock=clock)
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()  # one fsync at a time; writes go on meanwhile
        # taken before the writer lock is let go (so in the writers' order), for indexing
        # what was just written; always after the writer lock, never the other way round
        self._index_lock = threading.Lock()
        # (file, offset) known to be on stable storage: a sync that this covers is done
        self._synced: tuple[str | None, int] = (None, 0)
        self._fd: int | None = None
        self._name: str | None = None  # final basename of the current file
        self._serial = 0
        # the current file's live index lines, so closing it needs no second read of the
        # file; None once a live indexing failed or the file grew past LIVE_LINES_KEPT
        self._live_lines: list[str] | None = []
        self.closed_files: list[str] = []

    # -- public API -----------------------------------------------------------------------

    @property
    def current_file(self) -> str | None:
        return self._name

    @contextlib.contextmanager
    def batch(self) -> Iterator[WarcBatch]:
        """Write several records as one unit: same file, contiguous, all or nothing.

        A capture (redirect hops, final response or revisit, metadata) goes in one
        batch, so its records never straddle a rotation. The writer lock is held for
        the whole block; if the block raises, everything it wrote is truncated away.
        The records are indexed for live replay after the lock is let go (`_indexed`).
        """
        self._lock.acquire()
        try:
            fd, name = self._ensure_file()
            start = os.lseek(fd, 0, os.SEEK_END)
            batch = WarcBatch(self.records, fd, name)
            try:
                yield batch
            except BaseException:
                if _cut_back(fd, start, name):
                    log.warning("WARC batch failed; truncated %s back to %d", name, start)
                raise
            finally:
                batch._open = False
            end = os.lseek(fd, 0, os.SEEK_END)
            self._index_lock.acquire()  # the index turn before the next writer's: in order
        finally:
            self._lock.release()
        self._indexed(name, start, end)

    def sync(self) -> None:
        """Flush what was written before this call to stable storage. Commit captures to
        the database only after this.

        Group fsync: the fsync runs on a duplicate of the file's descriptor outside the
        write lock (a rotation meanwhile closes only the original), one at a time; a
        thread that finds its bytes covered by an fsync that ended while it waited
        returns without one."""
        with self._lock:
            if self._fd is None or self._name is None:
                return
            name, end = self._name, os.lseek(self._fd, 0, os.SEEK_END)
            if self._covers(name, end):
                return
            fd = os.dup(self._fd)
        try:
            with self._sync_lock:
                if self._covers(name, end):
                    return
                os.fsync(fd)
                self._synced = (name, end)
        finally:
            os.close(fd)

    def _covers(self, name: str, end: int) -> bool:
        synced_name, synced_end = self._synced
        return synced_name == name and synced_end >= end

    def close(self) -> None:
        """Finish the current file: fsync, rename to `.warc.gz`, index it."""
        with self._lock:
            self._finish()

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Records on disk are always whole (errors truncate), so closing is safe here too.
        self.close()

    # -- internals --------------------------------------------------------------------

    def _write(self, records: list[ArcWarcRecord]) -> list[WrittenRecord]:
        with self._lock:
            fd, name = self._ensure_file()
            written = _append(fd, name, records)
            self._index_lock.acquire()
        if written:
            self._indexed(name, written[0].offset, written[-1].offset + written[-1].length)
        else:
            self._index_lock.release()
        return written

    def _indexed(self, name: str, start: int, end: int) -> None:
        """`_index_live` in the index turn its caller took before letting the writer lock
        go. Reading the records back and rewriting the live index was over half of the
        time a capture held the writer lock, which every capture thread waits for; now
        the next batch is written meanwhile. The turns keep the batches' order, and a
        rotation (`_finish`) takes the index turn too, so the file is not renamed while
        its records are read."""
        try:
            self._index_live(name, start, end)
        finally:
            self._index_lock.release()

    def _index_live(self, name: str, start: int, end: int) -> None:
        """Index the records just written (bytes `start` to `end`) into the file's live
        index, so pywb replays them while the file is still open. Called in the index
        turn, while the next batch may be going into the file after `end`."""
        if end <= start:
            return
        try:
            path = self.archive_dir / (name + OPEN_SUFFIX)
            lines = index_range(path, start, end=end, filename=name + OPEN_SUFFIX)
            add_live_lines(self.indexes_dir, lines)
        except Exception:
            # The WARC is the record; the index is derived and rebuilt in full at close.
            log.exception("live CDXJ indexing of %s [%d, %d) failed", name, start, end)
            self._live_lines = None
            return
        if self._live_lines is not None:
            self._live_lines.extend(lines)
            if len(self._live_lines) > LIVE_LINES_KEPT:
                self._live_lines = None  # a huge file: read it again at close instead

    def _ensure_file(self) -> tuple[int, str]:
        # Rotation happens only here, i.e. between writes/batches, never inside one.
        if self._fd is not None and os.fstat(self._fd).st_size >= self.max_size:
            self._finish()
        if self._fd is None:
            self._open_new()
        assert self._fd is not None and self._name is not None
        return self._fd, self._name

    def _open_new(self) -> None:
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        stamp = self.clock().astimezone(dt.UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        # Create, lock, then link into place, so recovery never sees an unlocked new file.
        tmp = self.archive_dir / f".{self.prefix}-{os.getpid()}-{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            while True:
                name = f"{self.prefix}-{stamp}-{self._serial:05d}{WARC_SUFFIX}"
                self._serial += 1
                if (self.archive_dir / name).exists():
                    continue
                try:
                    os.link(tmp, self.archive_dir / (name + OPEN_SUFFIX))
                except FileExistsError:  # another process took this name
                    continue
                break
        except BaseException:
            os.close(fd)
            raise
        finally:
            tmp.unlink(missing_ok=True)
        info = self.records.warcinfo(
            name, software=self.software, hostname=self.hostname, pid=os.getpid()
        )
        try:
            _append(fd, name, [info])
        except BaseException:
            os.close(fd)
            os.unlink(self.archive_dir / (name + OPEN_SUFFIX))
            raise
        self._fd, self._name = fd, name
        self._live_lines = []
        log.info("opened WARC %s", name)

    def _finish(self) -> None:
        with self._index_lock:  # the last batch's records are indexed before the rename
            self._finish_file()

    def _finish_file(self) -> None:
        if self._fd is None or self._name is None:
            return
        fd, name = self._fd, self._name
        self._fd = self._name = None
        final = self.archive_dir / name
        try:
            os.fsync(fd)
            self._synced = (name, OFFSET_MAX)  # all of it, whatever a sync() waits for
            # Rename while still holding the lock: a scanner sees locked .open or .warc.gz.
            os.rename(self.archive_dir / (name + OPEN_SUFFIX), final)
            _fsync_dir(self.archive_dir)
        finally:
            os.close(fd)  # releases the flock
        self.closed_files.append(name)
        log.info("closed WARC %s", name)
        live, self._live_lines = self._live_lines, []
        lines = None
        if live:
            try:
                lines = renamed(live, name + OPEN_SUFFIX, name)
            except ValueError:  # never expected: then the file is read again, as before
                log.exception("live CDXJ lines of %s do not all name it", name)
        append_index(self.indexes_dir, final, lines=lines)


def _append(fd: int, name: str, records: list[ArcWarcRecord]) -> list[WrittenRecord]:
    start = os.lseek(fd, 0, os.SEEK_END)
    out = _FdOut(fd, start)
    written = []
    pos = start
    try:
        for record in records:
            serialize_record(record, out)
            end = out.pos
            record_id = record.rec_headers.get_header("WARC-Record-ID")
            written.append(WrittenRecord(name, pos, end - pos, record_id))
            pos = end
        out.drain()
    except BaseException:
        # Cut the partial write off (all records of this call), then re-raise.
        if _cut_back(fd, start, name):
            log.exception("WARC write failed; truncated %s back to %d", name, start)
        raise
    return written


def _cut_back(fd: int, start: int, name: str) -> bool:
    """Truncate back to `start` after a failed write. If that fails too (a dying disk),
    log it and return False: the caller re-raises the write's own error, which names the
    cause (ENOSPC, EROFS…); recovery cuts the file when it is next opened."""
    try:
        os.ftruncate(fd, start)
        os.lseek(fd, start, os.SEEK_SET)
    except OSError as exc:
        log.error("WARC write to %s failed and cutting it back to %d failed: %s", name, start, exc)
        return False
    return True


class WarcBatch(_RecordSink):
    """Handle yielded by `WarcWriter.batch()`; valid only inside the `with` block."""

    def __init__(self, records: RecordFactory, fd: int, name: str) -> None:
        self.records = records
        self._fd = fd
        self._name = name
        self._open = True

    def _write(self, records: list[ArcWarcRecord]) -> list[WrittenRecord]:
        if not self._open:
            raise RuntimeError("WARC batch used after its with-block ended")
        return _append(self._fd, self._name, records)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover_open_files(
    archive_dir: Path,
    keep: Callable[[str], int | None],
    *,
    indexes_dir: Path | None = None,
) -> list[RecoveryReport]:
    """Finish the `.open` files of dead writers.

    For each `*.warc.gz.open` whose flock can be taken (its writer is gone), cut it to
    `keep(final_name)` bytes (the end of the last record the database committed) or,
    when `keep` returns None, to the end of the last complete, digest-valid record.
    The cut lands on a verified record boundary at or below the requested size, and
    never removes the warcinfo record; a file left with only warcinfo is deleted.
    Then rename to `.warc.gz` and index it.
    """
    archive_dir = Path(archive_dir)
    indexes_dir = Path(indexes_dir) if indexes_dir else archive_dir.parent / "indexes"
    reports = []
    for path in sorted(archive_dir.glob(f"*{WARC_SUFFIX}{OPEN_SUFFIX}")):
        report = _recover_one(path, keep, indexes_dir)
        if report is not None:
            reports.append(report)
    return reports


def _recover_one(
    path: Path, keep: Callable[[str], int | None], indexes_dir: Path
) -> RecoveryReport | None:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:  # its writer just closed it
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.debug("skipping %s: its writer is alive", path.name)
            return None
        try:
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                return None  # renamed and replaced under us
        except FileNotFoundError:
            return None
        name = path.name[: -len(OPEN_SUFFIX)]
        with os.fdopen(os.dup(fd), "rb") as f:
            size = os.fstat(fd).st_size
            members = list(scan_members(f))
            checks = [check_member(f, m) for m in members]
        report = _cut_plan(name, size, checks, keep(name))
        final = path.with_name(name)
        if report.removed:
            os.unlink(path)
            _fsync_dir(path.parent)
            drop_live_lines(indexes_dir, path.name)
            log.warning("recovery removed %s: no committed records", path.name)
            return report
        os.ftruncate(fd, report.kept_size)
        os.fsync(fd)
        os.rename(path, final)
        _fsync_dir(path.parent)
    finally:
        os.close(fd)
    log.warning(
        "recovered %s: kept %d of %d bytes (%d records)",
        name,
        report.kept_size,
        report.original_size,
        report.records_kept,
    )
    append_index(indexes_dir, final)
    return report


def _cut_plan(
    name: str, size: int, checks: list[RecordCheck], requested: int | None
) -> RecoveryReport:
    # Boundaries after each record of the leading run of valid records.
    ends = [0]
    problems: list[str] = []
    for c in checks:
        if not c.ok:
            problems = [f"offset {c.offset}: {p}" for p in c.problems]
            break
        ends.append(c.offset + c.length)
    warcinfo_end = ends[1] if len(ends) > 1 and checks[0].rec_type == "warcinfo" else 0
    if requested is None:
        cut = ends[-1]
    else:
        cut = max(e for e in ends if e <= requested)
        if cut != requested:
            log.error(
                "%s: committed end %d is not a valid record boundary; cutting at %d",
                name,
                requested,
                cut,
            )
            problems.append(f"requested keep {requested} is not a valid record end; used {cut}")
    cut = max(cut, warcinfo_end)
    kept = ends.index(cut)
    return RecoveryReport(
        warc_file=name,
        original_size=size,
        kept_size=cut,
        records_kept=kept,
        requested_keep=requested,
        removed=cut <= warcinfo_end,
        problems=problems,
    )
