"""`sourcevault verify`: offline checks that what is on disk is what was recorded.

Data dir (`audit_data_dir`), in this order, so the first failure is the most basic one:
1. every WARC file reads to its end with valid digests (archive.warc_reader.check_file);
2. every capture's response record sits at its recorded offset, with its record id and
   payload sha256 (CaptureRow ↔ read_record);
3. every custody chain links and hashes; each `stored` entry agrees with its capture row;
   each sealed record matches its commitment;
4. each run's latest seal verifies (Ed25519, the data dir's public key) and its heads are
   the chains' entries; each WARC digest recorded at finalize still matches the file;
5. RFC 3161 tokens timestamp the digests they claim (and chain to `tsa_ca_file`, if set);
6. report files in `reports/<run>/` hash as recorded at finalize; a changed report.json
   is traced to the source URL (or incident) whose part changed.

A WACZ (`audit_wacz`) is checked from its own contents: the custody log, seal and
public key under `custody/`, and the WARC records the `stored` entries point at.
Nothing here touches the network.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.records import SHA256_HEADER
from archive.warc_reader import check_file, read_record
from worker.custody import events as custody_events
from worker.custody import keys as custody_keys
from worker.custody import log as custody
from worker.custody import seal as custody_seal
from worker.custody import timestamps
from worker.settings import Settings
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import (
    CaptureRow,
    CustodySeal,
    CustodyTimestamp,
    RequisiteRow,
    Run,
    RunState,
)

__all__ = [
    "AuditResult",
    "Finding",
    "SealRefused",
    "audit_data_dir",
    "audit_wacz",
    "seal_unfinished",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One thing that does not match: which check, which file, which URL, and how."""

    check: str
    detail: str
    file: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        # a damaged record's "first line" is binary: keep the message one readable line
        clean = "".join(c if c.isprintable() else "?" for c in self.detail)
        object.__setattr__(self, "detail", clean if len(clean) <= 240 else clean[:240] + "…")

    def __str__(self) -> str:
        where = ", ".join(
            x
            for x in (
                f"file {self.file}" if self.file else "",
                f"URL {self.url}" if self.url else "",
            )
            if x
        )
        return (
            f"[{self.check}] {where}: {self.detail}" if where else f"[{self.check}] {self.detail}"
        )


@dataclass
class AuditResult:
    findings: list[Finding] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # what was checked, one line per check

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def fail(self, finding: Finding) -> None:
        log.warning("verify: %s", finding)
        self.findings.append(finding)


# -- data dir ----------------------------------------------------------------------------


def audit_data_dir(settings: Settings) -> AuditResult:
    result = AuditResult()
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            _check_warc_files(session, settings.archive_dir, result)
            _check_captures(session, settings.archive_dir, result)
            runs = list(session.scalars(select(Run.id).order_by(Run.created_at)))
            pub = settings.data_dir / custody_keys.KEY_FILE.with_suffix(".pub.pem")
            ca = _ca(settings)
            for run_id in runs:
                _check_run(session, run_id, settings, pub, ca, result)
    finally:
        engine.dispose()
    return result


def _ca(settings: Settings) -> bytes | None:
    path = getattr(settings, "tsa_ca_file", None)
    return Path(path).read_bytes() if path else None


def _url_at(session: Session, path: Path, offset: int) -> str | None:
    """The URL of the capture whose records span `offset` (a damaged record has no URI)."""
    name = path.name.removesuffix(".open")
    return session.scalar(
        select(CaptureRow.url)
        .where(CaptureRow.warc_file == name, CaptureRow.end_offset > offset)
        .order_by(CaptureRow.end_offset)
        .limit(1)
    )


