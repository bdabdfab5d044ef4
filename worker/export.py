"""What a digest's WACZ holds, read from the database: its report and its WARC files.

The WARC files are those holding the run's captures plus, for each revisit, the file
holding the original record it refers to (a revisit replays the original's payload,
so without that file the copy would not open).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas import Report
from worker.db import CaptureJob, CaptureRow
from worker.report import ReplayUrl, build_report

__all__ = ["ExportPlan", "plan_export"]


@dataclass(frozen=True)
class ExportPlan:
    report: Report
    warc_files: list[str]  # basenames in the collection's archive dir, sorted


def plan_export(session: Session, run_id: str, *, replay: ReplayUrl | None = None) -> ExportPlan:
    """Raises KeyError for an unknown run."""
    report = build_report(session, run_id, replay_url=replay)
    caps = session.scalars(
        select(CaptureRow)
        .join(CaptureJob, CaptureJob.id == CaptureRow.job_id)
        .where(CaptureJob.run_id == run_id)
    ).all()
    files = {c.warc_file for c in caps}
    originals = {c.revisit_of for c in caps if c.revisit_of}
    if originals:
        files |= set(
            session.scalars(
                select(CaptureRow.warc_file).where(CaptureRow.record_id.in_(originals))
            ).all()
        )
    return ExportPlan(report=report, warc_files=sorted(files))
