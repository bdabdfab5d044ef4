"""The soft-404 sibling probe: does this host answer a made-up path with the same page?

A "soft 404" is a 200 whose page is really "not found": a site that serves its home page,
or a "Страница не найдена" template, with status 200 for every unknown path. The
literature's test (Bar-Yossef et al., "Sic transit gloria telae", WWW 2004; Meneses et al.
2012) is to request a random sibling path that cannot exist and compare the two answers.
We compare the pages' extracted text (title + main text, folded) with rapidfuzz `ratio`.

- `SiblingProbe(fetch_fn, cache).check(url, page_text) -> schemas.ProbeResult`
- `SiblingProbe.maybe_check(result, page)`: only for a page that would otherwise be `ok`
  (anything already dead, blocked, redirected … needs no probe).
- `ProbeCache`: one probe page per scheme+host, thread-safe; concurrent captures of one
  host wait for the first probe instead of sending their own.
- `probe_for(runtime, result, page, extract_page)`: the pipeline's entry; the probe goes
  through the runtime's client, egress policy, limits and politeness gate. Probe pages
  are compared only, never archived as the source.
"""

from __future__ import annotations

import logging
import posixpath
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from rapidfuzz import fuzz

from schemas import ProbeResult, SourceStatus
from worker.extract.page import PageFacts
from worker.fetch.fetcher import FetchLimits, FetchResult, fetch
from worker.judge.phrases import fold
from worker.judge.rules import Probed, classify_with_rule

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = [
    "COMPARE_CHARS",
    "SIMILAR_MIN",
    "ProbeCache",
    "ProbePage",
    "SiblingProbe",
    "comparable_text",
    "probe_for",
    "sibling_url",
]

log = logging.getLogger(__name__)

SIMILAR_MIN = 90.0
"""rapidfuzz ratio (0-100) at which the cited page "is" the host's answer to any path."""
COMPARE_CHARS = 4000  # enough to tell two pages apart; bounds the O(n·m) comparison


@dataclass(frozen=True)
class ProbePage:
    """What the host answered for the made-up path."""

    url: str
    status: int | None
    text: str


FetchFn = Callable[[str], ProbePage]


def comparable_text(page: PageFacts | None) -> str:
    """Title + main text (or what extraction kept of a too-short page), folded."""
    if page is None:
        return ""
    parts = [page.title, page.text]
    return fold(" ".join(p for p in parts if p))[:COMPARE_CHARS]


def sibling_url(url: str, token: str) -> str:
    """The same directory, a name that cannot exist: /a/31438644.html → /a/sv-<token>.html."""
    parsed = httpx.URL(url)
    path = parsed.path or "/"
    directory, name = posixpath.split(path)
    ext = posixpath.splitext(name)[1] if name else ""
    new_path = posixpath.join(directory or "/", f"sv-probe-{token}{ext}")
    return str(parsed.copy_with(path=new_path, query=None, fragment=None))


class ProbeCache:
    """One probe page per scheme+host for the life of a worker process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, ProbePage] = {}
        self._host_locks: dict[str, threading.Lock] = {}

    def get(self, key: str, load: Callable[[], ProbePage]) -> tuple[ProbePage, bool]:
        """(the cached page, or `load()`'s; True when it was loaded now)."""
        with self._lock:
            if key in self._pages:
                return self._pages[key], False
            host_lock = self._host_locks.setdefault(key, threading.Lock())
        with host_lock:  # one probe per host; the others wait for it
            with self._lock:
                if key in self._pages:
                    return self._pages[key], False
            page = load()
            with self._lock:
                self._pages[key] = page
            return page, True

    def __len__(self) -> int:
        with self._lock:
            return len(self._pages)


class SiblingProbe:
    def __init__(
        self,
        fetch_fn: FetchFn,
        cache: ProbeCache,
        *,
        threshold: float = SIMILAR_MIN,
        token: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self.fetch_fn = fetch_fn
        self.cache = cache
        self.threshold = threshold
        self.token = token

    def check(self, url: str, page_text: str) -> ProbeResult:
        parsed = httpx.URL(url)
        key = f"{parsed.scheme}://{parsed.host}:{parsed.port or ''}"
        probe_url = sibling_url(url, self.token())
        page, fresh = self.cache.get(key, lambda: self.fetch_fn(probe_url))
        if fresh:
            log.info("soft-404 probe %s: HTTP %s", page.url, page.status)
        score = 0.0
        if page.status is not None and 200 <= page.status < 300 and page.text and page_text:
            score = float(fuzz.ratio(page_text, page.text))
        return ProbeResult(
            probe_url=page.url,
            probe_status=page.status,
            score=round(score, 1),
            similar=score >= self.threshold,
            threshold=self.threshold,
        )

    def maybe_check(self, result: FetchResult, page: PageFacts | None) -> ProbeResult | None:
        """Probe only a page every other rule calls `ok`; None otherwise."""
        if page is None or result.final_url is None:
            return None
        if classify_with_rule(result, Probed(page, None)).status is not SourceStatus.OK:
            return None
        return self.check(result.final_url, comparable_text(page))


def probe_for(
    runtime: Runtime,
    result: FetchResult,
    page: PageFacts | None,
    extract_page: Callable[[FetchResult], PageFacts | None],
) -> ProbeResult | None:
    """The pipeline's probe: the runtime's client, egress policy, limits and gate, no retries."""
    limits = FetchLimits.from_settings(runtime.settings)

    def fetch_fn(url: str) -> ProbePage:
        with fetch(url, runtime.client, limits, policy=runtime.policy, gate=runtime.gate) as res:
            text = comparable_text(extract_page(res)) if res.error is None else ""
            return ProbePage(url=url, status=res.status_code, text=text)

    threshold = runtime.settings.soft404_similarity
    probe = SiblingProbe(fetch_fn, runtime.probe_cache, threshold=threshold)
    return probe.maybe_check(result, page)
