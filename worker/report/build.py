"""Database → schemas.Report: per-citation date and names checks, incident verdicts, CSV.

HTML rendering lives with the web app (archive/web/render.py); this module writes JSON
and CSV and is what `finalize_run` calls.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas import (
    Capture,
    Citation,
    DateCheck,
    DateVerdict,
    Digest,
    DigestSummary,
    Evidence,
    Footnote,
    Incident,
    IncidentReport,
    NameMatch,
    NamesCheck,
    NamesVerdict,
    Period,
    Problem,
    ProblemCode,
    Report,
    Source,
    SourceReport,
    SourceStatus,
    Verdict,
)
from worker import timings
from worker.digest.sources import cited_urls
from worker.judge import network as netcheck
from worker.judge.dates import DateRule, check_date
from worker.judge.names import (
    check_names_args,
    has_text,
    matches_key,
    named,
    names_check_from,
)
from worker.judge.statuses import HEALTHY, UNREADABLE
from worker.report import linkrot as report_linkrot
from worker.report import syndicated
from worker.store.jobs import mark_run
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow, Run, RunState, as_utc

if TYPE_CHECKING:
    from worker.pool import Extractor
    from worker.runtime import Runtime
    from worker.settings import Settings

log = logging.getLogger(__name__)


def build_report(
    session: Session,
    run_id: str,
    *,
    rule: DateRule | None = None,
    replay_url: ReplayUrl | None = None,
    now: dt.datetime | None = None,
    pool: Extractor | None = None,
) -> Report:
    """The run's report from the database. `pool` (default: this thread) runs its
    CPU-heavy parts, the name checks and the same-text search: `finalize` hands them to
    the worker's extraction processes (worker.pool)."""
    run = session.get(Run, run_id)
    if run is None:
        raise KeyError(f"no run {run_id!r}")
    digest = Digest.model_validate_json(run.digest_json)
    rows = session.execute(
        select(CaptureJob, EvidenceRow, CaptureRow)
        .outerjoin(EvidenceRow, EvidenceRow.job_id == CaptureJob.id)
        .outerjoin(CaptureRow, CaptureRow.job_id == CaptureJob.id)
        .where(CaptureJob.run_id == run_id)
    ).all()
    by_url: dict[str, tuple[CaptureJob, Evidence | None, CaptureRow | None]] = {}
    signatures: dict[str, list[int]] = {}  # of the evidence's text, signed at capture
    matched: dict[str, dict[str, Any]] = {}  # its people, matched in its text at capture
    for job, ev_row, cap_row in rows:
        evidence = Evidence.model_validate(ev_row.data) if ev_row is not None else None
        by_url[job.canonical_url] = (job, evidence, cap_row)
        if ev_row is not None and ev_row.signature is not None:
            signatures[job.canonical_url] = ev_row.signature
        if ev_row is not None and ev_row.names is not None:
            matched[job.canonical_url] = ev_row.names
    problems = list(digest.problems)
    known = [ev for _job, ev, _cap in by_url.values() if ev is not None]
    if netcheck.network_unavailable(known):
        problems.append(netcheck.network_problem(netcheck.fetched_count(known)))
        by_url = {
            url: (job, netcheck.downgrade(ev) if ev else None, cap)
            for url, (job, ev, cap) in by_url.items()
        }
    sources = []
    for source in digest.sources:
        found = by_url.get(source.canonical_url)
        if found is None:
            sources.append(_source_report(source, None, None, None, replay_url))
        else:
            sources.append(_source_report(source, *found, replay_url))
    problems.extend(same_page_problems(sources, by_url))
    source_by_url = {s.canonical_url: s for s in sources}
    evidence_by_url = {url: ev for url, (_j, ev, _c) in by_url.items()}
    rule = rule or DateRule()
    footnotes = {f.number: f for f in digest.footnotes}  # once, not once per incident
    if pool is None:
        # here, not at the top: the extraction stack (trafilatura, lxml) is no import cost
        # for commands that only read reports
        from worker.pool import InlineExtractor

        pool = InlineExtractor()
    names = _names_checks(digest, footnotes, source_by_url, evidence_by_url, matched, pool)
    incidents = [
        _incident_report(i, footnotes, source_by_url, evidence_by_url, rule, names)
        for i in digest.incidents
    ]
    # link-rot watch: health + history, other archives' copies, screenshots, attachments
    report_linkrot.enrich(session, run_id, sources, incidents, evidence_by_url)
    # the same story at other URLs: reprints, originals, one text cited twice
    syndicated.enrich(
        session, run_id, sources, incidents, evidence_by_url, replay_url, pool, signatures
    )
    return Report(
        digest=DigestSummary(
            id=run.id,
            title=digest.title,
            period=_period(digest),
            counts=_counts(digest, incidents, sources),
            generated_at=now or dt.datetime.now(dt.UTC),
        ),
        problems=problems,
        incidents=incidents,
        sources=sources,
    )


