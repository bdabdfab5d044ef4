"""archive.warc_reader: raw round-trips and whole-file checks stricter than `warcio check`."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from archive.collection import Collection
from archive.records import SHA256_HEADER, HttpExchange, sha256_hex
from archive.warc_reader import DecodedTooLarge, check_file, read_record, scan_members
from archive.warc_writer import WarcWriter

HTML = ("<html><body>" + "Жанаозен, 16 декабря. " * 400 + "</body></html>").encode()


def exchange(url: str, body: bytes, headers: list[tuple[str, str]]) -> HttpExchange:
    return HttpExchange(
        url=url,
        method="GET",
        request_headers=[("Host", "kaztag.kz")],
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=headers,
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256=sha256_hex(body),
        fetched_at=dt.datetime(2021, 9, 14, 10, 30, tzinfo=dt.UTC),
    )


@pytest.fixture
def coll(tmp_path: Path) -> Collection:
    return Collection(tmp_path, "t").ensure()


def write(coll: Collection, *exchanges: HttpExchange) -> tuple[Path, list[int]]:
    offsets = []
    with WarcWriter(coll.archive_dir, prefix="r", max_size=10**9) as w:
        for ex in exchanges:
            offsets.append(w.write_exchange(ex)[1].offset)
    (path,) = coll.archive_dir.glob("*.warc.gz")
    return path, offsets


def warcio_check_rc(path: Path) -> int:
    cmd = [sys.executable, "-m", "warcio.cli", "check", str(path)]
    return subprocess.run(cmd, capture_output=True, check=False).returncode


def test_gzip_body_round_trips_raw(coll: Collection) -> None:
    raw = gzip.compress(HTML, mtime=0)
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")]
    path, (off,) = write(coll, exchange("https://kaztag.kz/ru/news/1", raw, headers))
    rec = read_record(path, off)
    assert rec.payload == raw  # still content-encoded, byte for byte
    assert rec.sha256 == hashlib.sha256(raw).hexdigest() == rec.warc_header(SHA256_HEADER)
    assert rec.decoded_payload() == HTML
    assert (rec.http_status, rec.http_protocol, rec.digests_ok) == (200, "HTTP/1.1", True)
    assert rec.http_header("content-encoding") == "gzip"


def test_chunked_header_round_trip(coll: Collection) -> None:
    # De-chunked body whose bytes look like chunk framing, plus gzip encoding.
    tricky = b"4\r\nWiki\r\n0\r\n\r\n"
    gz = gzip.compress(HTML, mtime=0)
    path, (o1, o2) = write(
        coll,
        exchange("https://kaztag.kz/a", tricky, [("Transfer-Encoding", "chunked")]),
        exchange(
            "https://kaztag.kz/b",
            gz,
            [("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")],
        ),
    )
    a, b = read_record(path, o1), read_record(path, o2)
    assert a.payload == a.decoded_payload() == tricky
    assert a.http_header("Transfer-Encoding") is None
    assert a.http_header("X-Archive-Orig-Transfer-Encoding") == "chunked"
    assert b.payload == gz and b.decoded_payload() == HTML
    assert a.sha256 == sha256_hex(tricky) and b.sha256 == sha256_hex(gz)
    assert warcio_check_rc(path) == 0


def test_foreign_record_with_kept_chunked_header_still_decodes() -> None:
    # Other tools keep the header over a de-chunked body; warcio's reader falls back.
    from archive.warc_reader import ArchivedRecord

    rec = ArchivedRecord(
        offset=0,
        rec_type="response",
        record_id="<x>",
        target_uri="https://x/",
        warc_headers=[],
        http_protocol="HTTP/1.1",
        http_status=200,
        http_headers=[("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")],
        payload=gzip.compress(b"plain body", mtime=0),
        digests_ok=None,
    )
    assert rec.decoded_payload() == b"plain body"


def test_decoded_payload_is_capped() -> None:
    from archive.warc_reader import ArchivedRecord

    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024), mtime=0)
    rec = ArchivedRecord(0, "response", "<x>", None, [], "HTTP/1.1", 200,
                         [("Content-Encoding", "gzip")], bomb, None)  # fmt: skip
    with pytest.raises(DecodedTooLarge):
        rec.decoded_payload(max_size=1024 * 1024)
    rec.http_headers = [("Content-Encoding", "zstd-unknown")]
    with pytest.raises(ValueError, match="unsupported"):
        rec.decoded_payload()


def test_check_file_ok_and_members(coll: Collection) -> None:
    path, _ = write(coll, exchange("https://kaztag.kz/ok", HTML, []))
    check = check_file(path)
    assert check.ok and check.valid_end == check.size == path.stat().st_size
    with open(path, "rb") as f:
        members = list(scan_members(f))
    assert [(m.offset, m.length) for m in members] == [(r.offset, r.length) for r in check.records]
    assert all(m.complete for m in members)


@pytest.mark.parametrize("cut_back", [1, 20, 200, 2000])
def test_cut_file_fails_check_while_warcio_check_passes(coll: Collection, cut_back: int) -> None:
    body = os.urandom(5000)  # incompressible: every cut lands inside the response
    path, (off,) = write(coll, exchange("https://kaztag.kz/cut", body, []))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut_back])
    assert warcio_check_rc(path) == 0  # the documented trap
    check = check_file(path)
    assert not check.ok
    assert check.first_problem is not None and check.first_problem.offset == off
    assert check.valid_end == off


def _rewrite_member(path: Path, offset: int, length: int, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    member = gzip.decompress(data[offset : offset + length])
    assert old in member
    member = member.replace(old, new, 1)
    comp = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    blob = comp.compress(member) + comp.flush()
    path.write_bytes(data[:offset] + blob + data[offset + length :])


def test_tampered_payload_fails_digests(coll: Collection) -> None:
    path, (off,) = write(coll, exchange("https://kaztag.kz/t", HTML, []))
    rec = next(r for r in check_file(path).records if r.offset == off)
    _rewrite_member(path, off, rec.length, "16 декабря".encode(), "17 декабря".encode())
    check = check_file(path)
    bad = check.first_problem
    assert bad is not None and bad.rec_type == "response"
    assert any("digest failed" in p for p in bad.problems)
    assert any(SHA256_HEADER in p for p in bad.problems)


def test_revisit_block_digest_checked(coll: Collection) -> None:
    with WarcWriter(coll.archive_dir, prefix="v", max_size=10**9) as w:
        rev = w.write_revisit(
            exchange("https://kaztag.kz/v", HTML, [("Server", "nginx")]),
            refers_to_id="<urn:uuid:x>",
            refers_to_uri="https://kaztag.kz/v",
            refers_to_date="2021-09-01T00:00:00Z",
        )
    (path,) = coll.archive_dir.glob("*.warc.gz")
    assert check_file(path).ok
    _rewrite_member(path, rev.offset, rev.length, b"nginx", b"nginX")
    check = check_file(path)
    assert check.first_problem is not None
    assert any("revisit block digest failed" in p for p in check.first_problem.problems)
    assert warcio_check_rc(path) == 0  # warcio does not look at revisit digests
