"""A page's images, styles, scripts and fonts: fetched with it, archived in its batch, checked.

`worker.capture.requisites.gather` runs on a real runtime against the fixture web (no
Celery: it is a plain function); then two pages of one site go through `capture_one`, so
the second one's logo stands on the first one's record, its stylesheet (fetched again,
same bytes) becomes a revisit, and `verify` re-reads them all.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, update

from archive.warc_reader import read_record
from tests.fixtureweb import (
    FixtureWeb,
    Request,
    Response,
    html,
    route_through,
    start_fixture_web,
)
from tests.fixtureweb.assets import png
from worker.capture import pipeline
from worker.capture.requisites import Requisites, gather
from worker.custody import log as custody
from worker.custody.audit import audit_data_dir
from worker.custody.events import find_warc
from worker.digest.parse import parse_digest
from worker.fetch.fetcher import FetchLimits, fetch_with_retries
from worker.runtime import Runtime, build_runtime
from worker.settings import Settings, load_settings
from worker.store import jobs
from worker.store.models import CaptureJob, CaptureRow, RequisiteRow

pytestmark = pytest.mark.integration

SITE = "news.example-kz.test"
CDN = "cdn.example-kz.test"
BASE = f"https://{SITE}"
PHOTO = png(64, 36, (10, 120, 200))
LOGO = png(32, 32, (200, 16, 46))


def _page(body: str, head: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>Статья</title>{head}'
        f"</head><body><h1>Суд над активистом</h1>{body}<p>{'Текст статьи. ' * 40}</p>"
        "</body></html>"
    )


def _install(fw: FixtureWeb) -> None:
    for host in (SITE, CDN, "www.google-analytics.com"):
        fw.set_https_only(host)
    fw.route(CDN, "/logo.png", Response(body=LOGO, content_type="image/png"))
    for n in range(8):
        fw.route(CDN, f"/photo{n}.png", Response(body=PHOTO + bytes([n]), content_type="image/png"))
    fw.route(CDN, "/big1.bin", Response(body=os.urandom(40_000), content_type="image/jpeg"))
    fw.route(CDN, "/big2.bin", Response(body=os.urandom(40_000), content_type="image/jpeg"))
    fw.route(CDN, "/big3.bin", Response(body=os.urandom(40_000), content_type="image/jpeg"))
    fw.route(CDN, "/slow.png", Response(body=PHOTO, content_type="image/png", delay=4.0))
    fw.route(CDN, "/site.css", Response(body='@import "fonts.css"; .a{background:url(bg.png)}',
                                        content_type="text/css"))  # fmt: skip
    fw.route(CDN, "/fonts.css", Response(body='@import "deeper.css"; @font-face{src:url(r.woff2)}',
                                         content_type="text/css"))  # fmt: skip
    fw.route(CDN, "/deeper.css", Response(body=".b{color:red}", content_type="text/css"))
    fw.route(CDN, "/r.woff2", Response(body=b"wOF2" + bytes(64), content_type="font/woff2"))
    fw.route(CDN, "/bg.png", Response(body=LOGO, content_type="image/png"))
    fw.route("www.google-analytics.com", "/analytics.js", Response(body="/* ga */"))
    fw.route(SITE, "/many", html(_page("".join(f'<img src="{"https://" + CDN}/photo{n}.png">'
                                               for n in range(6)))))  # fmt: skip
    fw.route(SITE, "/heavy", html(_page("".join(f'<img src="https://{CDN}/big{n}.bin">'
                                                for n in (1, 2, 3)))))  # fmt: skip
    fw.route(SITE, "/slow", html(_page(f'<img src="https://{CDN}/slow.png">'
                                       f'<img src="https://{CDN}/photo1.png">')))  # fmt: skip
    fw.route(SITE, "/broken", html(_page(
        f'<img src="https://{CDN}/missing.png"><img src="https://nowhere.example-kz.test/x.png">'
        '<script src="https://www.google-analytics.com/analytics.js"></script>'
        f'<img src="https://{CDN}/logo.png">')))  # fmt: skip

    def hotlink_guard(req: Request) -> Response:  # a CDN that refuses hot-linked images
        if (req.header("referer") or "").startswith(f"{BASE}/"):
            return Response(body=PHOTO, content_type="image/png")
        return Response(status=403, body="hotlinking not allowed", content_type="text/plain")

    fw.route(CDN, "/protected.png", hotlink_guard)
    fw.route(SITE, "/hotlink", html(_page(f'<img src="https://{CDN}/protected.png">')))
    head = f'<link rel="stylesheet" href="https://{CDN}/site.css">'
    for n in (1, 2):
        imgs = f'<img src="https://{CDN}/logo.png"><img src="https://{CDN}/photo{n + 4}.png">'
        fw.route(SITE, f"/article{n}", html(_page(imgs, head)))


@pytest.fixture(scope="module")
def web() -> Iterator[FixtureWeb]:
    fw = start_fixture_web(None)
    _install(fw)
    try:
        yield fw
    finally:
        fw.stop()


@pytest.fixture
def make_runtime(
    web: FixtureWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    route_through(monkeypatch, web)
    made: list[Runtime] = []

    def make(**overrides: object) -> Runtime:
        base: dict[str, object] = {"data_dir": tmp_path / "data", "retries": 0, "per_host_delay": 0}
        runtime = build_runtime(load_settings(**(base | overrides)))
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


def _gather(runtime: Runtime, path: str) -> Requisites:
    result = fetch_with_retries(
        f"{BASE}{path}", runtime.client, FetchLimits.from_settings(runtime.settings)
    )
    try:
        return gather(runtime, result)
    finally:
        result.close()


def _why(found: Requisites) -> dict[str, str]:
    return {m.url.rsplit("/", 1)[-1]: m.why for m in found.missing}


def test_the_count_budget_fetches_the_first_requisites_and_records_the_rest(
    make_runtime: object,
) -> None:
    runtime = make_runtime(requisite_max_count=3)  # type: ignore[operator]
    found = _gather(runtime, "/many")
    try:
        assert sorted(f.link.url.rsplit("/", 1)[-1] for f in found.fetched) == [
            "photo0.png",
            "photo1.png",
            "photo2.png",
        ]
        assert _why(found) == {f"photo{n}.png": "budget: more than 3 requisites" for n in (3, 4, 5)}
    finally:
        found.close()


class RecordingGate:
    """Records, per request, whether it waited for the host's turn between pages."""

    def __init__(self) -> None:
        self.spaced: list[bool] = []

    @contextlib.contextmanager
    def slot(self, host: str, *, spaced: bool = True) -> Iterator[float]:
        self.spaced.append(spaced)
        yield 0.0


