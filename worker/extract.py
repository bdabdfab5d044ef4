"""Raw HTML bytes → `ExtractedPage` (text, title, dates, …) or `ExtractionFailure(reason)`.

Pipeline, each stage independent of the ones that can fail after it:

1. cap the bytes (`ExtractOptions.max_html_bytes`) and decode them ourselves: BOM, then
   the HTTP header charset, then `<meta charset>`/http-equiv, then strict UTF-8, then
   charset-normalizer. httpx ignores `<meta charset>`, and windows-1251 is common on
   Kazakh and Russian sites.
2. parse once with lxml (trafilatura's `load_html`).
3. metadata (`trafilatura.metadata.extract_metadata`, which runs htmldate's `find_date`
   with `original_date=True, extensive_search=False`), *separately* from the body:
   trafilatura's `bare_extraction` returns None for "too short", "duplicate",
   "blacklisted" … alike, and a page whose body fails still has a publication date.
4. date signals, each kept as a `DateSignal`, ranked by how much we trust the source:

       json-ld:datePublished  >  meta:article:published_time (and other meta keys)
       >  microdata:datePublished / time:pubdate / time:article (inside the main
          article, never in sidebars, teasers or nested related-article cards)
       >  htmldate  >  url (/2021/09/15/)  >  text:lead ("2 сентября 2021",
          "15 қыркүйек 2021", "2 қыркүйекте", read with dateparser: ru, kk, en)

   Timestamps that carry a zone are converted to `ExtractOptions.tz` (Asia/Almaty,
   UTC+6 in 2021) before taking the day: 2021-09-14T20:30:00Z is 2021-09-15 there.
5. body: `bare_extraction(fast=True, favor_precision=True)`: no heavy fallbacks
   (≈10-25 ms per real page).
6. login form as main content (password field or a "Войти"/"Log in" form on a page with
   little text) → `has_login_form`; `worker.classify` decides what that means.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import charset_normalizer
from dateparser.date import DateDataParser
from dateutil import parser as dateutil_parser
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.metadata import extract_metadata
from trafilatura.settings import Document
from trafilatura.utils import load_html

__all__ = [
    "DateSignal",
    "ExtractOptions",
    "ExtractedPage",
    "ExtractionFailure",
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
    tz: str = "Asia/Almaty"
    default_year: int | None = None
    """Year for a written date without one ("2 қыркүйекте") when no other signal gives one."""
    min_date: dt.date = dt.date(1995, 1, 1)
    max_date: dt.date | None = None
    """Signals after this day are dropped (pass the capture day; None: no upper bound)."""
    include_tables: bool = True


@dataclass(frozen=True)
class DateSignal:
    """One publication date candidate and where it came from."""

    date: dt.date
    source: str
    confidence: float
    raw: str = ""


@dataclass
class ExtractedPage:
    text: str
    title: str | None
    author: str | None
    language: str | None
    published: dt.date | None
    date_source: str
    """The signal that decided `published` (e.g. "json-ld:datePublished"), or "none"."""
    date_candidates: list[DateSignal]
    sitename: str | None
    description: str | None
    charset: str
    html_title: str | None
    has_login_form: bool
    excerpt: str
    charset_source: str = ""
    h1: str | None = None
    """The first <h1> outside site chrome: soft-404 templates put "Страница не найдена" here."""


class _PageFacts(TypedDict):
    """What ExtractedPage and ExtractionFailure share."""

    title: str | None
    author: str | None
    language: str | None
    published: dt.date | None
    date_source: str
    date_candidates: list[DateSignal]
    sitename: str | None
    description: str | None
    charset: str
    charset_source: str
    html_title: str | None
    has_login_form: bool
    h1: str | None


@dataclass
class ExtractionFailure:
    """Why no main text came out, with whatever metadata was found before it failed."""

    reason: str
    title: str | None = None
    text: str | None = None
    """A too-short text, kept for soft-404 and login-wall rules; never the main text."""
    author: str | None = None
    language: str | None = None
    published: dt.date | None = None
    date_source: str = "none"
    date_candidates: list[DateSignal] = field(default_factory=list)
    sitename: str | None = None
    description: str | None = None
    charset: str | None = None
    html_title: str | None = None
    has_login_form: bool = False
    charset_source: str = ""
    h1: str | None = None


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


def decode_html(data: bytes, charset: str | None = None) -> tuple[str, str, str]:
    """Decode HTML bytes → (text, codec used, how it was chosen)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace").lstrip("\ufeff"), name, "bom"
    declared = [(_codec(charset), "header")]
    match = _META_CHARSET.search(data[:8192])
    declared.append((_codec(match.group(1).decode("ascii")) if match else None, "meta"))
    if any(c not in (None, "utf-8") for c, _how in declared) and not data.isascii():
        # servers that default to windows-1251 while the CMS writes UTF-8: valid multi-byte
        # UTF-8 does not occur by chance in Cyrillic single-byte text, so UTF-8 wins
        try:
            return data.decode("utf-8"), "utf-8", "utf-8 (declared charset ignored)"
        except UnicodeDecodeError:
            pass
    for codec, how in declared:
        if codec is None:
            continue
        try:
            return data.decode(codec), codec, how
        except UnicodeDecodeError:
            # a wrong declaration (utf-8 header on cp1251 bytes) is common: try the next
            logger.info("declared %s charset %s does not decode the page", how, codec)
    try:
        return data.decode("utf-8"), "utf-8", "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[:262144]).best()
    codec = _codec(best.encoding) if best is not None else None
    if codec is not None:
        return data.decode(codec, errors="replace"), codec, "detected"
    return data.decode("utf-8", errors="replace"), "utf-8", "fallback"


