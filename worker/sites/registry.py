"""Site adapters: what is special about a kind of source, behind one protocol.

An adapter says which cited URLs it fetches differently (`fetch_url`: a Telegram post is
fetched through its `t.me/s/` preview) and which responses it reads (`takes`: a PDF by
its type or magic bytes, a Telegram preview by its URL, HTML by its type), and how
(`extract`). `REGISTRY` is tried in order; adding a kind of site is one adapter here.
`extract_page` is what the extraction processes run (worker.pool), so PDFs and
Telegram posts are extracted under the same process isolation and timeout as HTML.

`prepare` and `after_verify` are the hooks around a capture's fetch: the URL to fetch and
a login profile's cookies (worker.sites.profiles), then `profile_expired` when a login page came
back despite them. `worker.capture.steps` calls them, for first captures and re-checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Protocol

from schemas import Evidence
from worker.extract.page import ExtractedPage, ExtractionFailure, ExtractOptions, extract
from worker.extract.shingles import signature
from worker.fetch.body import binary_problem
from worker.settings import Settings
from worker.sites import profiles, telegram
from worker.sites.pdf import extract_pdf, is_pdf

__all__ = [
    "HTML_TYPES",
    "REGISTRY",
    "Prepared",
    "SiteAdapter",
    "adapter_for",
    "after_verify",
    "extract_page",
    "prepare",
]

HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")
Page = ExtractedPage | ExtractionFailure


class SiteAdapter(Protocol):
    name: str

    def fetch_url(self, url: str) -> str | None:
        """The URL to fetch for the cited `url`, or None when it is not this site's."""
        ...

    def takes(self, url: str, content_type: str, data: bytes) -> bool:
        """Whether this adapter reads the response at `url` (its final URL)."""
        ...

    def extract(self, data: bytes, *, url: str, charset: str | None, content_type: str,
                options: ExtractOptions) -> Page: ...  # fmt: skip


class TelegramPosts:
    """t.me/<channel>/<n>: the app page shows nothing; the preview shows the post."""

    name = "telegram"

    def fetch_url(self, url: str) -> str | None:
        return telegram.fetch_url(url) if telegram.post_ref(url) is not None else None

    def takes(self, url: str, content_type: str, data: bytes) -> bool:
        return telegram.post_ref(url) is not None

    def extract(self, data: bytes, *, url: str, charset: str | None, content_type: str,
                options: ExtractOptions) -> Page:  # fmt: skip
        page = telegram.extract_post(data, url)
        return page or ExtractionFailure(reason=f"not a Telegram post URL: {url}")


class PdfDocuments:
    """Court rulings and reports: text and dates with pypdf."""

    name = "pdf"

    def fetch_url(self, url: str) -> str | None:
        return None

    def takes(self, url: str, content_type: str, data: bytes) -> bool:
        return is_pdf(content_type, data)

    def extract(self, data: bytes, *, url: str, charset: str | None, content_type: str,
                options: ExtractOptions) -> Page:  # fmt: skip
        return extract_pdf(data, url=url, options=options)


class HtmlPages:
    """Everything else that is a web page: trafilatura, htmldate and our signals."""

    name = "html"

    def fetch_url(self, url: str) -> str | None:
        return None

    def takes(self, url: str, content_type: str, data: bytes) -> bool:
        return content_type in HTML_TYPES

    def extract(self, data: bytes, *, url: str, charset: str | None, content_type: str,
                options: ExtractOptions) -> Page:  # fmt: skip
        binary = binary_problem(data)
        if binary is not None:  # never hand a bomb's zeros or an image to the HTML parser
            return ExtractionFailure(reason=f"{binary} (served as {content_type or 'no type'})")
        return extract(data, url=url, charset=charset, options=options)


REGISTRY: Sequence[SiteAdapter] = (TelegramPosts(), PdfDocuments(), HtmlPages())


def adapter_for(url: str, content_type: str, data: bytes) -> SiteAdapter | None:
    return next((a for a in REGISTRY if a.takes(url, content_type, data)), None)


def extract_page(
    data: bytes, *, url: str, charset: str | None, options: ExtractOptions, content_type: str
) -> Page:
    """The response at `url` read by the first adapter that takes it (picklable: the
    extraction processes run this)."""
    adapter = adapter_for(url, content_type, data)
    if adapter is None:
        return ExtractionFailure(reason=f"not an HTML page ({content_type})")
    page = adapter.extract(
        data, url=url, charset=charset, content_type=content_type, options=options
    )
    if isinstance(page, ExtractedPage) and page.signature is None:
        page.signature = signature(page.text)
    return page


# --- the hooks around the fetch ----------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    url: str
    fetch_url: str
    profile: profiles.Profile | None

    @property
    def cookies(self) -> CookieJar | None:
        return self.profile.jar if self.profile is not None else None


def prepare(settings: Settings, url: str) -> Prepared:
    """What to fetch for `url` (an adapter's URL, else itself) and the login profile."""
    fetch = next((f for a in REGISTRY if (f := a.fetch_url(url)) is not None), url)
    return Prepared(
        url=url, fetch_url=fetch, profile=profiles.profile_for(settings.cookie_profiles, url)
    )


def after_verify(prepared: Prepared, evidence: Evidence) -> None:
    problem = profiles.expired_problem(prepared.profile, evidence)
    if problem is not None:
        evidence.problems.append(problem)


def warm() -> None:
    """Imports and first-call caches (justext's stoplists, dateparser's locales, lxml)
    filled before the first page (worker.pool)."""
    extract_page(
        b"<html><body><p>warm</p></body></html>",
        url="http://warm.invalid/",
        charset=None,
        options=ExtractOptions(),
        content_type="text/html",
    )
