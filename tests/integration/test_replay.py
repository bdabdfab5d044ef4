"""Replay, Memento and WACZ against a real pywb, over WARCs from runs through the fixture web.

A small digest (a gzip-always article, the chunked KazTAG page, a windows-1251 page with
the charset in the header and one with it only in <meta>) is run twice into one data
dir: the second run's identical payloads become revisit records. pywb then replays the
still-open WARC file through the live index, and the closed one through index.cdxj.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import io
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from archive.cdxj import read_index, read_live_index
from archive.records import HttpExchange, sha256_hex
from archive.replay import (
    DEFAULT_HOST,
    PywbProcess,
    pywb_available,
    pywb_command,
    replay_url,
    start_pywb,
    timegate_url,
    timemap_url,
)
from archive.warc_writer import WarcWriter
from schemas import SourceStatus
from tests.browsers import CHROMIUM, CHROMIUM_ARGS
from tests.fixtureweb import FixtureWeb, route_through
from tests.fixtureweb.pages import SEPTEMBER_PAGES, Page
from tests.integration.hostile_page import HEADER_COOKIES, PLANTED, write_hostile_page
from tests.servers import free_port
from worker.digest.parse import parse_digest
from worker.report.build import ReplayUrl
from worker.report.cite import resolve_citation
from worker.runs import RunOutcome, run_digest
from worker.runtime import close_runtime, get_runtime
from worker.settings import Settings, load_settings
from worker.store.models import CaptureJob, CaptureRow, RequisiteRow

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        pywb_available() is not None,
        reason=f"pywb is not installed as a uv tool (.ci/test installs it): {pywb_available()}",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
# py-wacz validates what we write; like pywb it runs as a uv tool (.ci/test installs it)
WACZ_TOOL = ["uv", "tool", "run", "--offline", "--python", "3.11", "--from", "wacz==0.6.0", "wacz"]
COLL = "sourcevault"

DIGEST = """\
On September 7, in Almaty, at 4pm the "UralskNEWS" channel started the live broadcast with \
human rights activist Toregozhina Bakhytzhan on political repressions[1].
On September 8, in Nur-Sultan city, Nurzhan Altayev, the leader of the "El Tiregi" party was \
detained by the police[2].
On September 16, in Taraz, Islambek Dastan, a correspondent, was summoned by the police[3].
On September 28, in Shymkent, the drivers of heavy duty vehicles staged a strike[4].
[1]https://tirek.info/toregozhina-bahytzhan-intervyu-o-politicheskih-repressiyah/
[2]https://kaztag.kz/ru/news/za-eks-mazhilismenom-liderom-el-tiregi-nurzhanom-altaevym-prishla-politsiya
[3]https://rus.azattyq.org/a/31462889.html
[4]https://infoprof.su/voditeli-kamazov-v-shymkente-vyshli-na-zabastovku-s-trebovaniem-osvobozhdenija-tovarishha/
"""
PAGES = {p.url: p for p in SEPTEMBER_PAGES}
KAZTAG = "https://kaztag.kz/ru/news/za-eks-mazhilismenom-liderom-el-tiregi-nurzhanom-altaevym-prishla-politsiya"


@dataclass
class Archive:
    settings: Settings
    runs: list[RunOutcome]
    pywb: PywbProcess


@pytest.fixture(scope="module")
def archive(
    fixture_web_session: FixtureWeb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Archive]:
    mp = pytest.MonkeyPatch()
    route_through(mp, fixture_web_session, embedded=True)
    port = free_port()
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("replay-data"),
        concurrency=4,
        per_host_delay=0.0,
        replay_base_url=f"http://127.0.0.2:{port}",  # its own site, as by default
    )
    digest = parse_digest(DIGEST, name="replay-mini", year=2021)
    try:
        # the embedded worker closes its WARC file when each run ends (index.cdxj);
        # a file still open is covered by test_a_capture_in_an_open_file_replays…
        runs = [run_digest(settings, digest, source_name="mini", timeout=120) for _ in range(2)]
        with start_pywb(
            settings.data_dir,
            replay_base_url=settings.replay_base_url,
            collection=settings.collection,
        ) as pywb:
            yield Archive(settings, runs, pywb)
    finally:
        close_runtime()
        mp.undo()


def _get(url: str, **kw: object) -> httpx.Response:
    # trust_env=False: the fixture web's HTTPS_PROXY is in the environment; pywb is local
    return httpx.get(url, trust_env=False, **kw)  # type: ignore[arg-type]


def _decoded(resp: httpx.Response) -> str:
    """The body as text: the charset of the header, else of <meta>, else UTF-8."""
    charset = resp.charset_encoding
    if charset is None:
        m = re.search(rb"charset=[\"']?([A-Za-z0-9_-]+)", resp.content[:4096])
        charset = m.group(1).decode("ascii") if m else "utf-8"
    return html.unescape(resp.content.decode(charset))


def _replayed_text(archive: Archive, url: str, ts: dt.datetime) -> str:
    resp = _get(replay_url(archive.pywb.base_url, COLL, url, ts), timeout=30)
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:500])
    return _decoded(resp)


@pytest.mark.parametrize(
    "url",
    [
        "https://rus.azattyq.org/a/31462889.html",  # always gzip-encoded
        KAZTAG,  # Transfer-Encoding: chunked
        "https://tirek.info/toregozhina-bahytzhan-intervyu-o-politicheskih-repressiyah/",
        "https://infoprof.su/voditeli-kamazov-v-shymkente-vyshli-na-zabastovku-s-trebovaniem-osvobozhdenija-tovarishha/",
    ],
)
def test_archived_page_replays_with_its_russian_text(archive: Archive, url: str) -> None:
    page: Page = PAGES[url]
    source = next(s for s in archive.runs[0].report.sources if s.canonical_url == url)
    assert source.status is SourceStatus.OK and source.capture is not None
    # the report's own replay URL, as auditors follow it
    assert source.capture.replay_url is not None
    resp = _get(source.capture.replay_url, timeout=30)
    assert resp.status_code == 200, resp.text[:500]
    text = _decoded(resp)
    assert page.title in text
    assert page.paragraphs[0][:60] in text
    # the revisit of the second run replays the same page
    again = next(s for s in archive.runs[1].report.sources if s.canonical_url == url)
    assert again.capture is not None and again.capture.revisit_of == source.capture.record_id
    assert page.title in _replayed_text(archive, url, again.capture.captured_at)


def test_timemap_lists_every_capture_of_a_url(archive: Archive) -> None:
    runtime = get_runtime(archive.settings)
    with runtime.sessions() as session:
        times = session.scalars(
            select(CaptureRow.captured_at)
            .join(CaptureJob, CaptureJob.id == CaptureRow.job_id)
            .where(CaptureJob.canonical_url == KAZTAG)
        ).all()
    assert len(times) == 2  # one per run: a response, then a revisit
    resp = _get(timemap_url(archive.pywb.base_url, COLL, KAZTAG), timeout=30)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/link-format")
    listed = set(re.findall(r'datetime="([^"]+)"', resp.text))
    expected = {
        email.utils.format_datetime(t.replace(tzinfo=dt.UTC).astimezone(dt.UTC), usegmt=True)
        for t in times
    }
    assert expected <= listed
    assert len(re.findall(r'rel="[^"]*memento[^"]*"', resp.text)) >= len(times)
    assert 'rel="original"' in resp.text


def test_timegate_redirects_to_the_closest_memento(archive: Archive) -> None:
    first, second = (
        next(s for s in run.report.sources if s.canonical_url == KAZTAG).capture
        for run in archive.runs
    )
    assert first is not None and second is not None
    for wanted, near in (
        (first, first.captured_at - dt.timedelta(days=3)),
        (second, second.captured_at + dt.timedelta(days=3)),
    ):
        resp = _get(
            timegate_url(archive.pywb.base_url, COLL, KAZTAG),
            headers={"Accept-Datetime": email.utils.format_datetime(near, usegmt=True)},
            timeout=30,
        )
        assert resp.status_code == 302, resp.text[:300]  # RFC 7089 pattern 2, not pywb's 307
        assert "accept-datetime" in resp.headers.get("vary", "").lower()
        ts = wanted.captured_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
        assert f"/{COLL}/{ts}" in resp.headers["location"]
        memento = _get(resp.headers["location"], timeout=30)
        assert memento.status_code == 200
        assert memento.headers["memento-datetime"] == email.utils.format_datetime(
            wanted.captured_at.astimezone(dt.UTC), usegmt=True
        )
        assert 'rel="original"' in memento.headers["link"]
        assert "timemap" in memento.headers["link"]


def test_replay_runs_on_its_own_site(archive: Archive) -> None:
    """Not the app's host on another port: cookies ignore ports, SameSite ignores them too."""
    assert archive.pywb.host == DEFAULT_HOST == "127.0.0.2"
    assert archive.pywb.base_url == archive.settings.replay_base_url
    with pytest.raises(httpx.ConnectError):
        _get(f"http://127.0.0.1:{archive.pywb.port}/", timeout=5)


