"""Adds the link-rot watch to a report: each source's health and history, copies in other
archives, screenshots, and the files attached by hand to its footnotes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from schemas import Evidence, IncidentReport, Screenshot, SourceReport
from worker.capture import attachments, fallbacks, recheck
from worker.store.models import ArchivedCopyRow, ScreenshotRow, SourceHealthRow


def enrich(
    session: Session,
    run_id: str,
    sources: list[SourceReport],
    incidents: list[IncidentReport],
    evidence_by_url: dict[str, Evidence | None],
) -> None:
    """Fill `health`, `fallbacks`, `screenshot` and `attachments` in place.

    Which sources have re-checks, other archives' copies or screenshots is looked up for
    all sources at once: most have none, and a query per source made a 10,000-source
    report slow (bench/)."""
    attached = attachments.attachments_for_run(session, run_id)
    urls = [s.canonical_url for s in sources]
    rechecked = _urls_with(session, SourceHealthRow.canonical_url, urls)
    with_copies = _urls_with(session, ArchivedCopyRow.canonical_url, urls)
    shots = _latest_screenshots(session, urls)
    for source in sources:
        url = source.canonical_url
        source.health = recheck.health_report(
            session,
            url,
            evidence=evidence_by_url.get(url),
            captured_at=source.capture.captured_at if source.capture else None,
            never_rechecked=url not in rechecked,
        )
        source.fallbacks = fallbacks.stored_copies(session, url) if url in with_copies else []
        source.attachments = [a for a in attached if a.footnote in source.footnotes]
        shot = shots.get(url)
        if shot is not None:
            source.screenshot = Screenshot(
                uri=shot.uri,
                warc_file=shot.warc_file,
                offset=shot.offset,
                record_id=shot.record_id,
                sha256=shot.sha256,
            )
    for incident in incidents:
        for citation in incident.citations:
            citation.attachments = [a for a in attached if a.footnote == citation.footnote]


CHUNK = 900  # bound parameters per IN (...) query, well under SQLite's limit


def _urls_with(session: Session, column: InstrumentedAttribute[str], urls: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(urls), CHUNK):
        found.update(session.scalars(select(column).where(column.in_(urls[i : i + CHUNK]))))
    return found


def _latest_screenshots(session: Session, urls: list[str]) -> dict[str, ScreenshotRow]:
    latest: dict[str, ScreenshotRow] = {}
    for i in range(0, len(urls), CHUNK):
        rows = session.scalars(
            select(ScreenshotRow)
            .where(ScreenshotRow.canonical_url.in_(urls[i : i + CHUNK]))
            .order_by(ScreenshotRow.id)
        )
        for row in rows:
            latest[row.canonical_url] = row  # ordered by id: the newest wins
    return latest
