"""Crashes and faults against a real deployment: redis-server, `sourcevault worker`
processes, `sourcevault submit`/`status`, the fixture web through its proxy.

At-least-once delivery (acks_late, reject_on_worker_lost, visibility timeout) must come
with idempotent effects: however a capture dies, the run completes with exactly one
capture row per source, no corrupt or half-cut WARC file, no `.open` file left behind,
and one index entry per captured URL.

Timing is made deterministic without asserting durations: a *gate* page blocks the
fetch of one source until the test opens it, so the test knows which task is mid-capture
when it strikes; a redelivery is awaited by reading the unacked messages' delivery
times from Redis (kombu restores them once they are older than the visibility timeout,
and a worker scans on start).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from archive.cdxj import parse_line
from archive.warc_reader import check_file
from tests.fixtureweb import FixtureWeb, Request, Response, html
from tests.servers import RedisProcess
from tests.workers import running_worker, sourcevault, wait_for, worker_env
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import Attempt, CaptureJob, CaptureRow, EvidenceRow, JobStatus, Run

pytestmark = pytest.mark.integration

HOST = "crash.test"
VISIBILITY = 12  # seconds; the limits below stay under it (settings.load_settings checks)
WORKER_SETTINGS = {
    "VISIBILITY_TIMEOUT": str(VISIBILITY),
    "TASK_TIME_LIMIT": "10",
    "TASK_SOFT_TIME_LIMIT": "9",
    "TOTAL_TIMEOUT": "8",
    "RETRIES": "0",
    "PER_HOST_DELAY": "0",
    "FALLBACK_LOOKUP": "false",
}
WAIT = 60.0  # the bound on every wait for a run to finish


class Gate:
    """A page whose response waits until the test opens the gate (bounded)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.opened = threading.Event()
        self.hits = 0
        self._lock = threading.Lock()

    def __call__(self, _req: Request) -> Response:
        with self._lock:
            self.hits += 1
        self.opened.wait(60)
        return _page(self.name)

    def open(self) -> None:
        self.opened.set()


def _page(name: str) -> Response:
    # distinct text per page: identical payloads would be archived as revisits
    return html(
        f"<html><head><title>{name}</title>"
        '<meta property="article:published_time" content="2021-09-02T10:00:00+06:00">'
        f"</head><body><article><h1>{name}</h1>"
        + f"<p>Report {name}: Almaty, September 2, a rally took place downtown.</p>" * 20
        + "</article></body></html>"
    )


