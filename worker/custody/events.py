"""What each custody event records: the pipeline's facts turned into custody entries.

worker.custody.log keeps the log; this module decides the content of each event, and which
facts are public (the auditor's record) and which are sealed (the monitor's own
addresses, hostname, process, attempt). Called inside the caller's transaction:
`capture_rows` as jobs.finish_job's hook, `record_queued` from jobs.create_run,
`seal_run` from report.finalize.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.records import HttpExchange
from schemas import Evidence
from worker.custody import keys as custody_keys
from worker.custody import log as custody
from worker.custody import seal as custody_seal
from worker.store.models import (
    CaptureJob,
    CaptureRow,
    CustodyTimestamp,
    EvidenceRow,
    RequisiteRow,
)

if TYPE_CHECKING:
    from worker.extract.page import ExtractedPage, ExtractionFailure
    from worker.fetch.fetcher import FetchResult
    from worker.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "capture_events",
    "capture_rows",
    "record_queued",
    "record_recheck",
    "record_report",
    "record_warc_digests",
    "report_parts",
    "seal_run",
]

_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _process_facts() -> dict[str, Any]:
    """Sealed: who and where the monitor is. Proxy URLs lose their credentials here too."""
    proxies = {}
    for var in _PROXY_VARS:
        value = os.environ.get(var)
        if value:
            try:
                proxies[var] = str(httpx.URL(value).copy_with(username=None, password=None))
            except httpx.InvalidURL:
                proxies[var] = "[unparseable]"
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "proxies": proxies}


def record_queued(session: Session, run_id: str, *, digest_id: str) -> None:
    """`queued` for every job of a new run; `verified` too for those never fetched."""
    session.flush()
    sealed = _process_facts()
    jobs = session.scalars(
        select(CaptureJob).where(CaptureJob.run_id == run_id).order_by(CaptureJob.id)
    )
    batches = []  # one query for the chains' heads and one flush, not two per job
    for job in jobs:
        data = {
            "digest_id": digest_id,
            "url_as_written": job.url,
            "source_id": job.source_id,
            "fetchable": job.status != "skipped",
        }
        events = [custody.Event("queued", data, sealed)]
        if job.status == "skipped":
            row = session.scalar(select(EvidenceRow).where(EvidenceRow.job_id == job.id))
            if row is not None:
                evidence = Evidence.model_validate(row.data)
                events.append(custody.Event("verified", _verdict(evidence)))
        batches.append((custody.job_key(job), events))
    custody.append_chains(session, batches)


def _hop(exchange: HttpExchange) -> tuple[dict[str, Any], dict[str, Any]]:
    conn = exchange.connection or {}
    public: dict[str, Any] = {
        "url": exchange.url,
        "status": exchange.status,
        "http_version": exchange.http_version,
        "fetched_at": exchange.fetched_at.isoformat(),
        "body_sha256": exchange.body_sha256,
        "body_length": exchange.body_length,
        "truncated": exchange.truncated,
        # direct connections only: through a proxy the socket's peer is the proxy
        "peer_ip": exchange.peer_ip,
        "tls": conn.get("tls"),
    }
    if conn.get("tls_note"):
        public["tls_note"] = conn["tls_note"]
    if exchange.url.startswith("https:") and not conn:
        public["tls_note"] = "no connection facts recorded for this hop"
    return public, dict(conn.get("sealed") or {})


def capture_events(
    result: FetchResult,
    page: ExtractedPage | ExtractionFailure | None,
    evidence: Evidence,
    capture: CaptureRow | None,
    *,
    attempt_id: int | None,
    requisites: Sequence[RequisiteRow] = (),
    missing: Sequence[Mapping[str, str]] = (),
) -> list[custody.Event]:
    """fetched, stored, extracted, verified: built before the write transaction (they
    need nothing from the database), so the write lock is held for the inserts only."""
    from worker.extract.page import ExtractionFailure

    pairs = [_hop(ex) for ex in result.exchanges]  # empty when nothing answered
    hops = [public for public, _sealed in pairs]
    sealed_hops = [sealed for _public, sealed in pairs]
    sealed = {**_process_facts(), "attempt_id": attempt_id, "connections": list(sealed_hops)}
    fetched = {
        "requested_url": result.url,
        "hops": list(hops),
        "error": None if result.error is None else f"{result.error.kind}: {result.error}",
        "attempts": result.attempts,
        "retry_reasons": list(result.retry_reasons),
        "via_proxy": any(ex.peer_ip is None for ex in result.exchanges) and bool(result.exchanges),
        "software": custody.software_versions(),
    }
    events = [custody.Event("fetched", fetched, sealed)]
    if capture is not None:
        stored = {
            "warc_file": capture.warc_file,
            "offset": capture.offset,
            "length": capture.length,
            "record_id": capture.record_id,
            "payload_sha256": capture.sha256,
            "payload_length": capture.payload_length,
            "revisit_of": capture.revisit_of,
            "target_uri": capture.url,
            # what the page needs to render, archived in the same batch: `verify` re-reads these
            "requisites": [requisite_ref(r) for r in requisites],
            "requisites_missing": [dict(m) for m in missing],
        }
        events.append(custody.Event("stored", stored))
    if page is not None:
        text = page.text or ""
        extracted = {
            "ok": not isinstance(page, ExtractionFailure),
            "failure": page.reason if isinstance(page, ExtractionFailure) else None,
            "title": page.title,
            "published": page.published.isoformat() if page.published else None,
            "date_source": page.date_source,
            "language": page.language,
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "text_length": len(text),
        }
        events.append(custody.Event("extracted", extracted))
    events.append(custody.Event("verified", _verdict(evidence)))
    return events


def record_recheck(
    session: Session, canonical_url: str, data: dict[str, Any], *, clock: custody.Clock
) -> bool:
    """A `rechecked` entry on the chain of the latest job that captured `canonical_url`, in
    the transaction that records the check. False when no run ever queued the URL (there
    is no chain to extend). Entries after a run's seal are allowed: `verify` counts them."""
    job = session.scalar(
        select(CaptureJob)
        .where(CaptureJob.canonical_url == canonical_url)
        .order_by(CaptureJob.id.desc())
        .limit(1)
    )
    if job is None:
        return False
    custody.append(session, custody.job_key(job), "rechecked", data, clock=clock)
    return True


