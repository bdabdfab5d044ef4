"""Stable citation links: `/cite/<digest>/<footnote>` → the archived copy to open.

A footnote names one or more URLs. For each, the copy to open is the capture closest
to the date of the incident that cites the footnote, across every run that captured
that URL (a digest re-run later adds captures; a page may be gone or changed by then).
Captures whose evidence says the page was readable (`ok`) are preferred over captures
of an error page, a login wall and the like; among equals, the closer in time wins.

`<digest>` is a run id, or a digest id (then its latest run). Pure DB reads: the web
app routes it; the replay URL format is worker.report.build.ReplayUrl's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas import Digest, SourceStatus
from worker.report.build import ReplayUrl
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow, Run, as_utc

__all__ = ["CitationNotFound", "CitationTarget", "resolve_citation"]


class CitationNotFound(LookupError):
    """No run or digest by that id, or no such footnote in it."""


@dataclass(frozen=True)
class CitationTarget:
    footnote: int
    url: str  # as written in the digest
    canonical_url: str | None  # None: not a usable URL, never captured
    incident_date: dt.date | None  # the date the copy was chosen against
    captured_url: str | None = None  # the URL of the captured response (after redirects)
    captured_at: dt.datetime | None = None
    replay_url: str | None = None
    status: str | None = None  # the chosen capture's source status
    run_id: str | None = None  # the run that made the chosen capture
    captures: int = 0  # how many captures of this URL exist


def resolve_citation(
    session: Session, digest_or_run_id: str, footnote: int, replay: ReplayUrl
) -> list[CitationTarget]:
    """One target per URL of the footnote (in digest order); raises CitationNotFound."""
    run = _find_run(session, digest_or_run_id)
    digest = Digest.model_validate_json(run.digest_json)
    note = next((f for f in digest.footnotes if f.number == footnote), None)
    if note is None:
        raise CitationNotFound(f"digest {digest_or_run_id!r} has no footnote {footnote}")
    dates = [i.date for i in digest.incidents if footnote in i.footnotes and i.date]
    # several incidents may cite one footnote: the earliest date is the one it attests
    incident_date = min(dates) if dates else None
    targets = []
    for fu in note.urls:
        if fu.canonical_url is None:
            targets.append(CitationTarget(footnote, fu.url, None, incident_date))
            continue
        targets.append(_closest(session, footnote, fu.url, fu.canonical_url, incident_date, replay))
    return targets


def _find_run(session: Session, ident: str) -> Run:
    run = session.get(Run, ident)
    if run is None:
        run = session.scalars(
            select(Run).where(Run.digest_id == ident).order_by(Run.created_at.desc()).limit(1)
        ).first()
    if run is None:
        raise CitationNotFound(f"no digest or run with id {ident!r}")
    return run


def _closest(
    session: Session,
    footnote: int,
    url: str,
    canonical_url: str,
    incident_date: dt.date | None,
    replay: ReplayUrl,
) -> CitationTarget:
    rows = session.execute(
        select(CaptureRow, CaptureJob.run_id, EvidenceRow.status)
        .join(CaptureJob, CaptureJob.id == CaptureRow.job_id)
        .outerjoin(EvidenceRow, EvidenceRow.job_id == CaptureJob.id)
        .where(CaptureJob.canonical_url == canonical_url)
    ).all()
    if not rows:
        return CitationTarget(footnote, url, canonical_url, incident_date)
    if incident_date is not None:
        anchor = dt.datetime.combine(incident_date, dt.time(12), tzinfo=dt.UTC)
    else:
        anchor = min(as_utc(cap.captured_at) for cap, _r, _s in rows)  # undated: the first copy

    def rank(row: tuple[CaptureRow, str, str | None]) -> tuple[bool, float, int]:
        cap, _run_id, status = row
        distance = abs((as_utc(cap.captured_at) - anchor).total_seconds())
        return (status != SourceStatus.OK, distance, cap.id)

    cap, run_id, status = min(rows, key=rank)
    captured_at = as_utc(cap.captured_at)
    return CitationTarget(
        footnote=footnote,
        url=url,
        canonical_url=canonical_url,
        incident_date=incident_date,
        captured_url=cap.url,
        captured_at=captured_at,
        replay_url=replay(cap.url, captured_at),
        status=status,
        run_id=run_id,
        captures=len(rows),
    )
