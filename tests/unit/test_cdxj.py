"""archive.cdxj: sorted lines that point at the right records; urn: never shadows a page."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from pathlib import Path

import pytest

from archive.cdxj import (
    INDEX_NAME,
    LIVE_INDEX_NAMES,
    append_index,
    index_lines,
    parse_line,
    read_index,
)
from archive.collection import Collection
from archive.records import HttpExchange, sha256_hex, text_uri
from archive.warc_reader import read_record
from archive.warc_writer import WarcWriter

PAGES = [
    "https://rus.azattyq.org/a/31480000.html",
    "https://tirek.info/v-sud-na-ombudsmena-azimovu/",
    "https://kaztag.kz/ru/news/sud-v-almaty",
    "https://www.facebook.com/groups/ActivistsNotExtremists/",
]


def exchange(url: str, body: bytes) -> HttpExchange:
    return HttpExchange(
        url=url,
        method="GET",
        request_headers=[],
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=[("Content-Type", "text/html; charset=utf-8")],
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256=sha256_hex(body),
        fetched_at=dt.datetime(2021, 9, 14, 10, 30, 5, tzinfo=dt.UTC),
    )


def write_pages(archive_dir: Path, prefix: str, urls: list[str]) -> list[Path]:
    with WarcWriter(archive_dir, prefix=prefix, max_size=10**9) as w:
        for url in urls:
            _, resp = w.write_exchange(exchange(url, f"<h1>{url}</h1>".encode()))
            w.write_metadata(
                text_uri(url), resp.record_id, json.dumps({"url": url}).encode(), "application/json"
            )
    return [archive_dir / name for name in w.closed_files]


@pytest.fixture
def coll(tmp_path: Path) -> Collection:
    return Collection(tmp_path, "c").ensure()


def test_collection_layout(tmp_path: Path) -> None:
    c = Collection(tmp_path, "sept-2021").ensure()
    assert c.archive_dir == tmp_path / "collections" / "sept-2021" / "archive"
    assert c.indexes_dir == tmp_path / "collections" / "sept-2021" / "indexes"
    assert c.archive_dir.is_dir() and c.indexes_dir.is_dir()
    with pytest.raises(ValueError):
        Collection(tmp_path, "../escape")


def test_lines_sorted_and_point_at_records(coll: Collection) -> None:
    (path,) = write_pages(coll.archive_dir, "a", PAGES)
    lines = index_lines(path)
    assert lines == sorted(lines)
    parsed = [parse_line(ln) for ln in lines]
    pages = [p for p in parsed if not p.url.startswith("urn:")]
    assert sorted(p.url for p in pages) == sorted(PAGES)
    for p in parsed:
        assert len(p.timestamp) == 14 and p.timestamp.isdigit()
        assert p.filename == path.name
        assert set(p.fields) >= {"url", "mime", "digest", "length", "offset", "filename"}
        rec = read_record(path, p.offset)
        assert rec.target_uri == p.url
    for p in pages:
        assert (p.fields["status"], p.fields["mime"]) == ("200", "text/html")
        assert p.timestamp == "20210914103005"  # the fetch time, not the write time
        assert read_record(path, p.offset).rec_type == "response"
    assert pages[0].urlkey.startswith(("com,", "info,", "kz,", "org,"))


def test_urn_records_never_shadow_pages(coll: Collection) -> None:
    write_pages(coll.archive_dir, "a", PAGES)
    lines = read_index(coll.indexes_dir)
    page_keys = {ln.urlkey for ln in lines if ln.url in PAGES}
    urn_lines = [ln for ln in lines if ln.url.startswith("urn:")]
    assert urn_lines  # indexed, under their own keys
    for ln in urn_lines:
        assert ln.urlkey.startswith("urn:text:")
        assert ln.urlkey not in page_keys
    # a lookup by a page's key returns only that page's response
    for key in page_keys:
        hits = [ln for ln in lines if ln.urlkey == key]
        assert len(hits) == 1 and hits[0].fields["mime"] == "text/html"


def test_append_index_merges_sorted_and_is_idempotent(coll: Collection) -> None:
    first = write_pages(coll.archive_dir, "a", PAGES[:2])
    second = write_pages(coll.archive_dir, "b", PAGES[2:])
    index = coll.indexes_dir / INDEX_NAME
    text = index.read_text("utf-8").splitlines()
    assert text == sorted(text)
    assert {parse_line(t).filename for t in text} == {first[0].name, second[0].name}
    append_index(coll.indexes_dir, second[0])  # a retried close/recovery
    assert index.read_text("utf-8").splitlines() == text
    # no temp files left; the live files held the open files' lines, now dropped
    assert sorted(p.name for p in coll.indexes_dir.iterdir()) == sorted(
        [INDEX_NAME, INDEX_NAME + ".lock", *LIVE_INDEX_NAMES]
    )
    for name in LIVE_INDEX_NAMES:
        assert (coll.indexes_dir / name).read_text("utf-8") == ""


def test_concurrent_appends_lose_nothing(coll: Collection) -> None:
    files = [
        write_pages(coll.archive_dir, f"p{i}", [f"https://example.org/{i}"])[0] for i in range(8)
    ]
    (coll.indexes_dir / INDEX_NAME).unlink()
    threads = [threading.Thread(target=append_index, args=(coll.indexes_dir, f)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = read_index(coll.indexes_dir)
    assert len(lines) == 16
    assert {ln.filename for ln in lines} == {f.name for f in files}
