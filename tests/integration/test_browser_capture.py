"""The browser capture (#13 §3): headless Chromium, every request through our fetcher.

Debian's chromium through Playwright's `executable_path`. The fixture web's scripted pages
(tests/fixtureweb/scripted.py) show their text only to a browser: a Facebook group post
(and only with a session) and a news page built by its script bundle. The capture steps
run as plain functions (`worker.capture.steps`), once through `capture_one` for custody.
"""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from archive.warc_reader import check_file, read_record
from schemas import SourceStatus
from tests.browsers import CHROMIUM
from tests.fixtureweb import FixtureWeb, route_through
from tests.fixtureweb.scripted import (
    FB_POST,
    FB_POST_TEXT,
    FB_SESSION,
    SPA_ARTICLE,
    SPA_TEXT,
    SPA_TITLE,
)
from worker.capture import pipeline, steps
from worker.custody import log as custody
from worker.custody.events import find_warc
from worker.digest.parse import parse_digest
from worker.runtime import Runtime, build_runtime
from worker.settings import load_settings
from worker.store import jobs
from worker.store.models import CaptureJob, CaptureRow, RequisiteRow, ScreenshotRow

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]

AZ_ARTICLE = "https://rus.azattyq.org/a/31446385.html"


@pytest.fixture
def make_runtime(
    fixture_web: FixtureWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    route_through(monkeypatch, fixture_web)
    made: list[Runtime] = []

    def make(**overrides: object) -> Runtime:
        base: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "retries": 0,
            "per_host_delay": 0,
            "fallback_lookup": False,
            "cookie_profiles": tmp_path / "profiles",
        }
        runtime = build_runtime(load_settings(**(base | overrides)))
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


def _records(runtime: Runtime) -> list[Any]:
    runtime.writer.sync()
    out = []
    for path in sorted(runtime.settings.archive_dir.glob("*.warc.gz*")):
        out.extend(read_record(path, rec.offset) for rec in check_file(path).records)
    return out


def _profile(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    expires = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).timestamp())
    lines = ["# Netscape HTTP Cookie File"] + [
        f".facebook.com\tTRUE\t/\tTRUE\t{expires}\t{k}\t{v}" for k, v in FB_SESSION.items()
    ]
    (directory / "facebook.com.txt").write_text("\n".join(lines) + "\n")


def test_over_http_a_script_built_page_has_no_text(make_runtime: Any) -> None:
    seen = steps.observe(make_runtime(capture="http"), SPA_ARTICLE)
    try:
        assert seen.browsed is None
        assert SPA_TEXT[0][:40] not in (seen.evidence.text or "")
    finally:
        seen.close()


def test_the_browser_reads_the_rendered_page_and_archives_every_request(
    make_runtime: Any, fixture_web: FixtureWeb
) -> None:
    runtime = make_runtime(capture="browser")
    seen = steps.observe(runtime, SPA_ARTICLE)
    try:
        assert seen.browsed is not None and seen.browsed.error is None
        assert seen.evidence.status is SourceStatus.OK, seen.evidence.reason
        assert SPA_TEXT[1][:60] in (seen.evidence.text or "")
        assert seen.evidence.title and SPA_TITLE in seen.evidence.title
        written = steps.write_records(runtime, seen)
    finally:
        seen.close()
    assert written is not None
    by_uri = {r.target_uri: r for r in _records(runtime)}
    # the document as the server sent it: the empty shell, not the rendered DOM
    assert b'<div id="app"></div>' in by_uri[SPA_ARTICLE].payload
    # the script bundle and the data it asked for are responses of their own
    kinds = {r.url.rsplit("/", 1)[-1]: r.kind for r in written.requisites}
    assert kinds == {"app.9f3c2e.js": "script", "125432": "script"}
    api = by_uri["https://informburo.kz/api/v1/articles/125432"]
    assert api.rec_type == "response" and SPA_TEXT[2][:30].encode() in api.payload
    # what extraction read (the rendered DOM) and a screenshot taken at load time
    dom = by_uri[f"urn:dom:{SPA_ARTICLE}"]
    assert dom.rec_type == "resource" and SPA_TEXT[0][:30].encode() in dom.payload
    view = by_uri[f"urn:view:{SPA_ARTICLE}"]
    assert view.rec_type == "resource" and view.payload.startswith(b"\x89PNG")
    assert len(written.views) == 1
    # every request the browser made went through our fetcher (the fixture web's proxy)
    assert fixture_web.hits("informburo.kz", "/api/v1/articles/125432")


def test_auto_uses_the_browser_for_a_script_shell_only(make_runtime: Any) -> None:
    runtime = make_runtime(capture="auto")
    shell = steps.observe(runtime, SPA_ARTICLE)
    article = steps.observe(runtime, AZ_ARTICLE)
    try:
        assert shell.browsed is not None and SPA_TEXT[0][:40] in (shell.evidence.text or "")
        assert article.browsed is None  # its text is in its HTML: httpx and requisites
        assert article.evidence.status is SourceStatus.OK
    finally:
        shell.close()
        article.close()