def requisite_ref(row: RequisiteRow) -> dict[str, Any]:
    """Where one requisite's final record is, and what its payload hashes to."""
    return {
        "url": row.url,
        "warc_file": row.warc_file,
        "offset": row.offset,
        "record_id": row.record_id,
        "payload_sha256": row.sha256,
        "revisit_of": row.revisit_of,
    }


def capture_rows(
    key: custody.ChainKey,
    result: FetchResult,
    page: ExtractedPage | ExtractionFailure | None,
    evidence: Evidence,
    capture: CaptureRow | None,
    *,
    clock: custody.Clock,
    attempt_id: int | None,
    requisites: Sequence[RequisiteRow] = (),
    missing: Sequence[Mapping[str, str]] = (),
) -> Callable[[Session], None]:
    """The `extra_rows` hook for jobs.finish_job: the events are built now, appended to
    the source's chain in its transaction."""
    events = capture_events(
        result,
        page,
        evidence,
        capture,
        attempt_id=attempt_id,
        requisites=requisites,
        missing=missing,
    )

    def hook(session: Session) -> None:
        custody.append_many(session, key, events, clock=clock)

    return hook


def _verdict(evidence: Evidence) -> dict[str, Any]:
    return {
        "status": str(evidence.status),
        "reason": evidence.reason,
        "http_status": evidence.http_status,
        "final_url": evidence.final_url,
        "problems": [p.code for p in evidence.problems],
    }


# -- run level: report, WARC digests, seal, timestamps -----------------------------------


