"""Queue kinds, fair shares and the shared per-host limit, with real workers on a real
redis-server.

Ordering is made deterministic without timing: one worker of concurrency 1 (it holds one
message at a time), and a *gate* page that keeps the first bulk capture busy until the
test has queued everything else. What happens next is decided by the broker alone, and
the test reads the order from the database's claim and finish times.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.web.service import Service
from schemas import Digest
from tests.fixtureweb import FixtureWeb, Request, Response, html
from tests.servers import redis_server
from tests.workers import running_worker, running_workers, wait_for, worker_env
from worker.digest.parse import parse_digest
from worker.queue.priorities import Kind, run_priorities
from worker.settings import Settings
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import Attempt, CaptureJob, CaptureRow, Run, RunState

pytestmark = pytest.mark.integration

HOST = "queues.test"
SETTINGS = {"PER_HOST_DELAY": "0", "RETRIES": "0", "FALLBACK_LOOKUP": "false"}
WAIT = 90.0


def _page(name: str) -> Response:
    # distinct text per page: identical payloads would be archived as revisits
    return html(
        f"<html><head><title>{name}</title>"
        '<meta property="article:published_time" content="2021-09-02T10:00:00+06:00">'
        f"</head><body><article><h1>{name}</h1>"
        + f"<p>Report {name}: Almaty, September 2, a rally took place downtown.</p>" * 20
        + "</article></body></html>"
    )


class Gate:
    """A page whose response waits until the test opens the gate (bounded)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.opened = threading.Event()
        self.hits = 0

    def __call__(self, _req: Request) -> Response:
        self.hits += 1
        self.opened.wait(60)
        return _page(self.name)


def _digest(fw: FixtureWeb, name: str, n: int, *, host: str = HOST) -> Digest:
    urls = []
    for i in range(1, n + 1):
        fw.route(host, f"/{name}/{i}", _page(f"{name}-{i}"))
        urls.append(f"https://{host}/{name}/{i}")
    lines = [f"{name} digest", ""]
    lines += [f"September {i}, Almaty, a rally took place [{i}]." for i in range(1, n + 1)]
    lines += [""] + [f"[{i}]{url}" for i, url in enumerate(urls, 1)]
    return parse_digest("\n".join(lines) + "\n", name=name, year=2021)


@dataclass
class Deployment:
    env: dict[str, str]
    svc: Service  # the web app's side: queues runs without a worker Runtime
    sessions: sessionmaker[Session]

    def done(self, *run_ids: str) -> bool:
        with self.sessions() as session:
            states = [jobs.run_progress(session, r) for r in run_ids]
        return all(p is not None and p.state in (RunState.DONE, RunState.FAILED) for p in states)

    def jobs(self, run_id: str) -> list[CaptureJob]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(CaptureJob).where(CaptureJob.run_id == run_id).order_by(CaptureJob.id)
                )
            )

    def finished_at(self, run_id: str) -> dt.datetime:
        with self.sessions() as session:
            run = session.get(Run, run_id)
            assert run is not None and run.finished_at is not None
            return run.finished_at


@pytest.fixture
def deployment(tmp_path: Path, fixture_web: FixtureWeb) -> Iterator[Deployment]:
    with redis_server(tmp_path / "redis") as broker_url:
        env = worker_env(
            broker_url=broker_url,
            data_dir=tmp_path / "data",
            proxy=fixture_web.env(),
            settings=SETTINGS,
        )
        settings = Settings(data_dir=tmp_path / "data", broker_url=broker_url)
        svc = Service(settings)
        try:
            yield Deployment(
                env, svc, make_session_factory(make_engine(svc.settings.effective_database_url))
            )
        finally:
            svc.close()
            gc.collect()  # chord results unsubscribe in __del__: while the server still runs


