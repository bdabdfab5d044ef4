"""archive.records: byte-exact records with injected ids and clock."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import itertools
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from warcio.archiveiterator import ArchiveIterator

from archive.records import (
    SHA256_HEADER,
    HttpExchange,
    RecordFactory,
    Truncation,
    serialize_record,
    sha256_hex,
    text_uri,
)
from archive.warc_reader import check_file

FETCHED = dt.datetime(2021, 9, 14, 10, 30, 5, 250000, tzinfo=dt.UTC)
URL = "https://rus.azattyq.org/a/31480000.html?x=1"


def fixed_factory() -> RecordFactory:
    counter = itertools.count(1)
    return RecordFactory(
        make_id=lambda: f"<urn:uuid:00000000-0000-4000-8000-{next(counter):012d}>",
        clock=lambda: dt.datetime(2021, 9, 30, 8, 0, tzinfo=dt.UTC),
    )


def exchange(
    body: bytes = b"<html>hi</html>",
    *,
    headers: list[tuple[str, str]] | None = None,
    http_version: str = "HTTP/1.1",
    reason: str = "OK",
    truncated: bool = False,
    truncation: Truncation | None = None,
) -> HttpExchange:
    return HttpExchange(
        url=URL,
        method="GET",
        request_headers=[("Host", "rus.azattyq.org"), ("User-Agent", "sourcevault/0.1")],
        http_version=http_version,
        status=200,
        reason=reason,
        response_headers=headers
        if headers is not None
        else [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked")],
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256=sha256_hex(body),
        fetched_at=FETCHED,
        peer_ip="203.0.113.7",
        truncated=truncated,
        truncation=truncation,
    )


def to_bytes(*records: object) -> bytes:
    out = io.BytesIO()
    for r in records:
        serialize_record(r, out, gzip=False)
    return out.getvalue()


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


EXPECTED_PAIR = (
    b"WARC/1.1\r\n"
    b"WARC-Type: request\r\n"
    b"WARC-Target-URI: https://rus.azattyq.org/a/31480000.html?x=1\r\n"
    b"WARC-Date: 2021-09-14T10:30:05.250000Z\r\n"
    b"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000002>\r\n"
    b"WARC-Concurrent-To: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
    b"WARC-IP-Address: 203.0.113.7\r\n"
    b"WARC-Payload-Digest: sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ\r\n"
    b"WARC-Block-Digest: sha1:4UMFNTK5CW4DI76HHNYPBW5OB5IPU257\r\n"
    b"Content-Type: application/http; msgtype=request\r\n"
    b"Content-Length: 89\r\n"
    b"\r\n"
    b"GET /a/31480000.html?x=1 HTTP/1.1\r\n"
    b"Host: rus.azattyq.org\r\n"
    b"User-Agent: sourcevault/0.1\r\n"
    b"\r\n"
    b"\r\n\r\n"
    b"WARC/1.1\r\n"
    b"WARC-Type: response\r\n"
    b"WARC-Target-URI: https://rus.azattyq.org/a/31480000.html?x=1\r\n"
    b"WARC-Date: 2021-09-14T10:30:05.250000Z\r\n"
    b"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
    b"WARC-IP-Address: 203.0.113.7\r\n"
    b"WARC-X-Payload-SHA256: beb6d42e2e372ff35ff73af2a4bd53d0e440f07180b89ea67136a92c8f80a8ba\r\n"
    b"WARC-Payload-Digest: sha1:JEXJR23VJNMISKZO2PJJFAYRPVKZAOS5\r\n"
    b"WARC-Block-Digest: sha1:VUDHCNAMCSBBNODBOCFQY65YTA4GBMSF\r\n"
    b"Content-Type: application/http; msgtype=response\r\n"
    b"Content-Length: 117\r\n"
    b"\r\n"
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"X-Archive-Orig-Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"<html>hi</html>"
    b"\r\n\r\n"
)


def test_request_response_byte_exact() -> None:
    request, response = fixed_factory().request_response(exchange())
    assert to_bytes(request, response) == EXPECTED_PAIR


def test_digests_are_what_they_claim() -> None:
    body = b"<html>hi</html>"
    _, response = fixed_factory().request_response(exchange(body))
    raw = to_bytes(response)
    block = raw.split(b"\r\n\r\n", 1)[1][: -len(b"\r\n\r\n")]
    headers = response.rec_headers
    assert headers.get_header("WARC-Payload-Digest") == sha1_b32(body)
    assert headers.get_header("WARC-Block-Digest") == sha1_b32(block)
    assert headers.get_header(SHA256_HEADER) == hashlib.sha256(body).hexdigest()


def test_chunked_header_renamed_so_readers_do_not_dechunk() -> None:
    # A de-chunked body that happens to look like chunked framing: if the original
    # Transfer-Encoding header stayed, warcio (and pywb's replay) would "de-chunk" it.
    body = b"4\r\nWiki\r\n0\r\n\r\n"
    _, response = fixed_factory().request_response(exchange(body))
    raw = to_bytes(response)
    assert b"\r\nTransfer-Encoding" not in raw
    assert b"X-Archive-Orig-Transfer-Encoding: chunked" in raw
    record = next(iter(ArchiveIterator(io.BytesIO(raw))))
    assert record.content_stream().read() == body  # the replay path


def test_http2_status_line_and_no_reason() -> None:
    _, response = fixed_factory().request_response(
        exchange(http_version="HTTP/2", reason="", headers=[("content-type", "text/html")])
    )
    assert b"\r\n\r\nHTTP/2 200\r\ncontent-type: text/html\r\n" in to_bytes(response)


@pytest.mark.parametrize("reason", ["length", "time", "disconnect"])
def test_truncated_body_is_marked_with_its_reason(reason: Truncation) -> None:
    _, response = fixed_factory().request_response(exchange(truncated=True, truncation=reason))
    assert response.rec_headers.get_header("WARC-Truncated") == reason
    assert f"WARC-Truncated: {reason}\r\n".encode() in to_bytes(response)
    _, full = fixed_factory().request_response(exchange())
    assert full.rec_headers.get_header("WARC-Truncated") is None


def test_truncated_without_a_reason_is_unspecified_and_a_bad_reason_refused() -> None:
    _, response = fixed_factory().request_response(exchange(truncated=True))
    assert response.rec_headers.get_header("WARC-Truncated") == "unspecified"
    with pytest.raises(ValueError, match="truncation"):
        fixed_factory().request_response(exchange(truncated=True, truncation="size"))  # type: ignore[arg-type]


def test_no_ip_header_without_peer_ip() -> None:
    ex = exchange()
    ex.peer_ip = None
    request, response = fixed_factory().request_response(ex)
    assert b"WARC-IP-Address" not in to_bytes(request, response)


def test_body_length_must_match_stream() -> None:
    ex = exchange()
    ex.body_length += 1
    with pytest.raises(ValueError, match="body_length"):
        fixed_factory().request_response(ex)


def test_body_is_rewound_before_use() -> None:
    ex = exchange(b"abcdef")
    ex.body.seek(4)
    _, response = fixed_factory().request_response(ex)
    assert to_bytes(response).endswith(b"\r\n\r\nabcdef\r\n\r\n")


def test_revisit_headers_only() -> None:
    body = b"<html>same</html>"
    rec = fixed_factory().revisit(
        exchange(body),
        refers_to_id="<urn:uuid:earlier>",
        refers_to_uri=URL,
        refers_to_date=dt.datetime(2021, 9, 1, tzinfo=dt.UTC),
    )
    raw = to_bytes(rec)
    h = rec.rec_headers
    assert h.get_header("WARC-Type") == "revisit"
    assert h.get_header("WARC-Profile") == (
        "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    )
    assert h.get_header("WARC-Refers-To") == "<urn:uuid:earlier>"
    assert h.get_header("WARC-Refers-To-Target-URI") == URL
    assert h.get_header("WARC-Refers-To-Date") == "2021-09-01T00:00:00Z"
    assert h.get_header("WARC-Payload-Digest") == sha1_b32(body)
    assert body not in raw
    assert raw.endswith(b"X-Archive-Orig-Transfer-Encoding: chunked\r\n\r\n\r\n\r\n")


def test_metadata_record_uses_urn_target() -> None:
    rec = fixed_factory().metadata(
        text_uri(URL), "<urn:uuid:resp>", b'{"title": "x"}', "application/json"
    )
    raw = to_bytes(rec)
    assert raw.startswith(
        b"WARC/1.1\r\n"
        b"WARC-Type: metadata\r\n"
        b"WARC-Target-URI: urn:text:https://rus.azattyq.org/a/31480000.html?x=1\r\n"
        b"WARC-Date: 2021-09-30T08:00:00Z\r\n"
        b"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
        b"WARC-Refers-To: <urn:uuid:resp>\r\n"
    )
    payload = b'{"title": "x"}'
    # WARC/1.1 5.9: no WARC-Payload-Digest on a record without a payload; the block's stays
    assert raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[6:] == [
        b"WARC-Block-Digest: " + sha1_b32(payload).encode(),
        b"Content-Type: application/json",
        b"Content-Length: 14",
    ]
    assert raw.endswith(b"\r\n\r\n" + payload + b"\r\n\r\n")


def test_metadata_refuses_page_uri_and_bad_type() -> None:
    with pytest.raises(ValueError, match="page URI"):
        fixed_factory().metadata(URL, None, b"x", "text/plain")
    with pytest.raises(ValueError, match="record_type"):
        fixed_factory().metadata(text_uri(URL), None, b"x", "text/plain", "response")  # type: ignore[arg-type]


def test_resource_record() -> None:
    rec = fixed_factory().metadata(text_uri(URL), None, b"text", "text/plain", "resource")
    assert rec.rec_headers.get_header("WARC-Type") == "resource"
    assert rec.rec_headers.get_header("WARC-Refers-To") is None
    raw = to_bytes(rec)
    assert b"WARC-Payload-Digest" not in raw
    assert b"WARC-Block-Digest: " + sha1_b32(b"text").encode() + b"\r\n" in raw


def test_warcinfo_byte_exact() -> None:
    rec = fixed_factory().warcinfo("sv-1.warc.gz", software="sourcevault", hostname="h", pid=42)
    raw = to_bytes(rec)
    fields = (
        b"software: sourcevault\r\n"
        b"format: WARC File Format 1.1\r\n"
        b"conformsTo: https://iipc.github.io/warc-specifications/specifications/"
        b"warc-format/warc-1.1/\r\n"
        b"hostname: h\r\n"
        b"pid: 42\r\n"
    )
    assert raw == (
        b"WARC/1.1\r\n"
        b"WARC-Type: warcinfo\r\n"
        b"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
        b"WARC-Filename: sv-1.warc.gz\r\n"
        b"WARC-Date: 2021-09-30T08:00:00Z\r\n"
        b"WARC-Block-Digest: " + sha1_b32(fields).encode() + b"\r\n"
        b"Content-Type: application/warc-fields\r\n"
        b"Content-Length: " + str(len(fields)).encode() + b"\r\n"
        b"\r\n" + fields + b"\r\n\r\n"
    )


def _every_record_type(factory: RecordFactory) -> list[object]:
    body = b"<html>same page</html>"
    request, response = factory.request_response(exchange(body))
    _, cut = factory.request_response(exchange(b"<html>cut", truncated=True, truncation="time"))
    revisit = factory.revisit(
        exchange(body),
        refers_to_id=response.rec_headers.get_header("WARC-Record-ID"),
        refers_to_uri=URL,
        refers_to_date=FETCHED,
    )
    metadata = factory.metadata(text_uri(URL), "<urn:uuid:resp>", b'{"t": "x"}', "application/json")
    resource = factory.metadata(text_uri(URL), None, b"plain text", "text/plain", "resource")
    info = factory.warcinfo("all.warc.gz", software="sourcevault", hostname="h", pid=1)
    return [info, request, response, cut, revisit, metadata, resource]


def test_fastwarc_reads_every_record_type_without_a_digest_failure(tmp_path: Path) -> None:
    """FastWARC (a second, stricter reader) checks what `fastwarc check -p` checks: each
    block digest, and each payload digest against the payload the record holds. A revisit
    holds none (its digest is the original's: compared with the response's instead)."""
    path = tmp_path / "all.warc.gz"
    with open(path, "wb") as out:
        for record in _every_record_type(fixed_factory()):
            serialize_record(record, out)  # one gzip member each, as the writer writes
    seen: list[str] = []
    payload_digests: dict[str, str] = {}
    failures: list[str] = []
    with open(path, "rb") as f:
        for rec in FastArchiveIterator(f, parse_http=False):
            kind = rec.headers["WARC-Type"]
            seen.append(kind)
            digest = rec.headers.get("WARC-Payload-Digest")
            if not rec.verify_block_digest(consume=not (digest and rec.is_http)):
                failures.append(f"{kind}: block digest")
            if digest is None:
                continue
            payload_digests.setdefault(kind, digest)  # the first response: the original
            if kind == "revisit":
                continue
            if rec.is_http:
                rec.parse_http()
            if not rec.verify_payload_digest(consume=True):
                failures.append(f"{kind}: payload digest {digest}")
    assert failures == []
    assert seen == [
        "warcinfo",
        "request",
        "response",
        "response",
        "revisit",
        "metadata",
        "resource",
    ]
    # records without a payload carry none; the revisit names the original's payload
    assert set(payload_digests) == {"request", "response", "revisit"}
    assert payload_digests["revisit"] == payload_digests["response"]
    with open(path, "rb") as f:  # FastWARC's own filter: skips records with bad digests
        assert len(list(FastArchiveIterator(f, verify_digests=True))) == len(seen)


def test_warcio_and_our_reader_check_every_record_type(tmp_path: Path) -> None:
    path = tmp_path / "all.warc.gz"
    with open(path, "wb") as out:
        for record in _every_record_type(fixed_factory()):
            serialize_record(record, out)
    with open(path, "rb") as f:
        verdicts = [
            (rec.rec_type, rec.digest_checker.passed)
            for rec in ArchiveIterator(f, check_digests=True)
            if rec.content_stream().read() is not None
        ]
    assert len(verdicts) == 7 and all(passed is not False for _, passed in verdicts), verdicts
    result = check_file(path)
    assert result.ok, [(r.rec_type, r.problems) for r in result.records]
    assert [r.rec_type for r in result.records][-2:] == ["metadata", "resource"]
