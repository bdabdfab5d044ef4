"""Raw HTML bytes → `ExtractedPage` (text, title, dates, …) or `ExtractionFailure(reason)`.

Pipeline, each stage independent of the ones that can fail after it:

1. cap the bytes (`ExtractOptions.max_html_bytes`) and decode them ourselves: BOM, then
   UTF-8 when the bytes are UTF-8 (a stray bad byte replaced, a letter cut at the end
   dropped), then the HTTP header charset, then `<meta charset>`/http-equiv, then
   charset-normalizer, always with errors replaced; then no control characters, NFC.
   httpx ignores `<meta charset>`, and windows-1251 is common on Kazakh and Russian sites.
2. parse once with lxml (trafilatura's `load_html`).
3. metadata (trafilatura's own readers, less categories, tags and licence, and htmldate's
   `find_date` with `original_date=True, extensive_search=False`), *separately* from the body:
   trafilatura's `bare_extraction` returns None for "too short", "duplicate",
   "blacklisted" … alike, and a page whose body fails still has a publication date.
4. date signals, each kept as a `DateSignal` with the value as written, ranked by how
   much we trust the source (`_RANK`):

       json-ld:datePublished (the page's own article node)  >  meta:article:published_time
       >  microdata / <time> inside the main article (never sidebars, teasers, nested
          related-article cards)  >  byline (a date written beside the <h1>: "15 августа
          2016", "2021 жылғы 14 қазанда")  >  json-ld-other (a WebPage's, a teaser's)
       >  htmldate backed by one of those  >  url (/2021/09/15/)  >  text:lead
       >  htmldate-unbacked (its generic search also reads "latest news" lists)

   `choose_date` picks one and says which rule did (`date_choice`); every candidate is
   kept. A timestamp's day is the day it states, in its own zone, never converted:
   2020-09-20T23:32+03:00 is the 20th (`published_at` keeps the timestamp, and
   `worker.judge.dates` allows for the day it was in the incident's zone).
5. body: `bare_extraction(fast=True, favor_precision=True)`; when that finds too little,
   trafilatura's default pass (with its readability/jusText fallbacks), then one that
   favours recall: a page with readable text is never reported as having none.
6. login form as main content (password field or a "Войти"/"Log in" form on a page with
   little text) → `has_login_form`; `worker.judge.rules` decides what that means.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import charset_normalizer
from dateparser.date import DateDataParser
from dateutil import parser as dateutil_parser
from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.metadata import (
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document
from trafilatura.utils import load_html

from worker.settings import Settings

__all__ = [
    "DateSignal",
    "ExtractOptions",
    "ExtractedPage",
    "ExtractionFailure",
    "PageFacts",
    "decode_html",
    "extract",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractOptions:
    """Per-call extraction options (trafilatura's `Extractor` idea): defaults live here."""

    max_html_bytes: int = 5 * 1024 * 1024
    excerpt_chars: int = 500
    min_text_chars: int = 50
    """Main text shorter than this is a failure ("no article here"), with the text kept."""
    lead_chars: int = 600
    """How much of the start of the text is searched for a written date."""
    login_max_text_chars: int = 1500
    """A login form counts as the main content only on a page with less text than this."""
    default_year: int | None = None
    """Year for a written date without one ("2 қыркүйекте") when no other signal gives one."""
    min_date: dt.date = dt.date(1995, 1, 1)
    max_date: dt.date | None = None
    """Signals after this day are dropped (pass the capture day; None: no upper bound)."""
    include_tables: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, *, captured_on: dt.date | None) -> ExtractOptions:
        """The options a capture extracts with: the settings' cap, and no date after the
        day the page was fetched (a day of slack: the page's zone may be ahead of UTC)."""
        later = captured_on + dt.timedelta(days=1) if captured_on is not None else None
        return cls(max_html_bytes=settings.max_html_bytes, max_date=later)


@dataclass(frozen=True)
class DateSignal:
    """One publication date candidate and where it came from."""

    date: dt.date
    source: str
    confidence: float
    raw: str = ""


