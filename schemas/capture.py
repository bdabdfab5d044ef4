"""Where a source's archived copy lives in the WARC files."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from schemas.common import Model


class Capture(Model):
    warc_file: str = Field(description="file name relative to the collection's archive dir")
    offset: int = Field(description="byte offset of the response (or revisit) record")
    length: int = Field(description="compressed length of that record")
    record_id: str = Field(description="WARC-Record-ID of the response record")
    sha256: str = Field(
        description=(
            "hex sha256 of the HTTP payload exactly as received: the raw body bytes, "
            "still content-encoded, without HTTP headers (not the WARC record block)"
        )
    )
    payload_length: int
    truncated: bool = False
    revisit_of: str | None = Field(
        default=None, description="record id of the earlier identical payload"
    )
    captured_at: dt.datetime
    replay_url: str | None = None
