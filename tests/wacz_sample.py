"""A small real WACZ: pages written through the real WarcWriter, a report naming their
captures, exported by archive.wacz with a real P-384 key. Shared by the WACZ unit tests
and the ReplayWeb.page test."""

from __future__ import annotations

import datetime as dt
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

from archive.records import HttpExchange, sha256_hex, text_uri
from archive.wacz import WaczExport, export_wacz
from archive.warc_writer import WarcWriter
from schemas import Capture, DigestSummary, Period, Report, SourceReport, SourceStatus
from worker.custody.keys import load_or_create_wacz_key

__all__ = ["SAMPLE_PAGES", "SamplePage", "SampleWacz", "make_sample_wacz"]

CREATED = dt.datetime(2021, 10, 1, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SamplePage:
    url: str
    title: str
    text: str  # a sentence of the article, as a reader sees it
    fetched_at: dt.datetime
    gzip: bool = False  # served Content-Encoding: gzip (stored raw, as received)

    def html(self) -> bytes:
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{self.title}</title></head><body><article><h1>{self.title}</h1>"
            f"<p>{self.text}</p></article></body></html>"
        ).encode()


SAMPLE_PAGES = (
    SamplePage(
        "https://kaztag.kz/ru/news/sample-altayev",
        "Лидеру партии пришла полиция",
        "Нуржан Алтаев, лидер партии Эл Тиреги, был задержан полицией в Нур-Султане.",
        dt.datetime(2021, 9, 8, 12, 0, 5, tzinfo=dt.UTC),
    ),
    SamplePage(
        "https://rus.azattyq.org/a/31462889.html",
        "Корреспондента вызвали в полицию",
        "Исламбека Дастана, корреспондента из Тараза, вызвали в полицию 16 сентября.",
        dt.datetime(2021, 9, 16, 15, 30, 0, tzinfo=dt.UTC),
        gzip=True,
    ),
)


@dataclass(frozen=True)
class SampleWacz:
    path: Path
    export: WaczExport
    data_dir: Path  # holds keys/wacz_ecdsa_p384(.pub.pem)
    report: Report
    pages: tuple[SamplePage, ...]


def _exchange(page: SamplePage) -> HttpExchange:
    body = gzip.compress(page.html(), mtime=0) if page.gzip else page.html()
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    if page.gzip:
        headers.append(("Content-Encoding", "gzip"))
    host = page.url.split("/")[2]
    return HttpExchange(
        url=page.url,
        method="GET",
        request_headers=[("Host", host), ("Accept-Encoding", "gzip")],
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=headers,
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256=sha256_hex(body),
        fetched_at=page.fetched_at,
        peer_ip="192.0.2.10",
    )


def make_sample_wacz(tmp: Path, pages: tuple[SamplePage, ...] = SAMPLE_PAGES) -> SampleWacz:
    archive_dir = tmp / "archive"
    data_dir = tmp / "data"
    writer = WarcWriter(archive_dir, prefix="sample", max_size=1 << 30, clock=lambda: CREATED)
    sources: list[SourceReport] = []
    with writer.batch() as batch:
        for n, page in enumerate(pages, start=1):
            _req, resp = batch.write_exchange(_exchange(page))
            batch.write_metadata(
                text_uri(page.url), resp.record_id, page.text.encode(), "text/plain"
            )
            body = _exchange(page)
            sources.append(
                SourceReport(
                    id=n,
                    footnotes=[n],
                    url=page.url,
                    canonical_url=page.url,
                    status=SourceStatus.OK,
                    http_status=200,
                    final_url=page.url,
                    title=page.title,
                    text_excerpt=page.text,
                    capture=Capture(
                        warc_file=resp.warc_file,
                        offset=resp.offset,
                        length=resp.length,
                        record_id=resp.record_id,
                        sha256=body.body_sha256,
                        payload_length=body.body_length,
                        captured_at=page.fetched_at,
                    ),
                )
            )
    writer.close()
    report = Report(
        digest=DigestSummary(
            id="sample-2021-09",
            title="Sample digest",
            period=Period(first=dt.date(2021, 9, 8), last=dt.date(2021, 9, 16)),
            counts={"ok": len(pages)},
        ),
        sources=sources,
    )
    warc_files = sorted({s.capture.warc_file for s in sources if s.capture is not None})
    out = tmp / "sample.wacz"
    done = export_wacz(
        out,
        report=report,
        archive_dir=archive_dir,
        warc_files=warc_files,
        key=load_or_create_wacz_key(data_dir),
        extra_files={"custody/note.txt": b"no custody log in this sample\n"},
        created=CREATED,
    )
    return SampleWacz(out, done, data_dir, report, pages)
