"""Fetch what an archived page needs to render, so the archive holds the page as a reader saw it.

`gather(runtime, seen)` reads the page's HTML once (worker.capture.requisite_links), skips
hosts of the tracker blocklist, and fetches the rest through the page's own client, egress
policy (every hop), per-host gate, proxy and retries, `requisite_concurrency` at a time. A
fetched stylesheet's url()s and @imports are fetched too, and those of a stylesheet it
imports (fonts usually sit there), no deeper. A page's budget bounds the work: at most
`requisite_max_count` URLs, `requisite_max_bytes` bytes and `requisite_timeout` seconds.
An image, script or font archived (2xx, whole) within `requisite_reuse` seconds is not
fetched again: the earlier page's record stands for it, as a browser's cache would (a
site's logo, fonts and scripts repeat on every page; politeness is per host).

Nothing is dropped silently: a blocked, failed or over-budget requisite is a `Missing`
(url, kind, why) that the capture's metadata record and its custody `stored` entry list.
The caller (worker.capture.steps) writes the fetched ones in the page's WARC batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlsplit

import httpx

from worker.capture.requisite_links import Link, page_links, stylesheet_links
from worker.digest.urls import matching_domain
from worker.extract.charset import decode_html
from worker.fetch.body import charset_from_headers, decode_body
from worker.fetch.egress import EgressPolicy
from worker.fetch.fetcher import FetchLimits, FetchResult, RetryPolicy, fetch_with_retries
from worker.fetch.politeness import unspaced
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import jobs
from worker.store.models import RequisiteRow

__all__ = [
    "Budget",
    "Fetched",
    "Missing",
    "Requisites",
    "failure",
    "gather",
    "referer_for",
    "request_headers",
]

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml", "")
CSS_DEPTH = 2  # page stylesheet (0) → its @import (1) → no further @import is read


@dataclass(frozen=True)
class Budget:
    count: int
    bytes: int
    seconds: float
    concurrency: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget:
        return cls(
            count=settings.requisite_max_count,
            bytes=settings.requisite_max_bytes,
            seconds=settings.requisite_timeout,
            concurrency=settings.requisite_concurrency,
        )

    def refusal(self, *, started: int = 0, spent: int = 0, elapsed: float = 0.0) -> str | None:
        """Why one more requisite is not fetched, given how many were `started`, the bytes
        `spent` and the seconds `elapsed` on this page's requisites so far; None: go on."""
        if started >= self.count:
            return f"budget: more than {self.count} requisites"
        if spent >= self.bytes:
            return f"budget: past {self.bytes} bytes of requisites"
        if elapsed >= self.seconds:
            return f"budget: past {self.seconds:g} s for the page's requisites"
        return None

    def limits(self, settings: Settings, *, spent: int, elapsed: float) -> FetchLimits:
        """One requisite's fetch limits: the settings', within what is left of the budget."""
        return FetchLimits(
            max_body_bytes=min(settings.max_body_bytes, self.bytes - spent),
            total_timeout=max(0.1, min(settings.total_timeout, self.seconds - elapsed)),
            max_redirects=settings.max_redirects,
        )


@dataclass
class Fetched:
    """A requisite that answered: every hop goes in the WARC, whatever its status."""

    link: Link
    result: FetchResult


@dataclass(frozen=True)
class Missing:
    """A requisite that is not archived as the page used it, and why."""

    url: str
    kind: str
    why: str

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "kind": self.kind, "why": self.why}


@dataclass
class Requisites:
    """A page's requisites: fetched now, standing on an earlier page's record (`reused`,
    detached RequisiteRow copies), or missing."""

    fetched: list[Fetched] = field(default_factory=list)
    reused: list[tuple[Link, RequisiteRow]] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def bytes(self) -> int:
        return sum(f.result.final.body_length for f in self.fetched if f.result.final)

    def close(self) -> None:
        for item in self.fetched:
            item.result.close()


# what Chromium asks for, by what the request is for (some CDNs negotiate WebP/AVIF on it)
ACCEPT = {
    "image": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "icon": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "css": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "stylesheet": "text/css,*/*;q=0.1",
}


def referer_for(referrer: str, target: str) -> str | None:
    """The Referer a browser sends by default (strict-origin-when-cross-origin): the whole
    URL to its own origin, the origin alone elsewhere, nothing from https to http. CDNs
    that refuse hot-linked images check it."""
    source, dest = urlsplit(referrer), urlsplit(target)
    if source.scheme == "https" and dest.scheme == "http":
        return None
    if (source.scheme, source.netloc) == (dest.scheme, dest.netloc):
        return referrer.split("#", 1)[0]
    return f"{source.scheme}://{source.netloc}/"


def request_headers(link: Link, referrer: str) -> dict[str, str]:
    """A requisite's request headers over the client's: Accept by its kind, and Referer."""
    headers = {"Accept": ACCEPT.get(link.kind, "*/*")}
    referer = referer_for(referrer, link.url)
    if referer is not None:
        headers["Referer"] = referer
    return headers


def _text_of(runtime: Runtime, result: FetchResult, types: tuple[str, ...] | None) -> str | None:
    """The decoded text of a 2xx answer (of one of `types`, when given), else None."""
    final = result.final
    if final is None or not 200 <= final.status < 300:
        return None
    ctype = next((v for k, v in final.response_headers if k.lower() == "content-type"), "")
    if types is not None and ctype.split(";")[0].strip().lower() not in types:
        return None
    settings = runtime.settings
    body = decode_body(
        final, max_bytes=settings.max_html_bytes, max_ratio=settings.max_decompression_ratio
    )
    text, _codec, _how = decode_html(body.data, charset_from_headers(final.response_headers))
    return text


