"""The same story at several URLs, in the report (#18 §2).

`enrich` compares the extracted texts of the run's sources with each other and with the
latest text of every other URL the archive holds (worker.judge.syndication), and fills:
- `SourceReport.same_text`: the other URLs that tell the same story, with the
  similarity, their status and which was published first;
- `SourceReport.reprint`: for a `dead`, `soft_404` or `redirected_away` source, the
  live (`ok`) copy most similar to the text we archived of it earlier; offered beside the
  source, never in its place;
- a `same_text` problem on an incident whose citations are one text at two URLs (one
  source, not two).
A failing source's own text comes from its latest earlier capture with text (another
run's, or a re-check's baseline): the page is gone now, but we read it once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas import Evidence, IncidentReport, Problem, ProblemCode, SameText, SourceReport
from schemas import SourceStatus as S
from worker.extract.shingles import signature
from worker.judge.syndication import confirmed, nominated
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow, as_utc

if TYPE_CHECKING:
    from worker.pool import Extractor

__all__ = ["enrich"]

GONE = frozenset({S.DEAD, S.SOFT_404, S.REDIRECTED_AWAY})
ReplayFn = Callable[[str, dt.datetime], str]


class _Held:
    """One text we hold: whose, its status, date and capture, and its signature when it
    was signed at capture (worker.extract.shingles)."""

    def __init__(
        self,
        url: str,
        text: str,
        status: S | None,
        published: dt.date | None,
        captured_at: dt.datetime | None,
        replay: str | None,
        in_digest: bool,
        signature: list[int] | None = None,
    ) -> None:
        self.url, self.text, self.status, self.published = url, text, status, published
        self.captured_at, self.replay, self.in_digest = captured_at, replay, in_digest
        self.signature = signature


def _archive_texts(
    session: Session, run_id: str, replay_url: ReplayFn | None
) -> tuple[dict[str, _Held], dict[str, _Held]]:
    """The latest text of every URL other runs captured, and (for this run's URLs) the
    latest earlier text, from evidence rows, newest first."""
    rows = session.execute(
        select(
            CaptureJob.canonical_url,
            CaptureJob.run_id,
            EvidenceRow.data,
            EvidenceRow.signature,
            CaptureRow,
        )
        .join(EvidenceRow, EvidenceRow.job_id == CaptureJob.id)
        .outerjoin(CaptureRow, CaptureRow.job_id == CaptureJob.id)
        .where(CaptureJob.run_id != run_id)
        .order_by(CaptureJob.id.desc())
    ).all()
    latest: dict[str, _Held] = {}
    with_text: dict[str, _Held] = {}
    for url, _run, data, signed, cap in rows:
        evidence = Evidence.model_validate(data)
        at = as_utc(cap.captured_at) if cap is not None else None
        replay = replay_url(cap.url, at) if replay_url and cap is not None and at else None
        held = _Held(
            url, evidence.text or "", evidence.status, evidence.published, at, replay, False, signed
        )
        latest.setdefault(url, held)
        if evidence.text:
            with_text.setdefault(url, held)
    return latest, with_text


def enrich(
    session: Session,
    run_id: str,
    sources: list[SourceReport],
    incidents: list[IncidentReport],
    evidence_by_url: dict[str, Evidence | None],
    replay_url: ReplayFn | None,
    pool: Extractor,
    signatures: Mapping[str, list[int]] | None = None,
) -> None:
    """`signatures`: the signatures of this run's texts signed at capture, by URL."""
    signatures = signatures or {}
    latest, with_text = _archive_texts(session, run_id, replay_url)
    held: dict[tuple[str, str], _Held] = {}  # (run · earlier · archive, URL) → text
    for source in sources:
        evidence = evidence_by_url.get(source.canonical_url)
        text = evidence.text if evidence is not None else None
        cap = source.capture
        if text:
            held[("run", source.canonical_url)] = _Held(
                source.canonical_url,
                text,
                source.status,
                source.published,
                cap.captured_at if cap else None,
                cap.replay_url if cap else None,
                True,
                signatures.get(source.canonical_url),
            )
        elif source.status in GONE and source.canonical_url in with_text:
            earlier = with_text[source.canonical_url]  # read once, gone now: its status
            held[("earlier", source.canonical_url)] = _Held(  # is today's, its copy that one
                source.canonical_url,
                earlier.text,
                source.status,
                earlier.published,
                earlier.captured_at,
                earlier.replay,
                True,
                earlier.signature,
            )
    cited = {s.canonical_url for s in sources}
    for url, item in latest.items():
        if url not in cited and item.text:
            held[("archive", url)] = item
    texts: Mapping[Hashable, str] = {key: h.text for key, h in held.items()}
    # texts not signed at capture (captured before signing, or not the page's own text)
    # are signed on every extraction process
    unsigned = [key for key, h in held.items() if h.signature is None]
    for key, signed in zip(
        unsigned, pool.map(signature, [texts[k] for k in unsigned]), strict=True
    ):
        held[key].signature = signed
    # then the candidates are nominated on one, from the signatures alone (its imports
    # are warm there, off this process's GIL), and the few confirmed here, where the
    # texts are: sending every text there cost more than the search
    nominees = pool.call(nominated, [h.signature for h in held.values()])
    pairs = confirmed(texts, nominees)
    by_url = {s.canonical_url: s for s in sources}
    for pair in pairs:
        for mine, theirs in ((pair.first, pair.second), (pair.second, pair.first)):
            kind, url = cast(tuple[str, str], mine)
            cited_source = by_url.get(url) if kind in ("run", "earlier") else None
            other = held[cast(tuple[str, str], theirs)]
            if cited_source is None or other.url == url:
                continue
            link = _link(cited_source, other, pair.similarity)
            cited_source.same_text.append(link)
            gone = cited_source.status in GONE
            if gone and other.status is S.OK and cited_source.reprint is None:
                cited_source.reprint = link  # pairs come most similar first
    for incident in incidents:
        _one_text_twice(incident, by_url)


def _link(source: SourceReport, other: _Held, similarity: float) -> SameText:
    first = None
    if source.published is not None and other.published is not None:
        first = other.published < source.published
    return SameText(
        canonical_url=other.url,
        similarity=similarity,
        status=other.status,
        published=other.published,
        published_first=first,
        in_digest=other.in_digest,
        captured_at=other.captured_at,
        replay_url=other.replay,
    )


def _one_text_twice(incident: IncidentReport, by_url: dict[str, SourceReport]) -> None:
    notes = {c.canonical_url: c.footnote for c in incident.citations if c.canonical_url}
    urls = list(notes)
    seen: set[tuple[str, str]] = set()
    for url in urls:
        source = by_url.get(url)
        if source is None:
            continue
        for link in source.same_text:
            pair = (min(url, link.canonical_url), max(url, link.canonical_url))
            if link.canonical_url not in urls or pair in seen:
                continue
            seen.add(pair)
            incident.problems.append(
                Problem(
                    code=ProblemCode.SAME_TEXT,
                    message=f"footnotes [{notes[url]}] and [{notes[link.canonical_url]}] "
                    f"cite the same text at two URLs (similarity {link.similarity:.2f}): "
                    "one source, not two",
                    footnote=notes[url],
                    url=url,
                )
            )