@dataclass(kw_only=True)
class PageFacts:
    """What extraction saw on a page, whether or not it found the main text.

    `ExtractedPage` and `ExtractionFailure` are both PageFacts, so every rule reads a
    page typed (`worker.judge.rules`, `worker.judge.soft404`), never by `getattr`.
    """

    text: str | None = None
    """The main text (an `ExtractedPage`'s), or a too-short text kept for the soft-404
    and login-wall rules (an `ExtractionFailure`'s), never the main text then."""
    title: str | None = None
    author: str | None = None
    language: str | None = None
    published: dt.date | None = None
    date_source: str = "none"
    """The signal that decided `published` (e.g. "json-ld:datePublished"), or "none"."""
    date_candidates: list[DateSignal] = field(default_factory=list)
    published_at: str | None = None
    """The timestamp behind `published` as the page wrote it, offset included, if it had one."""
    date_choice: str = ""
    """The rule that chose `published` among `date_candidates` (see `choose_date`)."""
    sitename: str | None = None
    description: str | None = None
    charset: str | None = None
    charset_source: str = ""
    html_title: str | None = None
    has_login_form: bool = False
    h1: str | None = None
    """The first <h1> outside site chrome: soft-404 templates put "Страница не найдена" here."""

    def shared(self, **changes: Any) -> dict[str, Any]:
        """These facts as keyword arguments (for an ExtractedPage or ExtractionFailure)."""
        return {f.name: getattr(self, f.name) for f in fields(PageFacts)} | changes


@dataclass(kw_only=True)
class ExtractedPage(PageFacts):
    text: str
    excerpt: str


@dataclass(kw_only=True)
class ExtractionFailure(PageFacts):
    """Why no main text came out, with whatever metadata was found before it failed."""

    reason: str


# ---------------------------------------------------------------------------- stage 1


_ALIASES = {
    # WHATWG: these labels all mean windows-1252 on the web
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "x-cp1251": "windows-1251",
    "win-1251": "windows-1251",
    "cp-1251": "windows-1251",
    "utf8": "utf-8",
    # a <meta> cannot truthfully declare UTF-16 (the bytes would not be ASCII-readable)
    "utf-16": "utf-8",
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
}
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.IGNORECASE | re.DOTALL
)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _codec(label: str | None) -> str | None:
    """The charset for a label, spelt as the web spells it ("windows-1251"), or None."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # Python says "cp1251"; WARC metadata and browsers say "windows-1251"
    return f"windows-{name[2:]}" if re.fullmatch(r"cp125\d", name) else name


# C0 controls other than tab, newline, form feed and carriage return: lxml refuses a
# string holding one (a single NUL used to lose the whole page), and no text needs them.
_CONTROLS = dict.fromkeys([c for c in range(32) if c not in (9, 10, 12, 13)] + [127])


def _utf8(data: bytes) -> tuple[str, int, int]:
    """`data` as UTF-8 with bad bytes replaced → (text, replaced, valid non-ASCII letters).

    An incomplete letter at the very end (a body cut by the size cap or a dropped
    connection) is dropped, not replaced: it is a cut, not damage.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final=False)
    replaced = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return text, replaced, non_ascii - replaced