def _check_warc_files(session: Session, archive_dir: Path, result: AuditResult) -> None:
    files = sorted(archive_dir.glob("*.warc.gz")) + sorted(archive_dir.glob("*.warc.gz.open"))
    n_records = 0
    for path in files:
        check = check_file(path)
        n_records += len(check.records)
        bad = check.first_problem
        if bad is not None or not check.records:
            detail = "; ".join(bad.problems) if bad else "no records"
            offset = f"record at offset {bad.offset}: " if bad else ""
            url = (bad.target_uri or _url_at(session, path, bad.offset)) if bad else None
            result.fail(Finding("warc", offset + detail, path.name, url))
    result.summary.append(f"WARC files: {len(files)} files, {n_records} records re-hashed")


def _record_problem(
    path: Path, offset: int, record_id: str, sha256: str, revisit_of: str | None
) -> str | None:
    """What is wrong with the record a row (or a custody entry) points at, or None: it is
    there, it is that record, its payload hashes as recorded and its WARC digests hold."""
    try:
        record = read_record(path, offset)
    except Exception as exc:  # any damage: name it, go on
        return f"no record at offset {offset}: {exc}"
    if record.record_id != record_id:
        return f"record at offset {offset} is {record.record_id}, recorded {record_id}"
    # a revisit holds no payload: the sha256 it states for what was received must match
    stated = record.sha256 if revisit_of is None else record.warc_header(SHA256_HEADER)
    if stated is None:
        return f"revisit at offset {offset} states no {SHA256_HEADER}"
    if stated != sha256:
        return f"payload sha256 {stated} != recorded {sha256} (record at offset {offset})"
    if record.digests_ok is False:
        return f"WARC digest fails at offset {offset}"
    return None


def _check_rows(
    session: Session, archive_dir: Path, result: AuditResult, model: type[Any], what: str
) -> int:
    rows = list(session.scalars(select(model).order_by(model.id)))
    for row in rows:
        path = custody_events.find_warc(archive_dir, row.warc_file)
        if path is None:
            result.fail(Finding(what, "WARC file missing", row.warc_file, row.url))
            continue
        problem = _record_problem(path, row.offset, row.record_id, row.sha256, row.revisit_of)
        if problem is not None:
            result.fail(Finding(what, problem, path.name, row.url))
    return len(rows)


def _check_captures(session: Session, archive_dir: Path, result: AuditResult) -> None:
    n = _check_rows(session, archive_dir, result, CaptureRow, "capture")
    result.summary.append(f"captures: {n} response records match their recorded sha256")
    n = _check_rows(session, archive_dir, result, RequisiteRow, "requisite")
    result.summary.append(f"requisites: {n} records of page images, styles and scripts match")


def _check_run(
    session: Session,
    run_id: str,
    settings: Settings,
    pub_path: Path,
    ca: bytes | None,
    result: AuditResult,
) -> None:
    run = session.get(Run, run_id)
    if run is not None and run.state == RunState.FAILED:
        # the run's own storage or database failed: what it holds is not the whole digest
        result.fail(Finding("run", f"run {run_id} failed: {run.error or 'no cause recorded'}"))
    chains = custody.run_entries(session, run_id)
    if not chains:
        result.summary.append(f"run {run_id}: no custody log (made before custody existed)")
        return
    entries = 0
    for rows in chains.values():
        entries += len(rows)
        brk = custody.check_rows(rows)
        if brk is not None:
            result.fail(Finding("custody", str(brk), "custody_entries (database)", brk.url))
            continue
        _check_stored(session, rows, result)
    seal = custody_seal.latest_seal(session, run_id)
    public = {k: custody_seal.iter_public(v) for k, v in chains.items()}
    if seal is None:
        result.fail(Finding("seal", _unsealed(run_id, run)))
        sealed_note = "unsigned"
    else:
        if not pub_path.exists():
            result.fail(Finding("seal", f"public key {pub_path} missing", str(pub_path)))
            return
        if seal.public_key.encode("ascii").strip() != pub_path.read_bytes().strip():
            result.fail(Finding("seal", "seal made with another key than the data dir's", None))
        check = custody_seal.check_seal(seal.heads, seal.signature, pub_path.read_bytes(), public)
        if not check.ok:
            result.fail(Finding("seal", f"run {run_id}: {check.reason}", None, check.url))
        sealed_note = f"signed ({check.unsealed} entries after the last seal)"
        _check_warc_digests(public.get(f"run/{run_id}", []), settings.archive_dir, result)
    _check_timestamps(session, run_id, seal, ca, result)
    _check_reports(public.get(f"run/{run_id}", []), settings.data_dir, result)
    result.summary.append(
        f"run {run_id}: {len(chains)} custody chains, {entries} entries link and hash; "
        f"{sealed_note}"
    )


