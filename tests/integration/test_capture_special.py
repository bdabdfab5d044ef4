"""Telegram posts and PDF sources through the whole `worker.capture.pipeline.capture_one`.

`worker.sites.registry` fetches `t.me/<channel>/<n>` through its public preview `t.me/s/…` and
hands PDFs (pypdf) and Telegram previews to their own extractors before the HTML path.
Here each kind of source is captured for real (fixture web proxy, runtime from
`build_runtime`): the evidence, the WARC record and the job's custody log must all agree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from archive.warc_reader import ArchivedRecord, read_record
from schemas import Digest, Evidence, Footnote, FootnoteURL, Incident, Report, Source
from tests.fixtureweb import FixtureWeb, Response, html, route_through, start_fixture_web
from worker.capture import pipeline
from worker.custody import log as custody
from worker.report.build import build_report
from worker.runtime import Runtime, build_runtime
from worker.settings import load_settings
from worker.store import jobs
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow

pytestmark = pytest.mark.integration

RUN_ID = "capture-special"

CHANNEL = "kz_rights_news"
POST_URL = f"https://t.me/{CHANNEL}/4172"
PREVIEW_URL = f"https://t.me/s/{CHANNEL}/4172"
POST_TEXT = (
    "Специализированный межрайонный суд Алматы приговорил активистку Бахытжан Торегожину "
    "к ограничению свободы сроком на один год за участие в несанкционированном митинге."
)
OTHER_TEXT = "Анонс: завтра в 10:00 пресс-конференция правозащитников."
# 19:30 UTC on Sep 14 is 01:30 on Sep 15 in Almaty: the post states the 14th (UTC), the
# incident calendar is Almaty's, and the date check reads the timestamp in Almaty
POST_TIME = "2021-09-14T19:30:00+00:00"
POST_DATE = dt.date(2021, 9, 15)
POST_STATED_DAY = dt.date(2021, 9, 14)

PDF_URL = "https://court-kz.test/docs/ruling-2021-09-14.pdf"
BROKEN_PDF_URL = "https://court-kz.test/docs/ruling-broken.pdf"
PDF_LINES = [
    "Specialized inter-district court of Almaty",
    "Ruling of 14.09.2021",
    "The court found Bakhytzhan Toregozhina guilty of taking part in an unauthorised rally.",
]
PDF_DATE = dt.date(2021, 9, 14)


def preview_page() -> str:
    """A `t.me/s/` preview as Telegram serves it: a page of the channel's posts, the cited
    one among them, each a `tgme_widget_message` with its text and `<time datetime>`."""

    def message(post: int, body: str, when: str) -> str:
        return f"""
<div class="tgme_widget_message_wrap js-widget_message_wrap">
 <div class="tgme_widget_message text_not_supported_wrap js-widget_message"
      data-post="{CHANNEL}/{post}" data-view="eyJjIjotMTAwMTIzfQ">
  <div class="tgme_widget_message_bubble">
   <div class="tgme_widget_message_author accent_color">
    <a class="tgme_widget_message_owner_name" href="https://t.me/{CHANNEL}">
     <span dir="auto">KZ Rights News</span></a>
   </div>
   <div class="tgme_widget_message_text js-message_text" dir="auto">{body}</div>
   <div class="tgme_widget_message_footer compact js-message_footer">
    <div class="tgme_widget_message_info short js-message_info">
     <span class="tgme_widget_message_views">1.2K</span>
     <span class="tgme_widget_message_meta"><a class="tgme_widget_message_date"
       href="https://t.me/{CHANNEL}/{post}"><time datetime="{when}"
       class="time">{when[11:16]}</time></a></span>
    </div>
   </div>
  </div>
 </div>
