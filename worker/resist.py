"""Sources that resist capture, as hooks around the pipeline's steps.

    prepare        before fetch: the URL to fetch (Telegram preview) and a login profile
    after_verify   a login page despite the profile: `profile_expired`
    extract_special  PDFs (pypdf) and Telegram posts, before the HTML extractor

Both `worker.pipeline.capture_one` and `worker.recheck.recheck_source` call these, so a
re-check fetches exactly as the first capture did.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookiejar import CookieJar

from archive.records import HttpExchange
from schemas import Evidence
from worker import profiles, telegram
from worker.content import decode_body
from worker.extract import ExtractedPage, ExtractionFailure, ExtractOptions
from worker.extract_pdf import extract_pdf, is_pdf
from worker.settings import Settings


@dataclass(frozen=True)
class Prepared:
    url: str
    fetch_url: str
    profile: profiles.Profile | None

    @property
    def cookies(self) -> CookieJar | None:
        return self.profile.jar if self.profile is not None else None


def prepare(settings: Settings, url: str) -> Prepared:
    return Prepared(
        url=url,
        fetch_url=telegram.fetch_url(url),
        profile=profiles.profile_for(settings.cookie_profiles, url),
    )


def after_verify(prepared: Prepared, evidence: Evidence) -> None:
    problem = profiles.expired_problem(prepared.profile, evidence)
    if problem is not None:
        evidence.problems.append(problem)


def extract_special(
    final: HttpExchange, content_type: str, *, max_html_bytes: int, max_ratio: int
) -> ExtractedPage | ExtractionFailure | None:
    """A PDF or a Telegram post extracted; None for everything the HTML path handles."""
    is_telegram = telegram.post_ref(final.url) is not None
    if content_type not in ("application/pdf", "application/x-pdf") and not is_telegram:
        return None
    body = decode_body(final, max_bytes=max_html_bytes, max_ratio=max_ratio)
    if is_pdf(content_type, body.data):
        return extract_pdf(body.data, url=final.url, options=ExtractOptions())
    return telegram.extract_post(body.data, final.url)