def _unsealed(run_id: str, run: Run | None) -> str:
    """Why a run has no seal, and the command that mends it."""
    state = run.state if run is not None else "unknown"
    seal = f"`sourcevault verify --seal {run_id}` seals what was committed"
    if run is None or state not in (RunState.QUEUED, RunState.RUNNING):
        return f"run {run_id} ({state}): the custody log was never signed; {seal}"
    if not run.owner:  # submitted to a deployment: its workers finalize it
        return (
            f"run {run_id} is {state}: unsealed until its workers finish it; if they are "
            f"gone for good, {seal}"
        )
    from worker.runs import owner_alive

    if owner_alive(run.owner):
        return f"run {run_id} is {state}: its `sourcevault run` still works on it, unsealed"
    again = f"; or run its digest again to resume it: `sourcevault run {run.source_name}`"
    return (
        f"run {run_id} is unsealed: its `sourcevault run` died while it was {state}; {seal}{again}"
    )


class SealRefused(ValueError):
    """`verify --seal` will not seal this run (unknown, or still being captured)."""


def seal_unfinished(settings: Settings, run_id: str) -> str:
    """`verify --seal RUN`: end a run whose process died and seal what was committed.

    Jobs never finished are marked failed ("interrupted"), then the run goes through the
    same `finalize` as every run (report files, custody `reported` entry, signed seal).
    Refused while a live process or worker still works on the run."""
    from worker.report.build import finalize
    from worker.runs import owner_alive
    from worker.runtime import build_runtime
    from worker.store import jobs, sweep

    runtime = build_runtime(settings)  # also cuts a dead writer's uncommitted WARC records
    try:
        with runtime.sessions() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise SealRefused(f"no run {run_id!r}")
            if run.state in (RunState.QUEUED, RunState.RUNNING):
                if run.owner and owner_alive(run.owner):
                    raise SealRefused(f"run {run_id} is still running (process {run.owner})")
                stale = dt.timedelta(seconds=settings.claim_stale_after)
                # an embedded run's claims were its dead owner's; a deployment's may be live
                if not run.owner and sweep.live_claims(session, run_id, stale_after=stale):
                    raise SealRefused(f"run {run_id}: a worker is still capturing its sources")
                sweep.interrupt_unfinished(session, run_id)
        finalize(runtime, run_id)
        with runtime.sessions() as session:
            progress = jobs.run_progress(session, run_id)
        assert progress is not None
        return f"run {run_id} sealed: {progress.state}, {progress.done}/{progress.total} captured"
    finally:
        runtime.close()


def _check_stored(session: Session, rows: list[Any], result: AuditResult) -> None:
    job_id = rows[0].job_id
    if job_id is None:
        return
    capture = session.scalar(select(CaptureRow).where(CaptureRow.job_id == job_id))
    stored = [r for r in rows if r.event == "stored"]
    if capture is None:
        if stored:
            result.fail(
                Finding(
                    "custody",
                    "log says stored, database has no capture",
                    None,
                    rows[0].canonical_url,
                )
            )
        return
    if not stored:
        return  # a capture from before custody, or a log cut short (the seal catches that)
    data = stored[-1].data["data"]
    recorded = (data["warc_file"], data["offset"], data["record_id"], data["payload_sha256"])
    actual = (capture.warc_file, capture.offset, capture.record_id, capture.sha256)
    if recorded != actual:
        result.fail(
            Finding(
                "custody",
                f"capture row {actual} differs from the custody log's stored entry {recorded}",
                capture.warc_file,
                rows[0].canonical_url,
            )
        )
        return
    logged = {(r["record_id"], r["payload_sha256"]) for r in data.get("requisites", [])}
    kept = {
        (r.record_id, r.sha256)
        for r in session.scalars(
            select(RequisiteRow).where(RequisiteRow.page_record_id == capture.record_id)
        )
    }
    if logged != kept:
        result.fail(
            Finding(
                "custody",
                f"{len(logged - kept)} requisites in the stored entry have no row, "
                f"{len(kept - logged)} rows are not in it",
                capture.warc_file,
                rows[0].canonical_url,
            )
        )


