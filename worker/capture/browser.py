"""A page loaded in headless Chromium, every request it makes fetched by our own fetcher.

For sources that show nothing without JavaScript. `browse(runtime, url)` starts Debian's
Chromium through Playwright (`executable_path`, never a downloaded browser) and routes
every request of the page (`page.route`) into `worker.fetch.fetcher.fetch_with_retries`,
then hands the answer back with `route.fulfill`. So the browser itself opens no
connection (it is also pointed at a dead proxy, 127.0.0.1:9, and service workers are
blocked, so nothing slips past the route), and each request goes through the same
egress policy (every hop of every request), per-host gate, proxy, cookie profile,
limits and retries as the plain capture, and what is archived are the raw headers and
bodies as the server sent them. A redirect is shown to the browser hop by hop (each
hop fetched once), so the document's URL and its relative links are the final ones.

After the load the page is given time to settle (network idle), scrolled once to the
bottom for lazy content, and settled again; then its rendered DOM (extraction runs on
it, by the same rules as for httpx) and a full-page screenshot are taken. The
document's hops are the capture's `FetchResult`; every other request is a requisite
(worker.capture.requisites: the same blocklist, budget and `Missing` reasons). A crashed
or hung browser fails this capture's browser part only: `Browsed.error` says why, and
the caller falls back to the plain capture.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any

from archive.records import HttpExchange
from worker.capture.requisite_links import Link
from worker.capture.requisites import (
    Budget,
    Fetched,
    Missing,
    Requisites,
    failure,
)
from worker.capture.screenshot import CHROMIUM_ARGS, chromium_available
from worker.digest.urls import matching_domain
from worker.fetch.body import decode_body
from worker.fetch.fetcher import FetchLimits, FetchResult, RetryPolicy, fetch_with_retries
from worker.fetch.politeness import unspaced
from worker.runtime import Runtime

__all__ = ["Browsed", "browse", "browser_available"]

log = logging.getLogger(__name__)

VIEWPORT = {"width": 1280, "height": 1800}
BROWSER_HEADERS = frozenset({"referer", "accept"})
SETTLE_MS = 3000  # network idle: Playwright's 500 ms without a request, at most this long
# headers that described the bytes on the wire, not the decoded body the browser is given
HOP_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}
)
# Playwright's resource types, as requisite kinds (script-loaded data counts as script)
KINDS = {
    "document": "document",
    "stylesheet": "stylesheet",
    "image": "image",
    "font": "font",
    "script": "script",
    "xhr": "script",
    "fetch": "script",
    "media": "media",
}


@dataclass
class Browsed:
    """One browser load: the document's hops, the page's other requests, what it showed."""

    result: FetchResult | None
    requisites: Requisites = field(default_factory=Requisites)
    html: str | None = None
    png: bytes | None = None
    error: str | None = None

    def close(self) -> None:
        if self.result is not None:
            self.result.close()
        self.requisites.close()


def browser_available(runtime: Runtime) -> str | None:
    """Why the browser capture cannot run here, or None when it can."""
    path = runtime.settings.chromium_path
    return None if chromium_available(path) else f"{path} is not an executable Chromium"


def browse(
    runtime: Runtime,
    url: str,
    *,
    cookies: CookieJar | None = None,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], dt.datetime] | None = None,
) -> Browsed:
    """Load `url` in Chromium, every request through our fetcher; never raises for the
    browser's own failures (they are `Browsed.error`)."""
    why_not = browser_available(runtime)
    if why_not is not None:
        return Browsed(None, error=why_not)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    recorder = _Recorder(runtime, url, cookies, clock, now or (lambda: dt.datetime.now(dt.UTC)))
    settings = runtime.settings
    timeout_ms = settings.browser_timeout * 1000
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(
                executable_path=str(settings.chromium_path),
                args=CHROMIUM_ARGS,
                timeout=timeout_ms,
            )
            try:
                context = chromium.new_context(
                    user_agent=settings.user_agent,
                    viewport=VIEWPORT,  # type: ignore[arg-type]
                    service_workers="block",
                    locale="ru-RU",
                )
                context.route("**/*", recorder.handle)
                page = context.new_page()
                page.set_default_timeout(timeout_ms)
                page.goto(url, wait_until="load", timeout=timeout_ms)
                _settle(page)
                page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
                _settle(page)
                page.evaluate("() => window.scrollTo(0, 0)")
                html = page.content()
                png = page.screenshot(full_page=True, timeout=timeout_ms)
            finally:
                chromium.close()
    except PlaywrightError as exc:
        recorder.found.elapsed = clock() - recorder.start
        log.warning("browser capture of %s failed: %s", url, exc)
        return Browsed(recorder.document, recorder.found, error=f"browser: {exc}".strip())
    recorder.found.elapsed = clock() - recorder.start
    log.info(
        "browser capture of %s: %d requests archived, %d missing, %.1f s",
        url,
        len(recorder.found.fetched) + (recorder.document is not None),
        len(recorder.found.missing),
        recorder.found.elapsed,
    )
    return Browsed(recorder.document, recorder.found, html=html, png=png)


