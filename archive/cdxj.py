"""CDXJ index lines for closed WARC files, merged into a sorted `index.cdxj`.

Lines come from the `cdxj_indexer` library (the one pywb and py-wacz use): SURT urlkey,
14-digit timestamp, then JSON with url, mime, status, digest, length, offset, filename.
Indexed record types are cdxj-indexer's defaults: response, revisit, and resource /
metadata records that are not `application/warc-fields`. Our extracted-text records
live at `urn:text:<url>`, whose urlkey is the urn itself, so they never shadow a page.

`append_index` keeps `index.cdxj` current as files close: it merges the new sorted lines
into the existing index under an exclusive file lock, via a temp file and `os.replace`,
so pywb always reads a complete, sorted index.

Captures in a still-open file are replayable too: after every write the writer indexes
just the records it wrote (`index_range`) into the live index, whose lines name the
`.open` file (pywb resolves names by prefix only, so it reads the `.open` file as is).
The live index is two sorted files, so a write never rewrites every live line (a file
rotates after ~20,000 captures; rewriting them all per write is quadratic):

    live-recent.cdxj   small: each write merges its lines into this one only
    live.cdxj          big: once the small file holds more than `recent_limit` lines
                       (~sqrt of the big file's), it is merged in and the small emptied

So a write rewrites O(sqrt n) lines amortized. Between those two replaces a line sits in
both files (pywb shows it twice for a moment, never zero times). pywb reads every
`*.cdxj` in the indexes dir, so it sees new lines at once; the set of file names never
changes (`ensure_index_files`). When the file closes (or is recovered), `append_index`
merges the final file's lines into `index.cdxj`, then drops its `.open` lines from both
live files; between the rename and that merge (a few milliseconds) pywb cannot find
that file's records. Temp files end in `.tmp`, never `.cdxj`, so pywb never reads a
half-written one.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "INDEX_NAME",
    "LIVE_INDEX_NAME",
    "LIVE_INDEX_NAMES",
    "RECENT_INDEX_NAME",
    "RECENT_MIN_LINES",
    "CdxjLine",
    "add_live_lines",
    "append_index",
    "drop_live_lines",
    "ensure_index_files",
    "index_lines",
    "index_range",
    "live_index_path",
    "live_index_paths",
    "parse_line",
    "read_index",
    "read_live_index",
    "recent_limit",
]

log = logging.getLogger(__name__)

INDEX_NAME = "index.cdxj"
LOCK_NAME = INDEX_NAME + ".lock"


@dataclass(frozen=True)
class CdxjLine:
    urlkey: str
    timestamp: str
    fields: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.fields["url"])

    @property
    def offset(self) -> int:
        return int(self.fields["offset"])

    @property
    def length(self) -> int:
        return int(self.fields["length"])

    @property
    def filename(self) -> str:
        return str(self.fields["filename"])


def parse_line(line: str) -> CdxjLine:
    urlkey, timestamp, blob = line.rstrip("\n").split(" ", 2)
    return CdxjLine(urlkey, timestamp, json.loads(blob))


def index_lines(warc_path: str | Path) -> list[str]:
    """Sorted CDXJ lines (each ending in a newline) for one closed WARC file.

    `filename` in each line is the file's basename: pywb resolves it in the
    collection's archive dir.
    """
    # Imported here: cdxj_indexer pulls in surt, which the record-writing path never needs.
    from cdxj_indexer.main import CDXJIndexer

    out = io.StringIO()
    CDXJIndexer(output=out, inputs=[str(warc_path)], sort=True).process_all()
    return [line + "\n" for line in out.getvalue().splitlines() if line.strip()]


def read_index(indexes_dir: str | Path) -> list[CdxjLine]:
    path = Path(indexes_dir) / INDEX_NAME
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [parse_line(line) for line in f if line.strip()]


@contextlib.contextmanager
def _locked(indexes_dir: Path) -> Iterator[None]:
    # A separate lock file: the index itself is replaced, so locking it would not hold.
    with open(indexes_dir / LOCK_NAME, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _dedup(lines: Iterable[str]) -> Iterator[str]:
    # Re-indexing a file (a retried recovery) must not double its lines.
    prev = None
    for line in lines:
        if line != prev:
            yield line
        prev = line


def append_index(
    indexes_dir: str | Path, warc_path: str | Path, *, lines: list[str] | None = None
) -> int:
    """Merge the lines of `warc_path` into `<indexes_dir>/index.cdxj`; return their count.
    `lines`: the file's lines as its writer indexed them already (`renamed` live lines),
    instead of reading the whole file again."""
    indexes_dir = Path(indexes_dir)
    indexes_dir.mkdir(parents=True, exist_ok=True)
    new = sorted(lines) if lines is not None else index_lines(warc_path)
    target = indexes_dir / INDEX_NAME
    with _locked(indexes_dir):
        fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".cdxj.tmp", dir=indexes_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                with open(target, encoding="utf-8") if target.exists() else io.StringIO() as old:
                    # both inputs are sorted: a streaming merge keeps memory flat
                    out.writelines(_dedup(heapq.merge(old, new)))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # the file is final now: its live lines (naming the .open file) are obsolete
        _drop_live_lines(indexes_dir, Path(warc_path).name + ".open")
        _fsync_dir(indexes_dir)
    log.info("indexed %s: %d lines into %s", warc_path, len(new), target)
    return len(new)


LIVE_INDEX_NAME = "live.cdxj"
RECENT_INDEX_NAME = "live-recent.cdxj"
LIVE_INDEX_NAMES = (LIVE_INDEX_NAME, RECENT_INDEX_NAME)
RECENT_MIN_LINES = 64


def live_index_path(indexes_dir: str | Path) -> Path:
    """The big live index file. Live lines are in both `live_index_paths`: read those."""
    return Path(indexes_dir) / LIVE_INDEX_NAME


def live_index_paths(indexes_dir: str | Path) -> tuple[Path, Path]:
    """The live index (lines of records in still-open WARC files, naming the `.open`
    file): the big file and the small recent one."""
    indexes_dir = Path(indexes_dir)
    return indexes_dir / LIVE_INDEX_NAME, indexes_dir / RECENT_INDEX_NAME


def read_live_index(indexes_dir: str | Path) -> list[CdxjLine]:
    """Every live line, from both live files, in sorted order."""
    files = [_read_lines(path) for path in live_index_paths(indexes_dir)]
    return [parse_line(line) for line in heapq.merge(*files)]


def recent_limit(live_lines: int) -> int:
    """How many lines the small live file may hold when the big one holds `live_lines`.

    ~sqrt(n): a write rewrites at most that many small-file lines, and the big file
    (n lines) is rewritten once every ~sqrt(n) lines added: O(sqrt n) lines a write.
    """
    return max(RECENT_MIN_LINES, math.isqrt(live_lines))


def ensure_index_files(indexes_dir: str | Path) -> None:
    """Create empty `index.cdxj`, both live files and the lock file if missing.

    pywb caches the list of index files per directory by its stat (whole seconds), so a
    file created in the same second as its last listing stays unseen: the file list
    must never change while it runs. Call this before starting pywb.
    """
    indexes_dir = Path(indexes_dir)
    indexes_dir.mkdir(parents=True, exist_ok=True)
    for name in (INDEX_NAME, *LIVE_INDEX_NAMES, LOCK_NAME):
        (indexes_dir / name).touch(exist_ok=True)


def index_range(
    path: str | Path, start: int, *, end: int | None = None, filename: str
) -> list[str]:
    """Sorted CDXJ lines for the records from byte `start` to `end` (default: the end)
    of `path`.

    Each line names `filename`; offsets are absolute in the file (warcio's iterator
    starts counting at `tell()`). With `end`, nothing after it is read: a writer may be
    appending the next records there (a record read half-written fails the whole range).
    """
    from cdxj_indexer.main import CDXJIndexer

    out = io.StringIO()
    indexer = CDXJIndexer(output=out, inputs=[], filename=filename)
    with open(path, "rb") as f:
        f.seek(start)
        indexer.process_one(f if end is None else _Upto(f, end), out, filename)
    return sorted(line + "\n" for line in out.getvalue().splitlines() if line.strip())


class _Upto:
    """A binary file read up to byte `end` and no further (what warcio's iterator
    needs of a file: read and tell, absolute positions; warcio's own LimitReader counts
    tell() from 0, and the CDXJ offsets must be the file's)."""

    def __init__(self, f: io.BufferedReader, end: int) -> None:
        self._f = f
        self._end = end

    def tell(self) -> int:
        return self._f.tell()

    def read(self, size: int = -1) -> bytes:
        left = self._end - self._f.tell()
        if left <= 0:
            return b""
        return self._f.read(left if size is None or size < 0 else min(size, left))


def add_live_lines(indexes_dir: str | Path, lines: list[str]) -> int:
    """Merge `lines` (of records in an open file) into the live index.

    Returns how many lines were rewritten (the cost the two-file layout keeps small).
    """
    if not lines:
        return 0
    indexes_dir = Path(indexes_dir)
    indexes_dir.mkdir(parents=True, exist_ok=True)
    big, recent = live_index_paths(indexes_dir)
    with _locked(indexes_dir):
        if not (big.exists() and recent.exists()):
            # a writer without replay: create both at once, so the name set changes once
            for path in (big, recent):
                path.touch(exist_ok=True)
        merged = list(_dedup(heapq.merge(_read_lines(recent), sorted(lines))))
        if len(merged) <= recent_limit(_estimate_lines(big, merged)):
            return _replace(recent, merged)
        # Big file first, then empty the small one: in between (or after a crash there)
        # a line is listed twice, never missing; the file's close drops it from both.
        written = _replace(big, _dedup(heapq.merge(_read_lines(big), merged)))
        log.debug("merged %d recent live lines into %s (%d lines)", len(merged), big, written)
        return written + _replace(recent, [])


def renamed(live_lines: list[str], open_name: str, final_name: str) -> list[str]:
    """Live lines of the open file `open_name` as lines of the file it became on closing
    (the same records at the same offsets: only the name changes)."""
    open_field = f'"filename": {json.dumps(open_name)}'
    final_field = f'"filename": {json.dumps(final_name)}'
    out = [line.replace(open_field, final_field, 1) for line in live_lines]
    if any(final_field not in line for line in out):
        raise ValueError(f"a live line names another file than {open_name}")
    return out


def drop_live_lines(indexes_dir: str | Path, open_name: str) -> None:
    """Forget the live lines of `open_name` (a `.open` file that recovery deleted)."""
    indexes_dir = Path(indexes_dir)
    if not any(path.exists() for path in live_index_paths(indexes_dir)):
        return
    with _locked(indexes_dir):
        _drop_live_lines(indexes_dir, open_name)


def _drop_live_lines(indexes_dir: Path, open_name: str) -> None:
    # Called with the index lock held, after the final file's lines are in index.cdxj.
    for target in live_index_paths(indexes_dir):
        if not target.exists():
            continue
        old = _read_lines(target)
        kept = [ln for ln in old if parse_line(ln).filename != open_name]
        if len(kept) != len(old):
            _replace(target, kept)


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [ln for ln in path.read_text(encoding="utf-8").splitlines(True) if ln.strip()]


def _estimate_lines(path: Path, sample: list[str]) -> int:
    # Lines in `path` from its size and the sample's mean line length: no count is kept
    # anywhere (writers in several processes share the dir), and counting means reading.
    sample_bytes = sum(len(ln.encode("utf-8")) for ln in sample)
    if not sample_bytes or not path.exists():
        return 0
    return path.stat().st_size * len(sample) // sample_bytes


def _replace(target: Path, lines: Iterable[str]) -> int:
    """Write `lines` to `target` via a temp file and `os.replace`; return their count."""
    # Not fsynced: the live index is derived, and rebuilt in full when its file closes.
    lines = list(lines)  # the live files are small enough to hold: one write, not n
    fd, tmp = tempfile.mkstemp(prefix=".live-", suffix=".cdxj.tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; pywb may run as another user
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("".join(lines))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return len(lines)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
