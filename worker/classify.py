"""The only place fetch outcomes become `schemas.SourceStatus` words.

Classification is an ordered rule table: the first rule whose predicate holds decides the
status and writes the reason. Rules see the `FetchResult` and an optional `PageHint`
(extracted title/text), so the verification work can add soft_404 and anti-bot rules by
inserting rows, without touching the others.

Network-down rule: `dead` from a failed name lookup is only true if the resolver works.
`Classification.rule == "name_not_resolved"` (or `isinstance(result.error,
NameNotResolved)`) lets the run downgrade those to `unreachable` when every host failed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

import httpx
import tldextract

from schemas.source import SourceStatus
from worker.fetch import FetchResult
from worker.fetch_errors import (
    EgressRefused,
    FetchError,
    InvalidURL,
    NameNotResolved,
    TooLarge,
    TooManyRedirects,
)

logger = logging.getLogger(__name__)

__all__ = ["RULES", "Classification", "PageHint", "Rule", "classify", "classify_with_rule"]

# Login pages by host: (registrable domain, path prefixes). Any host: /login.
LOGIN_PATHS: dict[str, tuple[str, ...]] = {
    "facebook.com": ("/login", "/checkpoint"),
    "vk.com": ("/login",),
    "instagram.com": ("/accounts/login",),
}


@dataclass(frozen=True)
class PageHint:
    """What extraction saw on the final page, for rules about page text.

    Rules must read hints with `getattr(hint, "title", None)` / `"text"`: callers pass this,
    `worker.extract.ExtractedPage`, an `ExtractionFailure`, or None.
    """

    title: str | None = None
    text: str | None = None


Hint: TypeAlias = object | None


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


@functools.lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # The bundled Public Suffix List snapshot only: never fetch the list over the network.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


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


def _anything(result: FetchResult, hint: Hint) -> str:
    return f"unexpected outcome: HTTP {result.status_code}, error {result.error!r}"


S = SourceStatus
RULES: list[Rule] = [
    Rule("egress_refused", S.REFUSED, _err(EgressRefused)),
    Rule("invalid_url", S.INVALID, _err(InvalidURL)),
    Rule("name_not_resolved", S.DEAD, _name_not_resolved),
    Rule("no_response", S.UNREACHABLE, _no_response),
    Rule("login_url", S.LOGIN_WALL, _login_url),
    Rule("http_401", S.LOGIN_WALL, _statuses(401)),
    Rule("http_gone", S.DEAD, _statuses(404, 410)),
    Rule("http_blocked", S.BLOCKED, _statuses(403, 451, 429)),
    Rule("too_many_redirects", S.UNREACHABLE, _err(TooManyRedirects)),
    Rule("server_error", S.UNREACHABLE, _server_error),
    Rule("failed_mid_body", S.UNREACHABLE, _failed_mid_body),
    Rule("redirected_to_root", S.REDIRECTED_AWAY, _redirected_to_root),
    # (verification adds soft_404 / anti-bot rules with page text here, before "ok")
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
