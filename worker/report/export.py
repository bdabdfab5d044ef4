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
from worker.report.build import current_report
from worker.settings import Settings
from worker.store.models import CaptureJob, CaptureRow, RequisiteRow

__all__ = ["ExportPlan", "plan_export"]


@dataclass(frozen=True)
class ExportPlan:
    report: Report
    warc_files: list[str]  # basenames in the collection's archive dir, sorted


def plan_export(session: Session, settings: Settings, run_id: str) -> ExportPlan:
    """The sealed report (worker.report.build.current_report) and its WARC files; KeyError for
    an unknown run. The WACZ then holds the very report.json the custody log hashed."""
    report = current_report(session, settings, run_id)
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
    # a requisite that repeats an earlier page's payload is a revisit of a record that may
    # sit in another WARC file: the WACZ carries that file too, or the image would not replay
    # (and a requisite reused from an earlier page lives in that page's file)
    pages = [c.record_id for c in caps]
    for start in range(0, len(pages), 500):
        rows = session.execute(
            select(RequisiteRow.warc_file, RequisiteRow.revisit_file).where(
                RequisiteRow.page_record_id.in_(pages[start : start + 500])
            )
        )
        for warc_file, revisit_file in rows:
            files.add(warc_file)
            if revisit_file is not None:
                files.add(revisit_file)
    return ExportPlan(report=report, warc_files=sorted(files))