def _clean_text(text: str) -> str:
    """No control characters, and NFC: "й" typed as и + U+0306 must match a phrase with "й"."""
    text = text.translate(_CONTROLS)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def decode_html(data: bytes, charset: str | None = None) -> tuple[str, str, str]:
    """Decode HTML bytes → (text, codec used, how it was chosen); never fails.

    UTF-8 is decided by the bytes, not the labels: valid multi-byte UTF-8 does not occur
    by chance in single-byte Cyrillic text, so a page that is UTF-8 but for a stray bad
    byte (or a letter cut at the end) stays UTF-8, with the bad byte replaced, instead of
    turning into mojibake as some other charset. Otherwise the declared charset (HTTP
    header, then <meta>), then detection; always with errors replaced, never strict.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            text = data.decode(name, errors="replace").lstrip("\ufeff")
            return _clean_text(text), name, "bom"
    declared = [(_codec(charset), "header")]
    match = _META_CHARSET.search(data[:8192])
    declared.append((_codec(match.group(1).decode("ascii")) if match else None, "meta"))
    if data.isascii():
        return (
            _clean_text(data.decode("ascii")),
            declared[0][0] or declared[1][0] or "utf-8",
            "ascii",
        )
    text, replaced, letters = _utf8(data)
    if letters > 0 and replaced * 20 <= letters:
        labels = {c for c, _how in declared if c is not None}
        how = "utf-8" if labels <= {"utf-8"} else "utf-8 (declared charset ignored)"
        if replaced:
            how += f" ({replaced} invalid byte{'s' if replaced > 1 else ''} replaced)"
            logger.info("UTF-8 page with %d invalid bytes: replaced", replaced)
        return _clean_text(text), "utf-8", how
    for codec, how in declared:
        if codec is not None and codec != "utf-8":
            return _clean_text(data.decode(codec, errors="replace")), codec, how
    best = charset_normalizer.from_bytes(data[:262144]).best()
    codec = _codec(best.encoding) if best is not None else None
    if codec is not None and codec != "utf-8":
        return _clean_text(data.decode(codec, errors="replace")), codec, "detected"
    return _clean_text(text), "utf-8", "fallback"


# ---------------------------------------------------------------------------- stage 4

# Ranks: lower is more trustworthy; the confidence is what we report for each source.
# "byline" is a date written in the article's header (above or beside the <h1>);
# "htmldate-unbacked" is htmldate's answer when no article-level signal says the same day:
# it also reads sidebars and "latest news" lists, so it ranks below the text's own date.
_RANK = {"json-ld": 0, "meta": 1, "microdata": 2, "time": 2, "byline": 3, "json-ld-other": 4,
         "htmldate": 5, "url": 6, "text": 7, "htmldate-unbacked": 8}  # fmt: skip
_CONFIDENCE = {"json-ld": 0.95, "meta": 0.9, "microdata": 0.85, "time": 0.8, "byline": 0.75,
               "json-ld-other": 0.65, "htmldate": 0.6, "url": 0.5, "text": 0.4,
               "htmldate-unbacked": 0.3}  # fmt: skip

_META_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "datepublished",
    "date.published",
    "article.published",
    "published_time",
    "publish-date",
    "publish_date",
    "publishdate",
    "pubdate",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "sailthru.date",
    "parsely-pub-date",
)
_ARTICLE_TYPES = {
    "newsarticle", "article", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
    "socialmediaposting", "report", "scholarlyarticle", "liveblogposting",
}  # fmt: skip
_JSONLD_DATE = re.compile(r'"datePublished"\s*:\s*"([^"]+)"')

# Where a date belongs to something other than the page's own article.
_NOT_MAIN = re.compile(
    r"side|related|teaser|widget|popular|recommend|more-?news|latest|also|most-?read|"
    r"read-?more|comment|footer|promo|banner|rail|carousel|similar|news-?list|newsfeed|"
    r"trending|other",
    re.IGNORECASE,
)
_NOT_MAIN_TAGS = {"aside", "nav", "footer"}

_URL_DATE = re.compile(
    r"(?<![0-9])((?:19|20)[0-9]{2})(?:([/_.-])([01]?[0-9])\2([0-3]?[0-9])|([01][0-9])([0-3][0-9]))"
    r"(?![0-9])"
)  # /2021/09/15/, 2021-9-3, or a compact 20210915 (eight digits, never a shorter id)

_RU_MONTHS = "января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
_KK_MONTHS = "қаңтар|ақпан|наурыз|сәуір|мамыр|маусым|шілде|тамыз|қыркүйек|қазан|қараша|желтоқсан"
_EN_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_MONTHS = f"{_RU_MONTHS}|{_KK_MONTHS}|{_EN_MONTHS}"
# Kazakh case suffixes on a month ("қыркүйекте", "қыркүйектің") are letters after the stem.
_TEXT_DATES = (
    # "2021 жылғы 15 қыркүйек" (Kazakh year-first)
    re.compile(
        rf"(?P<year>(?:19|20)\d\d)\s*(?:ж\.|жылғы|жылы)?\s+(?P<day>[0-3]?\d)\s+(?P<month>{_KK_MONTHS})\w*",
        re.IGNORECASE,
    ),
    # "2 сентября 2021 г.", "15 қыркүйек 2021 ж.", "2 қыркүйекте", "2 September 2021"
    re.compile(
        rf"(?<!\d)(?P<day>[0-3]?\d)\s+(?P<month>{_MONTHS})\w*(?:,?\s+(?P<year>(?:19|20)\d\d))?",
        re.IGNORECASE,
    ),
    # "September 2, 2021"
    re.compile(
        rf"(?P<month>{_EN_MONTHS})\s+(?P<day>[0-3]?\d),?\s+(?P<year>(?:19|20)\d\d)", re.IGNORECASE
    ),
    # "02.09.2021"
    re.compile(
        r"(?<![\d.])(?P<day>[0-3]?\d)\.(?P<month>[01]?\d)\.(?P<year>(?:19|20)\d\d)(?![\d.])"
    ),
)


def _stated_day(value: str) -> dt.date | None:
    """The calendar day a timestamp states, in its own zone: never converted.

    2020-09-20T23:32+03:00 is the 20th: that is the day the page says it was published
    (an Almaty reader saw the 21st, which `worker.judge.dates` allows for).
    """
    value = value.strip()
    if not value:
        return None
    moment: dt.datetime | None
    try:
        moment = dt.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        try:
            moment = dateutil_parser.parse(value)
        except (ValueError, OverflowError):
            return None
    return moment.date()


def _iter_jsonld(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _iter_jsonld(item)
    elif isinstance(node, dict):
        yield node
        for key in ("@graph", "mainEntity", "mainEntityOfPage"):
            if key in node:
                yield from _iter_jsonld(node[key])


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type", [])
    kinds = kind if isinstance(kind, list) else [kind]
    return {str(k).lower() for k in kinds}


def _own_url(node: dict[str, Any], url: str) -> bool | None:
    """Does an article node say it is this page? None when it names no URL at all."""
    named = node.get("url") or node.get("@id") or node.get("mainEntityOfPage")
    if isinstance(named, dict):
        named = named.get("@id") or named.get("url")
    if not isinstance(named, str) or "/" not in named:
        return None

    def path(value: str) -> str:
        return value.split("://", 1)[-1].split("#", 1)[0].split("?", 1)[0].rstrip("/").lower()

    return path(named) == path(url) or path(named).split("/", 1)[-1] == path(url).split("/", 1)[-1]


def _jsonld_signal(tree: HtmlElement, url: str) -> DateSignal | None:
    """datePublished from JSON-LD: the page's own article's, else any other node's.

    The page's own article is an Article-typed node that names this URL, or names none
    while being the only article node; an ItemList of teasers, a WebPage, a Breadcrumb
    or another article's node dates something else, and gets a lower rank.
    """
    articles: list[tuple[bool | None, str]] = []
    others: list[str] = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        raw = script.text or ""
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            # broken JSON-LD is common (trailing commas, HTML inside strings)
            others.extend(m.group(1) for m in _JSONLD_DATE.finditer(raw))
            continue
        for node in _iter_jsonld(data):
            value = node.get("datePublished")
            if not isinstance(value, str):
                continue
            if _types(node) & _ARTICLE_TYPES:
                articles.append((_own_url(node, url), value))
            else:
                others.append(value)
    own = [v for named, v in articles if named is True]
    if not own and len(articles) == 1 and articles[0][0] is None:
        own = [articles[0][1]]
    not_own = [v for named, v in articles if v not in own]
    for values, source, kind in (
        (own, "json-ld:datePublished", "json-ld"),
        (not_own + others, "json-ld-other:datePublished", "json-ld-other"),
    ):
        for value in values:
            day = _stated_day(value)
            if day is not None:
                return DateSignal(day, source, _CONFIDENCE[kind], value)
    return None


def _meta_signal(tree: HtmlElement) -> DateSignal | None:
    values: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        content = meta.get("content")
        if key in _META_KEYS and content and key not in values:
            values[key] = content
    for key in _META_KEYS:
        if key in values:
            day = _stated_day(values[key])
            if day is not None:
                return DateSignal(day, f"meta:{key}", _CONFIDENCE["meta"], values[key])
    return None


def _outside_main(element: HtmlElement) -> bool:
    """True when the element sits in a sidebar, teaser list, footer, comments …"""
    for node in element.iterancestors():
        if not isinstance(node.tag, str):
            continue
        if node.tag in _NOT_MAIN_TAGS:
            return True
        marks = f"{node.get('class', '')} {node.get('id', '')}"
        if marks.strip() and _NOT_MAIN.search(marks):
            return True
    return False


def _main_container(tree: HtmlElement) -> HtmlElement | None:
    """The element holding the page's own article: the biggest <article>, else <main>."""
    articles = [a for a in tree.iter("article") if not _outside_main(a)]
    if articles:
        return max(articles, key=lambda a: len(a.text_content()))
    body = tree.xpath('//*[@itemprop="articleBody"]')
    if body:
        parent = body[0].getparent()
        return parent if parent is not None else body[0]
    main = tree.xpath('//main | //*[@role="main"]')
    return main[0] if main else None


