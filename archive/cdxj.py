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
just the records it wrote (`index_range`) into `indexes/live.cdxj`, whose lines name the
`.open` file (pywb resolves names by prefix only, so it reads the `.open` file as is).
pywb reads every `*.cdxj` in the indexes dir, so it sees them at once. When the file
closes (or is recovered), `append_index` merges the final file's lines into `index.cdxj`,
then drops its `.open` lines from `live.cdxj`; between the rename and that merge (a few
milliseconds) pywb cannot find that file's records. Temp files end in `.tmp`, never
`.cdxj`, so pywb never reads a half-written one.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "INDEX_NAME",
    "LIVE_INDEX_NAME",
    "CdxjLine",
    "add_live_lines",
    "append_index",
    "drop_live_lines",
    "ensure_index_files",
    "index_lines",
    "index_range",
    "live_index_path",
    "parse_line",
    "read_index",
]

log = logging.getLogger(__name__)

INDEX_NAME = "index.cdxj"


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
    with open(indexes_dir / (INDEX_NAME + ".lock"), "a+b") as lock:
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


def append_index(indexes_dir: str | Path, warc_path: str | Path) -> int:
    """Merge the lines of `warc_path` into `<indexes_dir>/index.cdxj`; return their count."""
    indexes_dir = Path(indexes_dir)
    indexes_dir.mkdir(parents=True, exist_ok=True)
    new = index_lines(warc_path)
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


def live_index_path(indexes_dir: str | Path) -> Path:
    """The live index: lines of records in still-open WARC files, naming the `.open` file."""
    return Path(indexes_dir) / LIVE_INDEX_NAME


def ensure_index_files(indexes_dir: str | Path) -> None:
    """Create empty `index.cdxj` and `live.cdxj` if missing.

    pywb caches the list of index files per directory by its stat (whole seconds), so a
    file created in the same second as its last listing stays unseen: the file list
    must never change while it runs. Call this before starting pywb.
    """
    indexes_dir = Path(indexes_dir)
    indexes_dir.mkdir(parents=True, exist_ok=True)
    for name in (INDEX_NAME, LIVE_INDEX_NAME):
        (indexes_dir / name).touch(exist_ok=True)


def index_range(path: str | Path, start: int, *, filename: str) -> list[str]:
    """Sorted CDXJ lines for the records from byte `start` to the end of `path`.

    Each line names `filename`; offsets are absolute in the file (warcio's iterator
    starts counting at `tell()`).
    """
    from cdxj_indexer.main import CDXJIndexer

    out = io.StringIO()
    indexer = CDXJIndexer(output=out, inputs=[], filename=filename)
    with open(path, "rb") as f:
        f.seek(start)
        indexer.process_one(f, out, filename)
    return sorted(line + "\n" for line in out.getvalue().splitlines() if line.strip())


def add_live_lines(indexes_dir: str | Path, lines: list[str]) -> None:
    """Merge sorted `lines` (of records in an open file) into the live index."""
    if not lines:
        return
    indexes_dir = Path(indexes_dir)
    indexes_dir.mkdir(parents=True, exist_ok=True)
    with _locked(indexes_dir):
        _rewrite(live_index_path(indexes_dir), lambda old: heapq.merge(old, sorted(lines)))


def drop_live_lines(indexes_dir: str | Path, open_name: str) -> None:
    """Forget the live lines of `open_name` (a `.open` file that recovery deleted)."""
    indexes_dir = Path(indexes_dir)
    if not live_index_path(indexes_dir).exists():
        return
    with _locked(indexes_dir):
        _drop_live_lines(indexes_dir, open_name)


def _drop_live_lines(indexes_dir: Path, open_name: str) -> None:
    # Called with the index lock held, after the final file's lines are in index.cdxj.
    target = live_index_path(indexes_dir)
    if not target.exists():
        return
    _rewrite(target, lambda old: (ln for ln in old if parse_line(ln).filename != open_name))


def _rewrite(target: Path, transform: Callable[[Iterable[str]], Iterable[str]]) -> None:
    # Not fsynced: the live index is derived, and rebuilt in full when its file closes.
    fd, tmp = tempfile.mkstemp(prefix=".live-", suffix=".cdxj.tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; pywb may run as another user
        old_lines = target.read_text(encoding="utf-8").splitlines(True) if target.exists() else []
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(_dedup(transform(ln for ln in old_lines if ln.strip())))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
