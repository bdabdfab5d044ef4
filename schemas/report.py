"""report.json: the verification report auditors read (DESIGN.md contract)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from schemas.capture import Capture
from schemas.common import Model, Problem
from schemas.evidence import (
    DateCandidate,
    DateCheck,
    NamesCheck,
    ProbeResult,
    RedirectHop,
    VantageSeen,
)
from schemas.linkrot import ArchivedCopy, Attachment, Screenshot, SourceHealth
from schemas.source import SourceStatus


class Verdict(StrEnum):
    VERIFIED = "verified"
    NEEDS_REVIEW = "needs_review"
    BROKEN = "broken"
    UNSOURCED = "unsourced"


class Period(Model):
    first: dt.date | None
    last: dt.date | None


class DigestSummary(Model):
    id: str
    title: str
    period: Period
    counts: dict[str, int] = Field(
        description="incidents, footnotes, sources, captured, and one count per status and verdict"
    )
    generated_at: dt.datetime | None = None


class Citation(Model):
    footnote: int
    url: str
    canonical_url: str | None
    status: SourceStatus
    date_check: DateCheck
    names_check: NamesCheck
    attachments: list[Attachment] = Field(
        default_factory=list, description="files attached by hand to this footnote"
    )


class IncidentReport(Model):
    id: int
    line: int
    date: dt.date | None
    text: str
    footnotes: list[int]
    people: list[str]
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)


class SameText(Model):
    """Another URL we hold that tells the same story (a reprint, or the original)."""

    canonical_url: str
    similarity: float = Field(description="Jaccard of the two texts' word 5-gram shingles")
    status: SourceStatus | None = Field(default=None, description="that URL's status when captured")
    published: dt.date | None = None
    published_first: bool | None = Field(
        default=None, description="that copy was published before this one (null: unknown)"
    )
    in_digest: bool = Field(description="this digest cites it too")
    captured_at: dt.datetime | None = None
    replay_url: str | None = None


class SourceReport(Model):
    id: int
    footnotes: list[int]
    url: str
    canonical_url: str
    status: SourceStatus
    reason: str | None = None
    rule: str | None = Field(default=None, description="the classify rule that decided status")
    probe: ProbeResult | None = Field(default=None, description="the soft-404 sibling probe")
    http_status: int | None = None
    final_url: str | None = None
    redirects: list[RedirectHop] = Field(default_factory=list)
    title: str | None = None
    author: str | None = None
    language: str | None = None
    published: dt.date | None = None
    published_at: str | None = None
    date_source: str | None = None
    date_choice: str | None = None
    date_candidates: list[DateCandidate] = Field(default_factory=list)
    capture: Capture | None = None
    text_excerpt: str | None = None
    problems: list[Problem] = Field(default_factory=list)
    # link-rot watch (worker.capture.recheck): re-check history, copies elsewhere,
    # hand-made evidence
    health: SourceHealth | None = None
    fallbacks: list[ArchivedCopy] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    screenshot: Screenshot | None = None
    vantages: list[VantageSeen] = Field(
        default_factory=list, description="what each network path saw, when one was tried"
    )
    # the same story elsewhere (worker.judge.syndication, worker.report.syndicated)
    same_text: list[SameText] = Field(default_factory=list, description="most similar first")
    reprint: SameText | None = Field(
        default=None,
        description="for a dead, soft-404 or redirected-away source: a live copy of its "
        "archived text, offered as alternative evidence, never substituted",
    )


class Report(Model):
    digest: DigestSummary
    problems: list[Problem] = Field(default_factory=list)
    incidents: list[IncidentReport] = Field(default_factory=list)
    sources: list[SourceReport] = Field(default_factory=list)