def _in_nested_article(element: HtmlElement, container: HtmlElement) -> bool:
    for node in element.iterancestors():
        if node is container:
            return False
        if node.tag == "article":
            return True
    return False


def _article_time_signal(tree: HtmlElement) -> DateSignal | None:
    container = _main_container(tree)
    scope = container if container is not None else tree

    def usable(el: HtmlElement) -> bool:
        if _outside_main(el):
            return False
        return container is None or not _in_nested_article(el, container)

    queries: list[tuple[str, str, str]] = [
        ('.//*[@itemprop="datePublished"][@datetime or @content]', "microdata:datePublished",
         "microdata"),
        (".//time[@datetime][@pubdate]", "time:pubdate", "time"),
    ]  # fmt: skip
    if container is not None:
        # a bare <time> only counts inside the article itself: elsewhere it dates teasers
        queries.append((".//time[@datetime]", "time:article", "time"))
    for query, source, kind in queries:
        for el in scope.xpath(query):
            if not usable(el):
                continue
            raw = el.get("datetime") or el.get("content") or ""
            day = _stated_day(raw)
            if day is not None:
                return DateSignal(day, source, _CONFIDENCE[kind], raw)
    return None


def _url_signal(url: str) -> DateSignal | None:
    path = url.split("://", 1)[-1].split("/", 1)[-1] if "/" in url else ""
    for match in _URL_DATE.finditer(path):
        year, _sep, month, day, compact_month, compact_day = match.groups()
        month, day = month or compact_month, day or compact_day
        try:
            found = dt.date(int(year), int(month), int(day))
        except ValueError:
            continue
        return DateSignal(found, "url", _CONFIDENCE["url"], match.group(0))
    return None


