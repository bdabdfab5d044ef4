"""The parser's output: a digest's incidents, footnotes, unique sources and problems."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from schemas.common import Model, Problem
from schemas.source import Source


class FootnoteURL(Model):
    url: str = Field(description="as written in the digest")
    canonical_url: str | None = Field(description="null when the URL is not usable")
    line: int


class Footnote(Model):
    number: int
    line: int
    urls: list[FootnoteURL]


class Incident(Model):
    id: int = Field(description="1-based position in the digest")
    line: int
    date: dt.date | None = Field(description="the incident's own date (ISO)")
    dates_mentioned: list[dt.date] = Field(
        default_factory=list, description="other dates the text mentions, e.g. of a rally"
    )
    text: str
    footnotes: list[int]
    people: list[str] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)


class Digest(Model):
    id: str
    title: str
    year: int | None
    incidents: list[Incident]
    footnotes: list[Footnote]
    sources: list[Source]
    problems: list[Problem] = Field(default_factory=list)

    def source_for(self, canonical_url: str) -> Source | None:
        return next((s for s in self.sources if s.canonical_url == canonical_url), None)
