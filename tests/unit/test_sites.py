"""worker.sites.registry: the adapter registry decides what to fetch and how to read a response."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.unit.test_recheck import PREVIEW, make_pdf
from worker.extract.page import ExtractedPage, ExtractionFailure, ExtractOptions
from worker.pool import ProcessExtractor
from worker.settings import Settings
from worker.sites import registry as sites

OPTIONS = ExtractOptions()
RULING = [
    "Specialized inter-district administrative court of Almaty, 14 September 2021.",
    "The court fined the activist for taking part in a peaceful picket near the akimat.",
]


@pytest.mark.parametrize(
    ("url", "content_type", "data", "name"),
    [
        ("https://t.me/s/kazakh_news/123", "text/html", b"<html>", "telegram"),
        ("https://court.test/r.pdf", "application/pdf", b"%PDF-1.4", "pdf"),
        ("https://court.test/r", "application/octet-stream", b"%PDF-1.4 ...", "pdf"),
        ("https://rus.azattyq.org/a/1.html", "text/html", b"<html>", "html"),
        ("https://rus.azattyq.org/a/1.html", "", b"<html>", "html"),
    ],
)
def test_the_first_adapter_that_takes_a_response_reads_it(
    url: str, content_type: str, data: bytes, name: str
) -> None:
    adapter = sites.adapter_for(url, content_type, data)
    assert adapter is not None and adapter.name == name


def test_no_adapter_for_an_image() -> None:
    assert sites.adapter_for("https://x.test/p.jpg", "image/jpeg", b"\xff\xd8") is None
    page = sites.extract_page(
        b"\xff\xd8", url="https://x.test/p.jpg", charset=None, options=OPTIONS,
        content_type="image/jpeg",
    )  # fmt: skip
    assert isinstance(page, ExtractionFailure) and "image/jpeg" in page.reason


def test_prepare_asks_the_adapters_what_to_fetch(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert sites.prepare(settings, "https://t.me/kazakh_news/123").fetch_url == (
        "https://t.me/s/kazakh_news/123"
    )
    plain = sites.prepare(settings, "https://rus.azattyq.org/a/1.html")
    assert plain.fetch_url == plain.url and plain.profile is None


def test_pdf_and_telegram_are_read_on_the_extraction_processes() -> None:
    # the same isolation and timeout as HTML: both go through the pool's function
    pool = ProcessExtractor(1, timeout=60)
    try:
        pdf = pool.extract(
            make_pdf(RULING), url="https://court.test/r.pdf", charset=None, options=OPTIONS,
            content_type="application/pdf",
        )  # fmt: skip
        assert isinstance(pdf, ExtractedPage) and pdf.charset == "pdf"
        assert "peaceful picket" in pdf.text and pdf.published == dt.date(2021, 9, 14)
        post = pool.extract(
            PREVIEW.encode(), url="https://t.me/s/kazakh_news/123", charset=None,
            options=OPTIONS, content_type="text/html",
        )  # fmt: skip
        assert isinstance(post, ExtractedPage) and post.date_source == "telegram:time"
    finally:
        pool.close()


def test_a_binary_body_served_as_html_is_not_parsed() -> None:
    page = sites.extract_page(
        b"\x00" * 4096, url="https://x.test/a", charset=None, options=OPTIONS,
        content_type="text/html",
    )  # fmt: skip
    assert isinstance(page, ExtractionFailure) and "served as text/html" in page.reason


def test_capture_options_drop_dates_after_the_capture_day(tmp_path: Path) -> None:
    options = ExtractOptions.from_settings(
        Settings(data_dir=tmp_path, max_html_bytes=1234), captured_on=dt.date(2021, 9, 30)
    )
    assert options.max_html_bytes == 1234 and options.max_date == dt.date(2021, 10, 1)
