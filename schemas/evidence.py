"""What the verifier concluded about a source, and the facts behind each conclusion."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from schemas.common import Model, Problem
from schemas.source import SourceStatus


class DateVerdict(StrEnum):
    CONSISTENT = "consistent"
    PREDATES = "predates"
    LATE = "late"
    NO_DATE = "no_date"
    NOT_CHECKED = "not_checked"


class NamesVerdict(StrEnum):
    SUPPORTS = "supports"
    PARTIAL = "partial"
    ABSENT = "absent"
    NOT_CHECKED = "not_checked"


class DateCheck(Model):
    verdict: DateVerdict
    incident_dates: list[dt.date] = Field(default_factory=list)
    published: dt.date | None = None
    date_source: str | None = None
    rule: str = ""


class DateCandidate(Model):
    """One publication date a page offers, where it was found, and how far it is trusted."""

    date: dt.date = Field(description="the day as the page states it, in its own time zone")
    source: str = Field(description="e.g. json-ld:datePublished, meta:article:published_time")
    confidence: float
    raw: str = Field(default="", description="the value as written, e.g. 2021-09-14T23:32+03:00")


class NameMatch(Model):
    name: str
    found: bool
    matched: str | None = Field(default=None, description="the spelling found in the page")
    passage: str | None = None
    score: float | None = None


class NamesCheck(Model):
    verdict: NamesVerdict
    names: list[str] = Field(default_factory=list)
    found: list[str] = Field(default_factory=list)
    matches: list[NameMatch] = Field(default_factory=list)


class ProbeResult(Model):
    """The soft-404 sibling probe: a random path on the same host, fetched once per host.

    A site that answers an unknown path with the same page as the cited one (a 200 home
    page, a 200 "not found" template) makes the cited page a soft 404.
    """

    probe_url: str = Field(description="the random sibling URL that was fetched")
    probe_status: int | None = Field(default=None, description="its HTTP status (null: no answer)")
    score: float = Field(default=0.0, description="text similarity of the two pages, 0-100")
    similar: bool = Field(default=False, description="score at or above the threshold")
    threshold: float = 0.0


class RedirectHop(Model):
    url: str
    status: int
    location: str | None = None


class VantageSeen(Model):
    """What one network path saw of a source (worker.capture.vantage)."""

    vantage: str = Field(
        description="`here` (the worker's own path) or a SOURCEVAULT_VANTAGES name"
    )
    status: SourceStatus
    http_status: int | None = None
    reason: str
    used: bool = Field(default=False, description="the capture archived is this path's")


class Evidence(Model):
    """The facts about one fetched (or refused) source, independent of any incident."""

    status: SourceStatus
    reason: str = Field(
        description="why this status: the code, error, phrase or probe that decided"
    )
    error_kind: str | None = Field(
        default=None, description="the fetch failure's kind, e.g. name_not_resolved, read_timeout"
    )
    rule: str | None = Field(
        default=None, description="the worker.judge.rules rule that decided, e.g. soft_404_phrase"
    )
    probe: ProbeResult | None = Field(
        default=None, description="the soft-404 sibling probe, when one was compared"
    )
    http_status: int | None = None
    final_url: str | None = None
    redirects: list[RedirectHop] = Field(default_factory=list)
    peer_ip: str | None = None
    content_type: str | None = None
    title: str | None = None
    author: str | None = None
    language: str | None = None
    published: dt.date | None = Field(
        default=None, description="the day the page states, in its own zone (not converted)"
    )
    published_at: str | None = Field(
        default=None, description="the timestamp behind `published`, with its offset if any"
    )
    date_source: str | None = None
    date_choice: str | None = Field(
        default=None, description="the rule that chose `published` among the candidates"
    )
    date_candidates: list[DateCandidate] = Field(default_factory=list)
    text: str | None = Field(default=None, description="the extracted main text")
    text_excerpt: str | None = None
    problems: list[Problem] = Field(default_factory=list)
    vantages: list[VantageSeen] = Field(
        default_factory=list,
        description="each network path tried when this one looked blocked: here first",
    )
