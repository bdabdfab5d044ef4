"""Shared building blocks of the contracts: problem codes and the Problem record."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base of every contract model: unknown fields are an error, not silently kept."""

    model_config = ConfigDict(extra="forbid")


class ProblemCode(StrEnum):
    """Every finding the parser, the capture pipeline or the verifier can report."""

    # digest-level, from the parser (DESIGN.md contract)
    MISSING_FOOTNOTE = "missing_footnote"
    ORPHAN_FOOTNOTE = "orphan_footnote"
    UNSOURCED_INCIDENT = "unsourced_incident"
    DUPLICATE_URL = "duplicate_url"
    NOT_PUBLIC_URL = "not_public_url"
    INVALID_URL = "invalid_url"
    UNPARSED_LINE = "unparsed_line"
    UNDATED_INCIDENT = "undated_incident"
    EMPTY_DIGEST = "empty_digest"
    NO_FOOTNOTES = "no_footnotes"
    # a line carries bidirectional-control characters (U+202A–U+202E, U+2066–U+2069,
    # U+200E/F, U+061C): what it shows is not what it says; removed from its URLs
    BIDI_CONTROL = "bidi_control"
    # capture and verification
    NETWORK_UNAVAILABLE = "network_unavailable"
    FETCH_FAILED = "fetch_failed"
    TRUNCATED = "truncated"
    EXTRACTION_FAILED = "extraction_failed"
    CAPTURE_FAILED = "capture_failed"
    # link-rot watch and sources that resist capture (worker.capture.recheck, worker.sites.profiles)
    PROFILE_EXPIRED = "profile_expired"
    CONTENT_CHANGED = "content_changed"
    # two footnotes of one incident cite the same text at two URLs (worker.judge.syndication):
    # one source, not two
    SAME_TEXT = "same_text"


class Problem(Model):
    """One finding, located as precisely as we can: line of the digest, footnote, URL."""

    code: ProblemCode
    message: str
    line: int | None = None
    footnote: int | None = None
    url: str | None = None
