"""worker.judge.dates: the publication date against the incident's window."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.evidence import DateVerdict
from worker.judge.dates import DateRule, check_date

SEP = dt.date(2021, 9, 1)
RULE = DateRule()


def d(day: int, month: int = 9) -> dt.date:
    return dt.date(2021, month, day)


@pytest.mark.parametrize(
    ("published", "verdict"),
    [
        (d(1), DateVerdict.CONSISTENT),
        (d(25, 8), DateVerdict.CONSISTENT),  # incident − 7 days: still inside
        (d(24, 8), DateVerdict.PREDATES),
        (d(1, 10), DateVerdict.CONSISTENT),  # incident + 30 days
        (d(2, 10), DateVerdict.LATE),
    ],
)
def test_window_bounds(published: dt.date, verdict: DateVerdict) -> None:
    result = check_date(SEP, [], published, "json-ld:datePublished", RULE)
    assert result.verdict is verdict
    assert result.published == published
    assert result.date_source == "json-ld:datePublished"


def test_rule_text_names_the_window() -> None:
    result = check_date(d(2), [], d(3), "meta:article:published_time", RULE)
    assert result.rule.startswith("consistent: 2021-08-26 ≤ published ≤ 2021-10-02")
    late = check_date(d(2), [], d(20, 10), "url", RULE)
    assert late.rule.startswith("late: 2021-10-20 > 2021-10-02")


def test_mentioned_dates_open_the_window_earlier() -> None:
    # incident of 19 Sep about a rally on 16 Aug: an August article is consistent
    result = check_date(d(19), [d(16, 8)], d(12, 8), "htmldate", RULE)
    assert result.verdict is DateVerdict.CONSISTENT
    assert result.incident_dates == [d(16, 8), d(19)]
    assert "2021-08-09 ≤ published ≤ 2021-10-19" in result.rule


def test_no_date_and_not_checked() -> None:
    no_date = check_date(SEP, [], None, "none", RULE)
    assert no_date.verdict is DateVerdict.NO_DATE
    assert "2021-08-25 ≤ published ≤ 2021-10-01" in no_date.rule
    undated = check_date(None, [d(7)], d(8), "url", RULE)
    assert undated.verdict is DateVerdict.NOT_CHECKED
    assert undated.incident_dates == [d(7)]


def test_custom_rule_and_validation() -> None:
    tight = DateRule(before_days=0, after_days=2)
    assert check_date(SEP, [], d(31, 8), "url", tight).verdict is DateVerdict.PREDATES
    assert check_date(SEP, [], d(3), "url", tight).verdict is DateVerdict.CONSISTENT
    with pytest.raises(ValueError, match="before_days"):
        DateRule(before_days=-1)


# ---- a page's own day and the incident's zone


def test_a_timestamp_one_zone_away_from_the_window_is_consistent() -> None:
    incident = dt.date(2021, 9, 28)  # window from 2021-09-21
    # the page says the 20th (Moscow evening); in Almaty it was already the 21st
    check = check_date(
        incident,
        [],
        dt.date(2021, 9, 20),
        "json-ld:datePublished",
        DateRule(),
        published_at="2021-09-20T23:32:00+03:00",
    )
    assert check.verdict is DateVerdict.CONSISTENT
    assert check.published == dt.date(2021, 9, 20)  # the page's own day is what is shown
    assert "is 2021-09-21 in Asia/Almaty" in check.rule


def test_without_an_offset_there_is_no_shift_to_allow() -> None:
    check = check_date(
        dt.date(2021, 9, 28), [], dt.date(2021, 9, 20), "url", DateRule(), published_at=None
    )
    assert check.verdict is DateVerdict.PREDATES
    naive = check_date(
        dt.date(2021, 9, 28),
        [],
        dt.date(2021, 9, 20),
        "meta",
        DateRule(),
        published_at="2021-09-20T23:32:00",
    )
    assert naive.verdict is DateVerdict.PREDATES


def test_the_incident_zone_is_the_setting() -> None:
    from worker.settings import Settings

    rule = DateRule.from_settings(Settings(incident_tz="Europe/Moscow", date_before_days=3))
    assert (rule.tz, rule.before_days, rule.after_days) == ("Europe/Moscow", 3, 30)
    # in Moscow the page's 20th stays the 20th: outside a window that opens on the 25th
    check = check_date(
        dt.date(2021, 9, 28),
        [],
        dt.date(2021, 9, 24),
        "json-ld:datePublished",
        rule,
        published_at="2021-09-24T23:32:00+03:00",
    )
    assert check.verdict is DateVerdict.PREDATES
