"""What extraction returns, and the options it takes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from worker.settings import Settings

__all__ = ["DateSignal", "ExtractOptions", "ExtractedPage", "ExtractionFailure", "PageFacts"]


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
    # `text`'s MinHash (worker.extract.shingles), signed where the page was read: the
    # report's same-text search then never signs it again on its own time
    signature: list[int] | None = None


@dataclass(kw_only=True)
class ExtractionFailure(PageFacts):
    """Why no main text came out, with whatever metadata was found before it failed."""

    reason: str
