"""Secrets stay out of WARCs, logs and reports: request credentials, proxy passwords."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import socket
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.records import (
    REDACTED_HEADER,
    HttpExchange,
    RecordFactory,
    serialize_record,
    sha256_hex,
)
from archive.warc_reader import check_file
from worker.fetch.client import build_client, build_egress_policy
from worker.fetch.errors import ProxyError
from worker.fetch.fetcher import FetchLimits, fetch
from worker.judge.evidence import evidence_for
from worker.settings import Settings

SECRETS = {
    "Cookie": "c_user=100042; xs=SESSION-TOKEN-1",
    "Authorization": "Bearer API-TOKEN-2",
    "Proxy-Authorization": "Basic UFJPWFktVE9LRU4tMw==",
}


def _exchange(headers: list[tuple[str, str]]) -> HttpExchange:
    body = b"<html><body>private page</body></html>"
    return HttpExchange(
        url="https://www.facebook.com/groups/1/",
        method="GET",
        request_headers=headers,
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=[("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256=sha256_hex(body),
        fetched_at=dt.datetime(2021, 9, 30, tzinfo=dt.UTC),
    )


def _records(headers: list[tuple[str, str]]) -> bytes:
    """request + response records for one exchange, serialised as a .warc.gz would hold them."""
    request, response = RecordFactory().request_response(_exchange(headers))
    out = io.BytesIO()
    serialize_record(request, out)
    serialize_record(response, out)
    return out.getvalue()


def test_credentials_are_redacted_in_request_records() -> None:
    headers = [("Host", "www.facebook.com"), *SECRETS.items(), ("Accept", "text/html")]
    raw = _records(headers)
    stream = ArchiveIterator(io.BytesIO(raw))
    request = next(r for r in stream if r.rec_type == "request")
    assert request.rec_headers.get_header(REDACTED_HEADER) == (
        "Cookie, Authorization, Proxy-Authorization"
    )
    http = dict(request.http_headers.headers)
    assert {http[name] for name in SECRETS} == {"[redacted]"}
    assert http["Accept"] == "text/html" and http["Host"] == "www.facebook.com"
    plain = gzip.GzipFile(fileobj=io.BytesIO(raw)).read()  # every member, decompressed
    assert b"[redacted]" in plain
    for value in SECRETS.values():
        assert value.encode() not in plain


def test_redacted_records_still_verify(tmp_path: Path) -> None:
    path = tmp_path / "x.warc.gz"
    path.write_bytes(_records([("Host", "a.test"), ("cookie", "sid=SECRET")]))
    check = check_file(path)
    assert check.ok, check.first_problem
    assert len(check.records) == 2


def test_no_redaction_header_without_secrets() -> None:
    raw = _records([("Host", "a.test"), ("User-Agent", "ua")])
    request = next(r for r in ArchiveIterator(io.BytesIO(raw)) if r.rec_type == "request")
    assert request.rec_headers.get_header(REDACTED_HEADER) is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_proxy_password_never_reaches_errors_logs_or_evidence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "pr0xy-PASSW0RD"
    environ = {"HTTPS_PROXY": f"http://editor:{password}@127.0.0.1:{_closed_port()}"}
    settings = Settings(connect_timeout=2, read_timeout=2)
    caplog.set_level(logging.DEBUG)
    with build_client(settings, environ=environ) as client:
        policy = build_egress_policy(settings, environ)
        limits = FetchLimits(max_body_bytes=1000, total_timeout=5, max_redirects=3)
        with fetch("https://kaztag.kz/ru/", client, limits, policy=policy) as result:
            evidence = evidence_for(result, None)
    assert isinstance(result.error, ProxyError)  # the failure is the proxy's, and it is named
    exposed = [
        str(result.error),
        repr(result.error),
        evidence.model_dump_json(),
        caplog.text,
    ]
    for text in exposed:
        assert password not in text
    assert "127.0.0.1" in caplog.text  # the proxy is logged, its credentials are not