def _settle(page: Any) -> None:
    from playwright.sync_api import Error as PlaywrightError

    with contextlib.suppress(PlaywrightError):  # a page that never goes quiet still counts
        page.wait_for_load_state("networkidle", timeout=SETTLE_MS)


class _Recorder:
    """The route handler: fetch each request once, remember every hop, fulfil the browser."""

    def __init__(
        self,
        runtime: Runtime,
        url: str,
        cookies: CookieJar | None,
        clock: Callable[[], float],
        now: Callable[[], dt.datetime],
    ) -> None:
        self.now = now
        self.runtime = runtime
        self.url = url
        self.cookies = cookies
        self.clock = clock
        self.start = clock()
        self.budget = Budget.from_settings(runtime.settings)
        self.found = Requisites()
        self.document: FetchResult | None = None
        self.hops: dict[str, HttpExchange] = {}  # later hops of a redirect, by their URL
        self.spent = 0

    def handle(self, route: Any, request: Any) -> None:
        url = request.url
        kind = KINDS.get(request.resource_type, "media")
        if url in self.hops:  # a redirect hop already fetched: no second request
            self._fulfil(route, self.hops.pop(url))
            return
        is_document = self.document is None and request.is_navigation_request()
        why = None if is_document else self._refusal(url, request.method)
        if why is not None:
            self.found.missing.append(Missing(url, kind, why))
            route.abort("blockedbyclient")
            return
        settings = self.runtime.settings
        limits = (
            FetchLimits.from_settings(settings)
            if is_document
            else self.budget.limits(settings, spent=self.spent, elapsed=self.clock() - self.start)
        )
        result = fetch_with_retries(
            url,
            self.runtime.client,
            limits,
            policy=self.runtime.policy,
            retry=RetryPolicy.from_settings(settings),
            # the document waits for the host's turn; what it loads follows at once
            gate=self.runtime.gate if is_document else unspaced(self.runtime.gate),
            cookies=self.cookies,
            now=self.now,
            # what the browser would have said of itself: Referer (CDNs check it), Accept
            headers={k: v for k, v in request.headers.items() if k in BROWSER_HEADERS},
        )
        if is_document:
            self.document = result
        else:
            if result.exchanges:
                via = f"browser:{request.resource_type}"
                self.found.fetched.append(Fetched(Link(url, kind, via), result))
                self.spent += sum(ex.body_length for ex in result.exchanges)
            why = failure(result)
            if why is not None:
                self.found.missing.append(Missing(url, kind, why))
        if not result.exchanges:
            route.abort("failed")
            return
        for hop in result.exchanges[1:]:  # the browser asks for each, and gets it from here
            self.hops[hop.url] = hop
        self._fulfil(route, result.exchanges[0])

    def _refusal(self, url: str, method: str) -> str | None:
        """Why a request of the page is not made, or None."""
        if not url.startswith(("http://", "https://")):
            return "not http(s)"
        if method != "GET":
            return f"a {method} request: only GET answers are archived"
        domain = matching_domain(url, self.runtime.settings.requisite_blocklist)
        if domain is not None:
            return f"blocklist: {domain}"
        return self.budget.refusal(
            started=len(self.found.fetched), spent=self.spent, elapsed=self.clock() - self.start
        )

    def _fulfil(self, route: Any, exchange: HttpExchange) -> None:
        settings = self.runtime.settings
        body = decode_body(
            exchange,
            max_bytes=settings.max_body_bytes,
            max_ratio=settings.max_decompression_ratio,
        )
        headers: dict[str, str] = {}
        for name, value in exchange.response_headers:
            key = name.lower()
            if key in HOP_HEADERS:
                continue
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        route.fulfill(status=exchange.status, headers=headers, body=body.data)