def test_per_domain_mode_overrides_the_default(make_runtime: Any) -> None:
    runtime = make_runtime(capture="http", capture_domains={"informburo.kz": "browser"})
    seen = steps.observe(runtime, SPA_ARTICLE)
    try:
        assert seen.browsed is not None
    finally:
        seen.close()


def test_a_facebook_post_without_a_session_is_a_login_wall(make_runtime: Any) -> None:
    seen = steps.observe(make_runtime(capture="browser"), FB_POST)
    try:
        assert seen.evidence.status is SourceStatus.LOGIN_WALL
        assert FB_POST_TEXT[0][:40] not in (seen.evidence.text or "")
    finally:
        seen.close()


def test_a_facebook_post_with_a_session_is_captured_with_its_screenshot_and_custody(
    make_runtime: Any, tmp_path: Path
) -> None:
    _profile(tmp_path / "profiles")
    runtime = make_runtime(capture="browser")
    digest = parse_digest(
        "On September 13, in Almaty, Inga Imanbay held a picket[1].\n[1]" + FB_POST + "\n",
        name="fb",
        year=2021,
    )
    with runtime.sessions() as session:
        jobs.create_run(session, "fb", digest)
        job = session.scalars(select(CaptureJob).where(CaptureJob.run_id == "fb")).one()
    outcome = pipeline.capture_one(runtime, "fb", job.id, task_id=None)
    assert outcome.status == SourceStatus.OK.value
    with runtime.sessions() as session:
        capture = session.scalars(select(CaptureRow).where(CaptureRow.job_id == job.id)).one()
        rows = session.scalars(
            select(RequisiteRow).where(RequisiteRow.page_record_id == capture.record_id)
        ).all()
        shot = session.scalars(select(ScreenshotRow)).one()
        stored = next(
            r for r in custody.run_entries(session, "fb")[f"job/{job.id}"] if r.event == "stored"
        )
        warc = find_warc(runtime.settings.archive_dir, shot.warc_file)
    names = {r.url.split("?")[0].rsplit("/", 1)[-1] for r in rows}
    assert {"post-loader.js", "", "241711_picket_w720.jpg"} <= names  # "" = /api/graphql/
    listed = {r["record_id"] for r in stored.data["data"]["requisites"]}
    assert listed == {r.record_id for r in rows}
    assert warc is not None and read_record(warc, shot.offset).payload.startswith(b"\x89PNG")
    # the session never reaches the WARC
    raw = b"".join(r.payload + str(r.http_headers).encode() for r in _records(runtime))
    assert FB_SESSION["xs"].encode() not in raw


class _Hits(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []
    page: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = type(self).page
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_pair() -> Iterator[tuple[str, type[_Hits], type[_Hits]]]:
    """A page on 127.0.0.1 whose script asks 127.0.0.2 (a second loopback server)."""
    first = type("First", (_Hits,), {"hits": []})
    second = type("Second", (_Hits,), {"hits": [], "page": b"secret"})
    servers = []
    for host, handler in (("127.0.0.1", first), ("127.0.0.2", second)):
        server = http.server.ThreadingHTTPServer((host, 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    other = f"http://127.0.0.2:{servers[1].server_address[1]}/secret"
    first.page = (
        "<!DOCTYPE html><html><head><title>Страница</title></head><body><div id=a></div>"
        f"<script>fetch('{other}').then(r => r.text()).then(t => "
        "document.getElementById('a').textContent = t)</script></body></html>"
    ).encode()
    try:
        yield f"http://127.0.0.1:{servers[0].server_address[1]}/page", first, second
    finally:
        for server in servers:
            server.shutdown()


def test_every_request_of_the_browser_passes_the_egress_policy(
    make_runtime: Any,
    loopback_pair: tuple[str, type[_Hits], type[_Hits]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No proxy: the policy itself decides. The page's host is allowed by
    SOURCEVAULT_ALLOW_NETWORKS; the address its script asks for is not, and is never
    reached, although it is one the browser itself could connect to."""
    url, first, second = loopback_pair
    for key in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(key, raising=False)
    runtime = make_runtime(capture="browser", allow_networks=["127.0.0.1/32"])
    seen = steps.observe(runtime, url)
    try:
        assert seen.browsed is not None
        missing = {m.url: m.why for m in seen.browsed.requisites.missing}
    finally:
        seen.close()
    assert first.hits[0] == "/page"  # (then the soft-404 probe's sibling path)
    assert second.hits == []
    (why,) = [w for u, w in missing.items() if u.startswith("http://127.0.0.2")]
    assert why.startswith("egress_refused")


def test_a_browser_that_does_not_start_fails_its_part_only(make_runtime: Any) -> None:
    runtime = make_runtime(capture="browser", chromium_path=Path("/bin/false"))
    seen = steps.observe(runtime, AZ_ARTICLE)
    try:
        assert seen.browsed is None  # fell back to the plain capture
        assert seen.evidence.status is SourceStatus.OK
    finally:
        seen.close()