_parsers = threading.local()


def _date_parser() -> DateDataParser:
    # dateparser.parse() builds a parser (and loads its locales) on every call: ~3 ms of a
    # ~15 ms extraction. One per thread, since we do not rely on it being thread-safe.
    parser: DateDataParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = DateDataParser(
            languages=["ru", "kk", "en"], settings={"REQUIRE_PARTS": ["day", "month", "year"]}
        )
    return parser


def written_date_signal(
    lead: str, fallback_year: int | None, source: str = "text:lead"
) -> DateSignal | None:
    """The first date written in the lead, in Russian, Kazakh or English."""
    hits: list[tuple[int, re.Match[str]]] = []
    for pattern in _TEXT_DATES:
        match = pattern.search(lead)
        if match:
            hits.append((match.start(), match))
    for _pos, match in sorted(hits, key=lambda h: h[0]):
        day, month, year = match.group("day"), match.group("month"), match.group("year")
        if year is None:
            if fallback_year is None:
                continue
            year = str(fallback_year)
        if month.isdigit():
            try:
                found: dt.date | None = dt.date(int(year), int(month), int(day))
            except ValueError:
                found = None
        else:
            parsed = _date_parser().get_date_data(f"{day} {month} {year}").date_obj
            found = parsed.date() if parsed is not None else None
        if found is not None:
            kind = source.split(":", 1)[0]
            return DateSignal(found, source, _CONFIDENCE[kind], match.group(0))
    return None


_BYLINE_MARKS = re.compile(
    r"date|time|byline|meta|posted|publish|dateline|stamp|created|info|kun|uaqyt|data",
    re.IGNORECASE,
)
_ISO_DAY = re.compile(r"(?<!\d)((?:19|20)\d\d)-([01]\d)-([0-3]\d)(?!\d)")


def _byline_text(tree: HtmlElement, h1: HtmlElement | None) -> str:
    """What the article's header says around its <h1>: the date line above it, the byline
    below it. Never sidebars, teaser lists or footers (`_outside_main`)."""
    pieces: list[str] = []
    if h1 is not None:
        scope: HtmlElement | None = h1
        for _ in range(3):  # the h1's header block: a few levels up is enough
            parent = scope.getparent() if scope is not None else None
            if parent is None or parent.tag in ("body", "html"):
                break
            scope = parent
        near = [el for el in (h1.getprevious(), h1.getnext()) if el is not None]
    else:
        scope, near = _main_container(tree), []
    if scope is None:
        return ""
    marked = [
        el
        for el in scope.iter()
        if isinstance(el.tag, str)
        and el.tag not in ("script", "style", "a", "nav")
        and _BYLINE_MARKS.search(f"{el.get('class', '')} {el.get('id', '')}")
    ]
    for el in [*near, *marked]:
        if not isinstance(el.tag, str) or _outside_main(el):
            continue
        text = " ".join(el.text_content().split())
        # a date line is short; the paragraph after the <h1> is the lead, not a byline
        limit = 80 if el in near and el not in marked else 200
        if 0 < len(text) <= limit and text not in pieces:
            pieces.append(text)
    return " · ".join(pieces)


