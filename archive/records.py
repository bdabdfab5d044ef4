"""Build WARC/1.1 records (warcio) from HTTP exchanges and extracted metadata.

warcio's capture_http cannot see httpx traffic, so the fetcher hands us each exchange as
raw headers plus the raw (still content-encoded) body, and we build the records here with
warcio's RecordBuilder. Nothing in this module touches files on disk: it returns warcio
`ArcWarcRecord` objects, and `serialize_record` writes one as a single gzip member.

Decisions recorded here (see the README of the archive in DESIGN.md):

* Transfer-Encoding. httpx's `iter_raw()` gives the body de-chunked, so a stored
  `Transfer-Encoding: chunked` header would lie about the bytes that follow it. We rename
  it to `X-Archive-Orig-Transfer-Encoding` (pywb's rewriting practice) so readers never
  try to de-chunk a de-chunked body. The payload bytes are unchanged.
* Digests. `WARC-Block-Digest` / `WARC-Payload-Digest` stay warcio's standard sha1 (what
  `warcio check`, pywb and cdxj-indexer expect). Our own sha256 of the payload (raw body
  as received, still content-encoded, no HTTP headers: `Capture.sha256`) is carried in
  the extension header `WARC-X-Payload-SHA256` as lowercase hex, and `check_file` in
  warc_reader verifies it.
* Truncation. A cut body gets `WARC-Truncated` with the reason the fetcher gives
  (`HttpExchange.truncation`): `length` (the size cap), `time` (the wall-clock deadline or
  a read timeout), `disconnect` (the connection broke); `unspecified` if none was given.
* Payload digests. WARC/1.1 allows `WARC-Payload-Digest` only on records with a
  well-defined payload (request, response, revisit, and resource/metadata records that
  carry HTTP). warcio adds one to every record but warcinfo and revisit; our metadata
  and resource records (text, JSON, no HTTP) are written without it (FastWARC and warcat
  reject it there). `WARC-Block-Digest` stays on every record.
* IP address. `WARC-IP-Address` (a "should" for response records) is the peer the
  fetcher actually talked to: only on direct fetches; through a proxy the socket's peer
  is the proxy, not the origin, so the fetcher gives no `peer_ip` and we write none.
* Secrets. Request records never keep credentials: the values of `Cookie`,
  `Authorization` and `Proxy-Authorization` are replaced by `[redacted]` and the record
  names them in `WARC-X-Redacted` (the header stays, so readers see one was sent).
* Record ids and dates are seams: `RecordFactory(make_id=..., clock=...)`, so tests are
  byte-exact (warcio's FixedTestRecordMixin idea, without patching). Request, response
  and revisit records are dated with the exchange's `fetched_at`, not the clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal
from urllib.parse import urlsplit

from warcio.recordbuilder import RecordBuilder
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

__all__ = [
    "ORIG_HEADER_PREFIX",
    "REDACTED_HEADER",
    "REDACTED_VALUE",
    "SECRET_REQUEST_HEADERS",
    "SHA256_HEADER",
    "TEXT_URI_PREFIX",
    "TRUNCATION_REASONS",
    "HttpExchange",
    "RecordFactory",
    "Truncation",
    "new_record_id",
    "serialize_record",
    "sha256_hex",
    "text_uri",
    "utc_now",
    "warc_date",
]

SHA256_HEADER = "WARC-X-Payload-SHA256"
"""WARC extension header holding the hex sha256 of the HTTP payload (raw body bytes)."""

ORIG_HEADER_PREFIX = "X-Archive-Orig-"
"""Prefix for HTTP headers renamed because they no longer describe the stored bytes."""

TEXT_URI_PREFIX = "urn:text:"
"""Target-URI prefix of extracted-text records: never the page's own URI, or replay
would serve the text instead of the page."""

SECRET_REQUEST_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})
"""Request headers whose values are credentials (login profiles, proxies): never archived."""

REDACTED_HEADER = "WARC-X-Redacted"
"""WARC extension header listing the request headers whose values were redacted."""

REDACTED_VALUE = "[redacted]"

# Hop-by-hop framing headers that the de-chunked body no longer matches.
_RENAMED_RESPONSE_HEADERS = frozenset({"transfer-encoding"})

WARC_VERSION = "WARC/1.1"

TRUNCATION_REASONS = ("length", "time", "disconnect", "unspecified")
"""The values WARC/1.1 defines for `WARC-Truncated`."""

Truncation = Literal["length", "time", "disconnect", "unspecified"]

# Record types whose block has no well-defined payload unless it carries HTTP (WARC/1.1
# section 5.9: "shall not be used on records without a well-defined payload"); warcio
# itself leaves the payload digest off warcinfo, and computes the revisit's explicitly.
_PAYLOAD_ONLY_WITH_HTTP = frozenset({"metadata", "resource"})


@dataclass
class HttpExchange:
    """One HTTP request and its response, exactly as sent and received.

    `body` holds the raw payload bytes (de-chunked, still content-encoded) and may be a
    SpooledTemporaryFile; readers seek to 0 before use. `body_sha256` is the hex sha256 of
    exactly those `body_length` bytes, computed while streaming.
    """

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    http_version: str  # e.g. "HTTP/1.1", "HTTP/2"
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    body: BinaryIO
    body_length: int
    body_sha256: str
    fetched_at: dt.datetime
    peer_ip: str | None = None  # the origin's IP on a direct fetch; None through a proxy
    truncated: bool = False
    truncation: Truncation | None = None  # why it was cut (WARC-Truncated); None: unspecified
    # facts of the connection (TLS version, peer certificate chain, socket addresses):
    # built by worker.fetch.tlsinfo, split into public and sealed custody records
    # by worker.custody.log
    connection: dict[str, Any] | None = None


def new_record_id() -> str:
    """A fresh `<urn:uuid:...>` WARC-Record-ID (production default of `make_id`)."""
    return f"<urn:uuid:{uuid.uuid4()}>"


def utc_now() -> dt.datetime:
    """Production default of `clock`."""
    return dt.datetime.now(dt.UTC)


def warc_date(when: dt.datetime) -> str:
    """WARC/1.1 date: UTC, ISO 8601, microseconds when present."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return str(datetime_to_iso_date(when, use_micros=True))