def test_memento_client_finds_the_closest_memento(archive: Archive) -> None:
    """`memento_client` accepts a TimeGate only when it answers 302 (or 200)."""
    import requests
    from memento_client import MementoClient

    elsewhere: list[str] = []

    class LoopbackOnly(requests.adapters.HTTPAdapter):
        def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
            if not (urlsplit(request.url).hostname or "").startswith("127."):
                elsewhere.append(request.url)
                raise requests.exceptions.ConnectionError(f"not loopback: {request.url}")
            return super().send(request, *args, **kwargs)

    first, second = (
        next(s for s in run.report.sources if s.canonical_url == KAZTAG).capture
        for run in archive.runs
    )
    assert first is not None and second is not None
    session = requests.Session()
    session.trust_env = False  # pywb is on loopback; never an environment proxy
    session.mount("http://", LoopbackOnly())
    session.mount("https://", LoopbackOnly())
    # check_native_timegate=False: it would ask the original (live) site for a TimeGate.
    # Asked with a memento's URI, it reads the original from that memento's Link header
    # (with the original's, it would HEAD the live site to look for one).
    client = MementoClient(
        timegate_uri=f"{archive.pywb.base_url}/{COLL}/",
        check_native_timegate=False,
        session=session,
    )
    memento = replay_url(archive.pywb.base_url, COLL, KAZTAG, first.captured_at)
    for wanted, near in (
        (first, first.captured_at - dt.timedelta(days=3)),
        (second, second.captured_at + dt.timedelta(days=3)),
    ):
        info = client.get_memento_info(memento, near.astimezone(dt.UTC).replace(tzinfo=None))
        assert info["original_uri"] == KAZTAG
        assert info["timegate_uri"] == timegate_url(archive.pywb.base_url, COLL, KAZTAG)
        closest = info["mementos"]["closest"]
        ts = wanted.captured_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
        assert closest["uri"][0].startswith(f"{archive.pywb.base_url}/{COLL}/{ts}")
        when = wanted.captured_at.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
        assert closest["datetime"] == when
    session.close()
    assert elsewhere == []


