"""The only place fetch outcomes become `schemas.SourceStatus` words.

Classification is an ordered rule table: the first rule whose predicate holds decides the
status and writes the reason. Rules see the `FetchResult` and an optional `PageFacts`
(extracted title/text), so the verification work can add soft_404 and anti-bot rules by
inserting rows, without touching the others.

Network-down rule: `dead` from a failed name lookup is only true if the resolver works.
`Classification.rule == "name_not_resolved"` (or `isinstance(result.error,
NameNotResolved)`) lets the run downgrade those to `unreachable` when every host failed.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

import httpx
import tldextract

from schemas.evidence import ProbeResult
from schemas.source import SourceStatus
from worker.extract.page import PageFacts
from worker.fetch.errors import (
    BadLocation,
    EgressRefused,
    FetchError,
    InvalidURL,
    NameNotResolved,
    TooLarge,
    TooManyRedirects,
)
from worker.fetch.fetcher import FetchResult
from worker.judge.phrases import (
    ANTI_BOT_PHRASES,
    BLOCK_PAGE_PHRASES,
    SHORT_PAGE_CHARS,
    SOFT_404_ALL,
    find_phrase,
)

logger = logging.getLogger(__name__)

__all__ = [
    "RULES",
    "Classification",
    "Probed",
    "Rule",
    "classify",
    "classify_with_rule",
]

# Login pages by host: (registrable domain, path prefixes). Any host: /login.
LOGIN_PATHS: dict[str, tuple[str, ...]] = {
    "facebook.com": ("/login", "/checkpoint"),
    "vk.com": ("/login",),
    "instagram.com": ("/accounts/login",),
}


@dataclass(frozen=True)
class Probed:
    """A page hint plus the soft-404 sibling probe of its host (`worker.judge.soft404`)."""

    page: PageFacts | None
    probe: ProbeResult | None = None


Hint: TypeAlias = PageFacts | Probed | None
"""What the rules may read about the page: its facts, maybe with the sibling probe."""


def _page(hint: Hint) -> PageFacts | None:
    return hint.page if isinstance(hint, Probed) else hint


def _probe(hint: Hint) -> ProbeResult | None:
    return hint.probe if isinstance(hint, Probed) else None


class Classification(NamedTuple):
    status: SourceStatus
    reason: str
    rule: str


Predicate = Callable[[FetchResult, Hint], str | None]
"""Returns the reason when the rule applies, else None."""


@dataclass(frozen=True)
class Rule:
    name: str
    status: SourceStatus
    applies: Predicate


_extractor_made: tldextract.TLDExtract | None = None
_extractor_lock = threading.Lock()


def _extractor() -> tldextract.TLDExtract:
    """The bundled Public Suffix List snapshot only: never fetch the list over the network.

    Made once, its suffix trie built before anyone uses it: tldextract builds the trie on
    its first call, unlocked, and a run's first capture threads all built it at once
    (~150 ms of the worker's GIL at the start of every run, where one build takes 20)."""
    global _extractor_made
    with _extractor_lock:
        if _extractor_made is None:
            made = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
            made("example.org")
            _extractor_made = made
        return _extractor_made


@functools.lru_cache(maxsize=4096)  # the same few hosts, for every capture and probe
def registrable_domain(host: str) -> str:
    parts = _extractor()(host)
    return parts.top_domain_under_public_suffix or host.lower()


def _url(value: str | None) -> httpx.URL | None:
    if not value:
        return None
    try:
        return httpx.URL(value)
    except httpx.InvalidURL:
        return None


def _err(kind: type[FetchError]) -> Predicate:
    def applies(result: FetchResult, hint: Hint) -> str | None:
        return str(result.error) if isinstance(result.error, kind) else None

    return applies


def _statuses(*codes: int) -> Predicate:
    def applies(result: FetchResult, hint: Hint) -> str | None:
        return f"HTTP {result.status_code}" if result.status_code in codes else None

    return applies


def _name_not_resolved(result: FetchResult, hint: Hint) -> str | None:
    if isinstance(result.error, NameNotResolved):
        return f"name does not exist ({result.error})"
    return None


def _no_response(result: FetchResult, hint: Hint) -> str | None:
    if result.final is None and result.error is not None:
        return f"{result.error.kind}: {result.error}"
    return None


def _login_url(result: FetchResult, hint: Hint) -> str | None:
    url = _url(result.final_url)
    if url is None:
        return None
    path = url.path.lower()
    prefixes = ("/login", *LOGIN_PATHS.get(registrable_domain(url.host), ()))
    if any(path == p or path.startswith((p + "/", p + ".", p + "?")) for p in prefixes):
        return f"landed on a login page {url.path}"
    return None


def _server_error(result: FetchResult, hint: Hint) -> str | None:
    code = result.status_code
    return f"HTTP {code}" if code is not None and code >= 500 else None


def _failed_mid_body(result: FetchResult, hint: Hint) -> str | None:
    if result.error is not None and not isinstance(result.error, TooLarge):
        return f"{result.error.kind} after HTTP {result.status_code}: {result.error}"
    return None


def _redirected_to_root(result: FetchResult, hint: Hint) -> str | None:
    if len(result.exchanges) < 2:
        return None
    first, last = _url(result.exchanges[0].url), _url(result.final_url)
    if first is None or last is None:
        return None
    if first.path in ("", "/") or last.path not in ("", "/") or last.query:
        return None
    if registrable_domain(first.host) != registrable_domain(last.host):
        return None
    return f"redirected from {first.path} to the site root {last}"


def _ok(result: FetchResult, hint: Hint) -> str | None:
    code = result.status_code
    if code is None or not 200 <= code < 300:
        return None
    if isinstance(result.error, TooLarge) or result.truncated:
        kept = result.final.body_length if result.final else 0
        return f"HTTP {code}, body truncated at {kept} bytes"
    return f"HTTP {code}"


def _success(result: FetchResult) -> bool:
    code = result.status_code
    return code is not None and 200 <= code < 300


def _challenge_header(result: FetchResult, hint: Hint) -> str | None:
    """Cloudflare marks its challenge (often a 503) with `cf-mitigated: challenge`."""
    final = result.final
    if final is None:
        return None
    for key, value in final.response_headers:
        if key.lower() == "cf-mitigated" and value.strip().lower() == "challenge":
            return f"anti-bot challenge (HTTP {final.status}, cf-mitigated: challenge)"
    return None


def _short_text(page: PageFacts) -> str | None:
    """The page's text if it is short enough that a phrase in it is its message."""
    text = page.text or ""
    if len(text) >= SHORT_PAGE_CHARS:
        return None
    return " ".join(filter(None, [text, page.description]))


def _phrase_rule(phrases: tuple[str, ...], what: str) -> Predicate:
    """A phrase from `phrases` in the title or <h1>, or anywhere in a short page."""

    def applies(result: FetchResult, hint: Hint) -> str | None:
        page = _page(hint)
        if page is None or not _success(result):
            return None
        for field, value in (
            ("title", page.title),
            ("html_title", page.html_title),
            ("h1", page.h1),
        ):
            hit = find_phrase(value, phrases)
            if hit:
                return f'{what}: "{hit}" in the page {field} "{value}"'
        short = _short_text(page)
        hit = find_phrase(short, phrases)
        if hit:
            size = len(page.text or "")
            return f'{what}: "{hit}" in a short page ({size} characters of text)'
        return None

    return applies


def _login_form(result: FetchResult, hint: Hint) -> str | None:
    page = _page(hint)
    if page is None or not _success(result) or not page.has_login_form:
        return None
    title = page.title
    return f"the page's main content is a login form (title {title!r})"


def _soft_404_probe(result: FetchResult, hint: Hint) -> str | None:
    probe = _probe(hint)
    if probe is None or not probe.similar or not _success(result):
        return None
    return (
        f"a random sibling path {probe.probe_url} (HTTP {probe.probe_status}) returns the "
        f"same page: text similarity {probe.score:.0f} ≥ {probe.threshold:.0f}"
    )


_SECTION_WORDS = frozenset(
    {"category", "categories", "tag", "tags", "rubric", "rubrics", "section", "sections",
     "topic", "topics", "z", "news", "novosti", "articles", "archive", "archives", "all"}
)  # fmt: skip
_LISTINGS = frozenset({"category", "tag", "tags", "rubric", "rubrics", "section", "topic", "z"})
_SEARCH_PATHS = frozenset({"search", "s", "poisk", "find", "izdeu"})
_SEARCH_KEYS = frozenset({"s", "q", "k", "query", "search", "text", "keyword", "kw"})
_ARTICLE_ID = re.compile(r"\d{4,}")


def _same_site_redirect(result: FetchResult) -> tuple[httpx.URL, httpx.URL] | None:
    if len(result.exchanges) < 2:
        return None
    first, last = _url(result.exchanges[0].url), _url(result.final_url)
    if first is None or last is None:
        return None
    if registrable_domain(first.host) != registrable_domain(last.host):
        return None
    return first, last


def _segments(path: str) -> list[str]:
    return [s for s in path.lower().split("/") if s]


def _redirected_to_search(result: FetchResult, hint: Hint) -> str | None:
    pair = _same_site_redirect(result)
    if pair is None:
        return None
    first, last = pair
    keys = {k.lower() for k, _v in last.params.multi_items()}
    segs = _segments(last.path)
    if keys & _SEARCH_KEYS or (segs and segs[-1] in _SEARCH_PATHS):
        if first.path == last.path and first.query == last.query:
            return None
        return f"redirected from {first.path} to a search page {last}"
    return None


def _redirected_to_section(result: FetchResult, hint: Hint) -> str | None:
    """The article now lands on a parent path, or a category page without its id."""
    pair = _same_site_redirect(result)
    if pair is None:
        return None
    first, last = pair
    old, new = _segments(first.path), _segments(last.path)
    if not new or new == old:
        return None
    if len(new) < len(old) and old[: len(new)] == new:
        return f"redirected from {first.path} up to the section {last}"
    # a short category path (/z/360, /category/politika, /ru/news) that lost the article id
    looks_like_section = len(new) <= 2 and (new[-1] in _SECTION_WORDS or new[0] in _LISTINGS)
    if looks_like_section and not _ARTICLE_ID.search(last.path):
        return f"redirected from {first.path} to the section {last}"
    return None


def _anything(result: FetchResult, hint: Hint) -> str:
    return f"unexpected outcome: HTTP {result.status_code}, error {result.error!r}"


S = SourceStatus
RULES: list[Rule] = [
    Rule("egress_refused", S.REFUSED, _err(EgressRefused)),
    Rule("invalid_url", S.INVALID, _err(InvalidURL)),
    Rule("bad_redirect_location", S.INVALID, _err(BadLocation)),
    Rule("name_not_resolved", S.DEAD, _name_not_resolved),
    Rule("no_response", S.UNREACHABLE, _no_response),
    Rule("login_url", S.LOGIN_WALL, _login_url),
    Rule("http_401", S.LOGIN_WALL, _statuses(401)),
    Rule("http_gone", S.DEAD, _statuses(404, 410)),
    Rule("http_blocked", S.BLOCKED, _statuses(403, 451, 429)),
    Rule("too_many_redirects", S.UNREACHABLE, _err(TooManyRedirects)),
    Rule("anti_bot_header", S.BLOCKED, _challenge_header),
    Rule("server_error", S.UNREACHABLE, _server_error),
    Rule("failed_mid_body", S.UNREACHABLE, _failed_mid_body),
    # page content (2xx only): the extracted title, <h1>, text, login form, sibling probe
    Rule("block_page", S.BLOCKED, _phrase_rule(BLOCK_PAGE_PHRASES, "block page")),
    Rule("anti_bot_page", S.BLOCKED, _phrase_rule(ANTI_BOT_PHRASES, "anti-bot challenge")),
    Rule("login_form", S.LOGIN_WALL, _login_form),
    # a redirect to a search or home page says more than the "nothing found" it shows
    Rule("redirected_to_root", S.REDIRECTED_AWAY, _redirected_to_root),
    Rule("redirected_to_search", S.REDIRECTED_AWAY, _redirected_to_search),
    Rule("redirected_to_section", S.REDIRECTED_AWAY, _redirected_to_section),
    Rule("soft_404_phrase", S.SOFT_404, _phrase_rule(SOFT_404_ALL, "not-found phrase")),
    Rule("soft_404_probe", S.SOFT_404, _soft_404_probe),
    Rule("ok", S.OK, _ok),
    Rule("fallback", S.UNREACHABLE, _anything),
]


def classify_with_rule(
    result: FetchResult, page_hint: Hint = None, *, rules: list[Rule] | None = None
) -> Classification:
    """Status, reason and the name of the deciding rule (first match in `rules`)."""
    for rule in rules or RULES:
        reason = rule.applies(result, page_hint)
        if reason is not None:
            return Classification(rule.status, reason, rule.name)
    raise AssertionError("the rule table ends with a catch-all")  # pragma: no cover


def classify(result: FetchResult, page_hint: Hint = None) -> tuple[SourceStatus, str]:
    status, reason, _rule = classify_with_rule(result, page_hint)
    return status, reason