# ---------------------------------------------------------------------------- stage 4

# Ranks: lower is more trustworthy; the confidence is what we report for each source.
_RANK = {"json-ld": 0, "meta": 1, "microdata": 2, "time": 2, "htmldate": 3, "url": 4, "text": 5}
_CONFIDENCE = {"json-ld": 0.95, "meta": 0.9, "microdata": 0.85, "time": 0.8, "htmldate": 0.6,
               "url": 0.5, "text": 0.4}  # fmt: skip

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


@lru_cache(maxsize=4)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_day(value: str, tz: str) -> dt.date | None:
    """The calendar day of a timestamp string in `tz`; a naive timestamp keeps its own day."""
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
    if moment.tzinfo is not None:
        moment = moment.astimezone(_zone(tz))
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


def _jsonld_signal(tree: HtmlElement, tz: str) -> DateSignal | None:
    found: list[tuple[bool, str]] = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        raw = script.text or ""
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            # broken JSON-LD is common (trailing commas, HTML inside strings)
            found.extend((False, m.group(1)) for m in _JSONLD_DATE.finditer(raw))
            continue
        for node in _iter_jsonld(data):
            value = node.get("datePublished")
            if isinstance(value, str):
                found.append((bool(_types(node) & _ARTICLE_TYPES), value))
    found.sort(key=lambda item: not item[0])  # article types first, stable otherwise
    for _is_article, value in found:
        day = _local_day(value, tz)
        if day is not None:
            return DateSignal(day, "json-ld:datePublished", _CONFIDENCE["json-ld"], value)
    return None


def _meta_signal(tree: HtmlElement, tz: str) -> DateSignal | None:
    values: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        content = meta.get("content")
        if key in _META_KEYS and content and key not in values:
            values[key] = content
    for key in _META_KEYS:
        if key in values:
            day = _local_day(values[key], tz)
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


def _article_time_signal(tree: HtmlElement, tz: str) -> DateSignal | None:
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
            day = _local_day(raw, tz)
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


def _text_signal(lead: str, fallback_year: int | None) -> DateSignal | None:
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
            return DateSignal(found, "text:lead", _CONFIDENCE["text"], match.group(0))
    return None


def _htmldate_signal(meta: Document) -> DateSignal | None:
    if not meta.date:
        return None
    try:
        found = dt.date.fromisoformat(str(meta.date)[:10])
    except ValueError:
        return None
    return DateSignal(found, "htmldate", _CONFIDENCE["htmldate"], str(meta.date))


def _pick(signals: list[DateSignal]) -> DateSignal | None:
    def rank(signal: DateSignal) -> int:
        return _RANK[signal.source.split(":", 1)[0]]

    return min(signals, key=rank) if signals else None


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


