"""Link-rot contracts: a source's re-check history and health, copies in other archives,
evidence attached by hand, and page screenshots.

Health follows InternetArchiveBot's hysteresis: one failed check makes a source
`suspect` at once; it is declared `dead` only after three failures spread at least
three days apart; any successful check makes it `healthy` again.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from schemas.common import Model
from schemas.source import SourceStatus


class HealthState(StrEnum):
    HEALTHY = "healthy"
    SUSPECT = "suspect"  # failing, not (yet) declared dead
    DEAD = "dead"  # failed three times, at least three days apart, no success since


class CheckKind(StrEnum):
    CAPTURE = "capture"  # the first capture, made when the digest ran
    RECHECK = "recheck"


class SourceCheck(Model):
    """One look at a source: the first capture or a later re-check."""

    checked_at: dt.datetime
    kind: CheckKind = CheckKind.RECHECK
    status: SourceStatus
    http_status: int | None = None
    reason: str | None = None
    counted: bool = Field(
        default=False,
        description="a failure that counts towards `dead` (at least three days after the last)",
    )
    similarity: float | None = Field(
        default=None,
        description="0-100: the extracted text against the first capture's (rapidfuzz ratio)",
    )
    changed: bool = Field(default=False, description="the text drifted from the first capture")
    diff: str | None = Field(
        default=None, description="unified diff of the first capture's text and this one's"
    )
    warc_file: str | None = Field(default=None, description="a new capture taken by this check")
    record_id: str | None = None
    sha256: str | None = None


class SourceHealth(Model):
    state: HealthState
    first_seen_failing: dt.datetime | None = None
    last_seen_healthy: dt.datetime | None = None
    consecutive_failures: int = 0
    counted_failures: int = Field(
        default=0, description="failures at least three days apart since the last success"
    )
    declared_dead_at: dt.datetime | None = None
    last_checked_at: dt.datetime | None = None
    next_check_at: dt.datetime | None = None
    changed: bool = Field(default=False, description="the latest text differs from the first")
    similarity: float | None = None
    history: list[SourceCheck] = Field(default_factory=list, description="oldest first")


class ArchivedCopy(Model):
    """A copy of the source held by another archive: alternative evidence beside ours."""

    archive: str = Field(description="host of the archive, e.g. web.archive.org")
    url: str = Field(description="the memento (snapshot) URL")
    captured_at: dt.datetime
    status: int | None = Field(default=None, description="HTTP status the archive recorded")
    via: str = Field(description="availability · cdx · timemap")
    before_target: bool = Field(
        default=True, description="captured on or before the incident's date"
    )
    chosen: bool = Field(default=False, description="the copy we point auditors to")


class Attachment(Model):
    """A file an editor attached to a footnote by hand (screenshot, PDF, WARC, WACZ)."""

    id: int
    footnote: int
    filename: str = Field(description="the name the file had when attached")
    sha256: str
    size: int
    media_type: str
    path: str = Field(description="relative to the data dir")
    attached_at: dt.datetime
    note: str | None = None


class Screenshot(Model):
    """A PNG of the captured page, stored as a WARC resource record `urn:view:<url>`."""

    uri: str
    warc_file: str
    offset: int
    record_id: str
    sha256: str