def test_requisites_take_host_slots_without_waiting_for_the_next_pages_turn(
    make_runtime: object,
) -> None:
    runtime = make_runtime()  # type: ignore[operator]
    runtime.gate = recording = RecordingGate()
    found = _gather(runtime, "/many")
    try:
        assert len(found.fetched) == 6
        assert recording.spaced == [False] * 6  # the page's turn was the page's alone
    finally:
        found.close()


def test_the_byte_budget_cuts_and_records_what_did_not_fit(make_runtime: object) -> None:
    runtime = make_runtime(requisite_max_bytes=60_000, requisite_concurrency=1)  # type: ignore[operator]
    found = _gather(runtime, "/heavy")
    try:
        why = _why(found)
        assert "big1.bin" not in why  # whole
        assert why["big2.bin"].startswith("truncated after")  # the 20 kB left of the budget
        assert why["big3.bin"] == "budget: past 60000 bytes of requisites"
        assert found.bytes <= 60_000
    finally:
        found.close()


def test_the_time_budget_stops_a_slow_requisite_and_what_waits_behind_it(
    make_runtime: object,
) -> None:
    runtime = make_runtime(requisite_timeout=1.0, requisite_concurrency=1)  # type: ignore[operator]
    found = _gather(runtime, "/slow")
    try:
        why = _why(found)
        assert set(why) == {"slow.png", "photo1.png"}
        assert "budget" not in why["slow.png"]  # its own fetch ran out of the page's time
        assert why["photo1.png"] == "budget: past 1 s for the page's requisites"
    finally:
        found.close()


def test_failed_and_blocked_requisites_are_recorded_and_trackers_never_asked(
    make_runtime: object, web: FixtureWeb
) -> None:
    runtime = make_runtime()  # type: ignore[operator]
    web.clear_requests()
    found = _gather(runtime, "/broken")
    try:
        why = _why(found)
        assert why["missing.png"] == "HTTP 404"
        assert why["x.png"].startswith("proxy_error")  # the host does not exist
        assert why["analytics.js"] == "blocklist: google-analytics.com"
        assert "logo.png" not in why
        # a 404 answer is still what the reader got: it goes in the WARC with the rest
        assert {f.link.url.rsplit("/", 1)[-1] for f in found.fetched} >= {"missing.png", "logo.png"}
        assert not web.hits("www.google-analytics.com")
    finally:
        found.close()