def _check_warc_digests(
    run_chain: list[dict[str, Any]], archive_dir: Path, result: AuditResult
) -> None:
    for entry in run_chain:
        if entry["event"] != "warc_digest":
            continue
        data = entry["data"]
        path = custody_events.find_warc(archive_dir, data["warc_file"])
        if path is None:
            result.fail(Finding("warc_digest", "WARC file missing", data["warc_file"]))
            continue
        try:
            sha = custody_events.warc_prefix_sha256(path, int(data["length"]))
        except ValueError as exc:
            result.fail(Finding("warc_digest", str(exc), path.name))
            continue
        if sha != data["sha256"]:
            result.fail(
                Finding(
                    "warc_digest",
                    f"first {data['length']} bytes hash {sha[:16]}…, "
                    f"finalize recorded {data['sha256'][:16]}…",
                    path.name,
                )
            )


def _check_timestamps(
    session: Session, run_id: str, seal: CustodySeal | None, ca: bytes | None, result: AuditResult
) -> None:
    tokens = list(
        session.scalars(select(CustodyTimestamp).where(CustodyTimestamp.run_id == run_id))
    )
    for t in tokens:
        _check_token(t.subject, t.sha256, t.token, ca, result)
    if tokens:
        anchor = "chained to the trusted TSA CA" if ca else "no TSA CA configured: signature only"
        result.summary.append(f"run {run_id}: {len(tokens)} RFC 3161 tokens verify ({anchor})")


def _check_token(
    subject: str, sha: str, token: bytes, ca: bytes | None, result: AuditResult
) -> None:
    try:
        timestamps.verify_token(token, sha, ca_pem=ca)
    except timestamps.TimestampError as exc:
        file = subject.split()[1] if subject.startswith("warc ") else None
        result.fail(Finding("timestamp", f"{subject}: {exc}", file))


def _check_reports(run_chain: list[dict[str, Any]], data_dir: Path, result: AuditResult) -> None:
    reported = [e for e in run_chain if e["event"] == "reported"]
    if not reported:
        return
    data = reported[-1]["data"]
    for kind, info in sorted(data["files"].items()):
        path = data_dir / info["path"]
        if not path.exists():
            result.fail(Finding("report", "report file missing", info["path"]))
            continue
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() == info["sha256"]:
            continue
        detail, url = "changed since finalize (sha256 differs)", None
        if kind == "json":
            detail, url = _changed_part(blob, data.get("json_parts") or {})
        result.fail(Finding("report", detail, info["path"], url))


def _changed_part(blob: bytes, parts: dict[str, str]) -> tuple[str, str | None]:
    try:
        now = custody_events.report_parts(blob)
    except (ValueError, AttributeError) as exc:
        return f"no longer valid JSON ({exc})", None
    for name in sorted(set(parts) | set(now)):
        if parts.get(name) != now.get(name):
            url = name.split(" ", 1)[1] if name.startswith("source ") else None
            return f"{name}: changed since finalize (sha256 differs)", url
    return "changed since finalize (formatting only; every part still hashes the same)", None


# -- WACZ --------------------------------------------------------------------------------


