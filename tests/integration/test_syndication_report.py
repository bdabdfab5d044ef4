"""The same story at several URLs in the report (#18 §2), through real runs.

Run A cites the KazTAG article, Vlast's reprint of it (two footnotes of one incident) and
an unrelated Vlast story. Then KazTAG deletes the article, and run B cites it alone: it is
dead now, and the report offers the live reprint archived by run A, never in its place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from schemas import ProblemCode, Report, SourceStatus
from tests.fixtureweb import FixtureWeb, route_through
from tests.fixtureweb.pages import azattyq_404
from tests.fixtureweb.reprints import ORIGINAL, REPRINT, UNRELATED
from tests.pools import RecordingExtractor
from worker.digest.parse import parse_digest
from worker.extract.shingles import signature
from worker.report.build import build_report
from worker.runs import run_digest
from worker.runtime import close_runtime
from worker.settings import Settings, load_settings
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import EvidenceRow

pytestmark = pytest.mark.integration


DIGEST_A = f"""\
On September 8, in Nur-Sultan city, Nurzhan Altayev, the leader of the "El Tiregi" party \
was detained by the police[1][2].
On September 10, in Astana, a bridge was opened[3].
[1]{ORIGINAL}
[2]{REPRINT}
[3]{UNRELATED}
"""
DIGEST_B = f"""\
On September 8, in Nur-Sultan city, Nurzhan Altayev was detained by the police[1].
[1]{ORIGINAL}
"""


@dataclass
class Runs:
    a: Report
    b: Report
    settings: Settings


@pytest.fixture(scope="module")
def runs(
    fixture_web_session: FixtureWeb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runs]:
    mp = pytest.MonkeyPatch()
    route_through(mp, fixture_web_session, embedded=True)
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("syndication"), per_host_delay=0.0, fallback_lookup=False
    )
    try:
        a = run_digest(settings, parse_digest(DIGEST_A, name="a", year=2021), source_name="a")
        with fixture_web_session.scoped() as fw:
            path = ORIGINAL.removeprefix("https://kaztag.kz")
            fw.route("kaztag.kz", path, azattyq_404)  # the article is deleted
            b = run_digest(settings, parse_digest(DIGEST_B, name="b", year=2021), source_name="b")
        yield Runs(a.report, b.report, settings)
    finally:
        close_runtime()
        mp.undo()


def _source(report: Report, url: str):  # type: ignore[no-untyped-def]
    return next(s for s in report.sources if s.canonical_url == url)


def test_a_reprint_and_its_original_name_each_other(runs: Runs) -> None:
    original, reprint = _source(runs.a, ORIGINAL), _source(runs.a, REPRINT)
    assert [s.canonical_url for s in original.same_text] == [REPRINT]
    assert [s.canonical_url for s in reprint.same_text] == [ORIGINAL]
    link = original.same_text[0]
    assert link.similarity >= 0.8 and link.in_digest and link.status is SourceStatus.OK
    assert link.published_first is False  # Vlast reprinted it a day later
    assert reprint.same_text[0].published_first is True
    assert link.replay_url and REPRINT in link.replay_url
    assert original.reprint is None  # it is alive: nothing to offer
    assert _source(runs.a, UNRELATED).same_text == []


def test_one_text_cited_twice_by_an_incident_is_named(runs: Runs) -> None:
    first, second = runs.a.incidents
    (problem,) = [p for p in first.problems if p.code is ProblemCode.SAME_TEXT]
    assert "[1]" in problem.message and "[2]" in problem.message
    assert not [p for p in second.problems if p.code is ProblemCode.SAME_TEXT]


def test_a_dead_source_is_offered_the_live_reprint_the_archive_holds(runs: Runs) -> None:
    gone = _source(runs.b, ORIGINAL)
    assert gone.status is SourceStatus.DEAD
    assert gone.reprint is not None
    assert gone.reprint.canonical_url == REPRINT
    assert gone.reprint.status is SourceStatus.OK and not gone.reprint.in_digest
    assert gone.reprint.replay_url  # the reprint's own archived copy
    # offered beside the source, never in its place
    assert gone.status is SourceStatus.DEAD and gone.final_url != REPRINT
    (citation,) = runs.b.incidents[0].citations
    assert citation.canonical_url == ORIGINAL and citation.status is SourceStatus.DEAD


def test_report_html_shows_the_reprint_beside_the_source(runs: Runs) -> None:
    from archive.web.render import render_html

    page_b = render_html(runs.b)
    assert "live reprint of the archived text" in page_b and REPRINT in page_b
    assert "alternative evidence, not this source" in page_b
    page_a = render_html(runs.a)
    assert "same text as" in page_a and "cited in this digest too" in page_a
    assert "published later" in page_a and "published first" in page_a


def test_texts_are_signed_at_capture_and_the_report_does_not_sign_them_again(
    runs: Runs,
) -> None:
    engine = make_engine(runs.settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(EvidenceRow)).scalars().all()
            with_text = [row for row in rows if row.data.get("text")]
            assert len(with_text) == 3  # run A's three pages; run B's source is dead
            for row in with_text:
                assert row.signature is not None
                assert row.signature == signature(str(row.data["text"]))
            pool = RecordingExtractor(signature)
            again = build_report(session, runs.a.digest.id, pool=pool)
    finally:
        engine.dispose()
    assert pool.items == []  # every text it compared was signed when it was read
    assert [s.canonical_url for s in _source(again, ORIGINAL).same_text] == [REPRINT]
    (link,) = _source(again, ORIGINAL).same_text
    assert link.similarity == _source(runs.a, ORIGINAL).same_text[0].similarity
