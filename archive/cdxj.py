"""CDXJ index lines for closed WARC files, merged into a sorted `index.cdxj`.

Lines come from the `cdxj_indexer` library (the one pywb and py-wacz use): SURT urlkey,
14-digit timestamp, then JSON with url, mime, status, digest, length, offset, filename.
Indexed record types are cdxj-indexer's defaults: response, revisit, and resource /
metadata records that are not `application/warc-fields`. Our extracted-text records
live at `urn:text:<url>`, whose urlkey is the urn itself, so they never shadow a page.

`append_index` keeps `index.cdxj` current as files close: it merges the new sorted lines
into the existing index under an exclusive file lock, via a temp file and `os.replace`,
so pywb always reads a complete, sorted index.
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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["INDEX_NAME", "CdxjLine", "append_index", "index_lines", "parse_line", "read_index"]

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
        fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".cdxj", dir=indexes_dir)
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
        _fsync_dir(indexes_dir)
    log.info("indexed %s: %d lines into %s", warc_path, len(new), target)
    return len(new)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