def report_parts(report_json: bytes) -> dict[str, str]:
    """sha256 per part of report.json, so a changed field is traced to its source URL."""
    data = json.loads(report_json)
    parts: dict[str, str] = {}
    for source in data.get("sources", []):
        parts[f"source {source.get('canonical_url')}"] = _h(source)
    for incident in data.get("incidents", []):
        parts[f"incident {incident.get('id')}"] = _h(incident)
    rest = {k: v for k, v in data.items() if k not in ("sources", "incidents")}
    parts["digest and problems"] = _h(rest)
    return parts


def _h(obj: Any) -> str:
    return hashlib.sha256(custody.canonical_json(obj)).hexdigest()


def record_report(session: Session, run_id: str, files: dict[str, Path], data_dir: Path) -> None:
    """`reported`: the bytes of each report file as finalize wrote them."""
    entry: dict[str, Any] = {"files": {}}
    for kind, path in sorted(files.items()):
        blob = path.read_bytes()
        entry["files"][kind] = {
            "path": _relative(path, data_dir),
            "sha256": hashlib.sha256(blob).hexdigest(),
        }
        if kind == "json":
            entry["json_parts"] = report_parts(blob)
    custody.append(session, custody.run_key(run_id), "reported", entry)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def warc_prefix_sha256(path: Path, length: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        left = length
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                raise ValueError(f"{path}: shorter than the {length} committed bytes")
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def find_warc(archive_dir: Path, name: str) -> Path | None:
    """A WARC by its final name, or its `.open` name while a writer still holds it."""
    for candidate in (archive_dir / name, archive_dir / f"{name}.open"):
        if candidate.exists():
            return candidate
    return None


def record_warc_digests(session: Session, run_id: str, archive_dir: Path) -> list[dict[str, Any]]:
    """`warc_digest` per WARC file the run wrote to: sha256 of the committed prefix.

    A file still open keeps growing, so the digest covers the bytes the database vouches
    for (up to the end of the last committed record), which never change afterwards.
    """
    names = session.scalars(
        select(CaptureRow.warc_file)
        .join(CaptureJob, CaptureJob.id == CaptureRow.job_id)
        .where(CaptureJob.run_id == run_id)
        .distinct()
    ).all()
    digests = []
    for name in sorted(names):
        end = session.scalar(
            select(func.max(CaptureRow.end_offset)).where(CaptureRow.warc_file == name)
        )
        path = find_warc(archive_dir, name)
        if path is None or not end:
            log.warning("custody: WARC %s of run %s is missing", name, run_id)
            continue
        data = {"warc_file": name, "length": int(end), "sha256": warc_prefix_sha256(path, int(end))}
        custody.append(session, custody.run_key(run_id), "warc_digest", data)
        digests.append(data)
    return digests


def seal_run(
    session: Session,
    settings: Settings,
    run_id: str,
    files: dict[str, Path],
    *,
    post: Callable[..., httpx.Response] | None = None,
) -> None:
    """At finalize: record the report and WARC digests, sign the heads, timestamp (if on).

    Commits. A timestamp authority that fails costs a warning, not the run.
    """
    record_report(session, run_id, files, settings.data_dir)
    digests = record_warc_digests(session, run_id, settings.archive_dir)
    key = custody_keys.load_or_create_key(settings.data_dir)
    seal = custody_seal.sign_head(session, run_id, key)
    session.commit()
    tsa_url = getattr(settings, "tsa_url", None)
    if not tsa_url:
        return
    from worker.custody import timestamps

    subjects = [(f"seal {seal.id}", seal.digest)]
    subjects += [(f"warc {d['warc_file']} [0,{d['length']})", d["sha256"]) for d in digests]
    for subject, sha in subjects:
        try:
            token = timestamps.request_token(tsa_url, sha, post=post)
        except timestamps.TimestampError as exc:
            log.warning("custody: no timestamp for %s from %s: %s", subject, tsa_url, exc)
            continue
        session.add(
            CustodyTimestamp(
                run_id=run_id, subject=subject, sha256=sha, tsa_url=tsa_url, token=token
            )
        )
    session.commit()
