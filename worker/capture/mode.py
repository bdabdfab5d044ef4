"""Which way a page is captured: plain httpx (with its requisites) or a headless browser.

`SOURCEVAULT_CAPTURE` sets the default (`http`, `browser`, `auto`) and
`SOURCEVAULT_CAPTURE_DOMAINS` overrides it per domain, subdomains included, the longest
match winning (`{"facebook.com": "browser"}`). `auto` first captures over httpx and
turns to the browser when `wants_browser` says the page is a script shell: a 2xx HTML
answer with at least one script whose extracted text is shorter than `auto_min_text`.
"""

from __future__ import annotations

from worker.digest.urls import matching_domain
from worker.extract.page import ExtractedPage, ExtractionFailure
from worker.fetch.fetcher import FetchResult
from worker.settings import Settings

__all__ = ["capture_mode", "wants_browser"]

_SCRIPT = b"<script"


def capture_mode(settings: Settings, url: str) -> str:
    """`http`, `browser` or `auto` for `url`."""
    by_domain = {d.lower().strip().strip("."): m for d, m in settings.capture_domains.items()}
    domain = matching_domain(url, by_domain)
    return by_domain[domain] if domain is not None else settings.capture


def wants_browser(
    settings: Settings,
    result: FetchResult,
    page: ExtractedPage | ExtractionFailure | None,
    body: bytes,
) -> bool:
    """True when an `auto` capture should load the page in the browser: it answered 2xx
    HTML (`body`: decoded) with scripts, and shows next to no text."""
    final = result.final
    if final is None or not 200 <= final.status < 300 or page is None:
        return False
    if isinstance(page, ExtractionFailure) and page.reason.startswith("not an HTML page"):
        return False
    text = page.text if isinstance(page, ExtractedPage) else ""
    return len(text.strip()) < settings.auto_min_text and _SCRIPT in body.lower()
