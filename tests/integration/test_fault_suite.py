"""Issue #15 items 7, 9 and 11, against real parts: local storage failures, dead workers
with a SIGKILLed redis-server, and a SIGKILLed `sourcevault run`.

| fault                                           | expected                                   |
|-------------------------------------------------|--------------------------------------------|
| the WARC dir is a regular file (EEXIST/ENOTDIR) | no link status; run `failed` naming it;    |
| the open WARC file writes to /dev/full (ENOSPC) | `run` exits 1 naming it; `verify` too      |
| worker SIGKILLed mid-capture, redis-server      | its jobs taken over (claim heartbeat +     |
| SIGKILLed and restarted on its AOF, a 3rd joins | sweeper), run `done`, each source captured |
| (SQLite and PostgreSQL)                         | once; the visibility timeout stays 1 h     |
| `sourcevault run` SIGKILLed mid-capture         | Valkey and extraction processes die with   |
|                                                 | it; `verify` names the unsealed run and    |
|                                                 | the fix; a re-run resumes the same run;    |
|                                                 | `verify --seal` seals what was committed   |

Root runs these tests, and root writes through chmod: the storage faults are a WARC dir
that is a file (every file creation in it fails with a real OSError) and the writer's
open WARC descriptor pointed at /dev/full (every write fails with a real ENOSPC).
Waits are bounded by deadlines on states, never timed assertions.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from archive.warc_reader import check_file
from schemas import SourceStatus
from tests.fixtureweb import FixtureWeb, Request, Response, html, route_through
from tests.pg import PgCluster
from tests.servers import RedisProcess
from tests.workers import WorkerProcess, sourcevault, start_worker, wait_for, worker_env
from worker.cli import app
from worker.report.build import build_report
from worker.runtime import Runtime, close_runtime, get_runtime
from worker.settings import load_settings
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow, JobStatus, Run, RunState

pytestmark = pytest.mark.integration

HOST = "faultsuite.test"
# small clocks for the tests; the defaults (10 s beat, 35 s stale, 15 s sweep) keep a dead
# worker's jobs under a minute
FAST = {
    "CLAIM_HEARTBEAT_INTERVAL": "0.5",
    "CLAIM_STALE_AFTER": "3",
    "SWEEP_INTERVAL": "1",
    "FINALIZE_GRACE": "1",
    "STORAGE_RETRIES": "1",
    "RETRIES": "0",
    "PER_HOST_DELAY": "0",
    "PER_HOST_CONCURRENCY": "8",
    "FALLBACK_LOOKUP": "false",
    "TOTAL_TIMEOUT": "20",
}


def _page(name: str) -> Response:
    # distinct text per page: identical payloads would be archived as revisits
    return html(
        f"<html><head><title>{name}</title>"
        '<meta property="article:published_time" content="2021-09-02T10:00:00+06:00">'
        f"</head><body><article><h1>{name}</h1>"
        + f"<p>Report {name}: Almaty, September 2, a rally took place downtown.</p>" * 20
        + "</article></body></html>"
    )


class HeldPages:
    """Pages whose first `hold` requests wait until `release()` (bounded); later ones
    answer at once. The test knows which worker is mid-capture when it strikes."""

    def __init__(self, hold: int) -> None:
        self.hold = hold
        self.hits = 0
        self.released = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Response:
        with self._lock:
            self.hits += 1
            held = self.hits <= self.hold
        if held:
            self.released.wait(60)
        return _page(req.target.strip("/"))

    def release(self) -> None:
        self.released.set()


def _digest(path: Path, urls: list[str]) -> Path:
    lines = ["Fault suite digest", ""]
    lines += [
        f"September {i % 28 + 1}, Almaty, a rally took place [{i}]."
        for i in range(1, len(urls) + 1)
    ]
    lines += [""] + [f"[{i}]{url}" for i, url in enumerate(urls, 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _urls(fw: FixtureWeb, handler: Callable[[Request], Response], n: int, prefix: str) -> list[str]:
    urls = []
    for i in range(n):
        fw.route(HOST, f"/{prefix}{i}", handler)
        urls.append(f"https://{HOST}/{prefix}{i}")
    return urls


# --- item 7: local storage failures are never link verdicts -----------------------------


def _no_warc_dir(runtime: Runtime) -> str:
    archive = runtime.settings.archive_dir
    shutil.rmtree(archive)
    archive.write_text("a regular file where the WARC directory should be\n")
    return "File exists"


def _disk_full(runtime: Runtime) -> str:
    writer = runtime.writer
    with writer._lock:
        fd, _name = writer._ensure_file()  # the open WARC file, warcinfo written
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, fd)  # from now on every write to it is a real ENOSPC
    os.close(full)
    return "No space left on device"


@pytest.mark.parametrize(
    "fault", [_no_warc_dir, _disk_full], ids=["warc-dir-is-a-file", "disk-full"]
)
def test_a_storage_failure_fails_the_run_naming_it_and_judges_no_link(
    fault: Callable[[Runtime], str],
    fixture_web: FixtureWeb,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    route_through(monkeypatch, fixture_web, embedded=True)
    for key, value in FAST.items():
        monkeypatch.setenv(f"SOURCEVAULT_{key}", value)
    data = tmp_path / "data"
    digest = _digest(
        tmp_path / "digest.txt", [fixture_web_page(fixture_web, n) for n in ("a", "b")]
    )
    # the runtime `run` will use (same settings, so the same cached runtime), then the fault
    runtime = get_runtime(load_settings(data_dir=data))
    named = fault(runtime)
    try:
        result = CliRunner().invoke(
            app, ["run", str(digest), "--data-dir", str(data), "--year", "2021"]
        )
        said = " ".join(result.output.split())
        assert result.exit_code == 1, (said, result.exception)
        assert "failed" in said and "local storage failed" in said and named in said, said
        sessions = runtime.sessions
        with sessions() as s:
            runs = list(s.scalars(select(Run)))
            statuses = set(s.scalars(select(CaptureJob.status)))
            verdicts = list(s.scalars(select(EvidenceRow.status)))
        assert len(runs) == 1 and runs[0].state == RunState.FAILED
        assert runs[0].error is not None and named in runs[0].error
        assert verdicts == []  # no `unreachable`, no status at all: nothing is known of the links
        with sessions() as s:
            report = build_report(s, runs[0].id)
        # and the report says so: not_captured, never a status that judges the link
        assert {src.status for src in report.sources} == {SourceStatus.NOT_CAPTURED}
        assert all(named in (src.reason or "") for src in report.sources)
        assert JobStatus.DONE not in statuses
        verified = CliRunner().invoke(app, ["verify", "--data-dir", str(data)])
        told = " ".join(verified.output.split())
        assert verified.exit_code == 1 and "VERIFIED" not in told, told
        assert f"run {runs[0].id} failed" in told and named in told, told
    finally:
        if fault is _disk_full:  # the descriptor is /dev/full: nothing to finish or rename
            writer = runtime.writer
            if writer._fd is not None:
                os.close(writer._fd)
            writer._fd = writer._name = None
        close_runtime()


def fixture_web_page(fw: FixtureWeb, name: str) -> str:
    fw.route(HOST, f"/{name}", _page(name))
    return f"https://{HOST}/{name}"


# --- item 9: a dead worker's jobs are taken over, with redis SIGKILLed too ---------------


def _kill_redis_and_restart(redis: RedisProcess) -> None:
    proc = redis.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    redis.proc = None
    redis.start()  # on its AOF


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_sigkilled_worker_and_redis_the_digest_still_ends_done_each_source_once(
    db: str, fixture_web: FixtureWeb, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    if db == "postgresql":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        database_url = cluster.create_database("deadworker")
    else:
        database_url = f"sqlite:///{data / 'sourcevault.db'}"
    held = HeldPages(hold=4)
    urls = _urls(fixture_web, held, 30, "p")
    redis = RedisProcess(tmp_path / "redis").start()
    # production broker limits: a dead worker's reservations would wait an hour for them
    settings = {
        **FAST,
        "DATABASE_URL": database_url,
        "VISIBILITY_TIMEOUT": "3600",
        "TASK_TIME_LIMIT": "300",
        "TASK_SOFT_TIME_LIMIT": "240",
    }
    env = worker_env(
        broker_url=redis.url, data_dir=data, proxy=fixture_web.env(), settings=settings
    )
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    workers: list[WorkerProcess] = []
    try:
        digest = _digest(tmp_path / "digest.txt", urls)
        run_id = sourcevault(env, "submit", str(digest), "--year", "2021").stdout.split()[-1]
        victim = start_worker(env, log_path=tmp_path / "w1.log", concurrency=4)
        workers.append(victim)
        # the victim holds four captures mid-fetch
        wait_for(
            lambda: held.hits >= 4, timeout=30, what="four held fetches", on_timeout=victim.tail
        )
        workers.append(start_worker(env, log_path=tmp_path / "w2.log", concurrency=4))
        wait_for(
            lambda: _done(sessions, run_id) >= 8,
            timeout=60,
            what="the second worker capturing",
            on_timeout=workers[1].tail,
        )
        victim.kill()
        held.release()
        _kill_redis_and_restart(redis)
        workers.append(start_worker(env, log_path=tmp_path / "w3.log", concurrency=4))
        wait_for(
            lambda: _state(sessions, run_id) == RunState.DONE,
            timeout=120,
            interval=0.5,
            what=f"run {run_id} done",
            on_timeout=lambda: (
                f"{_statuses(sessions, run_id)}\n{workers[1].tail()}\n{workers[2].tail()}"
            ),
        )
        for w in workers[1:]:
            assert w.stop() == 0, w.tail()
        with sessions() as s:
            jobs = dict(
                s.execute(
                    select(CaptureJob.canonical_url, CaptureJob.id).where(
                        CaptureJob.run_id == run_id
                    )
                ).all()
            )
            per_job = Counter(
                dict(
                    s.execute(
                        select(CaptureRow.job_id, func.count()).group_by(CaptureRow.job_id)
                    ).all()
                )
            )
        assert sorted(jobs) == sorted(urls)
        assert _statuses(sessions, run_id) == {JobStatus.DONE: len(urls)}
        assert per_job == Counter({job_id: 1 for job_id in jobs.values()})
        responses: Counter[str] = Counter()
        archive = data / "collections" / "sourcevault" / "archive"
        for path in archive.glob("*.warc.gz*"):
            check = check_file(path)
            assert check.ok, (path.name, check.first_problem)
            responses.update(
                r.target_uri for r in check.records if r.rec_type == "response" and r.target_uri
            )
        assert responses == Counter({url: 1 for url in urls})
    finally:
        held.release()
        for w in workers:
            if w.alive:
                w.kill()
        redis.stop()
        engine.dispose()


def _done(sessions: sessionmaker[Session], run_id: str) -> int:
    return _statuses(sessions, run_id).get(JobStatus.DONE, 0)


def _statuses(sessions: sessionmaker[Session], run_id: str) -> dict[str, int]:
    with sessions() as s:
        rows = s.execute(
            select(CaptureJob.status, func.count())
            .where(CaptureJob.run_id == run_id)
            .group_by(CaptureJob.status)
        ).all()
    return {status: n for status, n in rows}


def _state(sessions: sessionmaker[Session], run_id: str) -> str | None:
    with sessions() as s:
        run = s.get(Run, run_id, populate_existing=True)
        return run.state if run is not None else None


# --- item 11: a SIGKILLed `run` leaves no processes, and its run is resumed or sealed ----


class KilledRun:
    def __init__(self, tmp: Path, fw: FixtureWeb) -> None:
        self.held = HeldPages(hold=1)
        urls = [fixture_web_page(fw, "first"), fixture_web_page(fw, "second")]
        urls.append(_urls(fw, self.held, 1, "held")[0])
        self.digest = _digest(tmp / "digest.txt", urls)
        self.data = tmp / "data"
        self.env = worker_env(broker_url="", data_dir=self.data, proxy=fw.env(), settings=FAST)
        del self.env["SOURCEVAULT_BROKER_URL"]  # the embedded default
        self.sessions = make_session_factory(
            make_engine(f"sqlite:///{self.data / 'sourcevault.db'}")
        )

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "worker", "run", str(self.digest), "--year", "2021"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=self.data.parent,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "worker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            cwd=self.data.parent,
        )

    def run_ids(self) -> list[str]:
        with self.sessions() as s:
            return list(s.scalars(select(Run.id)))

    def state(self, run_id: str) -> str | None:
        return _state(self.sessions, run_id)


@pytest.fixture
def killed_run(fixture_web: FixtureWeb, tmp_path: Path) -> Iterator[KilledRun]:
    """`sourcevault run` SIGKILLed while it captures (one page held); asserts its
    children died with it."""
    kr = KilledRun(tmp_path, fixture_web)
    proc = kr.start()
    try:
        wait_for(lambda: kr.held.hits >= 1, timeout=60, what="the held page fetched")
        children = psutil.Process(proc.pid).children(recursive=True)
        names = {c.name() for c in children}
        assert any("valkey" in n for n in names), names  # the private broker runs
        proc.send_signal(signal.SIGKILL)  # the `run` process alone, not its group
        proc.wait(timeout=10)

        def all_gone() -> bool:
            return not [
                c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE
            ]

        wait_for(
            all_gone,
            timeout=20,
            what="the Valkey and extraction processes to exit",
            on_timeout=lambda: str([(c.pid, c.name()) for c in children if c.is_running()]),
        )
        kr.held.release()
        yield kr
    finally:
        kr.held.release()
        if proc.poll() is None:
            proc.kill()
        for c in psutil.Process().children(recursive=True):
            if c.pid != proc.pid and "valkey" in c.name():
                c.kill()
        kr.sessions.kw["bind"].dispose()


def test_a_killed_run_is_named_by_verify_and_a_rerun_resumes_it(killed_run: KilledRun) -> None:
    kr = killed_run
    [run_id] = kr.run_ids()
    assert kr.state(run_id) == RunState.RUNNING  # the dead process left it so
    told = kr.cli("verify")
    said = " ".join(told.stdout.split())
    assert told.returncode == 1, said
    assert f"run {run_id} is unsealed" in said and "again to resume it" in said, said
    assert f"sourcevault verify --seal {run_id}" in said, said
    again = kr.cli("run", str(kr.digest), "--year", "2021")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resumed the unfinished run {run_id}" in " ".join((again.stdout + again.stderr).split())
    assert kr.run_ids() == [run_id] and kr.state(run_id) == RunState.DONE
    verified = kr.cli("verify")
    assert verified.returncode == 0 and "VERIFIED" in verified.stdout, verified.stdout


def test_verify_seal_ends_a_killed_run_as_committed(killed_run: KilledRun) -> None:
    kr = killed_run
    [run_id] = kr.run_ids()
    sealed = kr.cli("verify", "--seal", run_id)
    said = " ".join(sealed.stdout.split())
    assert sealed.returncode == 0, said + sealed.stderr
    assert f"run {run_id} sealed" in said and "VERIFIED" in said, said
    assert kr.state(run_id) == RunState.DONE
    with kr.sessions() as s:
        held = s.scalar(select(CaptureJob).where(CaptureJob.canonical_url.like("%/held0")))
    assert (
        held is not None
        and held.status == JobStatus.FAILED
        and "interrupted" in (held.last_error or "")
    )
