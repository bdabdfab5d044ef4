"""URL helpers for digest footnotes: find, canonicalise and classify links.

Three jobs, all pure functions:

- `find_urls` pulls the URLs out of a line of digest text, trimming the punctuation
  that prose glues onto them and splitting URLs written back to back.
- `canonicalize` gives the key under which two spellings of one link are the same
  source: tracking parameters and fragments go, redirect wrappers are unwrapped,
  scheme and host are lower-cased, the host is IDNA-encoded, default ports go.
  It never reorders or drops a meaningful query parameter (Facebook's
  `permalink.php?story_fbid=…&id=…` is two parameters that both matter).
- `classify_url` decides, before any fetch, whether a URL is unusable
  (`SourceStatus.INVALID`) or an admin/edit/preview link (`SourceStatus.NOT_PUBLIC`).

Percent-encoding and IDNA are w3lib's (`safe_url_string`), and query filtering is
w3lib's order-preserving `url_query_cleaner`; only the policy (which parameters
are trackers, which paths are admin pages) is ours.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

import httpx
from w3lib.url import safe_url_string, url_query_cleaner

from schemas.source import SourceStatus

__all__ = [
    "BIDI_CONTROLS_RE",
    "MAX_URL_LENGTH",
    "canonicalize",
    "classify_url",
    "find_urls",
    "is_url_token",
    "matching_domain",
    "repair_url",
]

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048

# A URL candidate in prose: any "scheme://" (so "ftp://…" is reported as invalid,
# not lost) or a bare "www." host.
_URL_RE = re.compile(r"(?:\b[a-z][a-z0-9+.-]{1,15}://|\bwww\.)[^\s<>\"“”«»]+", re.IGNORECASE)
# Two URLs glued together ("…/ahttps://…"). An embedded URL right after "=", "/"
# or "%" is a wrapper's parameter (google.com/url?q=https://…), not a second link.
_GLUED_RE = re.compile(r"(?<=[^=/%?&:])(?=https?://)", re.IGNORECASE)
# Prose punctuation that ends up stuck to a URL's tail.
_TRAILING_PUNCT = ".,;:!?…'’\"”»)]}>—–"
_PERCENT_HEX_RE = re.compile(r"%[0-9a-fA-F]{2}")
# Bidirectional controls (embeddings, overrides, isolates, LRM/RLM/ALM): invisible, they
# make a URL display in another order than it reads. Never part of a link we fetch.
BIDI_CONTROLS_RE = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_CONTROL_OR_SPACE_RE = re.compile(r"[\x00-\x20\x7f\u00a0\u2000-\u200b\u2028\u2029\u3000]")
_PLAIN_URL_RE = re.compile(
    r"https?://(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(?P<port>\d{1,5}))?(?:[/?][!-~]*)?\Z"
)
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_IPV4_RE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")

_ALLOWED_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Query parameters that only track the click, never select content.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "ysclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "igsh",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wickedid",
        "twclid",
        "ttclid",
        "srsltid",
    }
)
_TRACKING_PREFIXES = ("utm_", "__cft__", "__xts__")
# Parameters that only track on particular hosts (elsewhere they may select content).
_HOST_TRACKING_PARAMS: dict[str, frozenset[str]] = {
    "facebook.com": frozenset(
        {"__tn__", "ref", "refsrc", "hc_ref", "hc_location", "mibextid", "sfnsn", "rdid", "paipv"}
    ),
    "youtube.com": frozenset({"si", "feature"}),
    "youtu.be": frozenset({"si", "feature"}),
    "twitter.com": frozenset({"s", "t", "ref_src", "ref_url"}),
    "x.com": frozenset({"s", "t"}),
    "instagram.com": frozenset({"igshid", "igsh", "utm_source"}),
    "t.me": frozenset(),
}

# Redirect wrappers: (host suffix, path) -> the query parameter holding the real URL.
_WRAPPERS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(r"^(?:l|lm|m|www)\.facebook\.com$"), "/l.php", ("u",)),
    (re.compile(r"^l\.instagram\.com$"), "/", ("u",)),
    (re.compile(r"^(?:www\.)?google\.[a-z.]{2,6}$"), "/url", ("q", "url")),
    (re.compile(r"^(?:m\.)?vk\.com$"), "/away.php", ("to",)),
)
_MAX_UNWRAP = 3

# Admin, login, edit and preview links: never public, never fetched.
_NOT_PUBLIC_PATHS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/wp-admin(?:/|$)", re.I), "a WordPress admin page (/wp-admin/)"),
    (re.compile(r"/wp-login\.php", re.I), "a WordPress login page (/wp-login.php)"),
    (re.compile(r"/user/login(?:/|$)", re.I), "a login page (/user/login)"),
    (re.compile(r"^/administrator(?:/|$)", re.I), "a Joomla admin page (/administrator/)"),
    (re.compile(r"/bitrix/admin(?:/|$)", re.I), "a Bitrix admin page (/bitrix/admin/)"),
    (re.compile(r"^/admin(?:/|$)", re.I), "an admin page (/admin/)"),
    (re.compile(r"^/ghost(?:/|$)", re.I), "a Ghost admin page (/ghost/)"),
)
_NOT_PUBLIC_QUERY: dict[str, tuple[frozenset[str] | None, str]] = {
    # name -> (values that make it private, or None for "any value"; reason)
    "action": (frozenset({"edit", "editpost"}), "an edit link (action=edit)"),
    "preview": (frozenset({"true", "1", "yes"}), "a preview link (preview=true)"),
    "preview_id": (None, "a preview link (preview_id=)"),
    "preview_nonce": (None, "a preview link (preview_nonce=)"),
    "_wpnonce": (None, "a link carrying a WordPress nonce (_wpnonce=)"),
}


def is_url_token(s: str) -> bool:
    """True when `s` is one whitespace-free token that starts like a URL (`x://` or `www.`)."""
    return bool(_URL_RE.match(s)) and not any(c.isspace() for c in s)


def find_urls(text: str) -> list[tuple[int, str]]:
    """Every URL in `text` as (start offset, URL), with prose punctuation trimmed.

    URLs written back to back without a space are split; a URL embedded as a
    wrapper's parameter (`?q=https://…`) is left alone. Bidirectional controls are
    removed from the URLs (the parser reports the line that carried them).
    """
    found: list[tuple[int, str]] = []
    for match in _URL_RE.finditer(text):
        start = match.start()
        pieces = _GLUED_RE.split(BIDI_CONTROLS_RE.sub("", match.group()))
        for piece in pieces:
            url = _trim_url(piece)
            if url:
                found.append((start, url))
            start += len(piece)
    return found


# A scheme typed wrong: "htps//", "https//", "ttps://", "http:/", "hhttps://".
_SCHEME_TYPO = re.compile(r"^(?P<scheme>h*t+p+s?)(?P<sep>:?/+)(?=[^/\s])", re.IGNORECASE)
# A host with no scheme at all, and a path: "rus.azattyq.org/a/31438644.html".
_BARE_HOST = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z]{2,24}(?:/\S*)$", re.IGNORECASE)


def repair_url(token: str) -> tuple[str, str] | None:
    """(the URL `token` was meant to be, what was wrong) for a footnote's garbled URL,
    or None when it is fine as it is or not recognisably a URL.

    Only for footnote lines: there a token like these is the footnote's URL, written
    badly, and calling the footnote URL-less would lose it."""
    token = _trim_url(token.strip())
    typo = _SCHEME_TYPO.match(token)
    if typo is not None:
        scheme, sep = typo.group("scheme").lower(), typo.group("sep")
        if scheme in ("http", "https") and sep == "://":
            return None
        fixed = ("https" if scheme.endswith("s") else "http") + "://" + token[typo.end() :]
        return fixed, f"the scheme is written {token[: typo.end()]!r}"
    if _BARE_HOST.match(token) and not token.lower().startswith("www."):
        return "http://" + token, "it has no scheme"
    return None


def _trim_url(url: str) -> str:
    """Strip trailing punctuation, keeping a closing bracket the URL itself opened."""
    while url and url[-1] in _TRAILING_PUNCT:
        closer = url[-1]
        opener = {")": "(", "]": "[", "}": "{"}.get(closer)
        if opener and url.count(opener) >= url.count(closer):
            break
        url = url[:-1]
    return url


def canonicalize(url: str) -> str:
    """The canonical form of `url`: the key that identifies one source.

    Raises nothing: a URL too broken to normalise comes back stripped, so callers
    can still use it as a key (`classify_url` tells them it is invalid).
    """
    raw = url.strip()
    if raw.lower().startswith("www."):
        raw = "http://" + raw  # a bare host in prose; the server will redirect to https
    try:
        for _ in range(_MAX_UNWRAP):
            inner = _unwrap(raw)
            if inner is None:
                break
            raw = inner
        return _normalise(raw)
    except ValueError as exc:  # bad port, bad IPv6 literal, IDNA failure
        logger.debug("cannot canonicalise %r: %s", url, exc)
        return url.strip()


def _unwrap(url: str) -> str | None:
    """The target of a redirect wrapper (l.facebook.com/l.php?u=…), or None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for host_re, path, params in _WRAPPERS:
        if host_re.match(host) and parts.path == path:
            query = dict(parse_qsl(parts.query))
            for name in params:
                target = query.get(name, "")
                if target.lower().startswith(("http://", "https://")):
                    return target
    return None