@dataclass
class Deployment:
    """One test's redis-server, data dir and fixture web, with views into the database."""

    tmp: Path
    redis: RedisProcess
    fw: FixtureWeb
    data_dir: Path
    gates: dict[str, Gate] = field(default_factory=dict)
    _sessions: sessionmaker[Session] | None = None

    def env(self, **settings: str) -> dict[str, str]:
        merged = {**WORKER_SETTINGS, **{k.upper(): v for k, v in settings.items()}}
        return worker_env(
            broker_url=self.redis.url, data_dir=self.data_dir, proxy=self.fw.env(), settings=merged
        )

    def page(self, name: str) -> str:
        self.fw.route(HOST, f"/{name}", _page(name))
        return f"https://{HOST}/{name}"

    def gate(self, name: str) -> str:
        self.gates[name] = Gate(name)
        self.fw.route(HOST, f"/{name}", self.gates[name])
        return f"https://{HOST}/{name}"

    def submit(self, urls: list[str], **settings: str) -> str:
        """`sourcevault submit` a digest citing `urls`; returns the id it prints last.

        Celery puts the submitter's time limits in each message, so they come from here."""
        lines = ["Crash test digest", ""]
        lines += [
            f"September {i}, Almaty, a rally took place [{i}]." for i in range(1, len(urls) + 1)
        ]
        lines += [""] + [f"[{i}]{url}" for i, url in enumerate(urls, 1)]
        digest = self.tmp / f"digest-{len(list(self.tmp.glob('digest-*')))}.txt"
        digest.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = sourcevault(self.env(**settings), "submit", str(digest), "--year", "2021")
        return out.stdout.strip().splitlines()[-1]

    def status(self, run_id: str) -> dict[str, object]:
        import json

        out = sourcevault(self.env(), "status", run_id, "--json")
        return dict(json.loads(out.stdout))

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._sessions = make_session_factory(
                make_engine(f"sqlite:///{self.data_dir / 'sourcevault.db'}")
            )
        return self._sessions

    def jobs(self, run_id: str) -> dict[str, CaptureJob]:
        with self.sessions() as s:
            rows = s.scalars(select(CaptureJob).where(CaptureJob.run_id == run_id)).all()
            return {j.canonical_url: j for j in rows}

    def job_status(self, run_id: str, url: str) -> str:
        return self.jobs(run_id)[url].status

    def run_state(self, run_id: str) -> str:
        with self.sessions() as s:
            run = s.get(Run, run_id)
            assert run is not None
            return run.state

    def per_job(self, run_id: str, model: type[CaptureRow] | type[EvidenceRow]) -> Counter[int]:
        with self.sessions() as s:
            rows = s.execute(
                select(model.job_id, func.count())
                .join(CaptureJob, CaptureJob.id == model.job_id)
                .where(CaptureJob.run_id == run_id)
                .group_by(model.job_id)
            ).all()
            return Counter({job_id: n for job_id, n in rows})

    def attempts(self, job_id: int) -> int:
        with self.sessions() as s:
            return int(s.scalar(select(func.count()).where(Attempt.job_id == job_id)) or 0)

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "collections" / "sourcevault" / "archive"

    @property
    def indexes_dir(self) -> Path:
        return self.data_dir / "collections" / "sourcevault" / "indexes"

    def open_files(self) -> list[Path]:
        return sorted(self.archive_dir.glob("*.warc.gz.open"))

    def warc_responses(self, *, include_open: bool = False) -> Counter[str]:
        """Response/revisit records per target URL over every WARC file on disk."""
        pattern = "*.warc.gz*" if include_open else "*.warc.gz"
        found: Counter[str] = Counter()
        for path in self.archive_dir.glob(pattern):
            for rec in check_file(path).records:
                if rec.rec_type in ("response", "revisit") and rec.target_uri:
                    found[rec.target_uri] += 1
        return found

    def cdxj_entries(self) -> Counter[str]:
        """Index entries per URL over every *.cdxj pywb would read (web pages only)."""
        found: Counter[str] = Counter()
        for path in self.indexes_dir.glob("*.cdxj"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = parse_line(line)
                    if entry.url.startswith("http"):
                        found[entry.url] += 1
        return found

    def wait_unacked_expired(self, timeout: float = VISIBILITY + 15) -> None:
        """Wait until every unacked message was delivered more than VISIBILITY s ago, so
        a worker starting now restores it (kombu's `restore_visible` on consumer start)."""
        client = self.redis.client()
        try:

            def expired() -> bool:
                rows = client.zrange("unacked_index", 0, -1, withscores=True)
                scores = [float(row[1]) for row in rows]  # (member, score) pairs
                return bool(scores) and time.time() - max(scores) > VISIBILITY + 0.5

            wait_for(expired, timeout=timeout, what="unacked messages past the visibility timeout")
        finally:
            client.close()

    def wait_run_done(self, run_id: str, worker_log: str = "") -> None:
        wait_for(
            lambda: self.run_state(run_id) == "done",
            timeout=WAIT,
            interval=0.3,
            what=f"run {run_id} to be done",
            on_timeout=lambda: (
                f"jobs: {[(u, j.status) for u, j in self.jobs(run_id).items()]}" + f"\n{worker_log}"
            ),
        )


@pytest.fixture
def deployment(tmp_path: Path, fixture_web: FixtureWeb) -> Iterator[Deployment]:
    redis = RedisProcess(tmp_path / "redis").start()
    dep = Deployment(tmp_path, redis, fixture_web, tmp_path / "data")
    try:
        yield dep
    finally:
        for gate in dep.gates.values():
            gate.open()  # frees the fixture web's handler threads
        redis.stop()
        if dep._sessions is not None:
            bind = dep._sessions.kw["bind"]
            bind.dispose()


def assert_nothing_lost_nothing_doubled(dep: Deployment, run_id: str, urls: list[str]) -> None:
    """The invariants of every crash test, checked after the run is done and the last
    worker has shut down cleanly."""
    jobs = dep.jobs(run_id)
    assert sorted(jobs) == sorted(urls)
    assert {j.status for j in jobs.values()} == {JobStatus.DONE}
    # exactly one capture row and one evidence row per source
    assert dep.per_job(run_id, CaptureRow) == Counter({j.id: 1 for j in jobs.values()})
    assert dep.per_job(run_id, EvidenceRow) == Counter({j.id: 1 for j in jobs.values()})
    # no `.open` file left by the dead writer, every WARC file whole and digest-valid
    assert dep.open_files() == []
    files = sorted(dep.archive_dir.glob("*.warc.gz"))
    assert files
    for path in files:
        check = check_file(path)
        assert check.ok, (path.name, check.first_problem)
    # one response record per URL in the WARCs, and one index entry per URL
    assert dep.warc_responses() == Counter({url: 1 for url in urls})
    assert dep.cdxj_entries() == Counter({url: 1 for url in urls})


def test_sigkill_mid_fetch_the_task_runs_again_on_a_new_prefork_worker(
    deployment: Deployment,
) -> None:
    dep = deployment
    urls = [dep.page("one"), dep.gate("slow"), dep.page("three")]
    run_id = dep.submit(urls)
    first = running_worker(dep.env(), log_path=dep.tmp / "w1.log", pool="prefork", concurrency=2)
    with first as w1:
        # the gate holds one capture mid-fetch while the other two finish
        wait_for(lambda: dep.gates["slow"].hits == 1, timeout=30, what="the gate to be hit")
        wait_for(
            lambda: [dep.job_status(run_id, u) for u in urls] == ["done", "in_progress", "done"],
            timeout=30,
            what="the two other sources to finish",
            on_timeout=w1.tail,
        )
        w1.kill()
    # the dead writers left their files open, with committed records in them
    assert dep.open_files()
    assert dep.job_status(run_id, urls[1]) == "in_progress"
    dep.gates["slow"].open()

    dep.wait_unacked_expired()
    with running_worker(
        dep.env(), log_path=dep.tmp / "w2.log", pool="prefork", concurrency=2
    ) as w2:
        dep.wait_run_done(run_id, w2.tail())
        assert w2.stop() == 0

    assert dep.gates["slow"].hits == 2  # the redelivered task fetched again
    slow_job = dep.jobs(run_id)[urls[1]]
    assert dep.attempts(slow_job.id) >= 2
    assert_nothing_lost_nothing_doubled(dep, run_id, urls)


def test_sigkill_between_warc_write_and_commit_cuts_the_uncommitted_records(
    deployment: Deployment,
) -> None:
    dep = deployment
    urls = [dep.page("alpha"), dep.page("beta")]
    run_id = dep.submit(urls)
    paused = dep.env(debug_pause_before_commit="30")
    with running_worker(paused, log_path=dep.tmp / "w1.log", concurrency=1) as w1:

        def written_not_committed() -> str | None:
            on_disk = dep.warc_responses(include_open=True)
            return next(
                (u for u in urls if on_disk[u] and dep.job_status(run_id, u) != "done"), None
            )

        victim = wait_for(
            written_not_committed,
            timeout=30,
            what="a record written, not committed",
            on_timeout=w1.tail,
        )
        w1.kill()
    # precondition: the response is in an `.open` WARC, the database never heard of it
    assert dep.open_files()
    assert dep.warc_responses(include_open=True)[victim] == 1
    assert dep.job_status(run_id, victim) == "in_progress"
    assert dep.per_job(run_id, CaptureRow) == Counter()

    dep.wait_unacked_expired()
    with running_worker(dep.env(), log_path=dep.tmp / "w2.log", concurrency=2) as w2:
        dep.wait_run_done(run_id, w2.tail())
        assert w2.stop() == 0

    assert dep.attempts(dep.jobs(run_id)[victim].id) == 2
    assert_nothing_lost_nothing_doubled(dep, run_id, urls)


def test_redis_restarted_mid_run_the_run_completes(deployment: Deployment) -> None:
    dep = deployment
    urls = [dep.gate("g1"), dep.gate("g2"), dep.page("p1"), dep.page("p2")]
    run_id = dep.submit(urls)
    assert dep.status(run_id) == {"state": "queued", "done": 0, "total": 4}
    with running_worker(dep.env(), log_path=dep.tmp / "w1.log", concurrency=2) as w1:
        # both worker threads are held by the gates; p1 and p2 wait in Redis
        wait_for(
            lambda: dep.gates["g1"].hits and dep.gates["g2"].hits,
            timeout=30,
            what="both gates hit",
            on_timeout=w1.tail,
        )
        dep.redis.restart()
        for gate in dep.gates.values():
            gate.open()

        # poll the database (each CLI call costs an interpreter start), then ask the CLI
        dep.wait_run_done(run_id, w1.tail())
        assert dep.status(run_id) == {"state": "done", "done": 4, "total": 4}
        assert w1.alive  # it reconnected rather than died
        assert w1.stop() == 0
    assert_nothing_lost_nothing_doubled(dep, run_id, urls)


def test_database_locked_while_captures_commit_they_wait_and_nothing_is_half_written(
    deployment: Deployment,
) -> None:
    dep = deployment
    urls = [dep.page("first"), dep.gate("held")]
    run_id = dep.submit(urls)
    with running_worker(dep.env(), log_path=dep.tmp / "w1.log", concurrency=2) as w1:
        wait_for(
            lambda: dep.gates["held"].hits == 1 and dep.job_status(run_id, urls[0]) == "done",
            timeout=30,
            what="the gate hit and the other source done",
            on_timeout=w1.tail,
        )
        lock = sqlite3.connect(dep.data_dir / "sourcevault.db", timeout=5, isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            dep.gates["held"].open()
            # the capture reaches its commit: its records are in the WARC, its rows are not
            wait_for(
                lambda: dep.warc_responses(include_open=True)[urls[1]] == 1,
                timeout=90,  # a loaded two-core machine starts workers slowly
                what="the held page's records written",
                on_timeout=w1.tail,
            )
            time.sleep(2.0)  # keep the lock while the commit waits on it
            assert dep.job_status(run_id, urls[1]) == "in_progress"
            assert dep.per_job(run_id, CaptureRow) == Counter({dep.jobs(run_id)[urls[0]].id: 1})
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        dep.wait_run_done(run_id, w1.tail())
        assert w1.stop() == 0
    assert dep.attempts(dep.jobs(run_id)[urls[1]].id) == 1  # it waited; nothing was redone
    assert_nothing_lost_nothing_doubled(dep, run_id, urls)


def test_a_prefork_child_killed_mid_fetch_is_replaced_and_its_task_redone(
    deployment: Deployment,
) -> None:
    """The OOM-killer case: one pool child dies, the worker lives on. Celery requeues
    the task at once (reject_on_worker_lost); the job's claim is still fresh, so the
    new delivery must take it over rather than wait for it to go stale. Production
    limits here: stale claims are only reclaimed after task_time_limit (300 s)."""
    from celery import Celery

    dep = deployment
    urls = [dep.page("before"), dep.gate("victim")]
    production = {
        "visibility_timeout": "3600",
        "task_time_limit": "300",
        "task_soft_time_limit": "240",
        "total_timeout": "60",
    }
    run_id = dep.submit(urls, **production)
    env = dep.env(**production)
    with running_worker(env, log_path=dep.tmp / "w1.log", pool="prefork", concurrency=2) as w1:
        wait_for(
            lambda: dep.gates["victim"].hits == 1 and dep.job_status(run_id, urls[0]) == "done",
            timeout=30,
            what="the gate hit and the other source done",
            on_timeout=w1.tail,
        )
        control = Celery(broker=dep.redis.url)
        try:
            active = control.control.inspect(timeout=5).active() or {}
        finally:
            control.close()
        running = [t for tasks in active.values() for t in tasks]
        assert len(running) == 1, running
        child = int(running[0]["worker_pid"])
        assert child != w1.pid
        os.kill(child, signal.SIGKILL)
        dep.gates["victim"].open()
        dep.wait_run_done(run_id, w1.tail())
        assert w1.alive
        assert w1.stop() == 0
    assert dep.gates["victim"].hits == 2
    assert dep.attempts(dep.jobs(run_id)[urls[1]].id) == 2
    assert_nothing_lost_nothing_doubled(dep, run_id, urls)
