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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from archive.records import HttpExchange
from archive.warc_writer import WarcBatch, WrittenRecord
from schemas import Evidence, Problem, ProblemCode
from worker import timings
from worker.capture import browser, mode, screenshot, vantage
from worker.capture import requisites as page_requisites
from worker.capture.requisite_links import Link
from worker.extract.page import ExtractedPage, ExtractionFailure, ExtractOptions
from worker.fetch.body import charset_from_headers, decode_body
from worker.fetch.fetcher import FetchLimits, FetchResult, RetryPolicy, fetch_with_retries
from worker.judge import soft404
from worker.judge.evidence import evidence_for
from worker.judge.names import matches_key, name_matches_args
from worker.judge.statuses import HEALTHY
from worker.runtime import Runtime
from worker.sites import registry as sites
from worker.store import jobs
from worker.store.models import CaptureRow, RequisiteRow, ScreenshotRow, utcnow

__all__ = ["Observation", "Written", "extract_fetched", "match_names", "observe", "write_records"]

log = logging.getLogger(__name__)

Page = ExtractedPage | ExtractionFailure | None


@dataclass
class Observation:
    """One look at a URL: what was fetched, read and concluded. Close it when done.

    `browsed` is set when the page was loaded in the browser (worker.capture.browser): its
    other requests are the requisites, its screenshot goes in the batch, and `page` was
    extracted from its rendered DOM (`browsed.html`)."""

    prepared: sites.Prepared
    result: FetchResult
    page: Page
    evidence: Evidence
    browsed: browser.Browsed | None = None
    path: vantage.NetworkPath | None = None  # a vantage's, when the page came through one

    @property
    def text_signature(self) -> list[int] | None:
        """The signature of the evidence's text, when it is the page's (signed on
        extraction); None for any other text, which the report then signs itself."""
        page = self.page
        if isinstance(page, ExtractedPage) and page.text == self.evidence.text:
            return page.signature
        return None

    def close(self) -> None:
        self.result.close()
        if self.browsed is not None:
            self.browsed.close()


def match_names(
    runtime: Runtime, run_id: str, url: str, evidence: Evidence
) -> dict[str, Any] | None:
    """The people the run's incidents citing `url` name, matched in the evidence's title
    and text on an extraction process (EvidenceRow.names: the report's names checks read
    them instead of matching every text again at the end). None when nothing is to be
    checked: no names, or a source the report does not read."""
    if evidence.status not in HEALTHY:
        return None
    people = runtime.cited.of(runtime.sessions, run_id, url)
    if not people:
        return None
    with timings.span("names"):
        found = runtime.extractor.call(name_matches_args, (people, evidence.text, evidence.title))
    return {
        "key": matches_key(evidence.text, evidence.title),
        "matches": {name: m.model_dump(mode="json") for name, m in found.items()},
    }


def observe(runtime: Runtime, url: str, *, now: dt.datetime | None = None) -> Observation:
    """Fetch, extract and judge `url` (steps 2-5 of a capture); `now` stamps the fetch."""
    settings = runtime.settings
    prepared = sites.prepare(settings, url)  # Telegram preview URL, login profile cookies
    clock = utcnow if now is None else (lambda: now)
    how = mode.capture_mode(settings, prepared.fetch_url)
    browsed = _browse(runtime, prepared, clock) if how == "browser" else None
    document = browsed.result if browsed is not None else None
    if browsed is not None and browsed.error is not None:
        browsed.result = None  # what the browser got of the document stands; the rest goes
        browsed.close()
        browsed = None
    if document is not None:
        result = document
    else:
        result = fetch_with_retries(
            prepared.fetch_url,
            runtime.client,
            FetchLimits.from_settings(settings),
            policy=runtime.policy,
            retry=RetryPolicy.from_settings(settings),
            gate=runtime.gate,
            cookies=prepared.cookies,
            now=clock,
        )
    try:
        rendered = browsed.html if browsed is not None else None
        page, capped = extract_fetched(runtime, result, rendered=rendered)
        if how == "auto" and mode.wants_browser(settings, result, page, _decoded(runtime, result)):
            again = _browse(runtime, prepared, clock)
            if again.error is None and again.result is not None:  # else keep the plain one
                result.close()
                browsed, result = again, again.result
                page, capped = extract_fetched(runtime, result, rendered=again.html)
            else:
                again.close()
        # an `ok`-looking page is compared with a random sibling path: soft-404
        with timings.span("probe", group=True):
            probe = soft404.probe_for(
                runtime, result, page, lambda r: extract_fetched(runtime, r)[0]
            )
        with timings.span("judge"):
            evidence = evidence_for(result, page, probe=probe)
        if capped is not None:  # a gzip/brotli bomb or an oversized page was cut for extraction
            evidence.problems.append(capped)
        sites.after_verify(prepared, evidence)  # a login page despite the profile
        path = None
        if browsed is None:  # blocked here? another vantage decides (worker.capture.vantage)
            reached = vantage.second_look(
                runtime, prepared, evidence, lambda r: extract_fetched(runtime, r)[0]
            )
            if reached is not None:
                result.close()
                result, page, evidence, path = (
                    reached.result,
                    reached.page,
                    reached.evidence,
                    reached.path,
                )
    except BaseException:
        result.close()
        if browsed is not None:
            browsed.close()
        raise
    return Observation(prepared, result, page, evidence, browsed, path)


