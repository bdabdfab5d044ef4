"""Compose classification and the page's facts into schemas.Evidence for one source.

Per-citation judgements (date and names against an incident) are made in report.py,
because one source cited by two incidents is checked against each incident's own facts.
"""

from __future__ import annotations

from schemas import DateCandidate, Evidence, ProbeResult, Problem, ProblemCode, RedirectHop
from worker.extract.page import ExtractedPage, ExtractionFailure
from worker.fetch.errors import TooLarge
from worker.fetch.fetcher import FetchResult
from worker.judge.rules import Probed, classify_with_rule

EXCERPT_CHARS = 500


def evidence_for(
    result: FetchResult,
    page: ExtractedPage | ExtractionFailure | None,
    *,
    probe: ProbeResult | None = None,
) -> Evidence:
    """`probe`: the host's soft-404 sibling probe (judge.soft404), compared with this page."""
    status, reason, rule = classify_with_rule(result, Probed(page, probe))
    final = result.final
    problems: list[Problem] = []
    if result.error is not None:
        problems.append(
            Problem(code=ProblemCode.FETCH_FAILED, message=str(result.error), url=result.url)
        )
    if final is not None and final.truncated:
        problems.append(
            Problem(
                code=ProblemCode.TRUNCATED,
                message=f"body cut at {final.body_length} bytes ({_cut_by(result)})",
                url=result.url,
            )
        )
    if isinstance(page, ExtractionFailure):
        problems.append(
            Problem(code=ProblemCode.EXTRACTION_FAILED, message=page.reason, url=result.url)
        )
    evidence = Evidence(
        status=status,
        reason=reason,
        error_kind=result.error.kind if result.error is not None else None,
        rule=rule,
        probe=probe,
        http_status=final.status if final is not None else None,
        final_url=final.url if final is not None else None,
        redirects=[
            RedirectHop(url=ex.url, status=ex.status, location=_location(ex.response_headers))
            for ex in result.exchanges[:-1]
        ],
        peer_ip=final.peer_ip if final is not None else None,
        content_type=_content_type(final.response_headers) if final is not None else None,
        problems=problems,
    )
    if isinstance(page, ExtractedPage):
        evidence.title = page.title
        evidence.author = page.author
        evidence.language = page.language
        evidence.published = page.published
        evidence.published_at = page.published_at
        evidence.date_source = page.date_source
        evidence.date_choice = page.date_choice
        evidence.date_candidates = [
            DateCandidate(date=c.date, source=c.source, confidence=c.confidence, raw=c.raw)
            for c in page.date_candidates
        ]
        evidence.text = page.text
        evidence.text_excerpt = (page.text or "")[:EXCERPT_CHARS] or None
    return evidence


def _cut_by(result: FetchResult) -> str:
    """What stopped the body: the size limit, or the failure that cut it (reset, deadline)."""
    if result.error is None or isinstance(result.error, TooLarge):
        return "size limit"
    return result.error.kind


def _location(headers: list[tuple[str, str]]) -> str | None:
    return next((v for k, v in headers if k.lower() == "location"), None)


def _content_type(headers: list[tuple[str, str]]) -> str | None:
    return next((v for k, v in headers if k.lower() == "content-type"), None)