class ReplayUrl:
    """Builds the replay URL of a capture (pywb: /<coll>/<ts>mp_/<url>)."""

    def __init__(self, base_url: str, collection: str) -> None:
        self.base = base_url.rstrip("/")
        self.collection = collection

    def __call__(self, url: str, captured_at: dt.datetime) -> str:
        ts = captured_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
        return f"{self.base}/{self.collection}/{ts}/{url}"


def same_page_problems(
    sources: list[SourceReport],
    by_url: dict[str, tuple[CaptureJob, Evidence | None, CaptureRow | None]],
) -> list[Problem]:
    """Sources the parser could not know were one: URLs that landed on the same final
    URL, or whose pages are the same bytes (`duplicate_url`, naming the footnotes)."""
    groups: dict[tuple[str, str], list[SourceReport]] = {}
    for source in sources:
        if source.status is not SourceStatus.OK:
            continue
        _job, _ev, cap = by_url.get(source.canonical_url, (None, None, None))
        if source.final_url:
            groups.setdefault(("final URL", source.final_url), []).append(source)
        if cap is not None and cap.payload_length:
            groups.setdefault(("page (same bytes)", cap.sha256), []).append(source)
    out: list[Problem] = []
    seen: set[tuple[int, ...]] = set()
    for (what, value), same in groups.items():
        ids = tuple(sorted(s.id for s in same))
        if len(same) < 2 or ids in seen:
            continue
        seen.add(ids)
        notes = ", ".join(f"[{n}]" for s in same for n in s.footnotes)
        out.append(
            Problem(
                code=ProblemCode.DUPLICATE_URL,
                message=f"footnotes {notes} cite one source: the same {what}"
                + (f" {value}" if what == "final URL" else ""),
                footnote=same[0].footnotes[0] if same[0].footnotes else None,
                url=same[0].url,
            )
        )
    return out


def _source_report(
    source: Source,
    job: CaptureJob | None,
    evidence: Evidence | None,
    cap: CaptureRow | None,
    replay_url: ReplayUrl | None,
) -> SourceReport:
    capture = None
    if cap is not None:
        captured_at = as_utc(cap.captured_at)
        capture = Capture(
            warc_file=cap.warc_file,
            offset=cap.offset,
            length=cap.length,
            record_id=cap.record_id,
            sha256=cap.sha256,
            payload_length=cap.payload_length,
            truncated=cap.truncated,
            revisit_of=cap.revisit_of,
            captured_at=captured_at,
            replay_url=replay_url(cap.url, captured_at) if replay_url else None,
        )
    if evidence is None:
        # queued but never finished (our storage failed, the run was interrupted): we know
        # nothing about the link, and say so instead of calling it unreachable
        reason = (job.last_error if job is not None else None) or "not captured"
        evidence = Evidence(status=source.status or SourceStatus.NOT_CAPTURED, reason=reason)
    return SourceReport(
        id=source.id,
        footnotes=source.footnotes,
        url=source.url,
        canonical_url=source.canonical_url,
        status=evidence.status,
        reason=evidence.reason,
        rule=evidence.rule,
        probe=evidence.probe,
        http_status=evidence.http_status,
        final_url=evidence.final_url,
        redirects=evidence.redirects,
        title=evidence.title,
        author=evidence.author,
        language=evidence.language,
        published=evidence.published,
        published_at=evidence.published_at,
        date_source=evidence.date_source,
        date_choice=evidence.date_choice,
        date_candidates=evidence.date_candidates,
        capture=capture,
        text_excerpt=evidence.text_excerpt,
        problems=[*source.problems, *evidence.problems],
        vantages=evidence.vantages,
    )


