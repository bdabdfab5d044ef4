"""Screenshots end to end: a fixture-web article through the real pipeline with
`screenshots=True` leaves a `urn:view:<url>` PNG resource record in the WARC, a
ScreenshotRow that points at it, and a `screenshot` on the report's source."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.warc_reader import check_file, read_record
from tests.fixtureweb import FixtureWeb
from tests.integration.fault_capture import capture
from worker.capture.screenshot import PNG_MAGIC, chromium_available
from worker.custody.events import find_warc
from worker.report.build import build_report
from worker.runtime import build_runtime
from worker.settings import load_settings
from worker.store import jobs
from worker.store.models import CaptureJob, ScreenshotRow

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not chromium_available(Path("/usr/bin/chromium")), reason="chromium is not installed"
    ),
]

ARTICLE = "https://rus.azattyq.org/a/31446385.html"


def test_a_captured_article_gets_a_png_view_record(
    fixture_web_env: FixtureWeb, tmp_path: Path
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        screenshots=True,
        chromium_path=Path("/usr/bin/chromium"),
        retries=0,
        per_host_delay=0.0,
    )
    runtime = build_runtime(settings)
    try:
        captured = capture(runtime, ARTICLE)
        assert captured.status == "ok"
        assert captured.capture is not None
        with runtime.sessions() as session:
            shot = session.scalars(
                select(ScreenshotRow).where(ScreenshotRow.canonical_url == ARTICLE)
            ).one()
            session.expunge(shot)
            run_id = session.get(CaptureJob, captured.capture.job_id).run_id  # type: ignore[union-attr]
            report = build_report(session, run_id)
            # WARC recovery keeps the view: the committed end reaches past it
            assert jobs.committed_end(session, shot.warc_file) >= shot.end_offset
    finally:
        runtime.close()

    assert shot.uri == f"urn:view:{ARTICLE}"
    assert shot.warc_file == captured.capture.warc_file
    assert captured.capture.end_offset == shot.end_offset  # the capture spans its view
    path = find_warc(settings.archive_dir, shot.warc_file)
    assert path is not None
    record = read_record(path, shot.offset)
    assert record.rec_type == "resource"
    assert record.warc_header("WARC-Target-URI") == f"urn:view:{ARTICLE}"
    assert record.warc_header("Content-Type") == "image/png"
    assert record.warc_header("WARC-Refers-To") == captured.capture.record_id
    assert record.payload.startswith(PNG_MAGIC)
    assert record.sha256 == shot.sha256 == hashlib.sha256(record.payload).hexdigest()

    (source,) = [s for s in report.sources if s.canonical_url == ARTICLE]
    assert source.screenshot is not None
    assert source.screenshot.record_id == shot.record_id
    assert source.screenshot.offset == shot.offset

    for warc in settings.archive_dir.glob("*.warc.gz*"):
        assert check_file(warc).ok, warc
