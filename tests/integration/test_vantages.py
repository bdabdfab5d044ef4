"""Blocked here, or dead everywhere? A second vantage decides (#18 §1).

Two fixture webs play the same sites and share one CA: the worker's own path (the
`fixture_web` proxy) and a vantage abroad (a second proxy, `SOURCEVAULT_VANTAGES`). On the
first, RFE/RL resets every connection and KazTAG is replaced by an ISP block page; through
the vantage both answer. A host that resets on both paths stays `unreachable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archive.web.render import render_html
from schemas import SourceStatus
from tests.fixtureweb import FixtureWeb, html, route_through
from tests.fixtureweb.pages import install_september
from tests.fixtureweb.server import FixtureWeb as Web
from worker.capture import pipeline, steps
from worker.digest.parse import parse_digest
from worker.report.build import build_report
from worker.runtime import Runtime, build_runtime
from worker.settings import load_settings
from worker.store import jobs
from worker.store.models import CaptureJob

pytestmark = pytest.mark.integration

AZ = "https://rus.azattyq.org/a/31446385.html"
KAZTAG = "https://kaztag.kz/ru/news/za-eks-mazhilismenom-liderom-el-tiregi-nurzhanom-altaevym-prishla-politsiya"
TIREK = "https://tirek.info/toregozhina-bahytzhan-intervyu-o-politicheskih-repressiyah/"
BLOCK_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Доступ ограничен</title></head>"
    "<body><h2>Доступ к данному интернет-ресурсу временно ограничен в соответствии с "
    "законодательством Республики Казахстан.</h2><p>Осы интернет-ресурсқа қолжетімділік "
    "шектелген.</p></body></html>"
)


@pytest.fixture
def abroad(fixture_web: FixtureWeb) -> Iterator[Web]:
    web = install_september(Web(ca=fixture_web.ca)).start()
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture
def runtime(
    fixture_web: FixtureWeb, abroad: Web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    route_through(monkeypatch, fixture_web)
    fixture_web.set_unreachable("rus.azattyq.org", "reset")
    fixture_web.route_url(KAZTAG, html(BLOCK_PAGE))
    for web in (fixture_web, abroad):
        web.set_unreachable("tirek.info", "reset")  # down on every path
    settings = load_settings(
        data_dir=tmp_path / "data",
        retries=0,
        per_host_delay=0,
        fallback_lookup=False,
        vantages={"abroad": abroad.proxy_url},
    )
    rt = build_runtime(settings)
    try:
        yield rt
    finally:
        rt.close()


def _views(evidence: Any) -> list[tuple[str, str, bool]]:
    return [(v.vantage, v.status.value, v.used) for v in evidence.vantages]


def test_a_site_reset_here_and_read_abroad_is_censored(
    runtime: Runtime, fixture_web: FixtureWeb, abroad: Web
) -> None:
    seen = steps.observe(runtime, AZ)
    try:
        assert seen.evidence.status is SourceStatus.CENSORED, seen.evidence.reason
        assert _views(seen.evidence) == [("here", "unreachable", False), ("abroad", "ok", True)]
        assert "abroad" in seen.evidence.reason and "unreachable" in seen.evidence.reason
        assert seen.evidence.text  # the article, read through the vantage
        written = steps.write_records(runtime, seen)
    finally:
        seen.close()
    assert written is not None and written.requisites
    # the page and its photos came through the vantage; here, nothing but the resets
    assert abroad.hits("rus.azattyq.org", "/a/31446385.html")
    assert abroad.hits("gdb.rferl.org")
    assert not fixture_web.hits("gdb.rferl.org")


def test_an_isp_block_page_is_not_the_source(runtime: Runtime) -> None:
    seen = steps.observe(runtime, KAZTAG)
    try:
        here, there = seen.evidence.vantages
        assert (here.status, there.status) == (SourceStatus.BLOCKED, SourceStatus.OK)
        assert "block page" in here.reason
        assert seen.evidence.status is SourceStatus.CENSORED
        assert "Алтаев" in (seen.evidence.text or "")
    finally:
        seen.close()


def test_down_on_every_path_stays_unreachable_with_every_view(runtime: Runtime) -> None:
    seen = steps.observe(runtime, TIREK)
    try:
        assert seen.evidence.status is SourceStatus.UNREACHABLE
        assert _views(seen.evidence) == [
            ("here", "unreachable", False),
            ("abroad", "unreachable", False),
        ]
    finally:
        seen.close()


def test_an_ok_page_is_never_asked_abroad(runtime: Runtime, abroad: Web) -> None:
    url = "https://kuresker.org/archives/3996"
    seen = steps.observe(runtime, url)
    try:
        assert seen.evidence.status is SourceStatus.OK and seen.evidence.vantages == []
    finally:
        seen.close()
    assert not abroad.hits("kuresker.org")


def test_the_report_shows_what_each_path_saw(runtime: Runtime) -> None:
    digest = parse_digest(
        "On September 7, in Almaty, an activist was detained[1].\n"
        "On September 8, in Nur-Sultan, Nurzhan Altayev was detained[2].\n"
        f"[1]{AZ}\n[2]{KAZTAG}\n",
        name="vantage",
        year=2021,
    )
    with runtime.sessions() as session:
        jobs.create_run(session, "vantage", digest)
        ids = [j.id for j in session.query(CaptureJob).filter_by(run_id="vantage")]
    for job_id in ids:
        pipeline.capture_one(runtime, "vantage", job_id, task_id=None)
    with runtime.sessions() as session:
        report = build_report(session, "vantage")
    statuses = {s.canonical_url: s.status for s in report.sources}
    assert statuses == {AZ: SourceStatus.CENSORED, KAZTAG: SourceStatus.CENSORED}
    source = next(s for s in report.sources if s.canonical_url == AZ)
    assert source.capture is not None and [v.vantage for v in source.vantages] == ["here", "abroad"]
    # read through the vantage, it is judged like any page that answers: date and names
    (kaztag,) = report.incidents[1].citations
    assert kaztag.date_check.verdict.value == "consistent"
    page = render_html(report)
    assert "seen from:" in page and 'data-vantage="abroad"' in page
