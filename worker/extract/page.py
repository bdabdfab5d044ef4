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

import datetime as dt
import logging
import re

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

from worker.extract.charset import XML_DECL, clean_text, decode_html
from worker.extract.dates import (
    article_time_signal,
    byline_signal,
    choose_date,
    htmldate_signal,
    jsonld_signal,
    meta_signal,
    rank,
    url_signal,
    written_date_signal,
)
from worker.extract.facts import (
    DateSignal,
    ExtractedPage,
    ExtractionFailure,
    ExtractOptions,
    PageFacts,
)
from worker.extract.regions import first_h1, in_chrome, outside_main, visible_lead

__all__ = [
    "DateSignal",
    "ExtractOptions",
    "ExtractedPage",
    "ExtractionFailure",
    "PageFacts",
    "decode_html",
    "extract",
    "written_date_signal",
]

logger = logging.getLogger(__name__)


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
    if any(not in_chrome(el) for el in passwords):
        return True
    for form in tree.iter("form"):
        # a "log in to comment" box under an article is not a login wall
        if in_chrome(form) or outside_main(form) or not form.xpath(".//input"):
            continue
        labels = " ".join(
            [form.text_content()]
            + [el.get("value", "") for el in form.xpath(".//input[@type='submit']")]
            + [form.get("action", ""), form.get("id", "")]
        )
        if _LOGIN_WORDS.search(labels) or re.search(r"login", labels, re.IGNORECASE):
            return True
    return False


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
            return clean_text(text), None, used
    if not text:
        return "", failure or "no main text found (trafilatura found no article body)", used
    return (
        clean_text(text),
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
    tree = load_html(XML_DECL.sub("", source, count=1))
    if tree is None:
        return ExtractionFailure(reason="not parseable as HTML", charset=codec, charset_source=how)
    html_title = _clean(tree.findtext(".//title"))
    h1_el = first_h1(tree)
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
            jsonld_signal(tree, url),
            meta_signal(tree),
            article_time_signal(tree),
            url_signal(url),
        )
        if s is not None
    ]
    best = min(article_level, key=rank) if article_level else None
    year = best.date.year if best else options.default_year
    byline = byline_signal(tree, h1_el, year)
    if byline is not None:
        article_level.append(byline)
    lead_source = text or visible_lead(tree, options.lead_chars)
    written = written_date_signal(lead_source[: options.lead_chars], year)
    # htmldate's extensive search (its slowest part) can only decide when nothing else
    # dates the page: unbacked, it ranks below the text's date and every article signal
    generic = htmldate_signal(
        tree, url, meta.date, article_level, options,
        extensive=not article_level and written is None,
    )  # fmt: skip
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
