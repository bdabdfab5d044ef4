"""content: bounded decoding of stored raw bodies, and charset from headers."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import zlib

import brotli
import pytest

from archive.records import HttpExchange
from worker.fetch.body import DecodedBody, charset_from_headers, content_encodings, decode_body

HTML = ("<html><body>" + "Жанаозен, 16 декабря. " * 500 + "</body></html>").encode()


def exchange(body: bytes, encoding: str | None = None, *, truncated: bool = False) -> HttpExchange:
    headers = [("Content-Type", "text/html; charset=utf-8")]
    if encoding:
        headers.append(("Content-Encoding", encoding))
    return HttpExchange(
        url="https://a.test/",
        method="GET",
        request_headers=[],
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=headers,
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        fetched_at=dt.datetime(2021, 9, 30, tzinfo=dt.UTC),
        truncated=truncated,
    )


BIG = 10 * 1024 * 1024
CUT = gzip.compress(HTML)[: len(gzip.compress(HTML)) // 2]


def decode(ex: HttpExchange, max_bytes: int = BIG, max_ratio: int = 1000) -> DecodedBody:
    return decode_body(ex, max_bytes=max_bytes, max_ratio=max_ratio)


@pytest.mark.parametrize(
    ("encoded", "coding"),
    [
        (gzip.compress(HTML), "gzip"),
        (gzip.compress(HTML[:100]) + gzip.compress(HTML[100:]), "gzip"),  # two members
        (zlib.compress(HTML), "deflate"),
        (zlib.compress(HTML)[2:-4], "deflate"),  # raw deflate, as some servers send
        (brotli.compress(HTML), "br"),
        (brotli.compress(gzip.compress(HTML)), "gzip, br"),
        (HTML, None),
        (HTML, "identity"),
    ],
)
def test_round_trip(encoded: bytes, coding: str | None) -> None:
    out = decode(exchange(encoded, coding))
    assert out.data == HTML and not out.truncated and out.problem is None


def test_gzip_bomb_capped_by_max_bytes() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # ~200 KB
    out = decode(exchange(bomb, "gzip"), max_bytes=1024 * 1024, max_ratio=10_000)
    assert len(out.data) == 1024 * 1024 and out.truncated and "capped" in (out.problem or "")


def test_gzip_bomb_capped_by_ratio() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
    out = decode(exchange(bomb, "gzip"), max_bytes=BIG, max_ratio=20)
    assert len(out.data) == 20 * len(bomb) and out.truncated


def test_brotli_bomb_capped() -> None:
    bomb = brotli.compress(b"\0" * (100 * 1024 * 1024))
    out = decode(exchange(bomb, "br"), max_bytes=100_000, max_ratio=10**9)
    assert len(out.data) == 100_000 and out.truncated


def test_identity_capped_by_max_bytes_only() -> None:
    out = decode(exchange(HTML, None), max_bytes=100, max_ratio=1)
    assert out.data == HTML[:100] and out.truncated


def test_cut_stream_from_a_truncated_capture() -> None:
    cut = CUT
    out = decode(exchange(cut, "gzip", truncated=True))
    assert out.truncated and HTML.startswith(out.data) and len(out.data) > 0
    assert out.problem == "stored body is truncated"


def test_cut_stream_not_expected_is_a_problem() -> None:
    out = decode(exchange(CUT, "gzip"))
    assert out.truncated and out.problem == "gzip stream ended early"


def test_corrupt_data() -> None:
    out = decode(exchange(b"this is not gzip at all", "gzip"))
    assert out.data == b"" and "corrupt gzip" in (out.problem or "")


def test_unsupported_encoding() -> None:
    out = decode(exchange(b"xx", "compress"))
    assert out.data == b"" and "unsupported" in (out.problem or "")


def test_content_encodings_order() -> None:
    assert content_encodings([("Content-Encoding", "gzip, br"), ("X", "y")]) == ["gzip", "br"]
    assert content_encodings({"content-encoding": "identity"}) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/html; charset=windows-1251", "cp1251"),
        ('text/html; charset="UTF-8"', "utf-8"),
        ("text/html;charset=KOI8-R", "koi8-r"),
        ("text/html", None),
        ("text/html; charset=nonsense-42", None),
    ],
)
def test_charset_from_headers(value: str, expected: str | None) -> None:
    assert charset_from_headers([("Content-Type", value)]) == expected


def test_charset_missing_header() -> None:
    assert charset_from_headers([]) is None
    assert charset_from_headers({"Content-Type": "text/html; charset=utf-8"}) == "utf-8"
