"""Footnotes → unique Sources: one per canonical URL, http and https of a page as one,
every repeated citation a `duplicate_url` problem naming the footnotes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from schemas.common import Problem, ProblemCode
from schemas.digest import Digest, Footnote, FootnoteURL, Incident
from schemas.source import Source, SourceStatus
from worker.digest.urls import canonicalize, classify_url

__all__ = ["FootnoteLines", "build_sources", "cited_urls", "people_by_source"]


class FootnoteLines(Protocol):
    """A footnote as the parser read it: its number, line, and (URL, line) pairs."""

    number: int
    line: int
    urls: list[tuple[str, int]]


def build_sources(
    drafts: Mapping[int, FootnoteLines],
) -> tuple[list[Footnote], list[Source], list[Problem]]:
    """One Source per unique canonical URL, in order of first appearance."""
    footnotes: list[Footnote] = []
    by_key: dict[str, Source] = {}
    # http:// and https:// of one page are one source: the first-cited form is its key
    by_bare: dict[str, str] = {}
    # What each source already holds, as sets: list lookups would be quadratic in the
    # footnotes that cite one URL.
    cited_by: dict[str, set[int]] = {}
    on_lines: dict[str, set[int]] = {}
    problems: list[Problem] = []
    for draft in sorted(drafts.values(), key=lambda d: d.line):
        urls: list[FootnoteURL] = []
        for url, line in draft.urls:
            key = canonicalize(url)
            bare = _scheme_free(key)
            if key not in by_key and bare in by_bare:
                key = by_bare[bare]
            elif bare:
                by_bare.setdefault(bare, key)
            status, reason = classify_url(url, canonical=key)
            usable = status is not SourceStatus.INVALID
            urls.append(FootnoteURL(url=url, canonical_url=key if usable else None, line=line))
            source = by_key.get(key)
            if source is None:
                source = by_key[key] = _new_source(
                    len(by_key) + 1, url, key, status, reason, draft.number, line
                )
                cited_by[key], on_lines[key] = set(), set()
                problems.extend(source.problems)
            elif draft.number not in cited_by[key]:
                problems.append(_duplicate(source, url, draft.number, line))
            if draft.number not in cited_by[key]:
                cited_by[key].add(draft.number)
                source.footnotes.append(draft.number)
            if line not in on_lines[key]:
                on_lines[key].add(line)
                source.lines.append(line)
        footnotes.append(Footnote(number=draft.number, line=draft.line, urls=urls))
    return footnotes, list(by_key.values()), problems


def _scheme_free(key: str) -> str:
    """`key` without its http(s) scheme ("" for any other URL)."""
    scheme, sep, rest = key.partition("://")
    return rest if sep and scheme in ("http", "https") else ""


def _new_source(
    source_id: int,
    url: str,
    key: str,
    status: SourceStatus | None,
    reason: str,
    footnote: int,
    line: int,
) -> Source:
    problems: list[Problem] = []
    if status is SourceStatus.INVALID:
        problems.append(
            Problem(
                code=ProblemCode.INVALID_URL, message=reason, line=line, footnote=footnote, url=url
            )
        )
    elif status is SourceStatus.NOT_PUBLIC:
        problems.append(
            Problem(
                code=ProblemCode.NOT_PUBLIC_URL,
                message=f"{reason}: never fetched",
                line=line,
                footnote=footnote,
                url=url,
            )
        )
    return Source(
        id=source_id,
        url=url,
        canonical_url=key,
        footnotes=[],
        lines=[],
        status=status,
        problems=problems,
    )


_NAMED_DUPLICATES = 3  # a message names the first few footnotes, then counts the rest


def _duplicate(source: Source, url: str, footnote: int, line: int) -> Problem:
    # Naming every earlier footnote would make n duplicates' messages n² long.
    earlier = source.footnotes
    first = ", ".join(f"[{n}]" for n in earlier[:_NAMED_DUPLICATES])
    if len(earlier) > _NAMED_DUPLICATES:
        first += f" and {len(earlier) - _NAMED_DUPLICATES:,} more"
    problem = Problem(
        code=ProblemCode.DUPLICATE_URL,
        message=f"footnote [{footnote}] cites the same source as {first}: {source.canonical_url}",
        line=line,
        footnote=footnote,
        url=url,
    )
    source.problems.append(problem)
    return problem


def cited_urls(
    incident: Incident, footnotes: Mapping[int, Footnote]
) -> Iterator[tuple[int, FootnoteURL]]:
    """(footnote number, URL) of every URL the incident cites, in its markers' order; a
    marker whose footnote is missing cites nothing (the parser reported it)."""
    for number in incident.footnotes:
        footnote = footnotes.get(number)
        for fu in footnote.urls if footnote else []:
            yield number, fu


def people_by_source(digest: Digest) -> dict[str, list[str]]:
    """Every person named by an incident that cites each source (by canonical URL), in
    the order the digest names them: what a capture matches in the page for the names
    checks of all those incidents at once."""
    footnotes = {f.number: f for f in digest.footnotes}
    people: dict[str, dict[str, None]] = {}
    for incident in digest.incidents:
        for _number, fu in cited_urls(incident, footnotes):
            if fu.canonical_url:
                people.setdefault(fu.canonical_url, {}).update(dict.fromkeys(incident.people))
    return {url: list(named) for url, named in people.items() if named}
