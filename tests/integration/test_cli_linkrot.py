"""`sourcevault recheck`, `attach` and `beat` themselves (typer's CliRunner, in process),
on a data dir that already holds a finished run of a small digest through the fixture web.

The logic behind them (worker.capture.recheck, worker.capture.attachments) is tested as functions in
test_linkrot.py; here: exit codes, what the user reads, and what the database holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.fixtureweb import FixtureWeb, route_through
from worker.cli import app
from worker.digest.parse import parse_digest
from worker.runs import run_digest
from worker.runtime import close_runtime
from worker.settings import Settings, load_settings
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import AttachmentRow, SourceCheckRow, SourceHealthRow

pytestmark = pytest.mark.integration

OK_1 = "https://rus.azattyq.org/a/31438644.html"
OK_2 = "https://rus.azattyq.org/a/31446385.html"
DEAD = "https://rus.azattyq.org/a/31462729.html"  # the site's 404 page
WP_ADMIN = "https://tirek.info/wp-admin/post.php?post=14658&action=edit"  # never fetched
DIGEST = f"""CLI link-rot test digest
September 1, Turkestan region, Batyrbekov Amangeldy, Article 411, libel against a judge [1].
On September 6, activists of Akmola region demanded to end the case of Nikolai Katchiyev[2].
September 16, Almaty, Alnur Ilyashev, the City Court settled the activist's complaint[3].
On September 15, in Almaty, Bakhytzhan Toregozhina collected signatures for Aron Atabek [4].
[1]{OK_1}?fbclid=IwAR2t2UsJYEBkkJJ_EJRlT5wZXHL5Yxz
[2]{OK_2}
[3]{DEAD}
[4]{WP_ADMIN}
"""


@dataclass(frozen=True)
class Finished:
    settings: Settings
    run_id: str
    sessions: sessionmaker[Session]  # the test's own view of the database the CLI writes

    @property
    def data_dir(self) -> str:
        return str(self.settings.data_dir)

    def count(self, model: type[AttachmentRow] | type[SourceCheckRow]) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture(scope="module")
def finished(
    fixture_web_session: FixtureWeb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Finished]:
    """One finished run (embedded broker and worker); the proxy env stays for the CLI."""
    mp = pytest.MonkeyPatch()
    route_through(mp, fixture_web_session, embedded=True)
    # no waiting between requests to one host, no retries, no other archives asked
    mp.setenv("SOURCEVAULT_PER_HOST_DELAY", "0")
    mp.setenv("SOURCEVAULT_RETRIES", "0")
    mp.setenv("SOURCEVAULT_FALLBACK_LOOKUP", "false")
    settings = load_settings(data_dir=tmp_path_factory.mktemp("data"))
    try:
        digest = parse_digest(DIGEST, name="cli-linkrot", year=2021)
        try:
            outcome = run_digest(settings, digest, source_name="cli-linkrot.txt", timeout=120)
        finally:
            close_runtime()  # the CLI builds its own runtime on the same data dir
        statuses = {s.canonical_url: s.status.value for s in outcome.report.sources}
        assert statuses == {OK_1: "ok", OK_2: "ok", DEAD: "dead", WP_ADMIN: "not_public"}
        engine = make_engine(settings.effective_database_url)
        try:
            yield Finished(settings, outcome.run_id, make_session_factory(engine))
        finally:
            engine.dispose()
    finally:
        mp.undo()


def _said(output: str) -> str:
    return " ".join(output.split())  # rich wraps at the terminal's width


def _squashed(output: str) -> str:
    return "".join(output.split())  # rich breaks even a long path at the terminal's width


# --- recheck ------------------------------------------------------------------------------


def test_recheck_by_hand_checks_every_fetched_source_of_the_run(finished: Finished) -> None:
    with finished.sessions() as session:
        before = {
            url: session.scalar(
                select(func.count())
                .select_from(SourceCheckRow)
                .where(SourceCheckRow.canonical_url == url, SourceCheckRow.kind == "recheck")
            )
            for url in (OK_1, OK_2, DEAD)
        }
    result = CliRunner().invoke(
        app, ["recheck", finished.run_id, "--data-dir", finished.data_dir], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    said = _said(result.output)
    for url in (OK_1, OK_2, DEAD):
        assert url in said, said
    assert WP_ADMIN not in said  # never fetched, so never re-checked
    lines = {line for line in result.output.splitlines() if "azattyq" in line}
    assert len(lines) == 3
    dead_line = next(line for line in lines if DEAD in line)
    assert " dead " in dead_line and " suspect " in dead_line  # one failure: suspect at once
    for url in (OK_1, OK_2):
        line = next(line for line in lines if url in line)
        assert " ok " in line and " healthy " in line

    with finished.sessions() as session:
        health = {h.canonical_url: h for h in session.scalars(select(SourceHealthRow))}
        assert set(health) == {OK_1, OK_2, DEAD}
        assert health[DEAD].state == "suspect" and health[DEAD].last_status == "dead"
        assert health[OK_1].state == health[OK_2].state == "healthy"
        for url, want in ((OK_1, "ok"), (OK_2, "ok"), (DEAD, "dead")):
            checks = list(
                session.scalars(
                    select(SourceCheckRow)
                    .where(SourceCheckRow.canonical_url == url, SourceCheckRow.kind == "recheck")
                    .order_by(SourceCheckRow.id)
                )
            )
            assert len(checks) == (before[url] or 0) + 1, url  # exactly one new check each
            assert checks[-1].status == want
            # the first capture is in the history too, seeded on the first re-check
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(SourceCheckRow)
                    .where(SourceCheckRow.canonical_url == url, SourceCheckRow.kind == "capture")
                )
                == 1
            )
        assert (
            session.scalar(
                select(func.count())
                .select_from(SourceCheckRow)
                .where(SourceCheckRow.canonical_url == WP_ADMIN)
            )
            == 0
        )


def _first_column(output: str) -> str:
    """The `source` column of the table, its cells joined (a folded URL rejoins)."""
    cells = (line.split("│")[1] if "│" in line else line for line in output.splitlines())
    return "".join(cell.strip() for cell in cells)


def test_recheck_names_every_source_in_full_on_an_80_column_terminal(finished: Finished) -> None:
    result = CliRunner().invoke(
        app, ["recheck", finished.run_id, "--data-dir", finished.data_dir], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    shown = _first_column(result.output)
    assert [url for url in (OK_1, OK_2, DEAD) if url not in shown] == [], result.output


def test_recheck_of_an_unknown_run_fails_naming_it(finished: Finished) -> None:
    checks = finished.count(SourceCheckRow)
    result = CliRunner().invoke(app, ["recheck", "no-such-run", "--data-dir", finished.data_dir])
    assert result.exit_code == 1
    assert "no fetched sources for digest 'no-such-run'" in _said(result.output)
    assert finished.count(SourceCheckRow) == checks


# --- attach -------------------------------------------------------------------------------


def test_attach_stores_the_file_by_its_hash_and_prints_it(
    finished: Finished, tmp_path: Path
) -> None:
    pdf = tmp_path / "court-ruling.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% ruling of the Almaty City Court, " + tmp_path.name.encode())
    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    result = CliRunner().invoke(
        app,
        [
            "attach",
            finished.run_id,
            "3",
            str(pdf),
            "--note",
            "ruling, saved before the page went",
            "--data-dir",
            finished.data_dir,
        ],
    )
    assert result.exit_code == 0, result.output
    with finished.sessions() as session:
        row = session.scalar(select(AttachmentRow).where(AttachmentRow.sha256 == sha))
        assert row is not None
        assert (row.run_id, row.footnote, row.filename) == (finished.run_id, 3, pdf.name)
        assert row.size == pdf.stat().st_size and row.media_type == "application/pdf"
        assert row.note == "ruling, saved before the page went"
        stored = finished.settings.data_dir / row.path
    assert result.stdout.strip() == f"{sha}  {row.path}"
    assert stored.read_bytes() == pdf.read_bytes()  # the stored copy, byte for byte


@pytest.mark.parametrize(
    ("footnote", "name", "message"),
    [
        ("9", "exists.txt", "run {run!r} has no footnote [9]"),
        ("2", "missing.txt", "{path}: no such file"),
    ],
    ids=["unknown-footnote", "missing-file"],
)
def test_attach_refuses_an_unknown_footnote_or_a_missing_file(
    finished: Finished, tmp_path: Path, footnote: str, name: str, message: str
) -> None:
    (tmp_path / "exists.txt").write_text("a note taken by hand\n", encoding="utf-8")
    attachments = finished.count(AttachmentRow)
    result = CliRunner().invoke(
        app,
        [
            "attach",
            finished.run_id,
            footnote,
            str(tmp_path / name),
            "--data-dir",
            finished.data_dir,
        ],
    )
    assert result.exit_code == 1
    said = message.format(run=finished.run_id, path=tmp_path / name)
    assert _squashed(said) in _squashed(result.output), result.output
    assert finished.count(AttachmentRow) == attachments  # nothing added


def test_attach_to_an_unknown_run_fails_naming_it(finished: Finished, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("x", encoding="utf-8")
    attachments = finished.count(AttachmentRow)
    result = CliRunner().invoke(
        app, ["attach", "no-such-run", "1", str(note), "--data-dir", finished.data_dir]
    )
    assert result.exit_code == 1
    assert "no digest run with id 'no-such-run'" in _said(result.output)
    assert finished.count(AttachmentRow) == attachments


# --- beat ---------------------------------------------------------------------------------


def test_beat_without_a_broker_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The running beat has no one-shot mode (it sleeps on its schedule until killed); the
    # tick it queues, worker.queue.tasks.recheck_due → recheck.queue_due, is tested in
    # test_linkrot.py. What the command itself decides: no broker, no beat.
    monkeypatch.delenv("SOURCEVAULT_BROKER_URL", raising=False)
    result = CliRunner().invoke(app, ["beat", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "beat needs a broker" in _said(result.output)
    assert not (tmp_path / "data" / "celerybeat-schedule").exists()