def _byline_signal(
    tree: HtmlElement, h1: HtmlElement | None, year: int | None
) -> DateSignal | None:
    text = _byline_text(tree, h1)
    if not text:
        return None
    written = written_date_signal(text, year, "byline:text")
    iso = _ISO_DAY.search(text)
    if iso is not None and (written is None or iso.start() < text.find(written.raw)):
        try:
            day = dt.date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        except ValueError:
            return written
        return DateSignal(day, "byline:text", _CONFIDENCE["byline"], iso.group(0))
    return written


def _htmldate_signal(
    tree: HtmlElement,
    url: str,
    found: str | None,
    backers: list[DateSignal],
    options: ExtractOptions,
) -> DateSignal | None:
    """htmldate's answer (fast mode, else its extensive search), ranked by its backing.

    htmldate also reads sidebars and "latest news" lists; its date counts as an article
    date only when an article-level signal (JSON-LD, meta, <time> in the article, the
    byline, the URL) says the same day. Unbacked, it ranks below the text's own date.
    """
    how = ""
    if not found:
        try:
            found = find_date(
                tree,
                url=url,
                original_date=True,
                extensive_search=True,
                min_date=options.min_date.isoformat(),
                max_date=options.max_date.isoformat() if options.max_date else None,
            )
        except Exception:  # htmldate bugs must not lose the page
            logger.warning("%s: htmldate failed", url, exc_info=True)
            found = None
        how = ":extensive"
    if not found:
        return None
    try:
        day = dt.date.fromisoformat(str(found)[:10])
    except ValueError:
        return None
    backed = any(b.date == day for b in backers)
    if not backed and (day.month, day.day) == (1, 1):
        return None  # htmldate's year-only guess (a copyright year) dates nothing
    kind = "htmldate" if backed else "htmldate-unbacked"
    return DateSignal(day, f"{kind}{how}", _CONFIDENCE[kind], str(found))


def _family(signal: DateSignal) -> str:
    return signal.source.split(":", 1)[0]


def _rank(signal: DateSignal) -> int:
    return _RANK[_family(signal)]


def choose_date(candidates: list[DateSignal]) -> tuple[DateSignal | None, str]:
    """The publication date among the candidates, and the rule that chose it.

    1. the page's own article JSON-LD (`json-ld`) wins: it is the CMS's own record;
    2. otherwise, when the best-ranked signal is another JSON-LD node's date and two other
       kinds of signal agree on a different day (htmldate and the URL, say), the agreeing
       day wins: a WebPage or teaser node dates something else;
    3. otherwise the best-ranked signal (`_RANK`).
    """
    if not candidates:
        return None, "no candidate"
    ordered = sorted(candidates, key=_rank)
    top = ordered[0]
    if len(candidates) == 1:
        return top, f"only signal ({top.source})"
    if _family(top) == "json-ld":
        return top, "the page's own article JSON-LD"
    if _family(top) == "json-ld-other":
        support: dict[dt.date, set[str]] = {}
        for c in ordered[1:]:
            if c.date != top.date and _family(c) != "htmldate-unbacked":
                support.setdefault(c.date, set()).add(_family(c).split("-", 1)[0])
        agreed = [day for day, kinds in support.items() if len(kinds) >= 2]
        if agreed:
            best = next(c for c in ordered if c.date in agreed)
            kinds = " and ".join(sorted(support[best.date]))
            return best, (
                f"{kinds} agree on {best.date.isoformat()} against {top.source} "
                f"({top.date.isoformat()}), which is not this page's article"
            )
    return top, f"highest-ranked signal ({top.source})"


# ---------------------------------------------------------------------------- stage 6

_LOGIN_WORDS = re.compile(
    r"\b(?:войти|вход|войдите|log\s?in|sign\s?in|кіру|жүйеге кіру)\b", re.IGNORECASE
)


def _has_login_form(tree: HtmlElement, text_chars: int, options: ExtractOptions) -> bool:
    """A login form that is the page's main content: password field or a "Войти" form on a
    page with little text. News sites with a login modal in a long article do not count."""
    if text_chars >= options.login_max_text_chars:
        return False
    passwords = tree.xpath('//input[translate(@type, "PASSWORD", "password")="password"]')
    if any(not _in_chrome(el) for el in passwords):
        return True
    for form in tree.iter("form"):
        # a "log in to comment" box under an article is not a login wall
        if _in_chrome(form) or _outside_main(form) or not form.xpath(".//input"):
            continue
        labels = " ".join(
            [form.text_content()]
            + [el.get("value", "") for el in form.xpath(".//input[@type='submit']")]
            + [form.get("action", ""), form.get("id", "")]
        )
        if _LOGIN_WORDS.search(labels) or re.search(r"login", labels, re.IGNORECASE):
            return True
    return False


