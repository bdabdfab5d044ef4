"""The database is the source of truth: runs, capture jobs, attempts, captures, evidence.

SQLite in the data dir by default (WAL, busy timeout), PostgreSQL by URL.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A time read back from the database: we always store UTC, and SQLite drops the zone."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime(timezone=True)}


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # never fetched: not_public / invalid


class Run(Base):
    """One digest submitted for capture. `id` is what `submit` prints and `status` takes."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    digest_id: Mapped[str] = mapped_column(String(120), index=True)
    title: Mapped[str] = mapped_column(String(300))
    digest_json: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str] = mapped_column(String(300), default="")
    state: Mapped[str] = mapped_column(String(20), default=RunState.QUEUED)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    celery_id: Mapped[str | None] = mapped_column(String(80), default=None)
    # how it was queued (worker.queue.priorities): "interactive" or "bulk", and by whom, so that
    # one editor's big digest does not hold up another's small one
    kind: Mapped[str] = mapped_column(String(20), default="bulk", server_default="bulk")
    editor: Mapped[str] = mapped_column(String(120), default="", server_default="", index=True)
    # why the run failed (a local storage or database failure, never a fact about a link)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # the `sourcevault run` process waiting on it ("<host>:<pid>:<start time>", see
    # worker.runs); None for runs submitted to a deployment. A re-run of the same digest
    # resumes a queued/running run whose owner is dead instead of starting a new one.
    owner: Mapped[str | None] = mapped_column(String(200), default=None)


