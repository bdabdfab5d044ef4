"""report.html: one self-contained page with the summary, chart, filters and all evidence."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from archive.web.render import render_html
from schemas import (
    Capture,
    Citation,
    DateCheck,
    DateVerdict,
    DigestSummary,
    IncidentReport,
    NameMatch,
    NamesCheck,
    NamesVerdict,
    Period,
    ProbeResult,
    Report,
    SourceReport,
    SourceStatus,
    Verdict,
)

OK_URL = "https://rus.azattyq.org/a/31438644.html"
SOFT_URL = "https://catchall.test/news/12345.html"
REPLAY = f"http://127.0.0.1:8090/sourcevault/20210930120000/{OK_URL}"


class Tags(HTMLParser):
    """Every start tag with its attributes, the text, and inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self.scripts += tag == "script"

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if t == tag
            and all(a.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]


def _report() -> Report:
    ok_citation = Citation(
        footnote=2,
        url=OK_URL,
        canonical_url=OK_URL,
        status=SourceStatus.OK,
        date_check=DateCheck(
            verdict=DateVerdict.CONSISTENT,
            incident_dates=[dt.date(2021, 9, 7)],
            published=dt.date(2021, 9, 8),
            date_source="json-ld:datePublished",
            rule="consistent: 2021-08-31 ≤ published ≤ 2021-10-07",
        ),
        names_check=NamesCheck(
            verdict=NamesVerdict.SUPPORTS,
            names=["Kayirbek Askar"],
            found=["Kayirbek Askar"],
            matches=[
                NameMatch(
                    name="Kayirbek Askar",
                    found=True,
                    matched="Аскара Кайырбека",
                    passage="Полиция задержала активиста Аскара Кайырбека у акимата",
                    score=0.97,
                )
            ],
        ),
    )
    soft_citation = Citation(
        footnote=3,
        url=SOFT_URL,
        canonical_url=SOFT_URL,
        status=SourceStatus.SOFT_404,
        date_check=DateCheck(verdict=DateVerdict.NOT_CHECKED, rule="source is soft_404"),
        names_check=NamesCheck(verdict=NamesVerdict.NOT_CHECKED, names=["Inga Imanbay"]),
    )
    incidents = [
        IncidentReport(id=1, line=5, date=dt.date(2021, 9, 7), text="Askar Kayirbek detained.",
                       footnotes=[2], people=["Kayirbek Askar"], verdict=Verdict.VERIFIED,
                       reasons=[f"footnote 2 ({OK_URL}) confirms it"], citations=[ok_citation]),
        IncidentReport(id=2, line=9, date=dt.date(2021, 9, 9), text="Inga Imanbay fined.",
                       footnotes=[3], people=["Inga Imanbay"], verdict=Verdict.BROKEN,
                       reasons=["footnote 3: source is soft_404"], citations=[soft_citation]),
        IncidentReport(id=3, line=12, date=dt.date(2021, 9, 10), text="No source.",
                       footnotes=[], people=[], verdict=Verdict.UNSOURCED,
                       reasons=["the incident cites no footnote"]),
    ]  # fmt: skip
    sources = [
        SourceReport(
            id=1, footnotes=[2], url=OK_URL, canonical_url=OK_URL, status=SourceStatus.OK,
            reason="HTTP 200", rule="ok", http_status=200, final_url=OK_URL,
            title="В Алматы задержали активиста", published=dt.date(2021, 9, 8),
            date_source="json-ld:datePublished",
            text_excerpt="Полиция Алматы задержала гражданского активиста Аскара Кайырбека.",
            capture=Capture(warc_file="sv-1.warc.gz", offset=0, length=100, record_id="<urn:1>",
                            sha256="ab" * 32, payload_length=50,
                            captured_at=dt.datetime(2021, 9, 30, 12, tzinfo=dt.UTC),
                            replay_url=REPLAY),
        ),
        SourceReport(
            id=2, footnotes=[3], url=SOFT_URL, canonical_url=SOFT_URL,
            status=SourceStatus.SOFT_404, rule="soft_404_probe", http_status=200,
            reason="a random sibling path returns the same page: text similarity 100 ≥ 90",
            probe=ProbeResult(probe_url="https://catchall.test/news/sv-probe-1.html",
                              probe_status=200, score=100.0, similar=True, threshold=90.0),
        ),
    ]  # fmt: skip
    return Report(
        digest=DigestSummary(
            id="d-1",
            title="Kazakhstan, September 2021",
            period=Period(first=dt.date(2021, 9, 7), last=dt.date(2021, 9, 10)),
            counts={"incidents": 3, "footnotes": 2, "sources": 2, "captured": 1, "problems": 0},
            generated_at=dt.datetime(2021, 9, 30, 12, tzinfo=dt.UTC),
        ),
        incidents=incidents,
        sources=sources,
    )


def test_report_html_has_every_part_auditors_need() -> None:
    page = render_html(_report())
    doc = Tags()
    doc.feed(page)
    text = " ".join(" ".join(doc.text).split())

    # summary counts and the status chart at the top
    assert "3 incidents, 2 footnotes, 2 unique sources, 1 archived" in text
    chart = doc.find("div", class_="chart")
    assert chart and chart[0].get("aria-label") == "sources by status"
    bars = [a for t, a in doc.tags if t == "span" and "width:" in a.get("style", "")]
    assert sorted(b["title"] for b in bars) == ["ok: 1", "soft_404: 1"]

    # every incident with its verdict and reasons
    articles = doc.find("article")
    assert [a["data-verdict"] for a in articles] == ["verified", "broken", "unsourced"]
    assert [a["data-statuses"].split() for a in articles] == [["ok"], ["soft_404"], []]
    assert "footnote 3: source is soft_404" in text and "the incident cites no footnote" in text

    # each source: status, dates compared, names with passage, excerpt, archived copy
    assert [c["data-status"] for c in doc.find("div", class_="citation")] == ["ok", "soft_404"]
    assert "dates compared: incident 2021-09-07 · source published 2021-09-08" in text
    assert "Kayirbek Askar as “Аскара Кайырбека”" in text
    assert "Полиция задержала активиста Аскара Кайырбека у акимата" in text
    assert "Полиция Алматы задержала гражданского активиста" in text
    assert any(a.get("href") == REPLAY for a in doc.find("a"))
    assert "[rule soft_404_probe]" in text and "sv-probe-1.html" in text

    # filters by verdict and by status; everything checked, so without JS all shows
    verdict_boxes = doc.find("input", name="verdict")
    status_boxes = doc.find("input", name="status")
    assert {b["value"] for b in verdict_boxes} == {v.value for v in Verdict}
    assert {b["value"] for b in status_boxes} == {"ok", "soft_404"}
    assert all("checked" in b for b in verdict_boxes + status_boxes)
    assert not any("display: none" in a.get("style", "") for _t, a in doc.tags)
    assert [r["data-status"] for r in doc.find("tr") if r.get("id", "").startswith("source-")] == [
        "ok",
        "soft_404",
    ]


def test_report_html_is_self_contained_and_prints() -> None:
    page = render_html(_report())
    doc = Tags()
    doc.feed(page)
    # no external scripts, stylesheets, images or fonts: it works offline
    assert not [a for t, a in doc.tags if t in ("script", "img", "iframe") and a.get("src")]
    assert not [a for t, a in doc.tags if t == "link" and a.get("rel") == "stylesheet"]
    assert "@import" not in page and "url(http" not in page
    assert doc.scripts == 1  # the optional filter script, inline
    assert "@media print" in page and "print-color-adjust: exact" in page