def _in_chrome(element: HtmlElement) -> bool:
    """Site chrome (top bar, nav, footer): a login box there is not the page's content."""
    return any(
        isinstance(node.tag, str) and node.tag in {"header", "nav", "footer"}
        for node in element.iterancestors()
    )


# ---------------------------------------------------------------------------- helpers

_KK_LETTERS = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
_CYRILLIC = re.compile(r"[а-яёА-ЯЁәғқңөұүһіӘҒҚҢӨҰҮҺІ]")
_LATIN = re.compile(r"[A-Za-z]")


def _language(text: str, tree: HtmlElement) -> str | None:
    """ru / kk from the letters when there is enough text, else the page's declared lang."""
    sample = text[:5000]
    cyr, lat = len(_CYRILLIC.findall(sample)), len(_LATIN.findall(sample))
    if cyr + lat >= 200 and cyr > lat:
        # Kazakh-only letters are ~5% of Kazakh text and absent from Russian
        return "kk" if len(_KK_LETTERS.findall(sample)) > 0.01 * cyr else "ru"
    declared = tree.get("lang") or tree.get("xml:lang")
    if not declared:
        hits = tree.xpath(
            '//meta[@http-equiv="content-language" or @property="og:locale"]/@content'
        )
        declared = str(hits[0]) if hits else None
    if declared:
        return declared.strip().replace("_", "-").split("-")[0].lower() or None
    return None


