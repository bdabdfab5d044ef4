"""worker.judge.statuses: one row per status word; the sets every module reads derive from it."""

from __future__ import annotations

import re

from schemas import SourceStatus
from worker.judge import statuses
from worker.judge.statuses import MEANINGS


def test_every_status_has_a_row_and_nothing_else_does() -> None:
    assert set(MEANINGS) == set(SourceStatus)


def test_the_sets_are_what_the_modules_used_to_write_by_hand() -> None:
    S = SourceStatus
    assert {S.OK, S.CENSORED} == statuses.HEALTHY  # censored: read through another vantage
    assert {S.DEAD, S.SOFT_404, S.REDIRECTED_AWAY, S.UNREACHABLE} == statuses.FAILING
    assert {S.LOGIN_WALL, S.BLOCKED} == statuses.INCONCLUSIVE
    assert {
        S.DEAD, S.SOFT_404, S.REDIRECTED_AWAY, S.NOT_PUBLIC, S.INVALID, S.REFUSED
    } == statuses.UNREADABLE  # fmt: skip
    assert {S.NOT_PUBLIC, S.INVALID, S.REFUSED, S.NOT_CAPTURED} == statuses.NEVER_FETCHED


def test_only_our_own_failure_is_not_a_fact_about_the_link() -> None:
    assert [s for s, m in MEANINGS.items() if not m.about_link] == [SourceStatus.NOT_CAPTURED]
    m = MEANINGS[SourceStatus.NOT_CAPTURED]
    assert not (m.failing or m.permanent or m.readable), "it must never count against a link"


def test_rows_are_consistent() -> None:
    for status, m in MEANINGS.items():
        assert not (m.failing and m.inconclusive), status
        assert not (m.readable and (m.failing or m.permanent)), status
        assert m.fetched or not m.failing, f"{status}: a failure needs a request"
        assert re.fullmatch(r"#[0-9a-f]{6}", m.colour), status
        assert m.summary, status
    assert len({m.colour for m in MEANINGS.values()}) == len(MEANINGS)


def test_the_report_colours_come_from_the_table() -> None:
    from archive.web.render import STATUS_COLOURS

    assert {s.value: m.colour for s, m in MEANINGS.items()} == STATUS_COLOURS
