"""Incident verdicts and the CSV rendering, from hand-built citations."""

from __future__ import annotations

import csv
import datetime as dt
import io

from schemas import (
    Citation,
    DateCheck,
    DateVerdict,
    DigestSummary,
    Incident,
    IncidentReport,
    NamesCheck,
    NamesVerdict,
    Period,
    Report,
    SourceStatus,
    Verdict,
)
from worker.report.build import judge, render_csv

SEPT_3 = dt.date(2021, 9, 3)


def _incident(footnotes: list[int], people: list[str] | None = None) -> Incident:
    return Incident(
        id=1,
        line=1,
        date=SEPT_3,
        text="t",
        footnotes=footnotes,
        people=people if people is not None else ["Askar Kayirbek"],
    )


def _citation(
    status: SourceStatus,
    date: DateVerdict = DateVerdict.CONSISTENT,
    names: NamesVerdict = NamesVerdict.SUPPORTS,
    footnote: int = 3,
) -> Citation:
    return Citation(
        footnote=footnote,
        url="https://x.example/a",
        canonical_url="https://x.example/a",
        status=status,
        date_check=DateCheck(verdict=date),
        names_check=NamesCheck(verdict=names),
    )


def test_unsourced_without_footnotes() -> None:
    assert judge(_incident([]), [])[0] is Verdict.UNSOURCED


def test_broken_when_the_marker_has_no_url() -> None:
    verdict, reasons = judge(_incident([6]), [])
    assert verdict is Verdict.BROKEN
    assert reasons == ["footnote 6 has no URL"]


def test_verified_needs_ok_consistent_and_names() -> None:
    assert judge(_incident([3]), [_citation(SourceStatus.OK)])[0] is Verdict.VERIFIED


def test_late_date_needs_review_with_reason() -> None:
    verdict, reasons = judge(_incident([3]), [_citation(SourceStatus.OK, date=DateVerdict.LATE)])
    assert verdict is Verdict.NEEDS_REVIEW
    assert reasons == ["footnote 3: date late"]


def test_partial_names_need_review() -> None:
    verdict, _ = judge(_incident([3]), [_citation(SourceStatus.OK, names=NamesVerdict.PARTIAL)])
    assert verdict is Verdict.NEEDS_REVIEW


def test_no_people_named_is_verified_on_date_alone() -> None:
    citation = _citation(SourceStatus.OK, names=NamesVerdict.NOT_CHECKED)
    assert judge(_incident([3], people=[]), [citation])[0] is Verdict.VERIFIED


def test_all_dead_is_broken_but_a_login_wall_needs_review() -> None:
    assert judge(_incident([3]), [_citation(SourceStatus.DEAD)])[0] is Verdict.BROKEN
    walled = [_citation(SourceStatus.DEAD), _citation(SourceStatus.LOGIN_WALL, footnote=4)]
    verdict, reasons = judge(_incident([3, 4]), walled)
    assert verdict is Verdict.NEEDS_REVIEW
    assert "footnote 4: source is login_wall" in reasons


def test_one_good_citation_is_enough() -> None:
    cites = [_citation(SourceStatus.DEAD), _citation(SourceStatus.OK, footnote=4)]
    assert judge(_incident([3, 4]), cites)[0] is Verdict.VERIFIED


def test_csv_has_a_row_per_citation_and_per_uncited_incident() -> None:
    inc = _incident([3, 4])
    report = Report(
        digest=DigestSummary(
            id="d", title="d", period=Period(first=SEPT_3, last=SEPT_3), counts={}
        ),
        incidents=[
            IncidentReport(
                id=1,
                line=1,
                date=SEPT_3,
                text="t",
                footnotes=[3, 4],
                people=inc.people,
                verdict=Verdict.VERIFIED,
                citations=[_citation(SourceStatus.OK), _citation(SourceStatus.DEAD, footnote=4)],
            ),
            IncidentReport(
                id=2,
                line=2,
                date=SEPT_3,
                text="u",
                footnotes=[],
                people=[],
                verdict=Verdict.UNSOURCED,
            ),
        ],
    )
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [(r["incident_id"], r["footnote"], r["status"]) for r in rows] == [
        ("1", "3", "ok"),
        ("1", "4", "dead"),
        ("2", "", ""),
    ]


def test_sources_that_land_on_one_page_are_named_as_one() -> None:
    # two footnote URLs the parser could not know were one: the same final URL, or the
    # same bytes under two final URLs; a login wall's shared page does not count
    from schemas import ProblemCode, SourceReport
    from schemas import SourceStatus as S
    from worker.report.build import same_page_problems
    from worker.store.models import CaptureRow

    def src(n: int, url: str, final: str, status: S = S.OK) -> SourceReport:
        return SourceReport(id=n, footnotes=[n], url=url, canonical_url=url, status=status,
                            final_url=final)  # fmt: skip

    def cap(sha: str) -> CaptureRow:
        return CaptureRow(sha256=sha, payload_length=100)

    sources = [
        src(1, "https://a.kz/news?id=7", "https://a.kz/news/7"),
        src(2, "https://a.kz/n/7", "https://a.kz/news/7"),
        src(3, "https://b.kz/x", "https://b.kz/x"),
        src(4, "https://mirror.kz/x", "https://mirror.kz/x"),
        src(5, "https://fb.com/p/1", "https://fb.com/login", S.LOGIN_WALL),
        src(6, "https://fb.com/p/2", "https://fb.com/login", S.LOGIN_WALL),
    ]
    by_url = {
        s.canonical_url: (None, None, cap("same" if s.id in (3, 4) else f"x{s.id}"))
        for s in sources
    }
    found = same_page_problems(sources, by_url)  # type: ignore[arg-type]
    assert [p.code for p in found] == [ProblemCode.DUPLICATE_URL] * 2
    assert "[1], [2]" in found[0].message and "https://a.kz/news/7" in found[0].message
    assert "[3], [4]" in found[1].message and "same bytes" in found[1].message