def test_an_interactive_rerun_overtakes_bulk_work_and_a_small_digest_its_big_predecessor(
    deployment: Deployment, fixture_web: FixtureWeb, tmp_path: Path
) -> None:
    dep, fw = deployment, fixture_web
    big = _digest(fw, "big", 12)  # alice's; its first source is held at a gate
    gate = Gate("big-1")
    fw.route(HOST, "/big/1", gate)
    small = _digest(fw, "small", 2)  # bob's
    earlier = _digest(fw, "earlier", 2)  # carol's, captured some other day
    with dep.sessions() as session:
        earlier_id = jobs.next_run_id(session, earlier.id)
        jobs.create_run(session, earlier_id, earlier, source_name="earlier")

    with running_worker(dep.env, log_path=tmp_path / "w.log", concurrency=1) as worker:
        big_id = dep.svc.queue(big, source_name="big", editor="alice")
        wait_for(lambda: gate.hits, timeout=WAIT, what="the gated capture", on_timeout=worker.tail)
        # the worker is busy on big's first source and holds no other message
        small_id = dep.svc.queue(small, source_name="small", editor="bob")
        rerun_id = dep.svc.rerun(earlier_id, editor="carol")  # the editor's re-run button
        gate.opened.set()
        wait_for(
            lambda: dep.done(big_id, small_id, rerun_id),
            timeout=WAIT,
            what="all three runs",
            on_timeout=worker.tail,
        )

    big_jobs, small_jobs, rerun_jobs = dep.jobs(big_id), dep.jobs(small_id), dep.jobs(rerun_id)
    assert all(j.status == "done" for j in big_jobs + small_jobs + rerun_jobs)
    bulk_after_gate = big_jobs[1:] + small_jobs  # queued behind the re-run, or with it
    first_bulk_start = min(_claimed(j) for j in bulk_after_gate)

    # interactive ahead of bulk: the re-run's captures and its report come first
    assert max(_finished(j) for j in rerun_jobs) < first_bulk_start
    assert dep.finished_at(rerun_id) < first_bulk_start

    # fair between editors: bob's small digest waits for alice's first share only, not
    # for all of her big one (which was queued first); her later shares come after it
    planned_big = run_priorities(Kind.BULK, 0, len(big_jobs))
    planned_small = run_priorities(Kind.BULK, 0, len(small_jobs))
    later_big = [j for j, p in zip(big_jobs, planned_big, strict=True) if p > max(planned_small)]
    assert later_big, "the big digest must reach beyond the first fair share"
    assert max(_finished(j) for j in small_jobs) < min(_claimed(j) for j in later_big)
    assert dep.finished_at(small_id) < dep.finished_at(big_id)


def _claimed(job: CaptureJob) -> dt.datetime:
    assert job.claimed_at is not None
    return job.claimed_at


def _finished(job: CaptureJob) -> dt.datetime:
    assert job.finished_at is not None
    return job.finished_at


def test_two_workers_never_overlap_requests_to_one_host_when_its_limit_is_one(
    deployment: Deployment, fixture_web: FixtureWeb, tmp_path: Path
) -> None:
    dep, fw = deployment, fixture_web
    host = "hammered.test"
    fw.add_host(host)
    fw.set_latency(host, 0.15)  # each request is in flight long enough to be overlapped
    digest = _digest(fw, "hammer", 10, host=host)
    env = {**dep.env, "SOURCEVAULT_PER_HOST_CONCURRENCY": "1"}
    with running_workers(env, 2, log_dir=tmp_path / "logs", concurrency=3) as workers:
        run_id = dep.svc.queue(digest, source_name="hammer", editor="alice")
        wait_for(
            lambda: dep.done(run_id),
            timeout=WAIT,
            what="the run",
            on_timeout=lambda: "\n".join(w.tail() for w in workers),
        )
        pids = {w.pid for w in workers}

    assert all(j.status == "done" for j in dep.jobs(run_id))
    # both workers captured (each names its WARC files after its pid): the limit was shared
    with dep.sessions() as session:
        files = set(session.scalars(select(CaptureRow.warc_file)))
    writers = {pid for pid in pids if any(f"-{pid}-" in name for name in files)}
    assert writers == pids, files

    spans = fw.spans(host)
    assert len(spans) >= 10  # every source, and any soft-404 probe
    overlaps = [(a, b) for a, b in itertools.pairwise(spans) if b.started < a.finished]
    assert overlaps == []


def test_a_digest_finishes_with_no_capture_result_kept_on_the_broker(
    deployment: Deployment, fixture_web: FixtureWeb, tmp_path: Path
) -> None:
    # capture tasks ignore their results (the database holds the captures); the chord
    # still calls finalize, whose own result is stored as before
    dep = deployment
    digest = _digest(fixture_web, "quiet", 4)
    with running_worker(dep.env, log_path=tmp_path / "w.log", concurrency=2) as worker:
        run_id = dep.svc.queue(digest, source_name="quiet", editor="alice")
        wait_for(lambda: dep.done(run_id), timeout=WAIT, what="the run", on_timeout=worker.tail)
    with dep.sessions() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.state == RunState.DONE
        chord_id = run.celery_id
        task_ids = set(
            session.scalars(
                select(Attempt.task_id)
                .join(CaptureJob, Attempt.job_id == CaptureJob.id)
                .where(CaptureJob.run_id == run_id)
            )
        )
    assert len(task_ids) == 4 and None not in task_ids
    broker = redis.Redis.from_url(dep.env["SOURCEVAULT_BROKER_URL"])
    stored = {
        k.decode().removeprefix("celery-task-meta-") for k in broker.keys("celery-task-meta-*")
    }
    broker.close()
    assert stored & task_ids == set()
    assert chord_id in stored  # finalize_run's, the chord's body
