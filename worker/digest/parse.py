"""Digest text → `schemas.Digest`: incidents, footnote markers, footnote URLs, problems.

A digest is a list of incidents, each a line that starts with a date and cites
footnote markers such as `[3]`, followed by a list of footnotes, each a marker and
one or more URLs. Real digests are messy, so the parser never raises on text:
anything odd becomes a `Problem` with a line number.

One pass over the lines classifies each line:

- blank;
- a footnote: `[3] URL …`, `(3) URL`, `3. URL`, `3) URL`, `3 URL`, possibly
  followed by prose or a second URL;
- a URL line without a marker: another URL of the footnote above it;
- an incident: a date at the start ("September 1", "On 8 September",
  "Almaty, 12 October 2021", "4–5 October", "3 сентября", "2021-10-12");
- a continuation of the incident above (hard-wrapped text), an undated incident
  (cites markers but has no date), or an unparsed line.

Then the year is resolved (argument, else the years the text's dates carry, else
the year in the digest's name), dates and people are read from each incident,
footnote URLs are canonicalised into unique Sources, and markers are matched to
footnotes. The whole parse is linear in the input: 10,000 incidents take well
under two seconds, and so do 100,000 markers in one incident (every "seen it
already?" check is a set lookup, never a scan of a list that grows with the input).

Footnote numbers have at most nine digits; a longer one is an `unparsed_line`
problem naming its line, never silently dropped. Bidirectional-control characters
(U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C) make text display in another order
than it reads: each line carrying one is a `bidi_control` problem, and
`worker.digest.urls.find_urls` removes them from footnote URLs.

Reading a file or an upload into this text is `worker.digest.read`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from schemas.common import Problem, ProblemCode
from schemas.digest import Digest, Footnote, Incident
from worker.digest.dates import (
    DATE_RE,
    INCIDENT_LEAD_RE,
    YEAR,
    DateMention,
    date_mentions,
    mentioned_date,
    to_date,
    to_mention,
)
from worker.digest.people import extract_people
from worker.digest.sources import build_sources
from worker.digest.urls import BIDI_CONTROLS_RE, find_urls, repair_url

__all__ = ["MAX_YEAR", "MIN_YEAR", "parse_digest"]

# The years a digest's dates may be given in (`--year`, the API's `year`): far enough
# from datetime's limits that date arithmetic on them (date windows, next re-check)
# cannot overflow.
MIN_YEAR, MAX_YEAR = 1990, 2100

logger = logging.getLogger(__name__)
_NEWLINES = re.compile(r"\r\n?")

# ---------------------------------------------------------------------------
# lines

# Footnote numbers: up to nine digits (they fit every integer column); a longer
# number in brackets is reported, not read.
_MAX_FOOTNOTE_DIGITS = 9
_N = rf"\d{{1,{_MAX_FOOTNOTE_DIGITS}}}"
# A footnote line's marker: [3] / (3) / 3. / 3) / 3: / or "3 " when a URL follows.
# Only "[n]" may have more than five digits: "123456. text" is not a footnote.
_FOOTNOTE_RE = re.compile(
    rf"\s*(?:\[(?P<br>{_N})\]|\((?P<pa>\d{{1,5}})\)|(?P<num>\d{{1,5}})(?:[.):]|(?=\s+(?:https?://|www\.))))"
    r"[\s:.–—-]*",
    re.IGNORECASE,
)
_URL_START_RE = re.compile(r"\s*(?:[a-z][a-z0-9+.-]{1,15}://|www\.)", re.IGNORECASE)
# In-text citation markers: [3], [3, 4], [3;4].
_MARKER_RE = re.compile(rf"\[({_N}(?:\s*[,;]\s*{_N})*)\]")
# A bracketed number too long to be a footnote number: [1234567890].
_LONG_MARKER_RE = re.compile(rf"\[\s*(\d{{{_MAX_FOOTNOTE_DIGITS + 1},}})(?:\s*[,;\]])")
_BIDI_RE = BIDI_CONTROLS_RE  # embeddings, overrides, isolates, marks (LRM, RLM, ALM)
_MARKER_SPLIT_RE = re.compile(r"\s*[,;]\s*")
# A wrapped incident's line ends mid-sentence; a finished one ends like this.
_TERMINAL = (".", "!", "?", "]", "”", '"', "»", ")", ";", "…")


@dataclass
class _IncidentDraft:
    line: int
    text: str
    date: DateMention | None  # None: an undated incident (it cites markers)
    mentions: list[DateMention] = field(default_factory=list)  # every date in `text`
    wrapped: list[str] = field(default_factory=list)  # hard-wrapped lines, joined at the end

    def ends(self) -> str:
        return self.wrapped[-1] if self.wrapped else self.text


@dataclass
class _FootnoteDraft:
    number: int
    line: int
    urls: list[tuple[str, int]] = field(default_factory=list)  # (url, line)


@dataclass
class _Lines:
    """What the line pass found."""

    incidents: list[_IncidentDraft] = field(default_factory=list)
    footnotes: dict[int, _FootnoteDraft] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # The footnote that a following URL line without a marker belongs to; blank
    # lines keep it open, any other line closes it.
    open_footnote: _FootnoteDraft | None = None


def _classify_lines(lines: list[str]) -> _Lines:
    found = _Lines()
    previous = "blank"  # kind of the previous line: blank|incident|footnote|other
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            previous = "blank"
            continue
        previous = _classify_line(line, number, previous, found)
        if previous != "footnote":
            found.open_footnote = None
        _check_line(line, number, previous, found)
    for draft in found.incidents:
        if draft.wrapped:  # joined once: `+=` per wrapped line would copy the text each time
            draft.text = " ".join([draft.text, *draft.wrapped])
            draft.wrapped.clear()
    return found


def _check_line(line: str, number: int, kind: str, found: _Lines) -> None:
    """Problems a line has whatever it is: bidi controls, footnote numbers too long."""
    bidi = _BIDI_RE.findall(line)
    if bidi:
        names = ", ".join(
            f"U+{ord(c):04X} {unicodedata.name(c, 'BIDI CONTROL')}" for c in dict.fromkeys(bidi)
        )
        what = "footnote URLs" if kind == "footnote" else "text"
        footnote = (
            found.open_footnote.number if kind == "footnote" and found.open_footnote else None
        )
        found.problems.append(
            Problem(
                code=ProblemCode.BIDI_CONTROL,
                message=f"the line's {what} carries {len(bidi)} bidirectional control "
                f"character(s) ({names}): it may display differently from what it says"
                + ("; they are removed from its URLs" if kind == "footnote" else ""),
                line=number,
                footnote=footnote,
            )
        )
    for m in _LONG_MARKER_RE.finditer(line):
        found.problems.append(
            Problem(
                code=ProblemCode.UNPARSED_LINE,
                message=f"footnote number [{_excerpt(m.group(1), 24)}] has more than "
                f"{_MAX_FOOTNOTE_DIGITS} digits: not read as a footnote or marker",
                line=number,
            )
        )


def _classify_line(line: str, number: int, previous: str, found: _Lines) -> str:
    """Record one non-blank line in `found`; return its kind."""
    if _add_footnote(line, number, found):
        return "footnote"
    if _URL_START_RE.match(line):
        return _add_url_line(line, number, found)
    date = _leading_date(line)
    if date is not None:
        found.incidents.append(_IncidentDraft(number, line, date))
        return "incident"
    if previous == "incident" and not found.incidents[-1].ends().endswith(_TERMINAL):
        found.incidents[-1].wrapped.append(line)  # hard-wrapped incident text
        return "incident"
    if _MARKER_RE.search(line):
        found.incidents.append(_IncidentDraft(number, line, None))
        return "incident"
    found.problems.append(
        Problem(
            code=ProblemCode.UNPARSED_LINE,
            message=f"not an incident, a footnote or a URL: {_excerpt(line)!r}",
            line=number,
        )
    )
    return "other"


def _add_footnote(line: str, number: int, found: _Lines) -> bool:
    """Record `line` as a footnote if it is one. "[n]" always is; "n." needs a URL."""
    m = _FOOTNOTE_RE.match(line)
    if m is None:
        return False
    rest = line[m.end() :]
    urls = find_urls(rest)
    if m["br"] is None and not _plain_marker_is_footnote(line, rest, bool(urls)):
        return False
    footnote_number = int(m["br"] or m["pa"] or m["num"])
    existing = found.footnotes.get(footnote_number)
    if existing is None:
        existing = found.footnotes[footnote_number] = _FootnoteDraft(footnote_number, number)
    else:
        found.problems.append(
            Problem(
                code=ProblemCode.UNPARSED_LINE,
                message=f"footnote [{footnote_number}] is listed again (first on line "
                f"{existing.line}); its URLs are added to the first",
                line=number,
                footnote=footnote_number,
            )
        )
    read: list[str] = []
    for _, url in urls:
        fixed = repair_url(url)
        read.append(fixed[0] if fixed else url)
        if fixed:
            _repaired(found, url, fixed, number, footnote_number)
    if not urls and m["br"] is not None and rest.split():
        token = rest.split()[0]
        fixed = repair_url(token)
        if fixed:
            read.append(fixed[0])
            _repaired(found, token, fixed, number, footnote_number)
    existing.urls.extend((url, number) for url in read)
    found.open_footnote = existing
    return True


def _repaired(
    found: _Lines, written: str, fixed: tuple[str, str], line: int, footnote: int
) -> None:
    """A garbled URL read as the URL it was meant to be: said, never silent."""
    found.problems.append(
        Problem(
            code=ProblemCode.INVALID_URL,
            message=f"footnote [{footnote}]: {written!r} is not a URL as written ({fixed[1]}); "
            f"read as {fixed[0]}",
            line=line,
            footnote=footnote,
            url=fixed[0],
        )
    )


def _plain_marker_is_footnote(line: str, rest: str, has_url: bool) -> bool:
    """ "3. URL" is a footnote; "3. September 3, Almaty … URL" is a numbered incident."""
    if _URL_START_RE.match(rest):
        return True
    return has_url and _leading_date(line) is None


def _add_url_line(line: str, number: int, found: _Lines) -> str:
    """A URL line without a marker belongs to the footnote right above it."""
    urls = find_urls(line)
    if found.open_footnote is not None:
        found.open_footnote.urls.extend((url, number) for _, url in urls)
        return "footnote"
    found.problems.append(
        Problem(
            code=ProblemCode.UNPARSED_LINE,
            message="URL outside any footnote (no [n] marker above it)",
            line=number,
            url=urls[0][1] if urls else None,
        )
    )
    return "other"


def _leading_date(line: str) -> DateMention | None:
    lead = INCIDENT_LEAD_RE.match(line)  # always matches, possibly empty
    m = DATE_RE.match(line, lead.end() if lead else 0)
    return to_mention(m) if m else None


def _excerpt(line: str, width: int = 80) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


# ---------------------------------------------------------------------------
# assembling the digest


def parse_digest(text: str, *, name: str = "digest", year: int | None = None) -> Digest:
    """Parse digest text. Never raises on odd text: oddities become `Problem`s.

    `year` must be within MIN_YEAR..MAX_YEAR (ValueError otherwise): callers validate it
    where the user gives it (the CLI's `--year`, the API's schema).
    """
    if year is not None and not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is not between {MIN_YEAR} and {MAX_YEAR}")
    # Lone surrogates cannot be validated into a model; they only come from broken input.
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    text = _NEWLINES.sub("\n", text).removeprefix("\ufeff")
    digest_id = f"{_slug(name)}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    title = _title(name)
    if not text.strip():
        return Digest(
            id=digest_id,
            title=title,
            year=year,
            incidents=[],
            footnotes=[],
            sources=[],
            problems=[Problem(code=ProblemCode.EMPTY_DIGEST, message="the digest is empty")],
        )
    found = _classify_lines(text.split("\n"))
    for draft in found.incidents:  # once, now that wrapped lines are joined
        draft.mentions = date_mentions(draft.text)
    resolved_year = _resolve_year(year, found.incidents, name)
    incidents = [
        _build_incident(i, draft, resolved_year) for i, draft in enumerate(found.incidents, 1)
    ]
    footnotes, sources, url_problems = build_sources(found.footnotes)
    problems = [*found.problems, *url_problems]
    problems += [p for incident in incidents for p in incident.problems]
    problems += _check_citations(incidents, footnotes)  # also adds to incident.problems
    problems.sort(key=lambda p: p.line or 0)  # stable: same-line problems keep their order
    return Digest(
        id=digest_id,
        title=title,
        year=resolved_year,
        incidents=incidents,
        footnotes=footnotes,
        sources=sources,
        problems=problems,
    )


_SLUG_RE = re.compile(r"[^a-z0-9]+")


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _SLUG_RE.sub("-", ascii_name.lower()).strip("-") or "digest"


_TITLE_SPLIT_RE = re.compile(r"[\s_-]+")


def _title(name: str) -> str:
    """ "2021-09-kazakhstan" -> "2021-09 Kazakhstan": numbers stay joined, words capitalised."""
    parts: list[str] = []
    for word in _TITLE_SPLIT_RE.split(name.strip()):
        if not word:
            continue
        if word.isdigit() and parts and parts[-1][-1:].isdigit():
            parts[-1] += "-" + word
        else:
            parts.append(word.capitalize() if word.islower() else word)
    return " ".join(parts) or "Digest"


_NAME_YEAR_RE = re.compile(YEAR)


def _resolve_year(year: int | None, drafts: list[_IncidentDraft], name: str) -> int | None:
    """The year of dates written without one: argument, else the text's, else the name's."""
    if year is not None:
        return year
    written = Counter(m.year for draft in drafts for m in draft.mentions if m.year is not None)
    if written:
        top = max(written.values())
        return max(y for y, count in written.items() if count == top)
    in_name = _NAME_YEAR_RE.search(name)
    return int(in_name.group()) if in_name else None


def _build_incident(number: int, draft: _IncidentDraft, year: int | None) -> Incident:
    date = to_date(draft.date, year) if draft.date else None
    problems: list[Problem] = []
    if date is None:
        problems.append(_undated_problem(draft, year))
    footnotes = _markers(draft.text)
    if not footnotes:
        problems.append(
            Problem(
                code=ProblemCode.UNSOURCED_INCIDENT,
                message="the incident cites no footnote",
                line=draft.line,
            )
        )
    return Incident(
        id=number,
        line=draft.line,
        date=date,
        dates_mentioned=_dates_mentioned(draft.mentions, draft.date, date, year),
        text=draft.text,
        footnotes=footnotes,
        people=extract_people(draft.text),
        problems=problems,
    )


def _undated_problem(draft: _IncidentDraft, year: int | None) -> Problem:
    if draft.date is None:
        reason = "the incident has no date at its start"
    elif draft.date.year is None and year is None:
        reason = "the incident's date has no year, and no year was given or found"
    else:
        reason = "the incident's date is not a real date"
    return Problem(code=ProblemCode.UNDATED_INCIDENT, message=reason, line=draft.line)


def _dates_mentioned(
    mentions: list[DateMention],
    own: DateMention | None,
    date: dt.date | None,
    year: int | None,
) -> list[dt.date]:
    """Every date in the text except the incident's own, each once, in order."""
    dates: dict[dt.date, None] = {}
    for mention in mentions:
        days = [mention.day, mention.end_day] if mention.end_day else [mention.day]
        if own is not None and mention.start == own.start:
            days = days[1:]  # the range's first day is the incident's date
        for day in days:
            found = mentioned_date(mention, year, date, day)
            if found and found != date:
                dates.setdefault(found)
    return list(dates)