def _normalise(url: str) -> str:
    """Percent-encode, lower-case scheme and host, drop default port, trackers, fragment."""
    parts = urlsplit(safe_url_string(url))
    scheme = parts.scheme.lower()
    netloc = _normalise_netloc(parts, scheme)
    path = _PERCENT_HEX_RE.sub(lambda m: m.group().upper(), parts.path) or "/"
    query = _strip_trackers(parts.query, (parts.hostname or "").lower())
    # "#!" fragments select content in old AJAX sites; every other fragment is a scroll position.
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, path, query, fragment))


def _normalise_netloc(parts: SplitResult, scheme: str) -> str:
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port  # raises ValueError on a non-numeric port
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    return netloc


def _strip_trackers(query: str, host: str) -> str:
    """Remove tracking parameters, keeping every other parameter in its order."""
    if not query:
        return ""
    host_params = _host_tracking_params(host)
    keys = {pair.partition("=")[0] for pair in query.split("&")}
    trackers = [k for k in keys if _is_tracker(k, host_params)]
    cleaned = url_query_cleaner("?" + query, trackers, remove=True, unique=False)
    return cleaned.removeprefix("?")


def matching_domain(url: str, domains: Iterable[str]) -> str | None:
    """The longest of `domains` that `url`'s host is or is a subdomain of, normalised
    (case, surrounding dots and spaces), or None. The one rule for every per-domain
    setting: private domains, the tracker blocklist, capture modes."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    best: str | None = None
    for entry in domains:
        domain = entry.lower().strip().strip(".")
        covers = domain and (host == domain or host.endswith("." + domain))
        if covers and (best is None or len(domain) > len(best)):
            best = domain
    return best


def _host_tracking_params(host: str) -> frozenset[str]:
    for domain, params in _HOST_TRACKING_PARAMS.items():
        if host == domain or host.endswith("." + domain):
            return params
    return frozenset()


def _is_tracker(key: str, host_params: frozenset[str]) -> bool:
    lowered = key.lower()
    return (
        lowered in _TRACKING_PARAMS
        or lowered in host_params
        or lowered.startswith(_TRACKING_PREFIXES)
    )


def classify_url(url: str, *, canonical: str | None = None) -> tuple[SourceStatus | None, str]:
    """Decide before fetching: `INVALID`, `NOT_PUBLIC`, or (None, "") for a fetchable URL.

    The string is a reason a human can read in the report. Pass `canonical` when
    the caller has already computed `canonicalize(url)`.
    """
    invalid = _invalid_reason(url)
    if invalid:
        return SourceStatus.INVALID, invalid
    canonical = canonical if canonical is not None else canonicalize(url)
    unparsable = _httpx_rejects(canonical)
    if unparsable:
        return SourceStatus.INVALID, f"URL cannot be parsed: {unparsable}"
    private = _not_public_reason(canonical)
    if private:
        return SourceStatus.NOT_PUBLIC, private
    return None, ""


def _httpx_rejects(canonical: str) -> str:
    """Why the fetcher's own parser refuses the URL ("" if it accepts it).

    httpx must accept it (e.g. "https://[::1];" it does not) and decode its host back from
    IDNA (a label with no bidi direction fails there). Plain ASCII URLs with ordinary host
    names and ports always pass, and parsing them all cost a 10,000-source digest a second.
    """
    plain = _PLAIN_URL_RE.match(canonical)
    if plain and "xn--" not in plain["host"] and int(plain["port"] or 0) <= 65535:
        return ""
    try:
        _ = httpx.URL(canonical).host
    except (httpx.InvalidURL, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return ""


def _invalid_reason(url: str) -> str:
    if not url:
        return "empty URL"
    if len(url) > MAX_URL_LENGTH:
        return f"URL longer than {MAX_URL_LENGTH} characters ({len(url)})"
    if _CONTROL_OR_SPACE_RE.search(url):
        return "URL contains spaces or control characters"
    if url.lower().startswith("www."):
        url = "http://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"URL cannot be parsed: {exc}"
    if parts.scheme.lower() not in _ALLOWED_SCHEMES:
        return f"scheme {parts.scheme or '(none)'!r} is not http or https"
    return _host_problem(parts.hostname or "")


def _host_problem(host: str) -> str:
    """Why a host name is unusable, or "" when it is fine."""
    if not host:
        return "URL has no host"
    if host.startswith("[") or ":" in host or _IPV4_RE.match(host):
        return ""  # IP literals are valid; the egress policy judges them
    try:
        ascii_host = host.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return f"host {host!r} is not a valid domain name"
    labels = ascii_host.split(".")
    if len(labels) < 2:
        return f"host {host!r} has no top-level domain"
    if not all(_HOST_LABEL_RE.match(label) for label in labels):
        return f"host {host!r} is not a valid domain name"
    return ""


def _not_public_reason(canonical: str) -> str:
    parts = urlsplit(canonical)
    if parts.username is not None:
        return "the URL carries login credentials"
    for pattern, reason in _NOT_PUBLIC_PATHS:
        if pattern.search(parts.path):
            return reason
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        rule = _NOT_PUBLIC_QUERY.get(name.lower())
        if rule is None:
            continue
        values, reason = rule
        if values is None or value.lower() in values:
            return reason
    return ""
