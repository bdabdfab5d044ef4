"""The foundation end to end: the September digest through the fixture web, a real
Celery worker on a real Valkey (the embedded default), into WARCs and a report."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.warc_reader import check_file
from schemas import NamesVerdict, Report, SourceStatus
from tests.fixtureweb import FixtureWeb, route_through
from tests.fixtureweb.pages import expected_statuses
from tests.pools import RecordingExtractor
from worker.capture import pipeline
from worker.custody import log as custody
from worker.digest.parse import parse_digest
from worker.digest.read import read_digest_file
from worker.judge.names import check_names_args
from worker.report.build import build_report
from worker.runs import RunOutcome, run_digest
from worker.runtime import close_runtime, get_runtime
from worker.settings import Settings, load_settings
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow, RequisiteRow

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DIGEST = ROOT / "examples" / "2021-09-kazakhstan.txt"


@pytest.fixture(scope="module")
def september_run(
    fixture_web_session: FixtureWeb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, RunOutcome]]:
    mp = pytest.MonkeyPatch()
    route_through(mp, fixture_web_session, embedded=True)
    fixture_web_session.clear_requests()
    # no pause between requests to one host: the RFE/RL CDN alone serves ~270 photos, styles
    # and fonts of this digest, which at the default 0.5 s take a minute (politeness has its
    # own tests; bench/ measures what it costs)
    data = tmp_path_factory.mktemp("data")
    settings = load_settings(
        data_dir=data, concurrency=4, per_host_delay=0.0, timings_file=data / "timings.jsonl"
    )
    digest = parse_digest(read_digest_file(DIGEST), name=DIGEST.stem)
    outcome = run_digest(settings, digest, source_name=str(DIGEST), timeout=300)
    try:
        yield settings, outcome
    finally:
        close_runtime()
        mp.undo()


def test_every_source_gets_the_status_the_fixture_web_expects(
    september_run: tuple[Settings, RunOutcome],
) -> None:
    _settings, outcome = september_run
    expected = expected_statuses()
    got = {s.canonical_url: s.status.value for s in outcome.report.sources}
    # the foundation's statuses; the finer words (soft_404, …) are checked in test_verification
    wrong = {
        url: (status, expected.get(url))
        for url, status in got.items()
        if status != expected.get(url)
    }
    assert not wrong
    assert len(outcome.report.sources) == 47


def test_every_fetchable_source_is_archived_in_valid_warcs(
    september_run: tuple[Settings, RunOutcome],
) -> None:
    settings, outcome = september_run
    archived = [s for s in outcome.report.sources if s.capture is not None]
    never_fetched = [s for s in outcome.report.sources if s.status is SourceStatus.NOT_PUBLIC]
    assert len(never_fetched) == 1
    assert len(archived) == len(outcome.report.sources) - len(never_fetched)
    files = sorted(settings.archive_dir.glob("*.warc.gz*"))
    assert files
    for path in files:
        assert check_file(path).ok, check_file(path).first_problem
        proc = subprocess.run(
            ["uv", "run", "warcio", "check", str(path)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_admin_link_is_never_requested(
    september_run: tuple[Settings, RunOutcome], fixture_web_session: FixtureWeb
) -> None:
    assert not fixture_web_session.hits("tirek.info", "/wp-admin")
    assert fixture_web_session.hits("rus.azattyq.org", "/a/31446385.html")


def test_the_report_ties_every_incident_to_its_sources(
    september_run: tuple[Settings, RunOutcome],
) -> None:
    _settings, outcome = september_run
    report = Report.model_validate_json(outcome.report.model_dump_json())
    assert len(report.incidents) == 58
    by_id = {i.id: i for i in report.incidents}
    cited = [i for i in report.incidents if i.footnotes]
    assert len(cited) == 48
    for inc in cited:
        cited_numbers = {c.footnote for c in inc.citations}
        assert cited_numbers <= set(inc.footnotes)
    # incident 1 cites a Facebook group post: the login wall is reported, not archived as the post
    assert [c.status for c in by_id[1].citations] == [SourceStatus.LOGIN_WALL]
    # [15] has two URLs, both cited
    fifteen = next(i for i in report.incidents if 15 in i.footnotes)
    assert len([c for c in fifteen.citations if c.footnote == 15]) == 2
    # a Russian article that names the person, dated in the window
    three = next(i for i in report.incidents if i.footnotes == [3])
    assert three.citations[0].status is SourceStatus.OK
    assert three.citations[0].date_check.verdict == "consistent"
    assert three.verdict == "verified"


def test_windows_1251_page_comes_out_as_cyrillic(
    september_run: tuple[Settings, RunOutcome],
) -> None:
    _settings, outcome = september_run
    page = next(s for s in outcome.report.sources if "toregozhina-bahytzhan" in s.canonical_url)
    assert page.title and "Торегожина" in (page.title + (page.text_excerpt or ""))


def test_a_redelivered_task_makes_no_second_capture(
    september_run: tuple[Settings, RunOutcome],
) -> None:
    settings, outcome = september_run
    runtime = get_runtime(settings)
    with runtime.sessions() as session:
        job = session.scalars(
            select(CaptureJob).where(CaptureJob.run_id == outcome.run_id).limit(1)
        ).one()
        before = session.scalar(select(func.count()).select_from(CaptureRow))
    again = pipeline.capture_one(runtime, outcome.run_id, job.id, task_id="redelivered")
    with runtime.sessions() as session:
        after = session.scalar(select(func.count()).select_from(CaptureRow))
    assert again.repeated
    assert after == before


def test_report_json_matches_the_committed_schema(
    september_run: tuple[Settings, RunOutcome],
) -> None:
    _settings, outcome = september_run
    schema = json.loads((ROOT / "schemas" / "json" / "report.schema.json").read_text())
    data = json.loads(outcome.report.model_dump_json())
    assert set(schema["required"]) <= set(data)
    for field in ("id", "title", "period", "counts"):
        assert field in data["digest"]
    source = data["sources"][0]
    for field in (
        "footnotes",
        "url",
        "canonical_url",
        "status",
        "http_status",
        "final_url",
        "title",
        "published",
        "date_source",
        "capture",
        "text_excerpt",
        "problems",
    ):
        assert field in source


def test_every_ok_page_has_its_requisites_archived(
    september_run: tuple[Settings, RunOutcome], fixture_web_session: FixtureWeb
) -> None:
    """Issue #13's bar: ≥ 90% of each `ok` page's requisites archived, the rest skipped by
    the tracker blocklist with the reason recorded (the fixture web serves everything
    else), and no tracker ever asked."""
    settings, outcome = september_run
    runtime = get_runtime(settings)
    pages = 0
    with runtime.sessions() as session:
        chains = custody.run_entries(session, outcome.run_id)
        for source in outcome.report.sources:
            if source.status is not SourceStatus.OK:
                continue
            job = session.scalars(
                select(CaptureJob).where(
                    CaptureJob.run_id == outcome.run_id,
                    CaptureJob.canonical_url == source.canonical_url,
                )
            ).one()
            stored = next(r for r in chains[f"job/{job.id}"] if r.event == "stored").data["data"]
            listed = {r["record_id"] for r in stored["requisites"]}
            rows = session.scalars(
                select(RequisiteRow).where(RequisiteRow.record_id.in_(listed))
            ).all()
            whole = {r.url for r in rows if 200 <= r.http_status < 300 and not r.truncated}
            missing = stored["requisites_missing"]
            assert all(m["why"].startswith("blocklist: ") for m in missing), missing
            total = len(whole) + len(missing)
            assert len(whole) >= 0.9 * total, (source.canonical_url, len(whole), missing)
            pages += 1 if total else 0
    assert pages >= 20  # every RFE/RL article and WordPress post has requisites
    for host in ("www.googletagmanager.com", "mc.yandex.ru"):
        assert not fixture_web_session.hits(host)
    assert fixture_web_session.hits("gdb.rferl.org")


def test_timings_account_for_each_capture_and_the_runs_fixed_costs(
    september_run: tuple[Settings, RunOutcome],
) -> None:
    # what bench/ reads to say where a capture's wall time went (worker.timings)
    settings, outcome = september_run
    assert settings.timings_file is not None
    lines = [json.loads(t) for t in settings.timings_file.read_text().splitlines()]
    # (a second delivery of a finished job says so: `repeated`)
    captures = [line for line in lines if "status" in line and not line["repeated"]]
    marks = [line["mark"] for line in lines if "mark" in line]
    fetched = [s for s in outcome.report.sources if s.status is not SourceStatus.NOT_PUBLIC]
    assert len({c["job_id"] for c in captures}) == len(fetched)
    for line in captures:
        spans = line["spans"]
        # the steps are exclusive: with `other`, they add up to the capture's wall time
        assert sum(spans.values()) == pytest.approx(line["total"], rel=1e-6)
        assert line["ended"] - line["began"] == pytest.approx(line["total"], abs=1e-3)
        assert {"claim", "db_lock", "fetch", "host_turn", "judge", "commit"} <= set(spans)
    steps = set().union(*(c["spans"] for c in captures))
    # extraction in its processes, apart from the wait for one; the probe names the
    # fetches inside it after itself; requisites are fetched on threads of their own
    assert {"extract", "extract_wait", "write", "fsync", "probe.fetch", "requisites"} <= steps
    begun = ["runtime", "run_rows", "worker", "enqueued"]
    ended = ["finalize", "report_built", "report_files", "sealed", "seen_done"]
    assert marks == [*begun, *ended, "worker_stopped", "broker_stopped"]


def test_names_are_matched_at_capture_and_give_the_report_its_checks(
    september_run: tuple[Settings, RunOutcome],
) -> None:
    settings, outcome = september_run
    runtime = get_runtime(settings)
    with runtime.sessions() as session:
        rows = session.scalars(
            select(EvidenceRow)
            .join(CaptureJob, CaptureJob.id == EvidenceRow.job_id)
            .where(CaptureJob.run_id == outcome.run_id)
        ).all()
        stored = [row for row in rows if row.names is not None]
        assert len(stored) >= 10  # the readable sources whose incidents name someone
        from_capture = RecordingExtractor(check_names_args)
        built = build_report(session, outcome.run_id, pool=from_capture)
        for row in stored:  # as a run captured before the matches were stored
            row.names = None
        session.flush()
        afresh = RecordingExtractor(check_names_args)
        rebuilt = build_report(session, outcome.run_id, pool=afresh)
        session.rollback()
    assert from_capture.items == []  # every pair came from what the captures matched
    assert len(afresh.items) >= len(stored)
    checks = [[c.names_check for c in i.citations] for i in built.incidents]
    assert checks == [[c.names_check for c in i.citations] for i in rebuilt.incidents]
    verdicts = {c.verdict for cs in checks for c in cs}
    assert {NamesVerdict.SUPPORTS, NamesVerdict.NOT_CHECKED} <= verdicts