def _markers(text: str) -> list[int]:
    """Every marker number in order of first citation, each once (a dict keeps the order:
    a list's `in` would make one incident's markers quadratic)."""
    numbers: dict[int, None] = {}
    for m in _MARKER_RE.finditer(text):
        for part in _MARKER_SPLIT_RE.split(m.group(1)):
            numbers.setdefault(int(part))
    return list(numbers)


def _check_citations(incidents: list[Incident], footnotes: list[Footnote]) -> list[Problem]:
    """Markers without URLs, footnotes no incident cites, and a missing footnote list."""
    problems: list[Problem] = []
    with_urls = {f.number for f in footnotes if f.urls}
    listed = {f.number for f in footnotes}
    if not footnotes and incidents:
        problems.append(
            Problem(code=ProblemCode.NO_FOOTNOTES, message="the digest has no footnote list")
        )
    for incident in incidents:
        for number in incident.footnotes:
            if number in with_urls:
                continue
            why = "has no URL" if number in listed else "is not in the footnote list"
            problem = Problem(
                code=ProblemCode.MISSING_FOOTNOTE,
                message=f"marker [{number}] is cited but footnote [{number}] {why}",
                line=incident.line,
                footnote=number,
            )
            incident.problems.append(problem)
            problems.append(problem)
    cited = {n for inc in incidents for n in inc.footnotes}
    for footnote in footnotes:
        if footnote.number not in cited:
            problems.append(
                Problem(
                    code=ProblemCode.ORPHAN_FOOTNOTE,
                    message=f"footnote [{footnote.number}] is cited by no incident",
                    line=footnote.line,
                    footnote=footnote.number,
                    url=footnote.urls[0].url if footnote.urls else None,
                )
            )
    return problems