def extract(
    html: bytes, *, url: str, charset: str | None = None, options: ExtractOptions
) -> ExtractedPage | ExtractionFailure:
    """Decode, parse and extract one page; never returns None, never raises on bad HTML."""
    # 1 cap and decode
    if len(html) > options.max_html_bytes:
        logger.info("%s: HTML cut from %d to %d bytes", url, len(html), options.max_html_bytes)
        html = html[: options.max_html_bytes]
    if not html.strip():
        return ExtractionFailure(reason="empty document")
    source, codec, how = decode_html(html, charset)

    # 2 parse
    tree = load_html(_XML_DECL.sub("", source, count=1))
    if tree is None:
        return ExtractionFailure(reason="not parseable as HTML", charset=codec, charset_source=how)
    html_title = _clean(tree.findtext(".//title"))
    h1 = _first_h1(tree)

    # 3 metadata, kept apart from the body (it must survive a body failure)
    date_config: dict[str, Any] = {"original_date": True, "extensive_search": False}
    if options.max_date is not None:
        date_config["max_date"] = options.max_date.isoformat()
    try:
        meta = extract_metadata(tree, default_url=url, date_config=date_config, extensive=False)
    except Exception:  # trafilatura/htmldate bugs must not lose the page
        logger.warning("%s: metadata extraction failed", url, exc_info=True)
        meta = Document()

    # 5 body (before 4: the written-date signal reads the lead of the text)
    text = ""
    body_failure: str | None = None
    try:
        doc = bare_extraction(
            tree,
            url=url,
            fast=True,
            favor_precision=True,
            include_comments=False,
            include_tables=options.include_tables,
            with_metadata=False,
            deduplicate=False,
        )
    except Exception as exc:  # the reason is recorded, not swallowed
        logger.warning("%s: body extraction raised", url, exc_info=True)
        doc, body_failure = None, f"body extraction raised {type(exc).__name__}: {exc}"
    if doc is not None and not isinstance(doc, dict):
        text = (doc.text or "").strip()
    if body_failure is None and not text:
        body_failure = "no main text found (trafilatura found no article body)"
    elif body_failure is None and len(text) < options.min_text_chars:
        body_failure = f"main text too short ({len(text)} < {options.min_text_chars} characters)"

    # 4 dates
    structured = [
        s
        for s in (
            _jsonld_signal(tree, options.tz),
            _meta_signal(tree, options.tz),
            _article_time_signal(tree, options.tz),
            _htmldate_signal(meta),
            _url_signal(url),
        )
        if s is not None
    ]
    lead_source = text or _visible_lead(tree, options.lead_chars)
    best_structured = _pick(structured)
    year = best_structured.date.year if best_structured else options.default_year
    written = _text_signal(lead_source[: options.lead_chars], year)
    candidates = [
        s
        for s in [*structured, *([written] if written else [])]
        if s.date >= options.min_date and (options.max_date is None or s.date <= options.max_date)
    ]
    chosen = _pick(candidates)
    published = chosen.date if chosen else None
    date_source = chosen.source if chosen else "none"
    if chosen is not None and any(s.date != chosen.date for s in candidates):
        logger.info(
            "%s: date signals disagree, %s chose %s: %s",
            url,
            date_source,
            published,
            ", ".join(f"{s.source}={s.date}" for s in candidates),
        )

    # 6 login form
    has_login = _has_login_form(tree, len(text), options)

    title = _clean(meta.title) or html_title
    language = _language(text or lead_source, tree)
    # the facts both outcomes carry: a body failure keeps every one of them
    facts = _PageFacts(
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
    )
    if body_failure is not None:
        return ExtractionFailure(reason=body_failure, text=text or None, **facts)
    return ExtractedPage(text=text, excerpt=_excerpt(text, options.excerpt_chars), **facts)


def _first_h1(tree: HtmlElement) -> str | None:
    """The first <h1> that is not in the header, nav or footer (a logo is often an h1)."""
    for el in tree.iter("h1"):
        if not _in_chrome(el):
            return _clean(el.text_content())
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
