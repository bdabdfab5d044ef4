"""Scale-out: three `sourcevault worker` processes, one PostgreSQL, one real redis-server.

The September digest is submitted once and captured by three worker processes at once.
They share the WARC storage (one writer file per process), the CDXJ index (merged under
a lock) and the database (jobs claimed by compare-and-swap): every source ends with
exactly one capture, every file reads cleanly, the index has one response per capture.
The same digest also runs through the embedded default with PostgreSQL as its database.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from archive.cdxj import read_index
from archive.warc_reader import check_file
from tests.fixtureweb import FixtureWeb, route_through
from tests.fixtureweb.pages import expected_statuses
from tests.pg import PgCluster
from tests.servers import redis_server
from tests.workers import running_workers, sourcevault, wait_for, worker_env
from worker.digest.parse import parse_digest
from worker.digest.read import read_digest_file
from worker.runs import run_digest
from worker.runtime import close_runtime
from worker.settings import Settings, load_settings
from worker.store import jobs
from worker.store.models import CaptureJob, CaptureRow, JobStatus, RequisiteRow, RunState

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DIGEST = ROOT / "examples" / "2021-09-kazakhstan.txt"
WORKERS = 3
# sourcevault-<host>-<pid>-<timestamp>-<serial>.warc.gz (worker.runtime's writer prefix)
WARC_NAME = re.compile(r"^sourcevault-.+-(?P<pid>\d+)-\d{17}-\d{5}\.warc\.gz$")


@dataclass
class ScaledRun:
    run_id: str
    engine: Engine
    archive_dir: Path
    indexes_dir: Path
    worker_pids: set[int]


@pytest.fixture(scope="module")
def scaled_run(
    pg_cluster: PgCluster,
    fixture_web_session: FixtureWeb,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ScaledRun]:
    tmp = tmp_path_factory.mktemp("scale")
    database_url = pg_cluster.create_database("scale")
    with redis_server(tmp / "redis") as broker_url:
        env = worker_env(
            broker_url=broker_url,
            data_dir=tmp / "data",
            proxy=fixture_web_session.env(),
            settings={"DATABASE_URL": database_url, "PER_HOST_DELAY": "0"},
        )
        settings = Settings(data_dir=tmp / "data")
        engine = create_engine(database_url)
        with running_workers(env, WORKERS, log_dir=tmp / "logs") as workers:
            # all three consume before anything is queued, so the work is shared
            run_id = sourcevault(env, "submit", str(DIGEST)).stdout.strip().splitlines()[-1]

            def finished() -> bool:
                with Session(engine) as session:
                    progress = jobs.run_progress(session, run_id)
                return progress is not None and progress.state in (RunState.DONE, RunState.FAILED)

            wait_for(
                finished,
                timeout=180,
                what=f"run {run_id} on {WORKERS} workers",
                on_timeout=lambda: "\n---\n".join(w.tail(20) for w in workers),
            )
            for w in workers:  # warm shutdown: each closes its WARC file and merges its index
                assert w.stop() == 0, w.tail()
        try:
            yield ScaledRun(
                run_id,
                engine,
                settings.archive_dir,
                settings.indexes_dir,
                {w.pid for w in workers},
            )
        finally:
            engine.dispose()


def test_every_source_has_exactly_one_capture(scaled_run: ScaledRun) -> None:
    with Session(scaled_run.engine) as session:
        job_rows = session.execute(
            select(CaptureJob.id, CaptureJob.status).where(CaptureJob.run_id == scaled_run.run_id)
        ).all()
        per_job = dict(
            session.execute(
                select(CaptureRow.job_id, func.count()).group_by(CaptureRow.job_id)
            ).all()
        )
        progress = jobs.run_progress(session, scaled_run.run_id)
    assert progress is not None and progress.state == RunState.DONE
    fetched = [job_id for job_id, status in job_rows if status == JobStatus.DONE]
    assert len(job_rows) == 47
    assert len(fetched) == 46  # all but the /wp-admin/ link, which is never fetched
    assert set(per_job.values()) == {1}
    assert set(per_job) == set(fetched)


def test_the_three_workers_shared_the_work_each_in_its_own_files(scaled_run: ScaledRun) -> None:
    with Session(scaled_run.engine) as session:
        names = set(session.scalars(select(CaptureRow.warc_file)))
    writers = set()
    for name in names:
        match = WARC_NAME.match(name)
        assert match, name
        writers.add(int(match["pid"]))
    assert writers == scaled_run.worker_pids


def test_every_warc_file_is_closed_whole_and_written_by_one_process(scaled_run: ScaledRun) -> None:
    files = sorted(scaled_run.archive_dir.iterdir())
    assert not [p.name for p in files if not p.name.endswith(".warc.gz")]
    assert len(files) >= WORKERS
    for path in files:
        check = check_file(path)
        assert check.ok, (path.name, check.first_problem)
        types = [r.rec_type for r in check.records]
        # one warcinfo, first: no other writer's records are interleaved in this file
        assert types[0] == "warcinfo" and types.count("warcinfo") == 1, path.name


def test_the_merged_index_has_one_response_per_capture(scaled_run: ScaledRun) -> None:
    lines = read_index(scaled_run.indexes_dir)
    pages = [ln for ln in lines if not ln.url.startswith("urn:")]
    with Session(scaled_run.engine) as session:
        captures = session.execute(
            select(CaptureRow.warc_file, CaptureRow.offset, CaptureRow.url)
        ).all()
        requisites = session.execute(
            select(RequisiteRow.warc_file, RequisiteRow.offset).where(
                RequisiteRow.reused.is_(False)
            )
        ).all()
    indexed = {(ln.filename, ln.offset): ln.url for ln in pages}
    for warc_file, offset, url in captures:
        assert indexed.get((warc_file, offset)) == url, (warc_file, offset, url)
    # the pages' images, styles and scripts are indexed too (each page fetched its own)
    assert requisites and all((f, o) in indexed for f, o in requisites)
    sources = {url for _f, _o, url in captures}
    final = [
        ln
        for ln in pages
        if ln.url in sources and ln.fields.get("status") not in {"301", "302", "303", "307"}
    ]
    per_url = collections.Counter(ln.url for ln in final)
    assert per_url and max(per_url.values()) == 1, per_url.most_common(3)
    assert len(final) == len(captures)


def test_the_embedded_run_works_on_postgresql_too(
    pg_cluster: PgCluster,
    fixture_web_session: FixtureWeb,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    route_through(monkeypatch, fixture_web_session, embedded=True)
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=pg_cluster.create_database("embedded"),
        concurrency=4,
        per_host_delay=0,
    )
    digest = parse_digest(read_digest_file(DIGEST), name=DIGEST.stem)
    try:
        outcome = run_digest(settings, digest, source_name=str(DIGEST), timeout=300)
    finally:
        close_runtime()
    expected = expected_statuses()
    got = {s.canonical_url: s.status.value for s in outcome.report.sources}
    assert {url: status for url, status in got.items() if status != expected.get(url)} == {}
    assert sum(1 for s in outcome.report.sources if s.capture is not None) == 46