def text_uri(url: str) -> str:
    """Target URI for the extracted text/metadata of `url` (`urn:text:<url>`)."""
    return TEXT_URI_PREFIX + url


def _payload_digest_allowed(record: ArcWarcRecord) -> bool:
    return record.rec_type not in _PAYLOAD_ONLY_WITH_HTTP or bool(record.http_headers)


class _Builder(RecordBuilder):
    """warcio RecordBuilder whose id and date sources are injected, not global, and which
    writes `WARC-Payload-Digest` only where WARC/1.1 allows it."""

    def __init__(self, make_id: Callable[[], str], clock: Callable[[], dt.datetime]) -> None:
        super().__init__(warc_version=WARC_VERSION)
        self._make_id = make_id
        self._clock = clock

    # warcio declares these as classmethods; instance overrides keep the seam explicit.
    def _make_warc_id(self) -> str:
        return self._make_id()

    def _make_warc_date(self, use_micros: bool = False) -> str:
        return warc_date(self._clock())

    def ensure_digest(
        self, record: ArcWarcRecord, block: bool = True, payload: bool = True
    ) -> None:
        payload = payload and _payload_digest_allowed(record)
        super().ensure_digest(record, block=block, payload=payload)


class _Writer(WARCWriter):
    """warcio's WARCWriter with the same payload-digest rule as `_Builder`."""

    def ensure_digest(
        self, record: ArcWarcRecord, block: bool = True, payload: bool = True
    ) -> None:
        payload = payload and _payload_digest_allowed(record)
        super().ensure_digest(record, block=block, payload=payload)


