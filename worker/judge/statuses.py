"""What each source status means: the one table every other module reads.

A status is a fact about a link (or, for `not_captured`, the admission that we have none).
Each row says whether the link was fetched, whether the page can be read as evidence,
whether a re-check counts it as a failure towards `dead`, whether it is inconclusive
(the link may be fine; we could not see past a wall), whether it is a fact about the
link at all, and the colour the report shows it in. The named sets below are derived
from the rows, so a new status is one new row here (and its word in schemas), and
`tests/unit/test_statuses.py` fails until it has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import SourceStatus

__all__ = [
    "COLOURS",
    "FAILING",
    "FETCHED",
    "HEALTHY",
    "INCONCLUSIVE",
    "MEANINGS",
    "NEVER_FETCHED",
    "UNREADABLE",
    "Meaning",
]


@dataclass(frozen=True)
class Meaning:
    fetched: bool
    """A request went out (or would have): False for links refused before any request."""
    readable: bool
    """The page can be read and judged: its date and names are checked."""
    failing: bool
    """A re-check counts it towards declaring the source dead (with hysteresis)."""
    inconclusive: bool
    """Says nothing either way about the link's health: a wall, not a verdict."""
    permanent: bool
    """Waiting will not change it: an incident citing only such sources is broken."""
    about_link: bool
    """A fact about the link. False only when *we* failed: nothing is known about it."""
    colour: str
    summary: str


MEANINGS: dict[SourceStatus, Meaning] = {
    # status:               fetched readable failing inconclusive permanent about_link
    SourceStatus.OK:              Meaning(True,  True,  False, False, False, True, "#2e7d32",
                                          "a page that answers and is what it claims"),
    SourceStatus.DEAD:            Meaning(True,  False, True,  False, True,  True, "#b71c1c",
                                          "404/410, or the name does not exist"),
    SourceStatus.SOFT_404:        Meaning(True,  False, True,  False, True,  True, "#d84315",
                                          "a 200 that is a not-found page"),
    SourceStatus.REDIRECTED_AWAY: Meaning(True,  False, True,  False, True,  True, "#ef6c00",
                                          "lands on a home, section or search page"),
    SourceStatus.LOGIN_WALL:      Meaning(True,  False, False, True,  False, True, "#6a1b9a",
                                          "the content needs an account"),
    SourceStatus.BLOCKED:         Meaning(True,  False, False, True,  False, True, "#4527a0",
                                          "403, 451, an anti-bot challenge"),
    SourceStatus.UNREACHABLE:     Meaning(True,  False, True,  False, False, True, "#616161",
                                          "refused, reset, TLS failure, timeouts, 5xx"),
    SourceStatus.NOT_PUBLIC:      Meaning(False, False, False, False, True,  True, "#37474f",
                                          "an admin, edit or preview link: never fetched"),
    SourceStatus.INVALID:         Meaning(False, False, False, False, True,  True, "#795548",
                                          "not a usable URL"),
    SourceStatus.REFUSED:         Meaning(False, False, False, False, True,  True, "#880e4f",
                                          "the egress policy forbids the address or scheme"),
    SourceStatus.CENSORED:        Meaning(True,  True,  False, False, False, True, "#1565c0",
                                          "answers through another vantage, not from "
                                          "here: blocked on this network"),
    SourceStatus.NOT_CAPTURED:    Meaning(False, False, False, False, False, False, "#9e9e9e",
                                          "never captured: our storage failed or the run "
                                          "was interrupted; nothing is known about the link"),
}  # fmt: skip


def _where(**wanted: bool) -> frozenset[SourceStatus]:
    return frozenset(
        s for s, m in MEANINGS.items() if all(getattr(m, k) is v for k, v in wanted.items())
    )


HEALTHY = _where(readable=True)
FETCHED = _where(fetched=True)
NEVER_FETCHED = frozenset(MEANINGS) - FETCHED
FAILING = _where(failing=True)
INCONCLUSIVE = _where(inconclusive=True)
UNREADABLE = _where(permanent=True)  # says nothing about the incident, and never will
COLOURS: dict[str, str] = {s.value: m.colour for s, m in MEANINGS.items()}
