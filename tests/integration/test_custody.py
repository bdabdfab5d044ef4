"""Chain of custody end to end: a real run through the fixture web (embedded Valkey, real
Celery worker), with a local RFC 3161 authority (`openssl ts`), then `sourcevault verify`
on untouched and tampered copies of the data dir: one WARC byte, one log entry, one
report field, one timestamp token, and a WACZ carrying the log."""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.custody_tsa import local_tsa
from tests.fixtureweb import FixtureWeb, route_through
from worker.cli import app
from worker.custody import keys as custody_keys
from worker.custody import log as custody
from worker.custody import seal as custody_seal
from worker.digest.parse import parse_digest
from worker.runs import RunOutcome, run_digest
from worker.runtime import close_runtime, get_runtime
from worker.settings import Settings, load_settings
from worker.store.models import CaptureJob, CaptureRow, CustodyEntry, CustodyTimestamp

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DIGEST = ROOT / "examples" / "2021-09-kazakhstan.txt"
# ok articles, windows-1251, chunked, a login wall, a 404, and a never-fetched admin link
KEEP = {1, 2, 3, 7, 8, 9, 12, 20, 23}
DEAD = "https://rus.azattyq.org/a/31462729.html"
ARTICLE = "https://rus.azattyq.org/a/31446385.html"


def mini_digest() -> str:
    """The September digest cut to the incidents citing only KEEP footnotes."""
    lines = DIGEST.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        marks = {int(m) for m in re.findall(r"\[(\d+)\]", line)}
        footnote = re.match(r"\[(\d+)\]\s*https?://", line)
        cited = {int(footnote.group(1))} if footnote else marks
        if cited and cited <= KEEP:
            out.append(line)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class CustodyRun:
    settings: Settings
    outcome: RunOutcome
    tsa_ca: Path
    tsa_conf: Path
    proxy_url: str


@pytest.fixture(scope="module")
def custody_run(
    fixture_web_session: FixtureWeb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CustodyRun]:
    mp = pytest.MonkeyPatch()
    route_through(mp, fixture_web_session, embedded=True)
    mp.setenv("NO_PROXY", "127.0.0.1")  # the local TSA is reached directly, never proxied
    try:
        with local_tsa(tmp_path_factory.mktemp("tsa")) as (tsa_url, ca, conf):
            settings = load_settings(
                data_dir=tmp_path_factory.mktemp("data"),
                concurrency=4,
                tsa_url=tsa_url,
                tsa_ca_file=ca,
            )
            digest = parse_digest(mini_digest(), name="custody-mini")
            outcome = run_digest(settings, digest, timeout=120)
            close_runtime()  # closes (renames) the WARC files, as at the end of `run`
            yield CustodyRun(settings, outcome, ca, conf, fixture_web_session.proxy_url)
    finally:
        close_runtime()
        mp.undo()


def copy_data_dir(run: CustodyRun, tmp_path: Path) -> Path:
    dest = tmp_path / "data"
    shutil.copytree(run.settings.data_dir, dest)
    return dest


def verify(data_dir: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", "--data-dir", str(data_dir), *extra])
    print(result.output)  # the note quotes these outputs (pytest -s)
    return result.exit_code, result.output


def failed_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("FAILED:"))


def db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "sourcevault.db")


def test_the_untouched_data_dir_verifies(custody_run: CustodyRun, tmp_path: Path) -> None:
    code, out = verify(custody_run.settings.data_dir, "--tsa-ca", str(custody_run.tsa_ca))
    assert code == 0, out
    assert "VERIFIED" in out
    assert "RFC 3161 tokens verify (chained to the trusted TSA CA)" in out


def test_every_source_has_its_custody_history(custody_run: CustodyRun) -> None:
    runtime = get_runtime(custody_run.settings)
    try:
        with runtime.sessions() as session:
            chains = custody.run_entries(session, custody_run.outcome.run_id)
            jobs = session.scalars(select(CaptureJob)).all()
            captured = {c.job_id for c in session.scalars(select(CaptureRow))}
    finally:
        close_runtime()
    assert len(jobs) == len(custody_run.outcome.report.sources)
    for job in jobs:
        events = [e.event for e in chains[f"job/{job.id}"]]
        if job.status == "skipped":  # the admin link: decided without a fetch
            assert events == ["queued", "verified"], job.canonical_url
        elif job.id in captured:
            assert events[:3] == ["queued", "fetched", "stored"], job.canonical_url
            assert events[-1] == "verified"
    article = next(j for j in jobs if j.canonical_url == ARTICLE)
    fetched = next(e for e in chains[f"job/{article.id}"] if e.event == "fetched")
    hop = fetched.data["data"]["hops"][0]
    # through the proxy's CONNECT tunnel the chain is the origin's (trustme leaf + fixture CA)
    assert hop["tls"]["chain_source"] == "verified_chain"
    leaf, ca = hop["tls"]["chain"]
    assert leaf["issuer"] == ca["subject"] and len(leaf["sha256"]) == 64
    assert "fixtureweb test CA" in ca["subject"]
    assert hop["peer_ip"] is None and fetched.data["data"]["via_proxy"]
    assert set(fetched.data["data"]["software"]) == {
        "python", "sourcevault", "httpx", "warcio", "trafilatura"
    }  # fmt: skip
    assert fetched.sealed is not None and fetched.sealed["connections"][0]["local_addr"]
    reported = next(e for e in chains[f"run/{custody_run.outcome.run_id}"] if e.event == "reported")
    assert f"source {DEAD}" in reported.data["data"]["json_parts"]