def test_no_archived_cookie_reaches_a_browser(archive: Archive) -> None:
    """A hostile archived response's `Set-Cookie` never leaves replay, in any mode; pywb
    on its own (no front) does pass them through, so the front is what stops them."""
    page = write_hostile_page(archive.settings.archive_dir, "http://127.0.0.1:8000")
    for modifier in ("", "mp_", "id_"):
        resp = _get(replay_url(archive.pywb.base_url, COLL, page.url, page.fetched_at,
                               modifier=modifier), timeout=30)  # fmt: skip
        assert resp.status_code == 200, (modifier, resp.text[:300])
        assert PLANTED in resp.text  # the page itself is served
        assert "set-cookie" not in resp.headers, modifier
        assert "set-cookie2" not in resp.headers, modifier
    with PywbProcess(archive.settings.data_dir, free_port(), command=pywb_command()) as bare:
        resp = _get(replay_url(bare.base_url, COLL, page.url, page.fetched_at, modifier="id_"),
                    timeout=30)  # fmt: skip
        gate = _get(timegate_url(bare.base_url, COLL, page.url), timeout=30)
    assert resp.status_code == 200
    assert resp.headers.get_list("set-cookie") == HEADER_COOKIES
    assert gate.status_code == 307  # pywb's own TimeGate code, which the front turns into 302