def _recent(runtime: Runtime, urls: list[str]) -> dict[str, RequisiteRow]:
    """Requisites archived within `requisite_reuse` seconds, by URL (stylesheets excluded:
    they are fetched every time, so what they point at is read from what the page got)."""
    window = runtime.settings.requisite_reuse
    if window <= 0 or not urls:
        return {}
    since = runtime.clock() - dt.timedelta(seconds=window)
    with runtime.sessions() as session:
        return jobs.recent_requisites(session, urls, since)


def failure(result: FetchResult) -> str | None:
    """Why a fetched requisite is not there to replay, or None when it is."""
    final = result.final
    if final is not None and final.truncated:  # cut by a limit: kept, but not whole
        return f"truncated after {final.body_length} bytes"
    if result.error is not None:
        return f"{result.error.kind}: {result.error}"
    if final is None:
        return "no response"
    if not 200 <= final.status < 300:
        return f"HTTP {final.status}"
    return None


def gather(
    runtime: Runtime,
    result: FetchResult,
    *,
    cookies: CookieJar | None = None,
    clock: Callable[[], float] = time.monotonic,
    via: tuple[httpx.Client, EgressPolicy | None] | None = None,
) -> Requisites:
    """Fetch the requisites of the page `result` holds (nothing when it is not 2xx HTML);
    `via`: the client and policy of the vantage the page itself came through."""
    client, policy = via if via is not None else (runtime.client, runtime.policy)
    settings = runtime.settings
    found = Requisites()
    html = _text_of(runtime, result, HTML_TYPES) if settings.requisites else None
    if html is None or result.final is None:
        return found
    page_url = result.final.url
    budget = Budget.from_settings(settings)
    gate = unspaced(runtime.gate)
    start = clock()
    lock = threading.Lock()
    seen = {page_url, result.url}
    spent = 0
    queued = 0

    def admit(links: list[Link], level: int = 0) -> list[Link]:
        """The links to fetch now; the others reused or recorded as missing, with why."""
        nonlocal queued
        admitted = []
        earlier = _recent(runtime, [k.url for k in links if k.kind != "stylesheet"])
        for link in links:
            if link.url in earlier and link.url not in seen:
                seen.add(link.url)
                found.reused.append((link, earlier[link.url]))
                continue
            if link.url in seen:
                continue
            seen.add(link.url)
            domain = matching_domain(link.url, settings.requisite_blocklist)
            if domain is not None:
                why = f"blocklist: {domain}"
            elif link.kind == "stylesheet" and level >= CSS_DEPTH:
                why = "an @import inside an imported stylesheet: not followed"
            elif (over := budget.refusal(started=queued)) is not None:
                why = over
            else:
                queued += 1
                admitted.append(link)
                continue
            found.missing.append(Missing(link.url, link.kind, why))
        return admitted

    def fetch_one(link: Link, referrer: str) -> tuple[Link, FetchResult | None, str | None]:
        nonlocal spent
        elapsed = clock() - start
        with lock:
            so_far = spent
        over = budget.refusal(spent=so_far, elapsed=elapsed)
        if over is not None:
            return link, None, over
        fetched = fetch_with_retries(
            link.url,
            client,
            budget.limits(settings, spent=so_far, elapsed=elapsed),
            policy=policy,
            retry=RetryPolicy.from_settings(settings),
            gate=gate,
            cookies=cookies,
            headers=request_headers(link, referrer),
        )
        with lock:  # counted here, before this thread takes the next one
            spent += fetched.final.body_length if fetched.final is not None else 0
        return link, fetched, None

    depth: dict[str, int] = {}
    with ThreadPoolExecutor(budget.concurrency, thread_name_prefix="requisite") as pool:
        pending: set[Future[tuple[Link, FetchResult | None, str | None]]] = {
            pool.submit(fetch_one, link, page_url) for link in admit(page_links(html, page_url))
        }
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    link, fetched, why = future.result()
                    if fetched is None:
                        found.missing.append(Missing(link.url, link.kind, why or "not fetched"))
                        continue
                    found.fetched.append(Fetched(link, fetched))
                    final = fetched.final
                    problem = failure(fetched)
                    if problem is not None:
                        found.missing.append(Missing(link.url, link.kind, problem))
                    level = depth.get(link.url, 0)
                    if link.kind == "stylesheet" and problem is None and level < CSS_DEPTH:
                        # any type: servers label CSS text/plain, and browsers apply it
                        css = _text_of(runtime, fetched, None) or ""
                        base = final.url if final is not None else link.url
                        for child in admit(stylesheet_links(css, base), level + 1):
                            depth[child.url] = level + 1
                            pending.add(pool.submit(fetch_one, child, base))
        except BaseException:
            for future in pending:
                future.cancel()
            found.close()
            raise
    found.elapsed = clock() - start
    if found.fetched or found.reused or found.missing:
        log.info(
            "requisites of %s: %d fetched (%d bytes), %d reused, %d missing, %.1f s",
            page_url,
            len(found.fetched),
            found.bytes,
            len(found.reused),
            len(found.missing),
            found.elapsed,
        )
    return found


def facts(found: Requisites) -> dict[str, Any]:
    """The capture's requisite facts for its metadata record: counts, and every miss."""
    archived = sum(1 for f in found.fetched if failure(f.result) is None)
    return {
        "archived": archived,
        "reused": len(found.reused),
        "bytes": found.bytes,
        "seconds": round(found.elapsed, 3),
        "missing": [m.as_dict() for m in found.missing],
    }