def audit_wacz(path: Path, *, ca: bytes | None = None) -> AuditResult:
    """Check a WACZ from its own contents; nothing from the data dir is trusted."""
    result = AuditResult()
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        need = {"custody/log.jsonl", "custody/seal.json", "custody/public_key.pem"}
        if not need <= names:
            result.fail(
                Finding(
                    "wacz", f"carries no custody log (missing {sorted(need - names)})", path.name
                )
            )
            return result
        chains = custody_seal.parse_jsonl(z.read("custody/log.jsonl"))
        seal_doc = json.loads(z.read("custody/seal.json"))
        public_pem = z.read("custody/public_key.pem")
        warcs = {Path(n).name: n for n in names if n.endswith((".warc.gz", ".warc"))}
        entries = 0
        for chain in chains.values():
            entries += len(chain)
            brk = custody.verify_chain(chain)
            if brk is not None:
                result.fail(Finding("custody", str(brk), "custody/log.jsonl", brk.url))
        check = custody_seal.check_seal(seal_doc["seal"], seal_doc["signature"], public_pem, chains)
        if not check.ok:
            result.fail(Finding("seal", check.reason, "custody/seal.json", check.url))
        for t in seal_doc.get("timestamps", []):
            _check_token(t["subject"], t["sha256"], base64.b64decode(t["token_b64"]), ca, result)
        if seal_doc["seal"].get("public_key_sha256"):
            result.summary.append(
                f"signing key sha256 {seal_doc['seal']['public_key_sha256']} "
                "(compare it with the key the monitor published)"
            )
        with tempfile.TemporaryDirectory(prefix="sourcevault-verify-") as tmp:
            n = _check_wacz_records(z, warcs, chains, Path(tmp), result)
        result.summary.append(
            f"{path.name}: {len(chains)} custody chains, {entries} entries; "
            f"{n} WARC records match their logged sha256; seal {check.reason}"
        )
    return result


def _check_wacz_records(
    z: zipfile.ZipFile,
    warcs: dict[str, str],
    chains: dict[str, list[dict[str, Any]]],
    tmp: Path,
    result: AuditResult,
) -> int:
    extracted: dict[str, Path] = {}
    checked = 0
    for chain in chains.values():
        for entry in chain:
            if entry.get("event") != "stored":
                continue
            data, url = entry["data"], entry.get("url")
            for ref in [data, *data.get("requisites", [])]:
                name = ref["warc_file"]
                if name not in warcs:
                    result.fail(
                        Finding(
                            "wacz",
                            "WARC file named by the custody log is not in the WACZ",
                            name,
                            ref.get("url") or url,
                        )
                    )
                    continue
                if name not in extracted:
                    extracted[name] = _extract_checked(z, warcs[name], tmp, result)
                problem = _record_problem(
                    extracted[name],
                    int(ref["offset"]),
                    ref["record_id"],
                    ref["payload_sha256"],
                    ref.get("revisit_of"),
                )
                checked += 1
                if problem is not None:
                    result.fail(Finding("wacz", problem, name, ref.get("url") or url))
    return checked


def _extract_checked(z: zipfile.ZipFile, member: str, tmp: Path, result: AuditResult) -> Path:
    """A WARC of the WACZ unpacked to `tmp`, each of its records re-hashed on the way."""
    path = Path(z.extract(member, tmp))
    bad = check_file(path).first_problem
    if bad is not None:
        result.fail(
            Finding(
                "warc",
                f"record at offset {bad.offset}: {'; '.join(bad.problems)}",
                path.name,
                bad.target_uri,
            )
        )
    return path


def print_result(result: AuditResult, echo: Callable[[str], Any]) -> int:
    """The summary, then every mismatch, first one named; the exit code (0 = all match)."""
    for line in result.summary:
        echo(f"  ok-checked  {line}")
    if result.ok:
        echo("VERIFIED: every WARC record, custody entry, seal, timestamp and report matches.")
        return 0
    for finding in result.findings:
        echo(f"  MISMATCH    {finding}")
    first = result.first
    assert first is not None
    echo(
        f"FAILED: {len(result.findings)} mismatch(es); first: "
        f"file {first.file or '-'}, URL {first.url or '-'}: {first.detail}"
    )
    return 1
