"""A source: one unique canonical URL cited by one or more footnotes."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from schemas.common import Model, Problem


class SourceStatus(StrEnum):
    """The ten DESIGN.md status words for a link, and `not_captured`: our own failure.

    What each one means (fetched? readable? failing? …) is `worker.judge.statuses.MEANINGS`.
    """

    OK = "ok"
    DEAD = "dead"
    SOFT_404 = "soft_404"
    REDIRECTED_AWAY = "redirected_away"
    LOGIN_WALL = "login_wall"
    BLOCKED = "blocked"
    UNREACHABLE = "unreachable"
    NOT_PUBLIC = "not_public"
    INVALID = "invalid"
    REFUSED = "refused"
    NOT_CAPTURED = "not_captured"
    # answers through another vantage (SOURCEVAULT_VANTAGES), not from here: blocked locally
    CENSORED = "censored"


class Source(Model):
    """A unique canonical URL as the parser found it, before anything is fetched.

    `status` is set here only when the URL is never fetched (`not_public`, `invalid`).
    """

    id: int = Field(description="1-based, in order of first citation")
    url: str = Field(description="the URL as written in the digest (first occurrence)")
    canonical_url: str
    footnotes: list[int]
    lines: list[int] = Field(default_factory=list, description="digest lines the URL appears on")
    status: SourceStatus | None = None
    problems: list[Problem] = Field(default_factory=list)

    @property
    def fetchable(self) -> bool:
        return self.status is None