class CaptureJob(Base):
    """A durable job row per (run, canonical URL): idempotency lives here, not in Celery."""

    __tablename__ = "capture_jobs"
    __table_args__ = (UniqueConstraint("run_id", "canonical_url", name="uq_job_run_url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    source_id: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(String(2100))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # refreshed by the claiming process while the capture runs (worker.store.sweep.Heartbeat):
    # a claim whose heartbeat is stale belongs to a dead worker and is taken over
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # when its capture task was last sent (or is due, for a retry): the sweeper re-sends
    # a pending job whose message is lost (worker.store.jobs.sweep_lost)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Attempt(Base):
    """Every try at a job, with the Celery task id that made it."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("capture_jobs.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(80))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(40), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)


class CaptureRow(Base):
    """Where a job's response record lives; at most one per job (the unique constraint)."""

    __tablename__ = "captures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("capture_jobs.id"), unique=True)
    url: Mapped[str] = mapped_column(Text)
    warc_file: Mapped[str] = mapped_column(String(300), index=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    length: Mapped[int] = mapped_column(BigInteger)
    end_offset: Mapped[int] = mapped_column(
        BigInteger, doc="end of the last record this capture wrote into warc_file"
    )
    record_id: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    payload_length: Mapped[int] = mapped_column(BigInteger)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    revisit_of: Mapped[str | None] = mapped_column(String(100), default=None)
    captured_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EvidenceRow(Base):
    """The verifier's facts about a job's source (a schemas.Evidence as JSON)."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("capture_jobs.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    # the MinHash of data's text (worker.extract.shingles), None if not signed at capture
    signature: Mapped[list[int] | None] = mapped_column(JSON, default=None)
    # each person the run's incidents citing this source name, matched in data's title and
    # text at capture (worker.judge.names.name_matches): {"key": what they read (its
    # matches_key), "matches": {name: NameMatch}}; None if not matched at capture
    names: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)


class CustodyEntry(Base):
    """One event of a hash-chained custody log (worker.custody.log). Append-only.

    `chain` is `job/<job_id>` (one log per source) or `run/<run_id>` (report, seals).
    `data` is the auditor's record; `sealed` (monitor IP, hostname, task id…) stays in
    this database, committed to by `sealed_sha256` (salted) inside the hashed entry.
    """

    __tablename__ = "custody_entries"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_custody_chain_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(120), index=True)
    job_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    canonical_url: Mapped[str | None] = mapped_column(Text, default=None)
    chain: Mapped[str] = mapped_column(String(160), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    sealed: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CustodySeal(Base):
    """An Ed25519 signature over the heads of every custody chain of a run (worker.custody.log)."""

    __tablename__ = "custody_seals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(120), index=True)
    heads: Mapped[dict[str, object]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CustodyTimestamp(Base):
    """An RFC 3161 timestamp token over a sha256 (a seal digest, a WARC file prefix)."""

    __tablename__ = "custody_timestamps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(120), index=True)
    subject: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    tsa_url: Mapped[str] = mapped_column(Text)
    token: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- link-rot watch (worker.capture: recheck, fallbacks, attachments) ---------------------


class SourceHealthRow(Base):
    """Per canonical URL, across runs: the hysteresis state of worker.capture.recheck."""

    __tablename__ = "source_health"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    canonical_url: Mapped[str] = mapped_column(String(2100), unique=True)
    state: Mapped[str] = mapped_column(String(20))
    first_seen_failing: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_seen_healthy: Mapped[dt.datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    counted_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_counted_failure: Mapped[dt.datetime | None] = mapped_column(default=None)
    declared_dead_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    next_check_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    last_status: Mapped[str | None] = mapped_column(String(20), default=None)
    baseline_text: Mapped[str | None] = mapped_column(Text, default=None)
    changed: Mapped[bool] = mapped_column(Boolean, default=False)
    similarity: Mapped[float | None] = mapped_column(Float, default=None)


class SourceCheckRow(Base):
    """One look at a source (first capture or re-check): the history the report shows."""

    __tablename__ = "source_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    canonical_url: Mapped[str] = mapped_column(String(2100), index=True)
    checked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20), default="recheck")
    status: Mapped[str] = mapped_column(String(20))
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    similarity: Mapped[float | None] = mapped_column(Float, default=None)
    changed: Mapped[bool] = mapped_column(Boolean, default=False)
    diff: Mapped[str | None] = mapped_column(Text, default=None)
    capture_id: Mapped[int | None] = mapped_column(
        Integer, default=None, doc="captures.id of the first capture this check stands for"
    )
    warc_file: Mapped[str | None] = mapped_column(String(300), default=None)
    offset: Mapped[int | None] = mapped_column(BigInteger, default=None)
    end_offset: Mapped[int | None] = mapped_column(BigInteger, default=None)
    record_id: Mapped[str | None] = mapped_column(String(100), default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)


class ArchivedCopyRow(Base):
    """A copy of a source found in another archive (worker.capture.fallbacks)."""

    __tablename__ = "archived_copies"
    __table_args__ = (UniqueConstraint("canonical_url", "url", name="uq_copy_source_url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    canonical_url: Mapped[str] = mapped_column(String(2100), index=True)
    archive: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2100))
    captured_at: Mapped[dt.datetime]
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    via: Mapped[str] = mapped_column(String(20))
    before_target: Mapped[bool] = mapped_column(Boolean, default=True)
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    found_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AttachmentRow(Base):
    """A file attached by hand to a footnote of a run (worker.capture.attachments)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    footnote: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(120))
    path: Mapped[str] = mapped_column(String(400))
    attached_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class ScreenshotRow(Base):
    """Where the PNG of a captured page lives (a WARC resource record `urn:view:<url>`)."""

    __tablename__ = "screenshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    canonical_url: Mapped[str] = mapped_column(String(2100), index=True)
    uri: Mapped[str] = mapped_column(Text)
    warc_file: Mapped[str] = mapped_column(String(300))
    offset: Mapped[int] = mapped_column(BigInteger)
    end_offset: Mapped[int] = mapped_column(BigInteger)
    record_id: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequisiteRow(Base):
    """One image, stylesheet, script, font or media file a captured page needs to render,
    archived in the page's WARC batch (worker.capture.requisites). Not a source: no status,
    no chain of its own; the page's custody `stored` entry lists it."""

    __tablename__ = "requisites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_record_id: Mapped[str] = mapped_column(
        String(100), index=True, doc="record id of the page's response (or revisit) record"
    )
    url: Mapped[str] = mapped_column(Text)
    url_sha256: Mapped[str] = mapped_column(
        String(64), index=True, doc="sha256 of url: an index key of bounded length"
    )
    kind: Mapped[str] = mapped_column(String(20))
    http_status: Mapped[int] = mapped_column(Integer)
    warc_file: Mapped[str] = mapped_column(String(300), index=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    end_offset: Mapped[int] = mapped_column(BigInteger)
    record_id: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    payload_length: Mapped[int] = mapped_column(BigInteger)
    revisit_of: Mapped[str | None] = mapped_column(String(100), default=None)
    revisit_file: Mapped[str | None] = mapped_column(
        String(300), default=None, doc="WARC file of the record a revisit refers to"
    )
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    reused: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="not fetched for this page: an earlier page's record stands"
    )
    captured_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