def test_the_auditors_record_reveals_no_monitor_identity(custody_run: CustodyRun) -> None:
    runtime = get_runtime(custody_run.settings)
    try:
        with runtime.sessions() as session:
            key = custody_keys.load_or_create_key(custody_run.settings.data_dir)
            export = custody_seal.export_custody(session, custody_run.outcome.run_id, key=key)
            sealed = [e.sealed for e in session.scalars(select(CustodyEntry)) if e.sealed]
    finally:
        close_runtime()
    public = export.jsonl.decode("utf-8") + export.signature.decode("utf-8")
    local_addrs = {
        c["local_addr"] for s in sealed for c in s.get("connections", []) if c.get("local_addr")
    }
    assert local_addrs and not any(addr in public for addr in local_addrs)
    proxy_hostport = custody_run.proxy_url.split("//", 1)[1].rstrip("/")
    assert proxy_hostport not in public
    assert any(proxy_hostport in json.dumps(s) for s in sealed)  # kept, but only sealed
    hostname = socket.gethostname()
    assert len(hostname) < 4 or hostname not in public
    assert "salt" not in public and '"sealed"' not in public
    warcs = [p.name for p in custody_run.settings.archive_dir.iterdir()]
    assert warcs and not any(hostname in name for name in warcs)
    # and the export is what `verify --wacz` trusts: chain, seal, public key
    assert export.public_key_pem.startswith(b"-----BEGIN PUBLIC KEY-----")