def _browse(
    runtime: Runtime, prepared: sites.Prepared, now: Callable[[], dt.datetime]
) -> browser.Browsed:
    """The page loaded in the browser. On a browser failure (`error`) the caller keeps the
    document if it was fetched, else fetches over httpx: it fails its own part only."""
    browsed = browser.browse(runtime, prepared.fetch_url, cookies=prepared.cookies, now=now)
    if browsed.error is not None:
        log.warning("capture of %s: %s", prepared.fetch_url, browsed.error)
    return browsed


def _decoded(runtime: Runtime, result: FetchResult) -> bytes:
    final = result.final
    if final is None:
        return b""
    settings = runtime.settings
    return decode_body(
        final, max_bytes=settings.max_html_bytes, max_ratio=settings.max_decompression_ratio
    ).data


@dataclass
class Written:
    """What one WARC batch archived: the page's capture row, its screenshot, its requisites
    (rows for the caller's transaction) and the requisites that are not there, with why."""

    capture: CaptureRow
    views: list[ScreenshotRow] = field(default_factory=list)
    requisites: list[RequisiteRow] = field(default_factory=list)
    missing: list[page_requisites.Missing] = field(default_factory=list)

    def add_rows(self, session: Session, canonical_url: str) -> None:
        """The screenshot and requisite rows, in the capture's transaction (so WARC
        recovery keeps their records, and nothing points at records never committed)."""
        for view in self.views:
            view.canonical_url = canonical_url
            session.add(view)
        session.add_all(self.requisites)


def write_records(
    runtime: Runtime, seen: Observation, *, screenshots: bool = False
) -> Written | None:
    """Fetch the page's requisites, archive them and `seen` in one WARC batch and fsync it
    (step 6); the caller commits the rows. None when nothing answered (no record).

    With `screenshots` (and screenshots on), a PNG of the archived HTML goes in the same
    batch as a `urn:view:` resource record (worker.capture.screenshot). A browser capture
    brings its own requisites, its screenshot taken at load time and its rendered DOM
    (a `urn:dom:` resource record: what extraction read)."""
    if seen.result.final is None:
        return None
    if seen.browsed is not None:  # the browser's own requests and its screenshot
        found, png = seen.browsed.requisites, seen.browsed.png
    else:
        with timings.span("requisites"):  # fetched on threads of their own
            found = page_requisites.gather(
                runtime,
                seen.result,
                cookies=seen.prepared.cookies,
                via=(seen.path.client, seen.path.policy) if seen.path is not None else None,
            )
        with timings.span("screenshot"):
            png = (
                screenshot.for_capture(runtime.settings, seen.result, seen.page)
                if screenshots
                else None
            )
    try:
        with timings.span("write"):
            written = _archive(runtime, seen, found, png=png)
    finally:
        found.close()
    with timings.span("fsync"):
        runtime.writer.sync()  # the WARC bytes are on disk before the row that points there
    return written


def extract_fetched(
    runtime: Runtime, result: FetchResult, *, rendered: str | None = None
) -> tuple[ExtractedPage | ExtractionFailure | None, Problem | None]:
    """The extracted page, and a `truncated` problem when decoding capped the body.

    `rendered`: the browser's DOM of this response (worker.capture.browser), read instead
    of the bytes, by the same rules. Decoding stays in this thread (zlib and brotli release
    the GIL); the site adapter that takes the response (worker.sites.registry: Telegram,
    PDF, HTML) runs on `runtime.extractor`, by default a process per core (worker.pool)."""
    settings = runtime.settings
    final = result.final
    if final is None or not 200 <= final.status < 300:
        return None, None
    content_type = _header(final, "content-type").split(";")[0].strip().lower()
    capped = None
    charset = charset_from_headers(final.response_headers)
    if rendered is not None:
        data, content_type, charset = rendered.encode("utf-8"), "text/html", "utf-8"
    else:
        with timings.span("decode"):
            body = decode_body(
                final,
                max_bytes=settings.max_html_bytes,
                max_ratio=settings.max_decompression_ratio,
            )
        data = body.data
        if body.problem:
            log.info("decoding %s: %s", final.url, body.problem)
            if not final.truncated:  # a body the fetcher cut has its own `truncated` problem
                capped = Problem(code=ProblemCode.TRUNCATED, message=body.problem, url=result.url)
    if sites.adapter_for(final.url, content_type, data) is None:
        return ExtractionFailure(reason=f"not an HTML page ({content_type})"), None
    page = runtime.extractor.extract(
        data,
        url=final.url,
        charset=charset,
        content_type=content_type,
        options=ExtractOptions.from_settings(settings, captured_on=final.fetched_at.date()),
    )
    return page, capped


