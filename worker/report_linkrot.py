"""Adds the link-rot watch to a report: each source's health and history, copies in other
archives, screenshots, and the files attached by hand to its footnotes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas import Evidence, IncidentReport, Screenshot, SourceReport
from worker import attachments, fallbacks, recheck
from worker.db import ScreenshotRow


def enrich(
    session: Session,
    run_id: str,
    sources: list[SourceReport],
    incidents: list[IncidentReport],
    evidence_by_url: dict[str, Evidence | None],
) -> None:
    """Fill `health`, `fallbacks`, `screenshot` and `attachments` in place."""
    attached = attachments.attachments_for_run(session, run_id)
    for source in sources:
        url = source.canonical_url
        source.health = recheck.health_report(
            session,
            url,
            evidence=evidence_by_url.get(url),
            captured_at=source.capture.captured_at if source.capture else None,
        )
        source.fallbacks = fallbacks.stored_copies(session, url)
        source.attachments = [a for a in attached if a.footnote in source.footnotes]
        shot = session.scalars(
            select(ScreenshotRow)
            .where(ScreenshotRow.canonical_url == url)
            .order_by(ScreenshotRow.id.desc())
            .limit(1)
        ).first()
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
