"""The digest written back with Robust Links: HTML attributes, Markdown and .docx text."""

from __future__ import annotations

import datetime as dt
import io
from html.parser import HTMLParser

from docx import Document

from schemas import (
    ArchivedCopy,
    Citation,
    DateCheck,
    DateVerdict,
    IncidentReport,
    NamesCheck,
    NamesVerdict,
    SourceReport,
    SourceStatus,
    Verdict,
)
from tests.unit.test_report_html import OK_URL, REPLAY, SOFT_URL, _report
from worker.report.robustify import Format, links, render

DEAD_URL = "https://tirek.info/deleted-post/"
WAYBACK = "https://web.archive.org/web/20210915000000/https://tirek.info/deleted-post/"


def report_with_a_dead_source():  # type: ignore[no-untyped-def]
    report = _report()
    dead = SourceReport(
        id=3, footnotes=[4], url=DEAD_URL, canonical_url=DEAD_URL, status=SourceStatus.DEAD,
        fallbacks=[ArchivedCopy(archive="web.archive.org", url=WAYBACK, via="availability",
                                captured_at=dt.datetime(2021, 9, 15, tzinfo=dt.UTC), chosen=True)],
    )  # fmt: skip
    report.sources.append(dead)
    report.incidents.append(
        IncidentReport(
            id=4, line=20, date=dt.date(2021, 9, 14), text="A post was deleted.", footnotes=[4],
            people=[], reasons=[],
            verdict=Verdict.BROKEN, citations=[Citation(
                footnote=4, url=DEAD_URL, canonical_url=DEAD_URL, status=SourceStatus.DEAD,
                date_check=DateCheck(verdict=DateVerdict.NOT_CHECKED),
                names_check=NamesCheck(verdict=NamesVerdict.NOT_CHECKED))],
        )
    )  # fmt: skip
    return report


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append({k: v or "" for k, v in attrs})


def test_html_links_carry_the_robust_link_attributes() -> None:
    page = render(report_with_a_dead_source(), Format.HTML).decode()
    parser = Anchors()
    parser.feed(page)
    robust = {a["data-originalurl"]: a for a in parser.anchors if "data-originalurl" in a}
    assert set(robust) == {OK_URL, SOFT_URL, DEAD_URL}
    ok = robust[OK_URL]
    assert ok["href"] == OK_URL  # alive: the click goes to the original
    assert ok["data-versionurl"] == REPLAY and ok["data-versiondate"] == "2021-09-30"
    dead = robust[DEAD_URL]
    assert dead["href"] == WAYBACK == dead["data-versionurl"]  # gone: the copy first
    assert dead["data-versiondate"] == "2021-09-15"
    soft = robust[SOFT_URL]  # gone, and no copy anywhere: the original, no version
    assert soft["href"] == SOFT_URL and "data-versionurl" not in soft


def test_markdown_spells_the_copy_out() -> None:
    text = render(report_with_a_dead_source(), Format.MD).decode()
    assert f"[^4]: <{WAYBACK}> (cited: <{DEAD_URL}>; archived copy: {WAYBACK}" in text
    assert f"archived copy: {REPLAY} (sourcevault, 2021-09-30)" in text
    assert "Askar Kayirbek detained.[^2]" in text


def test_docx_reads_back_with_hyperlinks_and_the_copy_as_text() -> None:
    doc = Document(io.BytesIO(render(report_with_a_dead_source(), Format.DOCX)))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Askar Kayirbek detained.[2]" in text
    assert f"archived copy: {WAYBACK} (web.archive.org, 2021-09-15)" in text
    targets = {r.target_ref for r in doc.part.rels.values() if r.is_external}
    assert {OK_URL, WAYBACK} <= targets  # the dead source's link goes to its copy


def test_links_follow_footnote_order_once_each() -> None:
    found = links(report_with_a_dead_source())
    assert list(found) == [2, 3, 4]
    assert [len(v) for v in found.values()] == [1, 1, 1]
