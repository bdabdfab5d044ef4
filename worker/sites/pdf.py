"""PDF sources (court rulings, official letters): text with pypdf, dates checked like pages.

The date a ruling carries is written in its first lines ("15 сентября 2021 года",
"15.09.2021"); that written date ranks above the file's /CreationDate, which is only
when someone exported the document.
"""

from __future__ import annotations

import datetime as dt
import io
import logging

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from worker.extract.page import DateSignal, ExtractedPage, ExtractionFailure, ExtractOptions
from worker.extract.page import written_date_signal as text_date_signal  # the pages' rule

log = logging.getLogger(__name__)

PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
MAX_PAGES = 200


def is_pdf(content_type: str, data: bytes) -> bool:
    return content_type in PDF_TYPES or data[:5] == b"%PDF-"


def extract_pdf(
    data: bytes, *, url: str, options: ExtractOptions | None = None
) -> ExtractedPage | ExtractionFailure:
    options = options or ExtractOptions()
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = reader.pages[:MAX_PAGES]
        text = "\n".join((page.extract_text() or "").strip() for page in pages).strip()
        meta = reader.metadata
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        log.info("%s: PDF not readable: %s", url, exc)
        return ExtractionFailure(reason=f"PDF not readable: {type(exc).__name__}: {exc}")
    title = (meta.title if meta is not None else None) or None
    author = (meta.author if meta is not None else None) or None
    signals: list[DateSignal] = []
    written = text_date_signal(text[: options.lead_chars], options.default_year)
    if written is not None:
        signals.append(DateSignal(written.date, "pdf:text", written.confidence, written.raw))
    created = meta.creation_date if meta is not None else None
    if isinstance(created, dt.datetime):
        signals.append(DateSignal(created.date(), "pdf:CreationDate", 0.5, created.isoformat()))
    chosen = signals[0] if signals else None
    if len(text) < options.min_text_chars:
        return ExtractionFailure(
            reason=f"PDF text too short ({len(text)} characters; a scan without OCR?)",
            title=title,
            text=text or None,
            author=author,
            published=chosen.date if chosen else None,
            date_source=chosen.source if chosen else "none",
            date_candidates=signals,
        )
    return ExtractedPage(
        text=text,
        title=title or text.splitlines()[0][:200],
        author=author,
        language=None,
        published=chosen.date if chosen else None,
        date_source=chosen.source if chosen else "none",
        date_candidates=signals,
        sitename=None,
        description=None,
        charset="pdf",
        html_title=None,
        has_login_form=False,
        excerpt=text[: options.excerpt_chars],
    )
