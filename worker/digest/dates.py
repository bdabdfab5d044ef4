"""The incident date grammar: "September 7", "7 сентября", "on 12-14 October", years.

A digest's incident begins with its date, and its text mentions others (a rally's, a
trial's): `date_mentions` finds them in English and Russian, `to_date` and
`mentioned_date` turn them into days of the digest's year.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# Month names -> numbers: English full names and abbreviations, Russian genitive.
_EN_MONTH_NAMES = (
    ("january", "jan"),
    ("february", "feb"),
    ("march", "mar"),
    ("april", "apr"),
    ("may",),
    ("june", "jun"),
    ("july", "jul"),
    ("august", "aug"),
    ("september", "sept", "sep"),
    ("october", "oct"),
    ("november", "nov"),
    ("december", "dec"),
)
_RU_MONTH_NAMES = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
_MONTHS = {name: n for n, names in enumerate(_EN_MONTH_NAMES, 1) for name in names}
_RU_MONTHS = {name: n for n, name in enumerate(_RU_MONTH_NAMES, 1)}
# Title case or capitals only: "may" in prose is a verb, "May" is a month.
_EN_MONTH = "|".join(
    sorted({v for k in _MONTHS for v in (k.title(), k.upper())}, key=len, reverse=True)
)
_RU_MONTH = "|".join(_RU_MONTHS)
_DAY = r"(?<!\d)(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?(?!\d)"
_UNITS = r"(?!\s*(?:days?|weeks?|months?|years?|hours?|minutes?|people|persons|tenge|MCI)\b)"
# "October 4–5", "September 28th to 29th": the second day is a date mentioned.
_RANGE = rf"(?:\s*(?:[–—-]|\bto\b|\btill\b|\buntil\b)\s*(?P<{{p}}2>{_DAY}){_UNITS})?"
YEAR = r"(?<!\d)(?:19|20)\d{2}(?!\d)"

# The lookahead lets the regex engine skip, cheaply, every position where no date
# can start (a digit or an English month's capital): ten times faster on long digests.
DATE_RE = re.compile(
    r"(?=[\dJFMASOND])(?:"
    + "|".join(
        (
            # September 1 / Sept. 3rd–5th, 2021
            rf"(?P<md_m>{_EN_MONTH})\.?\s+(?P<md_d>{_DAY})"
            + _RANGE.format(p="md_d")
            + rf"(?:,?\s+(?P<md_y>{YEAR}))?",
            # 8 September / 4-5 October 2021 / 12 of October
            rf"(?P<dm_d>{_DAY})"
            + _RANGE.format(p="dm_d")
            # \b: "25 Marat" is not a date ("Mar" is an abbreviation of March)
            + rf"\s+(?:of\s+)?(?P<dm_m>{_EN_MONTH})\b\.?(?:,?\s+(?P<dm_y>{YEAR}))?",
            # 3 сентября 2021 г.
            rf"(?P<ru_d>{_DAY})"
            + _RANGE.format(p="ru_d")
            + rf"\s+(?P<ru_m>{_RU_MONTH})(?:\s+(?P<ru_y>{YEAR}))?",
            # 2021-09-03
            r"(?<!\d)(?P<iso_y>(?:19|20)\d{2})-(?P<iso_m>[01]\d)-(?P<iso_d>[0-3]\d)(?!\d)",
            # 03.09.2021
            r"(?<![\d.])(?P<dot_d>[0-3]?\d)\.(?P<dot_m>[01]?\d)\.(?P<dot_y>(?:19|20)\d{2})(?!\d)",
        )
    )
    + ")"
)

# What may stand before an incident's date: a list bullet or number, a place and
# a comma ("Almaty, 12 October"), and "On"/"From".
INCIDENT_LEAD_RE = re.compile(
    r"\s*(?:[-•*·–—]\s+|\d{1,5}[.)]\s+)?"
    r"(?:[A-ZА-ЯЁ][\w’'-]*(?:\s+[A-ZА-ЯЁ][\w’'-]*){0,2},\s*)?"
    r"(?:(?:On|on|ON|From|from|Since|since|В|в|С|с)\s+)?(?:the\s+)?"
)


@dataclass(frozen=True)
class DateMention:
    """A date as written: year may be missing until the digest's year is known."""

    month: int
    day: int
    year: int | None
    start: int
    end_day: int | None = None  # second day of a range


def date_mentions(text: str) -> list[DateMention]:
    return [to_mention(m) for m in DATE_RE.finditer(text)]


def to_mention(m: re.Match[str]) -> DateMention:
    groups = m.groupdict()
    for prefix in ("md", "dm", "ru", "iso", "dot"):
        if groups.get(f"{prefix}_d"):
            return DateMention(
                month=_month_number(groups[f"{prefix}_m"]),
                day=_day_number(groups[f"{prefix}_d"]),
                year=int(groups[f"{prefix}_y"]) if groups.get(f"{prefix}_y") else None,
                start=m.start(),
                end_day=_day_number(groups[f"{prefix}_d2"]) if groups.get(f"{prefix}_d2") else None,
            )
    raise AssertionError("date pattern matched without a day")  # pragma: no cover


def _month_number(text: str) -> int:
    key = text.lower().rstrip(".")
    return _MONTHS.get(key) or _RU_MONTHS.get(key) or int(key)


def _day_number(text: str) -> int:
    return int(text.rstrip("stndrh"))


def to_date(mention: DateMention, year: int | None, day: int | None = None) -> dt.date | None:
    """The mention as a date in `year` (its own year wins), or None if impossible."""
    use_year = mention.year or year
    if use_year is None:
        return None
    try:
        return dt.date(use_year, mention.month, day or mention.day)
    except ValueError:  # 31 September, month 13, year 0
        return None


_HALF_YEAR = dt.timedelta(days=183)


def mentioned_date(
    mention: DateMention, year: int | None, anchor: dt.date | None, day: int
) -> dt.date | None:
    """A date the text mentions; "25 December" in a January digest is last year's."""
    date = to_date(mention, year, day)
    if date and mention.year is None and anchor and date - anchor > _HALF_YEAR:
        try:
            date = date.replace(year=date.year - 1)
        except ValueError:  # 29 February
            return None
    return date