def test_a_requisite_is_asked_for_as_a_browser_would_with_referer_and_accept(
    make_runtime: object, web: FixtureWeb
) -> None:
    runtime = make_runtime()  # type: ignore[operator]
    web.clear_requests()
    found = _gather(runtime, "/hotlink")
    try:
        assert found.missing == []  # the hot-link guard let it through
        (request,) = web.hits(CDN, "/protected.png")
        headers = {k.lower(): v for k, v in request.headers}
        assert headers["referer"] == f"{BASE}/"  # another origin: the page's origin only
        assert headers["accept"].startswith("image/avif,image/webp")
    finally:
        found.close()


def test_stylesheets_are_read_one_import_deep(make_runtime: object) -> None:
    runtime = make_runtime()  # type: ignore[operator]
    found = _gather(runtime, "/article1")
    try:
        fetched = {f.link.url.rsplit("/", 1)[-1]: f.link.via for f in found.fetched}
        assert fetched == {
            "site.css": "link[stylesheet]",
            "fonts.css": "css@import",
            "bg.png": "css@url",
            "r.woff2": "css@url",  # in the imported stylesheet
            "logo.png": "img@src",
            "photo5.png": "img@src",
        }
        assert _why(found) == {
            "deeper.css": "an @import inside an imported stylesheet: not followed"
        }
    finally:
        found.close()


def test_requisites_off_fetches_nothing(make_runtime: object, web: FixtureWeb) -> None:
    runtime = make_runtime(requisites=False)  # type: ignore[operator]
    web.clear_requests()
    found = _gather(runtime, "/article1")
    assert (found.fetched, found.missing) == ([], [])
    assert not web.hits(CDN)


# -- through capture_one: records, reuse, revisits, custody, verify ------------------------

DIGEST = f"""\
On September 7, in Almaty, activist A was detained[1].
On September 8, in Almaty, activist B was fined[2].
[1]{BASE}/article1
[2]{BASE}/article2
"""


@dataclass
class Captured:
    settings: Settings
    rows: dict[str, list[RequisiteRow]]  # page URL -> its requisite rows
    stored: dict[str, dict[str, object]]  # page URL -> its custody `stored` entry


@pytest.fixture(scope="module")
def captured(web: FixtureWeb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    mp = pytest.MonkeyPatch()
    route_through(mp, web)
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("requisites"), retries=0, per_host_delay=0
    )
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as session:
            jobs.create_run(session, "req", parse_digest(DIGEST, name="req", year=2021))
            job_ids = {
                j.canonical_url: j.id for j in session.query(CaptureJob).filter_by(run_id="req")
            }
        for url in sorted(job_ids):  # article1 first: article2 stands on its logo
            pipeline.capture_one(runtime, "req", job_ids[url], task_id=None)
        rows: dict[str, list[RequisiteRow]] = {}
        stored: dict[str, dict[str, object]] = {}
        with runtime.sessions() as session:
            chains = custody.run_entries(session, "req")
            for url, job_id in job_ids.items():
                capture = session.scalars(select(CaptureRow).filter_by(job_id=job_id)).one()
                found = session.scalars(
                    select(RequisiteRow)
                    .where(RequisiteRow.page_record_id == capture.record_id)
                    .order_by(RequisiteRow.id)
                ).all()
                for row in found:
                    session.expunge(row)
                rows[url] = list(found)
                entry = next(r for r in chains[f"job/{job_id}"] if r.event == "stored")
                stored[url] = entry.data["data"]
        yield Captured(settings, rows, stored)
    finally:
        runtime.close()
        mp.undo()


def _by_name(rows: list[RequisiteRow]) -> dict[str, RequisiteRow]:
    return {r.url.rsplit("/", 1)[-1]: r for r in rows}


def test_each_requisite_is_a_record_in_the_pages_warc_batch(captured: Captured) -> None:
    first = _by_name(captured.rows[f"{BASE}/article1"])
    assert set(first) == {"site.css", "fonts.css", "bg.png", "r.woff2", "logo.png", "photo5.png"}
    records = {}
    for name, row in first.items():
        path = find_warc(captured.settings.archive_dir, row.warc_file)
        assert path is not None and not row.reused
        records[name] = record = read_record(path, row.offset)
        assert record.record_id == row.record_id
        assert record.target_uri == row.url
    # bg.png and logo.png are the same bytes: the second written is a revisit of the first
    revisits = {n for n, r in records.items() if r.rec_type == "revisit"}
    assert len(revisits) == 1 and revisits <= {"bg.png", "logo.png"}
    (again,) = revisits
    other = ({"bg.png", "logo.png"} - revisits).pop()
    assert first[again].revisit_of == first[other].record_id
    for name, record in records.items():
        if name not in revisits:
            assert (record.rec_type, record.sha256) == ("response", first[name].sha256)


