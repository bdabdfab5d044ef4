"""Build WARC/1.1 records (warcio) from HTTP exchanges and extracted metadata.

warcio's capture_http cannot see httpx traffic, so the fetcher hands us each exchange as
raw headers plus the raw (still content-encoded) body, and we build the records here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import BinaryIO


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
    peer_ip: str | None = None
    truncated: bool = False