NamesKey = tuple[tuple[str, ...], str]  # (the incident's people, canonical URL)


def _names_checks(
    digest: Digest,
    footnotes: dict[int, Footnote],
    sources: dict[str, SourceReport],
    evidence: dict[str, Evidence | None],
    matched: dict[str, dict[str, Any]],
    pool: Extractor,
) -> dict[NamesKey, NamesCheck]:
    """Every (people, readable source) pair the incidents cite, checked once each: from
    the matches its capture stored for that text (`matched`: EvidenceRow.names), or on
    the pool for a pair they do not cover (captured before, people edited since)."""
    checks: dict[NamesKey, NamesCheck] = {}
    wanted: dict[NamesKey, tuple[list[str], str | None, str | None]] = {}
    for incident in digest.incidents:
        for _number, fu in cited_urls(incident, footnotes):
            url = fu.canonical_url or ""
            source, ev = sources.get(url), evidence.get(url)
            if source is None or source.status not in HEALTHY or ev is None:
                continue
            key = (tuple(incident.people), url)
            if key in checks or key in wanted:
                continue
            stored = _stored_check(incident.people, ev, matched.get(url))
            if stored is not None:
                checks[key] = stored
            else:
                wanted[key] = (list(incident.people), ev.text, ev.title)
    results = pool.map(check_names_args, list(wanted.values()))
    checks.update(zip(wanted, results, strict=True))
    return checks


def _stored_check(
    people: list[str], ev: Evidence, stored: dict[str, Any] | None
) -> NamesCheck | None:
    """The check composed from the matches stored at capture, if they were found in this
    evidence's title and text and cover every person; None otherwise."""
    wanted = named(people)
    if not wanted:  # nobody to look for: nothing to match, stored or not
        return names_check_from(people, {}, has_text(ev.text))
    if stored is None or stored.get("key") != matches_key(ev.text, ev.title):
        return None
    matches = stored.get("matches") or {}
    if any(n not in matches for n in wanted):
        return None
    found = {n: NameMatch.model_validate(matches[n]) for n in wanted}
    return names_check_from(people, found, has_text(ev.text))


def _incident_report(
    incident: Incident,
    footnotes: dict[int, Footnote],
    sources: dict[str, SourceReport],
    evidence: dict[str, Evidence | None],
    rule: DateRule,
    names: dict[NamesKey, NamesCheck],
) -> IncidentReport:
    citations: list[Citation] = []
    for number, fu in cited_urls(incident, footnotes):
        source = sources.get(fu.canonical_url or "")
        ev = evidence.get(fu.canonical_url or "")
        status = source.status if source else SourceStatus.INVALID
        citations.append(
            Citation(
                footnote=number,
                url=fu.url,
                canonical_url=fu.canonical_url,
                status=status,
                date_check=_date_check(incident, status, ev, rule),
                names_check=_names_check(incident, status, ev, names, fu.canonical_url),
            )
        )
    verdict, reasons = judge(incident, citations)
    return IncidentReport(
        id=incident.id,
        line=incident.line,
        date=incident.date,
        text=incident.text,
        footnotes=incident.footnotes,
        people=incident.people,
        verdict=verdict,
        reasons=reasons,
        problems=incident.problems,
        citations=citations,
    )


def _date_check(
    incident: Incident, status: SourceStatus, ev: Evidence | None, rule: DateRule
) -> DateCheck:
    if status not in HEALTHY or ev is None:  # ok, or read through another vantage
        return DateCheck(verdict=DateVerdict.NOT_CHECKED, rule=f"source is {status}")
    return check_date(
        incident.date,
        incident.dates_mentioned,
        ev.published,
        ev.date_source,
        rule,
        published_at=ev.published_at,
    )