def test_one_changed_warc_byte_is_named_with_its_file_and_url(
    custody_run: CustodyRun, tmp_path: Path
) -> None:
    data = copy_data_dir(custody_run, tmp_path)
    with db(data) as conn:
        warc_file, offset, length = conn.execute(
            "SELECT warc_file, offset, length FROM captures WHERE url = ?", (ARTICLE,)
        ).fetchone()
    path = data / "collections" / "sourcevault" / "archive" / warc_file
    blob = bytearray(path.read_bytes())
    blob[offset + length // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    code, out = verify(data)
    assert code == 1
    first = failed_line(out)
    assert warc_file in first and ARTICLE in first


def test_one_edited_log_entry_is_named(custody_run: CustodyRun, tmp_path: Path) -> None:
    data = copy_data_dir(custody_run, tmp_path)
    with db(data) as conn:
        conn.execute(
            "UPDATE custody_entries SET data = json_set(data, '$.data.status', 'ok') "
            "WHERE canonical_url = ? AND event = 'verified'",
            (DEAD,),
        )
    code, out = verify(data)
    assert code == 1
    first = failed_line(out)
    assert DEAD in first and "content changed" in first


def test_a_rewritten_chain_is_caught_by_the_signature(
    custody_run: CustodyRun, tmp_path: Path
) -> None:
    """Edit an entry AND recompute every hash after it: the chain links, the seal does not."""
    data = copy_data_dir(custody_run, tmp_path)
    with db(data) as conn:
        rows = conn.execute(
            "SELECT id, data FROM custody_entries WHERE canonical_url = ? ORDER BY seq", (DEAD,)
        ).fetchall()
        prev = custody.GENESIS
        for row_id, raw in rows:
            body = json.loads(raw)
            if body["event"] == "verified":
                body["data"]["status"] = "ok"
            body["prev_hash"] = prev
            prev = custody.entry_hash(body)
            conn.execute(
                "UPDATE custody_entries SET data = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (json.dumps(body), body["prev_hash"], prev, row_id),
            )
    code, out = verify(data)
    assert code == 1
    assert "rewritten" in failed_line(out)


def test_one_changed_report_field_is_named_with_its_file_and_url(
    custody_run: CustodyRun, tmp_path: Path
) -> None:
    data = copy_data_dir(custody_run, tmp_path)
    report = data / "reports" / custody_run.outcome.run_id / "report.json"
    doc = json.loads(report.read_text(encoding="utf-8"))
    source = next(s for s in doc["sources"] if s["canonical_url"] == DEAD)
    assert source["status"] == "dead"
    source["status"] = "ok"
    report.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    code, out = verify(data)
    assert code == 1
    first = failed_line(out)
    assert "report.json" in first and DEAD in first


def test_timestamp_tokens_verify_with_openssl_and_a_changed_one_is_caught(
    custody_run: CustodyRun, tmp_path: Path
) -> None:
    runtime = get_runtime(custody_run.settings)
    try:
        with runtime.sessions() as session:
            tokens = session.scalars(select(CustodyTimestamp)).all()
    finally:
        close_runtime()
    subjects = [t.subject for t in tokens]
    assert any(s.startswith("seal ") for s in subjects)
    assert any(s.startswith("warc ") for s in subjects)
    token = tmp_path / "token.der"
    token.write_bytes(tokens[0].token)
    proc = subprocess.run(
        ["openssl", "ts", "-verify", "-digest", tokens[0].sha256, "-token_in", "-in", str(token),
         "-CAfile", str(custody_run.tsa_ca)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0 and "Verification: OK" in proc.stdout, proc.stderr
    data = copy_data_dir(custody_run, tmp_path)
    with db(data) as conn:
        (blob,) = conn.execute("SELECT token FROM custody_timestamps WHERE id = 1").fetchone()
        # backdate the token: a digit of its genTime (GeneralizedTime, 15 bytes: 0x18 0x0f)
        at = bytes(blob).index(b"\x18\x0f") + 2 + 3  # the year's last digit
        changed = bytearray(blob)
        changed[at] = ord("0") if changed[at] != ord("0") else ord("1")
        conn.execute("UPDATE custody_timestamps SET token = ? WHERE id = 1", (bytes(changed),))
    code, out = verify(data, "--tsa-ca", str(custody_run.tsa_ca))
    assert code == 1
    assert "[timestamp]" in failed_line(out) or "[timestamp]" in out
    assert "signed message digest does not match" in out


def make_wacz(run: CustodyRun, data_dir: Path, dest: Path) -> Path:
    """A minimal WACZ (archive/*.warc.gz + custody/*) until archive/wacz.py ships export."""
    settings = load_settings(data_dir=data_dir)
    runtime = get_runtime(settings)
    try:
        with runtime.sessions() as session:
            key = custody_keys.load_or_create_key(data_dir)
            export = custody_seal.export_custody(session, run.outcome.run_id, key=key)
    finally:
        close_runtime()
    with zipfile.ZipFile(dest, "w") as z:
        for warc in sorted(settings.archive_dir.glob("*.warc.gz")):
            z.write(warc, f"archive/{warc.name}")
        for name, blob in export.files().items():
            z.writestr(name, blob)
    return dest


def test_a_wacz_carries_a_checkable_log(custody_run: CustodyRun, tmp_path: Path) -> None:
    data = copy_data_dir(custody_run, tmp_path)
    wacz = make_wacz(custody_run, data, tmp_path / "run.wacz")
    code, out = verify(data, "--wacz", str(wacz), "--tsa-ca", str(custody_run.tsa_ca))
    assert code == 0, out
    assert "WARC records match their logged sha256" in out
    # an auditor's copy with one log line changed
    bad = tmp_path / "bad.wacz"
    with zipfile.ZipFile(wacz) as src, zipfile.ZipFile(bad, "w") as out_zip:
        for item in src.namelist():
            blob = src.read(item)
            if item == "custody/log.jsonl":
                lines = blob.decode("utf-8").splitlines()
                i = next(n for n, line in enumerate(lines) if DEAD in line and '"verified"' in line)
                lines[i] = lines[i].replace('"status":"dead"', '"status":"ok"')
                blob = ("\n".join(lines) + "\n").encode("utf-8")
            out_zip.writestr(item, blob)
    code, out = verify(data, "--wacz", str(bad))
    assert code == 1
    first = failed_line(out)
    assert "custody/log.jsonl" in first and DEAD in first


def test_a_recheck_extends_the_sources_log_and_still_verifies(
    custody_run: CustodyRun, tmp_path: Path
) -> None:
    from worker.capture.recheck import recheck_source
    from worker.runtime import build_runtime

    data_dir = copy_data_dir(custody_run, tmp_path)
    settings = load_settings(data_dir=data_dir, fallback_lookup=False, per_host_delay=0.0)
    runtime = build_runtime(settings)
    try:
        ok = recheck_source(runtime, ARTICLE)
        dead = recheck_source(runtime, DEAD)
        with runtime.sessions() as session:
            chains = custody.run_entries(session, custody_run.outcome.run_id)
            job_of = {
                url: session.scalar(select(CaptureJob.id).where(CaptureJob.canonical_url == url))
                for url in (ARTICLE, DEAD)
            }
    finally:
        runtime.close()
    for url, result in ((ARTICLE, ok), (DEAD, dead)):
        entries = chains[f"job/{job_of[url]}"]
        last = entries[-1]
        assert last.event == "rechecked"
        assert last.data["data"]["status"] == result.status.value
        assert last.data["url"] == url
        assert custody.check_rows(entries) is None  # still one unbroken chain
    assert chains[f"job/{job_of[DEAD]}"][-1].data["data"]["status"] == "dead"
    code, out = verify(data_dir, "--tsa-ca", str(custody_run.tsa_ca))
    assert code == 0, out
    assert "2 entries after the last seal" in out
