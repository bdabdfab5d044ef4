"""capture_one: the whole life of one source in numbered steps, each a one-job module.

    1 claim      jobs.claim_job: compare-and-swap; a finished job returns its outcome
                 (writes go through runtime.writing(): SQLite writers take turns)
    2 egress     egress.EgressPolicy (direct connections only; a proxy owns egress)
    3 fetch      fetch.fetch_with_retries: streamed, raw body spooled, sha256 while reading;
                 resist.prepare first (Telegram preview URL, login-profile cookies)
    4 extract    content.decode_body (capped) here, then extract.extract (text, title,
                 dates…) on runtime.extractor: a process per core (worker.extract_pool)
    5 verify     soft404 sibling probe, then verify.evidence_for: classify + facts → Evidence
    6 archive    one writer batch: request/response (or revisit) per hop + metadata record
                 (+ a screenshot resource record when enabled)
    7 commit     fsync the WARC, then capture + evidence + custody entries + job done in
                 one transaction

Records of one capture are written in one locked batch, after the fetch and extraction,
so a failure never leaves half a capture in a WARC file that stays open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from archive.records import HttpExchange
from archive.warc_writer import WrittenRecord
from schemas import Evidence, Problem, ProblemCode
from worker import custody, custody_events, jobs, resist, screenshot, soft404
from worker.content import binary_problem, charset_from_headers, decode_body
from worker.db import CaptureRow, EvidenceRow, ScreenshotRow
from worker.extract import ExtractedPage, ExtractionFailure, ExtractOptions
from worker.fetch import FetchLimits, FetchResult, RetryPolicy, fetch_with_retries
from worker.runtime import Runtime
from worker.verify import evidence_for

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")


class JobBusy(RuntimeError):
    """Another live delivery holds the job; the task retries later."""


class StorageError(RuntimeError):
    """Our own storage failed (the WARC dir, the disk, the database), not the link.

    Never evidence: the job goes back to pending with no status, the task retries it
    (worker.tasks), and when the retries are spent the run fails naming this error."""


def is_storage_error(exc: BaseException) -> bool:
    """An error of local storage. The fetcher never raises network failures (they are
    FetchErrors in the result), so an OSError reaching here is ours: the WARC writer,
    a spool file, the database file; SQLAlchemy's DBAPI errors are the database's."""
    return isinstance(exc, (OSError, DBAPIError))


@dataclass(frozen=True)
class Outcome:
    job_id: int
    status: str
    capture_id: int | None = None
    repeated: bool = False


def capture_one(runtime: Runtime, run_id: str, job_id: int, *, task_id: str | None) -> Outcome:
    settings = runtime.settings
    # 1 claim
    with runtime.writing() as session:
        claim = jobs.claim_job(
            session,
            job_id,
            task_id,
            stale_after=dt.timedelta(seconds=settings.claim_stale_after),
        )
        if claim.outcome is jobs.ClaimOutcome.MISSING:
            raise ValueError(f"capture job {job_id} of run {run_id} does not exist")
        if claim.outcome is jobs.ClaimOutcome.ALREADY_DONE:
            return _existing_outcome(runtime, job_id)
        if claim.outcome is jobs.ClaimOutcome.BUSY:
            raise JobBusy(f"job {job_id} is being captured by another delivery")
        assert claim.job is not None
        url = claim.job.canonical_url
        chain = custody.job_key(claim.job)
        attempt_id = claim.attempt_id
    heartbeat = runtime.heartbeat
    if heartbeat is not None:
        heartbeat.add(job_id)
    try:
        return _capture_claimed(runtime, chain, attempt_id)
    except jobs.ClaimLost:  # we looked dead and another delivery took the job over
        log.warning("capture of %s (job %d) was taken over; keeping the other", url, job_id)
        return _existing_outcome(runtime, job_id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if is_storage_error(exc):
            # a fact about our disk or database, not about the link: no evidence, no status
            log.error("capture of %s (job %d): local storage failed: %s", url, job_id, error)
            _release(runtime, job_id, attempt_id, f"local storage failed: {error}")
            raise StorageError(f"local storage failed: {error}") from exc
        # record and report; the chord must still complete
        log.exception("capture of %s (job %d) failed", url, job_id)
        with runtime.writing() as session:
            jobs.fail_job(session, job_id, attempt_id, error)
        return Outcome(job_id, "failed")
    finally:
        if heartbeat is not None:
            heartbeat.discard(job_id)


def _release(runtime: Runtime, job_id: int, attempt_id: int | None, error: str) -> None:
    """Give the job back for a retry; if the database itself is down, the claim's
    heartbeat stops and a sweeper takes the job over instead."""
    try:
        with runtime.writing() as session:
            jobs.release_job(session, job_id, attempt_id, error)
    except DBAPIError:
        log.warning("job %d: could not release it (database failing too)", job_id)


def _capture_claimed(runtime: Runtime, chain: custody.ChainKey, attempt_id: int | None) -> Outcome:
    settings = runtime.settings
    assert chain.job_id is not None and chain.canonical_url is not None
    job_id, url = chain.job_id, chain.canonical_url
    # 2 egress + 3 fetch (the fetcher checks egress at every redirect hop)
    limits = FetchLimits.from_settings(settings)
    retry = RetryPolicy.from_settings(settings)
    prepared = resist.prepare(settings, url)  # Telegram preview URL, login profile cookies
    result = fetch_with_retries(
        prepared.fetch_url,
        runtime.client,
        limits,
        policy=runtime.policy,
        retry=retry,
        gate=runtime.gate,
        cookies=prepared.cookies,
    )
    try:
        # 4 extract
        page, capped = _extract(runtime, result)
        # 5 verify (an `ok`-looking page is compared with a random sibling path: soft-404)
        probe = soft404.probe_for(
            runtime,
            result,
            page,
            lambda r: _extract(runtime, r)[0],
        )
        evidence = evidence_for(result, page, probe=probe)
        if capped is not None:  # a gzip/brotli bomb or an oversized page was cut for extraction
            evidence.problems.append(capped)
        resist.after_verify(prepared, evidence)  # a login page despite the profile
        # 6 archive (+ a PNG of the archived HTML when screenshots are on: worker.screenshot)
        png = screenshot.for_capture(settings, result, page)
        views: list[ScreenshotRow] = []
        capture = _archive(runtime, result, page, evidence, png=png, views=views)
        # 7 commit (the WARC bytes are on disk before the row that points at them)
        runtime.writer.sync()
        if settings.debug_pause_before_commit:  # fault injection for the crash tests only
            pause = settings.debug_pause_before_commit
            log.warning("pausing %.1f s before committing %s", pause, url)
            time.sleep(pause)
        # custody entries commit with the capture, or not at all (worker.custody_events)
        custody_rows = custody_events.capture_rows(
            chain, result, page, evidence, capture, clock=runtime.clock, attempt_id=attempt_id
        )
        with runtime.writing() as session:
            jobs.finish_job(
                session,
                job_id,
                attempt_id,
                capture=capture,
                evidence=evidence,
                extra_rows=screenshot.view_rows(custody_rows, views, url),
            )
            capture_id = capture.id if capture is not None else None
        return Outcome(job_id, evidence.status, capture_id)
    finally:
        result.close()


def _extract(
    runtime: Runtime, result: FetchResult
) -> tuple[ExtractedPage | ExtractionFailure | None, Problem | None]:
    """The extracted page, and a `truncated` problem when decoding capped the body.

    Decoding stays in this thread (zlib and brotli release the GIL); the HTML goes to
    `runtime.extractor`, by default a process per core (worker.extract_pool)."""
    max_html_bytes = runtime.settings.max_html_bytes
    max_ratio = runtime.settings.max_decompression_ratio
    final = result.final
    if final is None or not 200 <= final.status < 300:
        return None, None
    content_type = _header(final, "content-type").split(";")[0].strip().lower()
    special = resist.extract_special(
        final, content_type, max_html_bytes=max_html_bytes, max_ratio=max_ratio
    )
    if special is not None:  # PDFs (pypdf) and Telegram posts: worker.resist
        return special, None
    if content_type not in HTML_TYPES:
        return ExtractionFailure(reason=f"not an HTML page ({content_type})"), None
    body = decode_body(final, max_bytes=max_html_bytes, max_ratio=max_ratio)
    capped = None
    if body.problem:
        log.info("decoding %s: %s", final.url, body.problem)
        if not final.truncated:  # a body the fetcher cut has its own `truncated` problem
            capped = Problem(code=ProblemCode.TRUNCATED, message=body.problem, url=result.url)
    binary = binary_problem(body.data)
    if binary is not None:  # never hand a bomb's zeros or an image to the HTML parser
        reason = f"{binary} (served as {content_type or 'no type'})"
        return ExtractionFailure(reason=reason), capped
    page = runtime.extractor.extract(
        body.data,
        url=final.url,
        charset=charset_from_headers(final.response_headers),
        options=ExtractOptions(max_html_bytes=max_html_bytes),
    )
    return page, capped


def _archive(
    runtime: Runtime,
    result: FetchResult,
    page: ExtractedPage | ExtractionFailure | None,
    evidence: Evidence,
    *,
    png: bytes | None = None,
    views: list[ScreenshotRow] | None = None,
) -> CaptureRow | None:
    """Write one capture's records in one batch; a `png` becomes a `urn:view:` resource
    record, and its ScreenshotRow is appended to `views` (committed by the caller)."""
    final = result.final
    if final is None:
        return None
    with runtime.sessions() as session:
        earlier = jobs.earlier_capture_with_payload(session, final.body_sha256)
    with runtime.writer.batch() as batch:
        response: WrittenRecord | None = None
        for exchange in result.exchanges:
            if exchange is final and earlier is not None and final.body_length > 0:
                response = batch.write_revisit(
                    exchange,
                    refers_to_id=earlier.record_id,
                    refers_to_uri=earlier.url,
                    refers_to_date=earlier.captured_at,
                )
            else:
                _request, written = batch.write_exchange(exchange)
                if exchange is final:
                    response = written
        assert response is not None
        meta = batch.write_metadata(
            f"urn:text:{final.url}",
            refers_to=response.record_id,
            payload=_metadata_payload(final, page, evidence),
            content_type="application/json",
        )
        end_offset = meta.offset + meta.length
        if png is not None and views is not None:
            view = batch.write_metadata(
                screenshot.view_uri(final.url),
                refers_to=response.record_id,
                payload=png,
                content_type="image/png",
                record_type="resource",
            )
            views.append(
                ScreenshotRow(
                    canonical_url=final.url,  # the caller sets the job's canonical URL
                    uri=screenshot.view_uri(final.url),
                    warc_file=view.warc_file,
                    offset=view.offset,
                    end_offset=view.offset + view.length,
                    record_id=view.record_id,
                    sha256=hashlib.sha256(png).hexdigest(),
                )
            )
            end_offset = view.offset + view.length  # the capture spans its view too
    return CaptureRow(
        url=final.url,
        warc_file=response.warc_file,
        offset=response.offset,
        length=response.length,
        end_offset=end_offset,
        record_id=response.record_id,
        sha256=final.body_sha256,
        payload_length=final.body_length,
        truncated=final.truncated,
        revisit_of=earlier.record_id if earlier is not None else None,
        captured_at=final.fetched_at,
    )


def _metadata_payload(
    final: HttpExchange, page: ExtractedPage | ExtractionFailure | None, evidence: Evidence
) -> bytes:
    data = {
        "url": final.url,
        "payload_sha256": final.body_sha256,
        "status": evidence.status,
        "reason": evidence.reason,
        "title": evidence.title,
        "author": evidence.author,
        "language": evidence.language,
        "published": evidence.published.isoformat() if evidence.published else None,
        "date_source": evidence.date_source,
        "extraction_failure": page.reason if isinstance(page, ExtractionFailure) else None,
        "text": evidence.text,
    }
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def _header(exchange: HttpExchange, name: str) -> str:
    name = name.lower()
    return next((v for k, v in exchange.response_headers if k.lower() == name), "")


def _existing_outcome(runtime: Runtime, job_id: int) -> Outcome:
    with runtime.sessions() as session:
        capture = jobs.existing_capture(session, job_id)
        evidence = session.query(EvidenceRow).filter_by(job_id=job_id).one_or_none()
        status = evidence.status if evidence is not None else "done"
        return Outcome(job_id, status, capture.id if capture else None, repeated=True)