def _names_check(
    incident: Incident,
    status: SourceStatus,
    ev: Evidence | None,
    names: dict[NamesKey, NamesCheck],
    url: str | None,
) -> NamesCheck:
    if status not in HEALTHY or ev is None:
        return NamesCheck(verdict=NamesVerdict.NOT_CHECKED, names=incident.people)
    return names[(tuple(incident.people), url or "")]  # every such pair: _names_checks


def judge(incident: Incident, citations: list[Citation]) -> tuple[Verdict, list[str]]:
    """verified · needs_review · broken · unsourced, with the reasons an auditor reads."""
    if not incident.footnotes:
        return Verdict.UNSOURCED, ["the incident cites no footnote"]
    if not citations:
        return Verdict.BROKEN, [f"footnote {n} has no URL" for n in incident.footnotes]
    for c in citations:
        names_ok = c.names_check.verdict in (NamesVerdict.SUPPORTS, NamesVerdict.NOT_CHECKED)
        if (
            c.status in HEALTHY
            and c.date_check.verdict is DateVerdict.CONSISTENT
            and names_ok
            and (c.names_check.verdict is NamesVerdict.SUPPORTS or not incident.people)
        ):
            return Verdict.VERIFIED, [f"footnote {c.footnote} ({c.canonical_url}) confirms it"]
    if all(c.status in UNREADABLE for c in citations):
        return Verdict.BROKEN, [f"footnote {c.footnote}: source is {c.status}" for c in citations]
    reasons: list[str] = []
    for c in citations:
        if c.status not in HEALTHY:
            reasons.append(f"footnote {c.footnote}: source is {c.status}")
            continue
        if c.date_check.verdict is not DateVerdict.CONSISTENT:
            reasons.append(f"footnote {c.footnote}: date {c.date_check.verdict}")
        if c.names_check.verdict not in (NamesVerdict.SUPPORTS, NamesVerdict.NOT_CHECKED):
            reasons.append(f"footnote {c.footnote}: names {c.names_check.verdict}")
    known = set(incident.footnotes) - {c.footnote for c in citations}
    reasons += [f"footnote {n} has no URL" for n in sorted(known)]
    return Verdict.NEEDS_REVIEW, reasons or ["no citation confirms the incident"]


def _period(digest: Digest) -> Period:
    dates = sorted(i.date for i in digest.incidents if i.date is not None)
    return Period(first=dates[0] if dates else None, last=dates[-1] if dates else None)


def _counts(
    digest: Digest, incidents: list[IncidentReport], sources: list[SourceReport]
) -> dict[str, int]:
    counts: dict[str, int] = {
        "incidents": len(digest.incidents),
        "footnotes": len(digest.footnotes),
        "sources": len(sources),
        "captured": sum(1 for s in sources if s.capture is not None),
        "problems": len(digest.problems),
    }
    counts.update({f"status_{k}": v for k, v in Counter(s.status for s in sources).items()})
    counts.update({f"verdict_{k}": v for k, v in Counter(i.verdict for i in incidents).items()})
    return counts


CSV_FIELDS = [
    "incident_id",
    "incident_line",
    "incident_date",
    "verdict",
    "reasons",
    "people",
    "footnote",
    "url",
    "canonical_url",
    "status",
    "http_status",
    "final_url",
    "title",
    "published",
    "date_source",
    "date_check",
    "date_rule",
    "names_check",
    "names_found",
    "warc_file",
    "offset",
    "sha256",
    "replay_url",
]


