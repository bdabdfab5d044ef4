"""The capture steps, in one place: prepare → fetch → extract → judge → write records.

`observe` looks at a URL once (sites.prepare, the fetch with retries and the egress
policy at every hop, extraction on the runtime's extraction processes, the soft-404
sibling probe, classification into `Evidence`); `write_records` archives what was seen
in one WARC batch and fsyncs it. The first capture (`worker.capture.pipeline.capture_one`) and
every re-check (`worker.capture.recheck.recheck_source`) call exactly these, so a re-check sees
what a first capture would: the same probe, the same records. What is committed in a
WARC file is then for the caller's transaction (`worker.store.jobs.committed_end` reads it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass

from archive.records import HttpExchange
from archive.warc_writer import WrittenRecord
from schemas import Evidence, Problem, ProblemCode
from worker.capture import screenshot
from worker.extract.page import ExtractedPage, ExtractionFailure, ExtractOptions
from worker.fetch.body import charset_from_headers, decode_body
from worker.fetch.fetcher import FetchLimits, FetchResult, RetryPolicy, fetch_with_retries
from worker.judge import soft404
from worker.judge.evidence import evidence_for
from worker.runtime import Runtime
from worker.sites import registry as sites
from worker.store import jobs
from worker.store.models import CaptureRow, ScreenshotRow, utcnow

__all__ = ["Observation", "extract_fetched", "observe", "write_records"]

log = logging.getLogger(__name__)

Page = ExtractedPage | ExtractionFailure | None


@dataclass
class Observation:
    """One look at a URL: what was fetched, read and concluded. Close it when done."""

    prepared: sites.Prepared
    result: FetchResult
    page: Page
    evidence: Evidence

    def close(self) -> None:
        self.result.close()


def observe(runtime: Runtime, url: str, *, now: dt.datetime | None = None) -> Observation:
    """Fetch, extract and judge `url` (steps 2-5 of a capture); `now` stamps the fetch."""
    settings = runtime.settings
    prepared = sites.prepare(settings, url)  # Telegram preview URL, login profile cookies
    result = fetch_with_retries(
        prepared.fetch_url,
        runtime.client,
        FetchLimits.from_settings(settings),
        policy=runtime.policy,
        retry=RetryPolicy.from_settings(settings),
        gate=runtime.gate,
        cookies=prepared.cookies,
        now=utcnow if now is None else (lambda: now),
    )
    try:
        page, capped = extract_fetched(runtime, result)
        # an `ok`-looking page is compared with a random sibling path: soft-404
        probe = soft404.probe_for(runtime, result, page, lambda r: extract_fetched(runtime, r)[0])
        evidence = evidence_for(result, page, probe=probe)
        if capped is not None:  # a gzip/brotli bomb or an oversized page was cut for extraction
            evidence.problems.append(capped)
        sites.after_verify(prepared, evidence)  # a login page despite the profile
    except BaseException:
        result.close()
        raise
    return Observation(prepared, result, page, evidence)


def write_records(
    runtime: Runtime, seen: Observation, *, views: list[ScreenshotRow] | None = None
) -> CaptureRow | None:
    """Archive `seen` in one WARC batch and fsync it (step 6); the caller commits the row.

    With `views` (a list to fill) and screenshots on, a PNG of the archived HTML goes in
    the same batch as a `urn:view:` resource record (worker.capture.screenshot)."""
    png = (
        screenshot.for_capture(runtime.settings, seen.result, seen.page)
        if views is not None
        else None
    )
    capture = _archive(runtime, seen.result, seen.page, seen.evidence, png=png, views=views)
    if capture is not None:
        runtime.writer.sync()  # the WARC bytes are on disk before the row that points there
    return capture


def extract_fetched(
    runtime: Runtime, result: FetchResult
) -> tuple[ExtractedPage | ExtractionFailure | None, Problem | None]:
    """The extracted page, and a `truncated` problem when decoding capped the body.

    Decoding stays in this thread (zlib and brotli release the GIL); the site adapter that
    takes the response (worker.sites.registry: Telegram, PDF, HTML) runs on `runtime.extractor`,
    by default a process per core (worker.pool)."""
    settings = runtime.settings
    final = result.final
    if final is None or not 200 <= final.status < 300:
        return None, None
    content_type = _header(final, "content-type").split(";")[0].strip().lower()
    body = decode_body(
        final, max_bytes=settings.max_html_bytes, max_ratio=settings.max_decompression_ratio
    )
    if sites.adapter_for(final.url, content_type, body.data) is None:
        return ExtractionFailure(reason=f"not an HTML page ({content_type})"), None
    capped = None
    if body.problem:
        log.info("decoding %s: %s", final.url, body.problem)
        if not final.truncated:  # a body the fetcher cut has its own `truncated` problem
            capped = Problem(code=ProblemCode.TRUNCATED, message=body.problem, url=result.url)
    page = runtime.extractor.extract(
        body.data,
        url=final.url,
        charset=charset_from_headers(final.response_headers),
        content_type=content_type,
        options=ExtractOptions.from_settings(settings, captured_on=final.fetched_at.date()),
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
