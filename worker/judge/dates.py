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

Incident dates are calendar days in `DateRule.tz` (`settings.incident_tz`, Asia/Almaty
by default). A page's `published` is the day the page itself states, in its own zone
(`worker.extract.page` never converts it); when the page gave a timestamp with an offset
(`published_at`), its day in the incident's zone may differ by one, and either day may
place the page in the window: 2021-09-20T23:32+03:00 is the 20th in Moscow and the 21st
in Almaty, and both are the page's truth. The `rule` text spells out the window with
concrete dates, and any zone shift, so an auditor can check it by eye.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from schemas.evidence import DateCheck, DateVerdict
from worker.settings import DEFAULT_INCIDENT_TZ

if TYPE_CHECKING:
    from worker.settings import Settings

__all__ = ["DateRule", "check_date"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DateRule:
    """The window a publication date must fall in, in days around the incident."""

    before_days: int = 7
    after_days: int = 30
    tz: str = DEFAULT_INCIDENT_TZ
    max_mention_days: int = 60
    """Mentioned dates more than this many days before the incident are history: ignored."""

    def __post_init__(self) -> None:
        if self.before_days < 0 or self.after_days < 0 or self.max_mention_days < 0:
            raise ValueError(
                f"DateRule days must be ≥ 0 (before_days={self.before_days}, "
                f"after_days={self.after_days}, max_mention_days={self.max_mention_days})"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> DateRule:
        return cls(
            before_days=settings.date_before_days,
            after_days=settings.date_after_days,
            tz=settings.incident_tz,
            max_mention_days=settings.date_max_mention_days,
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


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_in_zone(timestamp: str | None, tz: str) -> dt.date | None:
    """The day of an ISO timestamp with an offset, in zone `tz`; None when it has no offset."""
    if not timestamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(timestamp.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(_zone(tz)).date()


def check_date(
    incident_date: dt.date | None,
    mentioned: list[dt.date],
    published: dt.date | None,
    date_source: str | None,
    rule: DateRule,
    *,
    published_at: str | None = None,
) -> DateCheck:
    """Judge `published` (the page's own day) against the incident's dates in `rule.tz`."""
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
    shifted = day_in_zone(published_at, rule.tz)
    days = [published] if shifted in (None, published) else [published, shifted]
    zone_note = (
        f" (the page's {published.isoformat()} is {shifted.isoformat()} in {rule.tz}: "
        f"{published_at})"
        if len(days) == 2 and shifted is not None
        else ""
    )
    if any(lo <= d <= hi for d in days):
        verdict, text = DateVerdict.CONSISTENT, f"consistent: {window}{zone_note}"
    elif max(days) < lo:
        verdict, text = (
            DateVerdict.PREDATES,
            f"predates: {published.isoformat()} < {lo.isoformat()}{zone_note}",
        )
    else:
        verdict, text = (
            DateVerdict.LATE,
            f"late: {published.isoformat()} > {hi.isoformat()}{zone_note}",
        )
    return result(verdict, f"{text} {basis}")