def _excerpt(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + "…"


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


# ---------------------------------------------------------------------------- extract


def _metadata(tree: HtmlElement, url: str, options: ExtractOptions) -> Document:
    """trafilatura's `extract_metadata`, less what nothing here reads (categories, tags,
    licence: ~10% of its time), and htmldate in its fast mode."""
    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None  # trafilatura's own rule: a one-word "author" is a site name
    try:
        meta = extract_meta_json(tree, meta)
    except Exception:  # bugs in trafilatura's JSON-LD reader
        logger.warning("%s: JSON-LD metadata failed", url, exc_info=True)
    meta.title = meta.title or extract_title(tree)
    meta.author = meta.author or extract_author(tree)
    meta.url = meta.url or extract_url(tree, url)
    meta.date = find_date(
        tree,
        url=meta.url or url,
        original_date=True,
        extensive_search=False,
        min_date=options.min_date.isoformat(),
        max_date=options.max_date.isoformat() if options.max_date else None,
    )
    meta.sitename = meta.sitename or extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
    meta.clean_and_trim()
    return meta


def _body(tree: HtmlElement, url: str, options: ExtractOptions) -> tuple[str, str | None, str]:
    """The main text → (text, failure or None, which pass found it).

    A precise pass first (no boilerplate, no menus); when it finds too little, the pass
    plain trafilatura makes (its readability/jusText fallbacks), then one that favours
    recall: a page with readable text is never reported as having none.
    """
    # (name, fast, favor_precision, favor_recall)
    passes = (
        ("precise", True, True, False),
        ("default", False, False, False),
        ("recall", False, False, True),
    )
    text, failure, used = "", None, "none"
    for name, fast, precision, recall in passes:
        try:
            doc = bare_extraction(
                tree,
                url=url,
                include_comments=False,
                include_tables=options.include_tables,
                with_metadata=False,
                deduplicate=False,
                fast=fast,
                favor_precision=precision,
                favor_recall=recall,
            )
        except Exception as exc:  # the reason is recorded, not swallowed
            logger.warning("%s: body extraction (%s) raised", url, name, exc_info=True)
            failure = f"body extraction raised {type(exc).__name__}: {exc}"
            continue
        found = (doc.text or "").strip() if doc is not None and not isinstance(doc, dict) else ""
        if len(found) > len(text):
            text, used = found, name
        if len(text) >= options.min_text_chars:
            return _clean_text(text), None, used
    if not text:
        return "", failure or "no main text found (trafilatura found no article body)", used
    return (
        _clean_text(text),
        f"main text too short ({len(text)} < {options.min_text_chars} characters)",
        used,
    )


def _published_at(signal: DateSignal | None) -> str | None:
    """The chosen signal's timestamp, when it is one (a time of day, maybe an offset)."""
    if signal is None or len(signal.raw) <= 10:
        return None
    try:
        dt.datetime.fromisoformat(signal.raw.strip().replace("z", "Z"))
    except ValueError:
        return None
    return signal.raw.strip()


def extract(
    html: bytes, *, url: str, charset: str | None = None, options: ExtractOptions
) -> ExtractedPage | ExtractionFailure:
    """Decode, parse and extract one page; never returns None, never raises on bad HTML."""
    # 1 cap and decode (a letter cut by the cap is dropped by the decoder)
    if len(html) > options.max_html_bytes:
        logger.info("%s: HTML cut from %d to %d bytes", url, len(html), options.max_html_bytes)
        html = html[: options.max_html_bytes]
    if not html.strip():
        return ExtractionFailure(reason="empty document")
    source, codec, how = decode_html(html, charset)

    # 2 parse, once: trafilatura, htmldate and our own signals all read this tree
    tree = load_html(_XML_DECL.sub("", source, count=1))
    if tree is None:
        return ExtractionFailure(reason="not parseable as HTML", charset=codec, charset_source=how)
    html_title = _clean(tree.findtext(".//title"))
    h1_el = _first_h1_element(tree)
    h1 = _clean(h1_el.text_content()) if h1_el is not None else None

    # 3 metadata, kept apart from the body (it must survive a body failure)
    try:
        meta = _metadata(tree, url, options)
    except Exception:  # trafilatura/htmldate bugs must not lose the page
        logger.warning("%s: metadata extraction failed", url, exc_info=True)
        meta = Document()

    # 5 body (before 4: the written-date signal reads the lead of the text)
    text, body_failure, _pass = _body(tree, url, options)

    # 4 dates: every candidate kept, with where it came from and the rule that chose
    article_level = [
        s
        for s in (
            _jsonld_signal(tree, url),
            _meta_signal(tree),
            _article_time_signal(tree),
            _url_signal(url),
        )
        if s is not None
    ]
    best = min(article_level, key=_rank) if article_level else None
    year = best.date.year if best else options.default_year
    byline = _byline_signal(tree, h1_el, year)
    if byline is not None:
        article_level.append(byline)
    generic = _htmldate_signal(tree, url, meta.date, article_level, options)
    lead_source = text or _visible_lead(tree, options.lead_chars)
    written = written_date_signal(lead_source[: options.lead_chars], year)
    candidates = [
        s
        for s in [*article_level, *([generic] if generic else []), *([written] if written else [])]
        if s.date >= options.min_date and (options.max_date is None or s.date <= options.max_date)
    ]
    chosen, date_choice = choose_date(candidates)
    published = chosen.date if chosen else None
    date_source = chosen.source if chosen else "none"
    if chosen is not None and any(s.date != chosen.date for s in candidates):
        logger.info(
            "%s: date signals disagree, %s: %s",
            url,
            date_choice,
            ", ".join(f"{s.source}={s.date}" for s in candidates),
        )

    # 6 login form
    has_login = _has_login_form(tree, len(text), options)

    title = _clean(meta.title) or html_title
    language = _language(text or lead_source, tree)
    # the facts both outcomes carry: a body failure keeps every one of them
    facts = PageFacts(
        title=title,
        author=_clean(meta.author),
        language=language,
        published=published,
        date_source=date_source,
        date_candidates=candidates,
        sitename=_clean(meta.sitename),
        description=_clean(meta.description),
        charset=codec,
        charset_source=how,
        html_title=html_title,
        has_login_form=has_login,
        h1=h1,
        published_at=_published_at(chosen),
        date_choice=date_choice,
    )
    if body_failure is not None:
        return ExtractionFailure(reason=body_failure, **facts.shared(text=text or None))
    return ExtractedPage(excerpt=_excerpt(text, options.excerpt_chars), **facts.shared(text=text))


def _first_h1_element(tree: HtmlElement) -> HtmlElement | None:
    """The first <h1> that is not in the header, nav or footer (a logo is often an h1)."""
    for el in tree.iter("h1"):
        if not _in_chrome(el):
            return el
    return None


def _visible_lead(tree: HtmlElement, chars: int) -> str:
    """Visible text of the main container (or body) when trafilatura found no body."""
    scope = _main_container(tree)
    if scope is None:
        bodies = tree.xpath("//body")
        scope = bodies[0] if bodies else tree
    parts: list[str] = []
    size = 0
    for node in scope.iter():
        if not isinstance(node.tag, str) or node.tag in {"script", "style", "noscript"}:
            continue
        for piece in (node.text, node.tail if node is not scope else None):
            if piece and piece.strip():
                parts.append(piece.strip())
                size += len(piece)
        if size >= chars:
            break
    return " ".join(parts)