def test_a_second_page_reuses_the_logo_and_revisits_the_stylesheet(captured: Captured) -> None:
    first = _by_name(captured.rows[f"{BASE}/article1"])
    second = _by_name(captured.rows[f"{BASE}/article2"])
    logo = second["logo.png"]
    # archived minutes ago: the first page's record stands for it, no new fetch
    assert logo.reused and logo.record_id == first["logo.png"].record_id
    css = second["site.css"]  # stylesheets are fetched every time: their contents matter
    assert not css.reused and css.revisit_of == first["site.css"].record_id
    path = find_warc(captured.settings.archive_dir, css.warc_file)
    assert path is not None
    record = read_record(path, css.offset)
    assert record.rec_type == "revisit"
    assert record.warc_header("WARC-Refers-To") == first["site.css"].record_id
    assert not second["photo6.png"].reused  # its own photo


def test_the_stored_entry_lists_every_requisite_and_verify_rereads_them(
    captured: Captured,
) -> None:
    for url, rows in captured.rows.items():
        listed = captured.stored[url]["requisites"]
        assert isinstance(listed, list)
        assert [(r["record_id"], r["payload_sha256"]) for r in listed] == [
            (row.record_id, row.sha256) for row in rows
        ]
        assert captured.stored[url]["requisites_missing"] == [
            {
                "url": f"https://{CDN}/deeper.css",
                "kind": "stylesheet",
                "why": "an @import inside an imported stylesheet: not followed",
            }
        ]
    result = audit_data_dir(captured.settings)
    # the run was never finalized (no report, no seal): everything else must match
    assert [f for f in result.findings if f.check != "seal"] == []
    assert any(line.startswith("requisites: 12 records") for line in result.summary)


@pytest.mark.parametrize("kind", ["response", "revisit"])
def test_verify_names_a_requisite_whose_recorded_digest_is_wrong(
    captured: Captured, kind: str
) -> None:
    # a revisit holds no payload, but the sha256 it states is checked all the same
    rows = captured.rows[f"{BASE}/article1"]
    row = next(r for r in rows if (r.revisit_of is not None) == (kind == "revisit"))
    engine_url = captured.settings.effective_database_url
    from sqlalchemy import create_engine

    engine = create_engine(engine_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(RequisiteRow).where(RequisiteRow.id == row.id).values(sha256="0" * 64)
            )
        result = audit_data_dir(captured.settings)
        findings = [f for f in result.findings if f.check == "requisite"]
        assert findings and findings[0].url == row.url
        # and the custody log no longer agrees with the rows
        assert any(f.check == "custody" for f in result.findings)
    finally:
        with engine.begin() as conn:
            conn.execute(
                update(RequisiteRow).where(RequisiteRow.id == row.id).values(sha256=row.sha256)
            )
        engine.dispose()


def test_a_recheck_that_captures_again_carries_the_requisites(
    captured: Captured, web: FixtureWeb
) -> None:
    """Last in the module: it changes article2's text, so the re-check sees drift and
    archives the page again, with its requisites in the same batch."""
    from worker.capture.recheck import recheck_source
    from worker.store.models import SourceCheckRow

    url = f"{BASE}/article2"
    imgs = f'<img src="https://{CDN}/logo.png"><img src="https://{CDN}/photo7.png">'
    changed = _page(imgs + "<p>" + "Суд отменил приговор. " * 60 + "</p>")
    web.route(SITE, "/article2", html(changed))
    runtime = build_runtime(captured.settings)
    try:
        check = recheck_source(runtime, url)
        assert check.captured
        with runtime.sessions() as session:
            row = session.scalars(
                select(SourceCheckRow)
                .where(SourceCheckRow.canonical_url == url, SourceCheckRow.record_id.is_not(None))
                .order_by(SourceCheckRow.id.desc())
            ).first()
            assert row is not None
            names = {
                r.url.rsplit("/", 1)[-1]
                for r in session.scalars(
                    select(RequisiteRow).where(RequisiteRow.page_record_id == row.record_id)
                )
            }
            job = session.scalars(select(CaptureJob).where(CaptureJob.canonical_url == url)).first()
            assert job is not None
            entry = custody.run_entries(session, "req")[f"job/{job.id}"][-1]
    finally:
        runtime.close()
    assert names == {"logo.png", "photo7.png"}
    assert entry.event == "rechecked"
    listed = entry.data["data"]["stored"]["requisites"]
    assert {r["url"].rsplit("/", 1)[-1] for r in listed} == names