</div>"""

    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<title>KZ Rights News – Telegram</title>
<meta property="og:title" content="KZ Rights News">
<meta property="og:description" content="Новости о правах человека в Казахстане">
</head>
<body class="widget_frame_base tgme_webpreview">
<header class="tgme_header"><div class="tgme_header_title">KZ Rights News</div></header>
<main class="tgme_main"><section class="tgme_channel_history js-message_history">
{message(4171, OTHER_TEXT, "2021-09-10T08:00:00+00:00")}
{message(4172, POST_TEXT, POST_TIME)}
{message(4173, "Обновление по делу: апелляция назначена на октябрь.", "2021-09-20T06:00:00+00:00")}
</section></main></body></html>"""


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose content stream writes `lines` in Helvetica (pypdf only)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    helvetica = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): helvetica})}
    )
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 770 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page.replace_contents(stream.flate_encode())
    writer.add_metadata({"/Title": "Ruling", "/CreationDate": "D:20211001120000Z"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PDF_BYTES = make_pdf(PDF_LINES)
BROKEN_PDF_BYTES = PDF_BYTES[: len(PDF_BYTES) // 2]  # cut mid-file: no xref, no %%EOF


def install_pages(fw: FixtureWeb) -> FixtureWeb:
    fw.route("t.me", f"/s/{CHANNEL}/4172", html(preview_page(), gzip="auto"))
    # the post URL itself answers with an app-download page: fetching it would be wrong
    fw.route("t.me", f"/{CHANNEL}/4172", html("<html><title>Telegram</title>Open app</html>"))
    fw.route("court-kz.test", "/docs/ruling-2021-09-14.pdf", pdf_response(PDF_BYTES))
    fw.route("court-kz.test", "/docs/ruling-broken.pdf", pdf_response(BROKEN_PDF_BYTES))
    return fw


def pdf_response(data: bytes) -> Response:
    return Response(body=data, content_type="application/pdf")


URLS = (POST_URL, PDF_URL, BROKEN_PDF_URL)
INCIDENT_DATES = {POST_URL: POST_DATE, PDF_URL: PDF_DATE, BROKEN_PDF_URL: PDF_DATE}
PEOPLE = {POST_URL: "Бахытжан Торегожина", PDF_URL: "Bakhytzhan Toregozhina"}


def build_digest() -> Digest:
    """One incident per source; footnote n cites URLS[n-1]."""
    incidents, footnotes, sources = [], [], []
    for n, url in enumerate(URLS, start=1):
        people = [PEOPLE[url]] if url in PEOPLE else []
        incidents.append(
            Incident(id=n, line=n, date=INCIDENT_DATES[url], text=f"case {n}",
                     footnotes=[n], people=people)
        )  # fmt: skip
        footnotes.append(
            Footnote(number=n, line=100 + n,
                     urls=[FootnoteURL(url=url, canonical_url=url, line=100 + n)])
        )  # fmt: skip
        sources.append(Source(id=n, url=url, canonical_url=url, footnotes=[n]))
    return Digest(id=RUN_ID, title="Special sources", year=2021, incidents=incidents,
                  footnotes=footnotes, sources=sources)  # fmt: skip


@dataclass
class Captured:
    job_id: int
    outcome: pipeline.Outcome
    evidence: Evidence
    capture: CaptureRow | None
    events: list[dict[str, object]]


@dataclass
class Special:
    runtime: Runtime
    web: FixtureWeb
    report: Report
    by_url: dict[str, Captured]

    def record(self, url: str) -> ArchivedRecord:
        capture = self.by_url[url].capture
        assert capture is not None, f"{url}: no capture row"
        path = self.runtime.settings.archive_dir / capture.warc_file
        if not path.exists():  # the writer still holds it open
            path = path.with_name(path.name + ".open")
        return read_record(path, capture.offset)


@pytest.fixture(scope="module")
def special(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Special]:
    web = install_pages(start_fixture_web(None))
    mp = pytest.MonkeyPatch()
    route_through(mp, web)
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("special"), retries=0, per_host_delay=0.0
    )
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as session:
            jobs.create_run(session, RUN_ID, build_digest())
            job_ids = {
                j.canonical_url: j.id for j in session.query(CaptureJob).filter_by(run_id=RUN_ID)
            }
        outcomes = {
            url: pipeline.capture_one(runtime, RUN_ID, job_id, task_id=None)
            for url, job_id in job_ids.items()
        }
        by_url: dict[str, Captured] = {}
        with runtime.sessions() as session:
            chains = custody.run_entries(session, RUN_ID)
            for url, job_id in job_ids.items():
                row = session.query(EvidenceRow).filter_by(job_id=job_id).one()
                capture = session.query(CaptureRow).filter_by(job_id=job_id).one_or_none()
                if capture is not None:
                    session.expunge(capture)
                rows = chains.get(f"job/{job_id}", [])
                assert custody.check_rows(rows) is None, f"{url}: custody chain broken"
                assert all(r.canonical_url == url for r in rows), url
                events = [
                    {"event": r.event, **cast(dict[str, object], r.data["data"])} for r in rows
                ]
                by_url[url] = Captured(
                    job_id, outcomes[url], Evidence.model_validate(row.data), capture, events
                )
            report = build_report(session, RUN_ID)
        yield Special(runtime, web, report, by_url)
    finally:
        runtime.close()
        mp.undo()
        web.stop()


def _events(got: Captured) -> dict[str, dict[str, object]]:
    return {str(e["event"]): e for e in got.events}


def _citation_date_verdict(special: Special, url: str) -> str:
    n = URLS.index(url) + 1
    (incident,) = [i for i in special.report.incidents if i.id == n]
    (citation,) = incident.citations
    return str(citation.date_check.verdict.value)


# --- Telegram -----------------------------------------------------------------------


def test_telegram_post_is_fetched_through_its_preview(special: Special) -> None:
    got = special.by_url[POST_URL]
    ev = got.evidence
    assert got.outcome.status == "ok" and ev.status == "ok", (ev.status, ev.reason)
    assert ev.final_url == PREVIEW_URL
    assert special.web.was_requested(PREVIEW_URL)
    assert not special.web.hits("t.me", f"/{CHANNEL}/4172"), "the app page was fetched"
    # the cited post's text and date, not its neighbours'
    assert ev.text == POST_TEXT
    assert OTHER_TEXT not in (ev.text or "")
    assert ev.published == POST_STATED_DAY and ev.date_source == "telegram:time"
    assert ev.published_at == POST_TIME
    assert ev.author == "KZ Rights News"
    assert _citation_date_verdict(special, POST_URL) == "consistent"


def test_telegram_warc_holds_the_preview_response(special: Special) -> None:
    got = special.by_url[POST_URL]
    assert got.capture is not None and got.capture.url == PREVIEW_URL
    record = special.record(POST_URL)
    assert record.rec_type == "response" and record.http_status == 200
    assert record.target_uri == PREVIEW_URL
    assert record.digests_ok is not False
    assert record.sha256 == got.capture.sha256
    body = record.decoded_payload().decode("utf-8")
    assert f'data-post="{CHANNEL}/4172"' in body and POST_TEXT in body


def test_telegram_custody_log(special: Special) -> None:
    got = special.by_url[POST_URL]
    assert got.capture is not None
    events = _events(got)
    names = [e["event"] for e in got.events]
    want = ["fetched", "stored", "extracted", "verified"]
    assert [n for n in names if n in want] == want, names
    assert events["fetched"]["requested_url"] == PREVIEW_URL
    assert events["stored"]["payload_sha256"] == got.capture.sha256
    assert events["stored"]["target_uri"] == PREVIEW_URL
    extracted = events["extracted"]
    assert extracted["ok"] is True and extracted["published"] == POST_STATED_DAY.isoformat()
    assert extracted["text_sha256"] == hashlib.sha256(POST_TEXT.encode()).hexdigest()
    assert events["verified"]["status"] == "ok"


# --- PDF ------------------------------------------------------------------------------


def test_pdf_source_is_extracted(special: Special) -> None:
    got = special.by_url[PDF_URL]
    ev = got.evidence
    assert got.outcome.status == "ok" and ev.status == "ok", (ev.status, ev.reason)
    assert (ev.content_type or "").startswith("application/pdf")
    assert ev.text is not None
    for line in PDF_LINES:
        assert line in ev.text
    # the date written in the ruling outranks the file's /CreationDate (Oct 1)
    assert ev.published == PDF_DATE and ev.date_source == "pdf:text"
    assert ev.title == "Ruling"
    assert _citation_date_verdict(special, PDF_URL) == "consistent"
    assert _events(got)["extracted"]["ok"] is True


def test_pdf_warc_payload_is_the_pdf(special: Special) -> None:
    got = special.by_url[PDF_URL]
    record = special.record(PDF_URL)
    assert record.target_uri == PDF_URL and record.http_status == 200
    assert (record.http_header("Content-Type") or "").startswith("application/pdf")
    assert record.decoded_payload() == PDF_BYTES
    assert record.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    assert got.capture is not None and got.capture.sha256 == record.sha256
    assert got.capture.payload_length == len(PDF_BYTES)


def test_broken_pdf_is_archived_and_the_failure_named(special: Special) -> None:
    got = special.by_url[BROKEN_PDF_URL]
    ev = got.evidence
    assert got.outcome.status != "failed", "capture_one raised on a broken PDF"
    assert ev.status != "dead", (ev.status, ev.reason)
    assert ev.http_status == 200
    failures = [p.message for p in ev.problems if p.code == "extraction_failed"]
    assert failures and "PDF" in failures[0], ev.problems
    assert ev.text is None and ev.published is None
    # nothing was read, so nothing can confirm the incident's date
    assert _citation_date_verdict(special, BROKEN_PDF_URL) != "consistent"
    record = special.record(BROKEN_PDF_URL)
    assert record.decoded_payload() == BROKEN_PDF_BYTES
    events = _events(got)
    assert events["extracted"]["ok"] is False
    assert "PDF" in str(events["extracted"]["failure"])
    assert events["stored"]["payload_sha256"] == hashlib.sha256(BROKEN_PDF_BYTES).hexdigest()
    assert events["verified"]["status"] == ev.status


def test_capture_rows_point_into_existing_warcs(special: Special) -> None:
    for url, got in special.by_url.items():
        assert got.capture is not None, url
        path = Path(special.runtime.settings.archive_dir) / got.capture.warc_file
        assert path.exists() or path.with_name(path.name + ".open").exists(), url