class RecordFactory:
    """Builds warcio records for sourcevault. Stateless apart from its two seams."""

    def __init__(
        self,
        *,
        make_id: Callable[[], str] = new_record_id,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.make_id = make_id
        self.clock = clock
        self._builder = _Builder(make_id, clock)

    # -- HTTP ---------------------------------------------------------------------------

    def request_response(self, ex: HttpExchange) -> tuple[ArcWarcRecord, ArcWarcRecord]:
        """(request, response) records for one exchange.

        The response payload is streamed from `ex.body` (rewound to 0; never read into
        memory). The request gets `WARC-Concurrent-To` = the response's record id.
        """
        body = _rewound(ex.body, ex.body_length)
        resp_id = self.make_id()
        date = warc_date(ex.fetched_at)
        resp_warc = _warc_head("response", ex.url, resp_id, date)
        if ex.peer_ip:
            resp_warc["WARC-IP-Address"] = ex.peer_ip
        if ex.truncated:
            resp_warc["WARC-Truncated"] = _truncation(ex)
        resp_warc[SHA256_HEADER] = ex.body_sha256
        response = self._builder.create_warc_record(
            ex.url,
            "response",
            payload=body,
            length=ex.body_length,
            warc_headers_dict=resp_warc,
            http_headers=self._response_http_headers(ex),
        )

        req_warc = _warc_head("request", ex.url, self.make_id(), date)
        req_warc["WARC-Concurrent-To"] = resp_id
        if ex.peer_ip:
            req_warc["WARC-IP-Address"] = ex.peer_ip
        headers, redacted = _redact(ex.request_headers)
        if redacted:
            req_warc[REDACTED_HEADER] = ", ".join(redacted)
        request = self._builder.create_warc_record(
            ex.url,
            "request",
            warc_headers_dict=req_warc,
            http_headers=_request_http_headers(ex, headers),
        )
        return request, response

    def revisit(
        self,
        ex: HttpExchange,
        *,
        refers_to_id: str,
        refers_to_uri: str,
        refers_to_date: dt.datetime | str,
    ) -> ArcWarcRecord:
        """Identical-payload-digest revisit (WARC/1.1 profile): HTTP headers only.

        The payload digest is recomputed from `ex.body` (streamed) so the record states
        the digest of what was actually received this time.
        """
        body = _rewound(ex.body, ex.body_length)
        digester = self._builder._create_digester()
        for chunk in iter(lambda: body.read(1 << 16), b""):
            digester.update(chunk)
        body.seek(0)
        date = refers_to_date if isinstance(refers_to_date, str) else warc_date(refers_to_date)
        warc = _warc_head("revisit", ex.url, self.make_id(), warc_date(ex.fetched_at))
        warc["WARC-Refers-To"] = refers_to_id
        if ex.peer_ip:
            warc["WARC-IP-Address"] = ex.peer_ip
        warc[SHA256_HEADER] = ex.body_sha256
        record: ArcWarcRecord = self._builder.create_revisit_record(
            ex.url,
            str(digester),
            refers_to_uri,
            date,
            http_headers=self._response_http_headers(ex),
            warc_headers_dict=warc,
        )
        return record

    # -- metadata, resource, warcinfo ---------------------------------------------------

    def metadata(
        self,
        target_uri: str,
        refers_to: str | None,
        payload: bytes,
        content_type: str,
        record_type: Literal["metadata", "resource"] = "metadata",
    ) -> ArcWarcRecord:
        """A metadata or resource record (extracted text, verification results).

        `target_uri` must not be a page's own URI (use `text_uri(url)`), or replay would
        serve this record in place of the page.
        """
        if record_type not in ("metadata", "resource"):
            raise ValueError(f"record_type must be metadata or resource, not {record_type!r}")
        if urlsplit(target_uri).scheme in ("http", "https"):
            raise ValueError(f"metadata target URI must not be a page URI: {target_uri!r}")
        warc = _warc_head(record_type, target_uri, self.make_id(), warc_date(self.clock()))
        if refers_to:
            warc["WARC-Refers-To"] = refers_to
        record: ArcWarcRecord = self._builder.create_warc_record(
            target_uri,
            record_type,
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_content_type=content_type,
            warc_headers_dict=warc,
        )
        return record

    def warcinfo(
        self,
        filename: str,
        *,
        software: str,
        hostname: str,
        pid: int | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> ArcWarcRecord:
        """The warcinfo record that opens every file."""
        info: dict[str, Any] = {
            "software": software,
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "hostname": hostname,
            "pid": pid if pid is not None else os.getpid(),
        }
        info.update(dict(extra))
        record: ArcWarcRecord = self._builder.create_warcinfo_record(filename, info)
        return record

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _response_http_headers(ex: HttpExchange) -> StatusAndHeaders:
        headers = [
            (ORIG_HEADER_PREFIX + name if name.lower() in _RENAMED_RESPONSE_HEADERS else name, v)
            for name, v in ex.response_headers
        ]
        statusline = f"{ex.status} {ex.reason}" if ex.reason else str(ex.status)
        return StatusAndHeaders(statusline, headers, protocol=ex.http_version)


def _truncation(ex: HttpExchange) -> str:
    reason = ex.truncation or "unspecified"
    if reason not in TRUNCATION_REASONS:
        raise ValueError(f"truncation must be one of {TRUNCATION_REASONS}, not {reason!r}")
    return reason


def _warc_head(record_type: str, uri: str, record_id: str, date: str) -> dict[str, str]:
    # Conventional header order (type, target, date, id first); warcio keeps positions.
    return {
        "WARC-Type": record_type,
        "WARC-Target-URI": uri,
        "WARC-Date": date,
        "WARC-Record-ID": record_id,
    }


def _redact(headers: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """(headers with secret values replaced, names of the redacted headers in order)."""
    out: list[tuple[str, str]] = []
    names: list[str] = []
    for name, value in headers:
        if name.lower() in SECRET_REQUEST_HEADERS:
            value = REDACTED_VALUE
            if name not in names:
                names.append(name)
        out.append((name, value))
    return out, names


def _request_http_headers(ex: HttpExchange, headers: list[tuple[str, str]]) -> StatusAndHeaders:
    parts = urlsplit(ex.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return StatusAndHeaders(
        f"{ex.method} {target} {ex.http_version}",
        headers,
        is_http_request=True,
    )


def _rewound(body: BinaryIO, length: int) -> BinaryIO:
    """Seek the body to 0 after checking it holds exactly `length` bytes.

    warcio reads the payload stream to EOF (for digests and for writing), so a stream
    longer than `body_length` would silently produce a record whose Content-Length lies.
    """
    end = body.seek(0, os.SEEK_END)
    if end != length:
        raise ValueError(f"body holds {end} bytes but body_length is {length}")
    body.seek(0)
    return body


def serialize_record(record: ArcWarcRecord, out: Any, *, gzip: bool = True) -> None:
    """Write one record to `out` (one gzip member per record when `gzip`).

    warcio fills in `WARC-Block-Digest` and `Content-Length` here (streaming the payload
    once more); `out` only needs `write()` and `flush()`.
    """
    _Writer(out, gzip=gzip, warc_version=WARC_VERSION).write_record(record)


def sha256_hex(data: bytes) -> str:
    """Hex sha256, the form of `HttpExchange.body_sha256` and `SHA256_HEADER`."""
    return hashlib.sha256(data).hexdigest()