# OWASP's CSV-injection rule: a cell starting with one of these is a formula to Excel,
# LibreOffice and Google Sheets; a leading apostrophe makes it text again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """`value` safe for a spreadsheet: text that would start a formula is quoted."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def render_csv(report: Report) -> str:
    """One row per citation (an incident without citations gets one row of its own).

    Titles, URLs and excerpts come from the pages themselves: every cell goes through
    `csv_cell`, so a page titled `=HYPERLINK(...)` reaches the auditor as text.
    """
    sources = {s.canonical_url: s for s in report.sources}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for inc in report.incidents:
        base = {
            "incident_id": inc.id,
            "incident_line": inc.line,
            "incident_date": inc.date.isoformat() if inc.date else "",
            "verdict": inc.verdict,
            "reasons": "; ".join(inc.reasons),
            "people": "; ".join(inc.people),
        }
        if not inc.citations:
            writer.writerow({k: csv_cell(v) for k, v in base.items()})
        for c in inc.citations:
            s = sources.get(c.canonical_url or "")
            cap = s.capture if s else None
            row = {
                **base,
                "footnote": c.footnote,
                "url": c.url,
                "canonical_url": c.canonical_url or "",
                "status": c.status,
                "http_status": s.http_status if s and s.http_status else "",
                "final_url": (s.final_url or "") if s else "",
                "title": (s.title or "") if s else "",
                "published": s.published.isoformat() if s and s.published else "",
                "date_source": (s.date_source or "") if s else "",
                "date_check": c.date_check.verdict,
                "date_rule": c.date_check.rule,
                "names_check": c.names_check.verdict,
                "names_found": "; ".join(c.names_check.found),
                "warc_file": cap.warc_file if cap else "",
                "offset": cap.offset if cap else "",
                "sha256": cap.sha256 if cap else "",
                "replay_url": (cap.replay_url or "") if cap else "",
            }
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()


def write_report_files(report: Report, out_dir: Path) -> dict[str, Path]:
    """report.json and report.csv (written to a temp name, then renamed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "json": (out_dir / "report.json", report.model_dump_json(indent=2)),
        "csv": (out_dir / "report.csv", render_csv(report)),
    }
    written = {}
    for kind, (path, text) in files.items():
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written[kind] = path
    return written


def report_dir(settings: Settings, run_id: str) -> Path:
    """Where finalize writes a run's report (and `verify` checks it)."""
    return settings.data_dir / "reports" / run_id


def current_report(session: Session, settings: Settings, run_id: str) -> Report:
    """The report of a run: the sealed `report.json` finalize wrote (the file whose hash
    the custody log holds) once there is one, so every reader serves the same bytes'
    facts; a live build from the database while the run is still going.

    Raises KeyError for an unknown run."""
    sealed = report_dir(settings, run_id) / "report.json"
    if sealed.exists():
        return Report.model_validate_json(sealed.read_text("utf-8"))
    return build_report(
        session,
        run_id,
        rule=DateRule.from_settings(settings),
        replay_url=ReplayUrl(settings.replay_base_url, settings.collection),
    )


def finalize(runtime: Runtime, run_id: str) -> dict[str, object]:
    """Chord body: build the report from the database, write it, mark the run done."""
    settings = runtime.settings
    marks = settings.timings_file
    timings.mark(marks, "finalize")
    with runtime.sessions() as session:
        report = build_report(
            session,
            run_id,
            rule=DateRule.from_settings(settings),
            replay_url=ReplayUrl(settings.replay_base_url, settings.collection),
            pool=runtime.extractor,
        )
        timings.mark(marks, "report_built")
        files = write_report_files(report, report_dir(settings, run_id))
        timings.mark(marks, "report_files")
        _seal_custody(session, settings, run_id, files)
        # before the run is marked done: `run` may see it done at once (its own mark next)
        timings.mark(marks, "sealed")
        mark_run(session, run_id, RunState.DONE)
    return {"sources": len(report.sources), "captured": report.digest.counts["captured"]}


def _seal_custody(
    session: Session, settings: Settings, run_id: str, files: dict[str, Path]
) -> None:
    """Hash the report into the custody log, sign the heads (worker.custody.events)."""
    from worker.custody.events import seal_run

    try:
        seal_run(session, settings, run_id, files)
    except Exception:  # the report stands; `verify` will say the log is unsigned
        session.rollback()
        log.exception("run %s: sealing the custody log failed", run_id)