def test_citation_opens_the_copy_closest_to_the_incident(archive: Archive) -> None:
    replay = ReplayUrl(archive.settings.replay_base_url, COLL)
    runtime = get_runtime(archive.settings)
    with runtime.sessions() as session:
        # by digest id: its latest run; both runs' captures are candidates
        digest_id = parse_digest(DIGEST, name="replay-mini", year=2021).id
        [target] = resolve_citation(session, digest_id, 2, replay)
    first = next(s for s in archive.runs[0].report.sources if s.canonical_url == KAZTAG)
    assert first.capture is not None
    assert target.captures == 2
    assert target.incident_date == dt.date(2021, 9, 8)
    assert target.captured_at == first.capture.captured_at  # the earlier copy is closer
    assert target.replay_url is not None
    resp = _get(target.replay_url, timeout=30)
    assert resp.status_code == 200
    assert PAGES[KAZTAG].title in _decoded(resp)


def test_a_capture_in_an_open_file_replays_at_once_and_after_close(archive: Archive) -> None:
    """A deployment's worker keeps its WARC file open for hours: its captures must
    replay as they land (the live files), and still after the file closes (index.cdxj)."""
    settings = archive.settings
    writer = WarcWriter(settings.archive_dir, prefix="live-test", max_size=1 << 30)
    body = "<html><body><p>Свежая запись, файл ещё открыт</p></body></html>".encode()
    url = "https://kaztag.kz/ru/news/live-capture"
    fetched_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ex = HttpExchange(
        url=url,
        method="GET",
        request_headers=[("Host", "kaztag.kz")],
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=[("Content-Type", "text/html; charset=utf-8")],
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256=sha256_hex(body),
        fetched_at=fetched_at,
        peer_ip="127.0.0.1",
    )
    with writer.batch() as batch:
        _req, resp = batch.write_exchange(ex)
    writer.sync()
    assert (settings.archive_dir / (resp.warc_file + ".open")).exists()
    assert "Свежая запись" in _replayed_text(archive, url, fetched_at)
    writer.close()
    assert not (settings.archive_dir / (resp.warc_file + ".open")).exists()
    assert all(not ln.filename.endswith(".open") for ln in read_live_index(settings.indexes_dir))
    assert {ln.filename for ln in read_index(settings.indexes_dir) if ln.url == url} == {
        resp.warc_file
    }
    assert "Свежая запись" in _replayed_text(archive, url, fetched_at)


# -- WACZ ------------------------------------------------------------------------------


