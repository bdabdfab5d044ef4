"""Does the page's publication date fit the incident? → `schemas.DateCheck`.

A source about an incident is normally published between a few days before it (an
announced trial, a rally called in advance: the earliest date the incident mentions) and
some weeks after it (appeals, follow-ups). With the default `DateRule`:

    consistent   earliest(incident date, dates mentioned) − 7 days ≤ published ≤ incident + 30 days
    predates     published before that window
    late         published after it
    no_date      the page gave no publication date
    not_checked  the incident has no date of its own

Mentioned dates count only from 60 days before the incident (`max_mention_days`): an
incident's text also cites history ("convicted in 2018", "the rally of 25 June 2020"),
and such a date would stretch the window back to years before the incident, letting any
old article pass as consistent. Older mentions are listed in the rule text as ignored.

All dates are local calendar days in `DateRule.tz` (Asia/Almaty): `worker.extract`
already converts page timestamps there, so this module compares plain dates. The `rule`
text spells out the window with concrete dates, so an auditor can check it by eye.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from schemas.evidence import DateCheck, DateVerdict

__all__ = ["DateRule", "check_date"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DateRule:
    """The window a publication date must fall in, in days around the incident."""

    before_days: int = 7
    after_days: int = 30
    tz: str = "Asia/Almaty"
    max_mention_days: int = 60
    """Mentioned dates more than this many days before the incident are history: ignored."""

    def __post_init__(self) -> None:
        if self.before_days < 0 or self.after_days < 0 or self.max_mention_days < 0:
            raise ValueError(
                f"DateRule days must be ≥ 0 (before_days={self.before_days}, "
                f"after_days={self.after_days}, max_mention_days={self.max_mention_days})"
            )

    def usable_mentions(self, incident_date: dt.date, mentioned: list[dt.date]) -> list[dt.date]:
        """The mentioned dates that may widen the window (not older than the cap)."""
        floor = incident_date - dt.timedelta(days=self.max_mention_days)
        return [d for d in mentioned if d >= floor]

    def window(self, incident_date: dt.date, mentioned: list[dt.date]) -> tuple[dt.date, dt.date]:
        earliest = min([incident_date, *self.usable_mentions(incident_date, mentioned)])
        return (
            earliest - dt.timedelta(days=self.before_days),
            incident_date + dt.timedelta(days=self.after_days),
        )


def check_date(
    incident_date: dt.date | None,
    mentioned: list[dt.date],
    published: dt.date | None,
    date_source: str | None,
    rule: DateRule,
) -> DateCheck:
    """Judge `published` (a local day in `rule.tz`) against the incident's dates."""
    dates = sorted({*([incident_date] if incident_date else []), *mentioned})

    def result(verdict: DateVerdict, text: str) -> DateCheck:
        return DateCheck(
            verdict=verdict,
            incident_dates=dates,
            published=published,
            date_source=date_source,
            rule=text,
        )

    if incident_date is None:
        return result(DateVerdict.NOT_CHECKED, "not_checked: the incident has no date of its own")
    lo, hi = rule.window(incident_date, mentioned)
    window = f"{lo.isoformat()} ≤ published ≤ {hi.isoformat()}"
    ignored = sorted(set(mentioned) - set(rule.usable_mentions(incident_date, mentioned)))
    basis = (
        f"(earliest incident date − {rule.before_days} d, incident date "
        f"{incident_date.isoformat()} + {rule.after_days} d, days in {rule.tz}"
        + (
            f"; mentioned dates more than {rule.max_mention_days} d before the incident "
            f"ignored: {', '.join(d.isoformat() for d in ignored)}"
            if ignored
            else ""
        )
        + ")"
    )
    if published is None:
        return result(
            DateVerdict.NO_DATE,
            f"no_date: the page gives no publication date; needed {window} {basis}",
        )
    if published < lo:
        verdict, text = (
            DateVerdict.PREDATES,
            f"predates: {published.isoformat()} < {lo.isoformat()}",
        )
    elif published > hi:
        verdict, text = DateVerdict.LATE, f"late: {published.isoformat()} > {hi.isoformat()}"
    else:
        verdict, text = DateVerdict.CONSISTENT, f"consistent: {window}"
    return result(verdict, f"{text} {basis}")