def _archive(
    runtime: Runtime, seen: Observation, found: page_requisites.Requisites, *, png: bytes | None
) -> Written:
    """Write one capture's records in one batch: the page's hops (its response a revisit
    when the payload is archived already), its requisites' hops, the metadata record, and a
    `png` as a `urn:view:` resource record."""
    result, page, evidence = seen.result, seen.page, seen.evidence
    final = result.final
    assert final is not None
    shas = [f.result.final.body_sha256 for f in found.fetched if f.result.final is not None]
    with runtime.sessions() as session:
        earlier = jobs.earlier_capture_with_payload(session, final.body_sha256)
        originals = jobs.archived_payloads(session, shas)
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
        rows = [
            _write_requisite(batch, item, originals, page_record_id=response.record_id)
            for item in found.fetched
        ]
        rows += [
            _reused_row(link, earlier_row, page_record_id=response.record_id)
            for link, earlier_row in found.reused
        ]
        rendered = seen.browsed.html if seen.browsed is not None else None
        if rendered is not None:
            batch.write_metadata(
                f"urn:dom:{final.url}",
                refers_to=response.record_id,
                payload=rendered.encode("utf-8"),
                content_type="text/html; charset=utf-8",
                record_type="resource",
            )
        meta = batch.write_metadata(
            f"urn:text:{final.url}",
            refers_to=response.record_id,
            payload=_metadata_payload(final, page, evidence, found, browsed=rendered is not None),
            content_type="application/json",
        )
        end_offset = meta.offset + meta.length
        views: list[ScreenshotRow] = []
        if png is not None:
            view = batch.write_metadata(
                screenshot.view_uri(final.url),
                refers_to=response.record_id,
                payload=png,
                content_type="image/png",
                record_type="resource",
            )
            views.append(
                ScreenshotRow(
                    canonical_url=final.url,  # Written.add_rows sets the job's canonical URL
                    uri=screenshot.view_uri(final.url),
                    warc_file=view.warc_file,
                    offset=view.offset,
                    end_offset=view.offset + view.length,
                    record_id=view.record_id,
                    sha256=hashlib.sha256(png).hexdigest(),
                )
            )
            end_offset = view.offset + view.length  # the capture spans its view too
    capture = CaptureRow(
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
    return Written(capture, views, [r for r in rows if r is not None], list(found.missing))


def _write_requisite(
    batch: WarcBatch,
    item: page_requisites.Fetched,
    originals: dict[str, jobs.ArchivedPayload],
    *,
    page_record_id: str,
) -> RequisiteRow | None:
    """Every hop of one requisite; its final response a revisit when the same payload is
    archived already (logos and stylesheets repeat on every page of a site)."""
    final = item.result.final
    if final is None:
        return None
    original = originals.get(final.body_sha256) if final.body_length > 0 else None
    record: WrittenRecord | None = None
    for exchange in item.result.exchanges:
        if exchange is final and original is not None:
            record = batch.write_revisit(
                exchange,
                refers_to_id=original.record_id,
                refers_to_uri=original.url,
                refers_to_date=original.captured_at,
            )
        else:
            _request, record = batch.write_exchange(exchange)
    assert record is not None
    if original is None and final.body_length > 0 and not final.truncated:
        # later requisites of this batch with the same payload refer to this record
        originals[final.body_sha256] = jobs.ArchivedPayload(
            record.record_id, final.url, final.fetched_at, record.warc_file
        )
    return RequisiteRow(
        page_record_id=page_record_id,
        url=item.link.url,  # as the page names it: a later page looks it up by this
        url_sha256=jobs.url_key(item.link.url),
        kind=item.link.kind,
        http_status=final.status,
        warc_file=record.warc_file,
        offset=record.offset,
        end_offset=record.offset + record.length,
        record_id=record.record_id,
        sha256=final.body_sha256,
        payload_length=final.body_length,
        revisit_of=original.record_id if original is not None else None,
        revisit_file=original.warc_file if original is not None else None,
        truncated=final.truncated,
        captured_at=final.fetched_at,
    )


def _reused_row(link: Link, earlier: RequisiteRow, *, page_record_id: str) -> RequisiteRow:
    """A requisite this page shares with an earlier one, pointing at that page's record."""
    return RequisiteRow(
        page_record_id=page_record_id,
        url=link.url,
        url_sha256=earlier.url_sha256,
        kind=link.kind,
        http_status=earlier.http_status,
        warc_file=earlier.warc_file,
        offset=earlier.offset,
        end_offset=earlier.end_offset,
        record_id=earlier.record_id,
        sha256=earlier.sha256,
        payload_length=earlier.payload_length,
        revisit_of=earlier.revisit_of,
        revisit_file=earlier.revisit_file,
        truncated=False,
        reused=True,
        captured_at=earlier.captured_at,
    )


def _metadata_payload(
    final: HttpExchange,
    page: ExtractedPage | ExtractionFailure | None,
    evidence: Evidence,
    found: page_requisites.Requisites,
    *,
    browsed: bool,
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
        "capture": "browser" if browsed else "http",
        "requisites": page_requisites.facts(found),
    }
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def _header(exchange: HttpExchange, name: str) -> str:
    name = name.lower()
    return next((v for k, v in exchange.response_headers if k.lower() == name), "")