def _sv(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["uv", "run", "--project", str(ROOT), "sourcevault", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def wacz_file(archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wacz") / "replay-mini.wacz"
    run_id = archive.runs[1].run_id
    proc = _sv("export", run_id, "--wacz", str(out), "--data-dir", str(archive.settings.data_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_exported_wacz_validates_and_verifies(wacz_file: Path) -> None:
    with zipfile.ZipFile(wacz_file) as zf:
        names = set(zf.namelist())
        assert {"datapackage.json", "datapackage-digest.json", "pages/pages.jsonl"} <= names
        assert {"indexes/index.cdx", "sourcevault/report.json"} <= names
        warcs = [n for n in names if n.startswith("archive/")]
        # the second run's revisits need the first run's originals: all in the package
        assert warcs and all(zf.getinfo(n).compress_type == zipfile.ZIP_STORED for n in warcs)
        pages = zf.read("pages/pages.jsonl").decode().splitlines()
        assert len(pages) == 1 + 4  # header + one page per archived source
    proc = subprocess.run(
        [*WACZ_TOOL, "validate", "-f", str(wacz_file)], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0 and "No solution found" in proc.stderr:
        pytest.skip(f"py-wacz is not installed as a uv tool (.ci/test installs it): {proc.stderr}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation succeeded" in proc.stdout
    proc = _sv("verify-wacz", str(wacz_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok" in proc.stdout


def test_a_tampered_warc_byte_fails_verification_naming_the_file(
    wacz_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "tampered.wacz"
    data = bytearray(wacz_file.read_bytes())
    with zipfile.ZipFile(wacz_file) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
    # the entry's bytes start after its local header (30 bytes + name + extra)
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    proc = _sv("verify-wacz", str(bad))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert info.filename in proc.stdout
    assert "MISMATCH" in proc.stdout


def test_the_wacz_replays_in_pywb(archive: Archive, wacz_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "from-wacz"
    data.mkdir()
    for args in (["init", "fromwacz"], ["add", "--unpack-wacz", "fromwacz", str(wacz_file)]):
        proc = subprocess.run(
            [*pywb_command("wb-manager", offline=True), *args],
            cwd=data,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    url = "https://tirek.info/toregozhina-bahytzhan-intervyu-o-politicheskih-repressiyah/"
    source = next(s for s in archive.runs[0].report.sources if s.canonical_url == url)
    assert source.capture is not None
    with PywbProcess(data, free_port()) as pywb:
        resp = _get(
            replay_url(pywb.base_url, "fromwacz", url, source.capture.captured_at), timeout=30
        )
    assert resp.status_code == 200, resp.text[:500]
    assert PAGES[url].title in _decoded(resp)


# -- the page as a reader saw it: requisites from the archive, nothing live ----------------

DRAWN = """() => {
  const img = document.querySelector('.cover-media img');
  const figure = document.querySelector('.cover-media figure');
  const style = figure ? getComputedStyle(figure) : null;
  return {
    photo: img ? [img.complete, img.naturalWidth, img.currentSrc] : null,
    border: style
      ? [style.borderTopWidth, style.borderTopStyle, style.borderTopColor].join(' ')
      : null,
  };
}"""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_a_replayed_article_draws_its_photo_and_styles_from_the_archive_alone(
    archive: Archive,
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    url = "https://rus.azattyq.org/a/31462889.html"
    origin = _origin(archive.pywb.base_url)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for run in archive.runs:  # the first capture, and the second run's (reused, revisits)
                source = next(s for s in run.report.sources if s.canonical_url == url)
                assert source.capture is not None
                page = browser.new_page()
                requested: list[str] = []
                page.on("request", lambda r, seen=requested: seen.append(r.url))
                page.goto(
                    replay_url(archive.pywb.base_url, COLL, url, source.capture.captured_at),
                    wait_until="networkidle",
                )
                drawn = page.evaluate(DRAWN)
                page.close()
                complete, width, current = drawn["photo"]
                assert complete and width > 0, drawn  # the photo came from the WARC
                assert "gdb.rferl.org" in current
                assert drawn["border"] == "4px solid rgb(200, 16, 46)"  # the CDN stylesheet
                live = [u for u in requested if not u.startswith(("data:", "blob:", origin))]
                assert live == [], live  # nothing left the replay origin
                assert any("gdb.rferl.org" in u for u in requested)
        finally:
            browser.close()


def test_the_wacz_carries_every_record_its_pages_need(archive: Archive, wacz_file: Path) -> None:
    runtime = get_runtime(archive.settings)
    with runtime.sessions() as session:
        pages = [
            c.record_id
            for c in session.scalars(
                select(CaptureRow)
                .join(CaptureJob, CaptureJob.id == CaptureRow.job_id)
                .where(CaptureJob.run_id == archive.runs[1].run_id)
            )
        ]
        rows = session.scalars(
            select(RequisiteRow).where(RequisiteRow.page_record_id.in_(pages))
        ).all()
        needed = {r.warc_file for r in rows} | {r.revisit_file for r in rows if r.revisit_file}
        reused = [r for r in rows if r.reused]
    assert rows and reused  # the second run stands on the first one's images and scripts
    with zipfile.ZipFile(wacz_file) as zf:
        names = {Path(n).name for n in zf.namelist() if n.startswith("archive/")}
    assert needed <= names
