"""wait_for_run: polls the database, and often once only the report is awaited."""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from schemas import Digest, Source
from worker import runs
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import CaptureJob, JobStatus, RunState


@pytest.fixture
def sessions(tmp_path: object) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    yield make_session_factory(engine)
    engine.dispose()


def _digest() -> Digest:
    urls = ["https://a.example/1", "https://b.example/2"]
    sources = [Source(id=i, url=u, canonical_url=u, footnotes=[i]) for i, u in enumerate(urls, 1)]
    return Digest(id="d-1", title="d", year=2021, incidents=[], footnotes=[], sources=sources)


def test_the_wait_after_the_last_job_is_short(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    job_ids = iter(_ids(sessions))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        # each poll: one job more ends; then the report (the chord callback) is written
        slept.append(seconds)
        job = next(job_ids, None)
        with sessions() as s:
            if job is not None:
                s.execute(update(CaptureJob).where(CaptureJob.id == job).values(status="done"))
                s.commit()
            else:
                jobs.mark_run(s, "d-1", RunState.DONE)

    runtime = types.SimpleNamespace(sessions=sessions)  # all of a Runtime this reads
    runs.wait_for_run(runtime, "d-1", sleep=sleep)  # type: ignore[arg-type]
    # two jobs pending, one pending, then both ended and the report awaited
    assert slept == [runs.POLL_SECONDS, runs.POLL_SECONDS, runs.FINISHING_POLL_SECONDS]
    assert runs.FINISHING_POLL_SECONDS < runs.POLL_SECONDS


def _ids(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as s:
        return [j.id for j in s.query(CaptureJob).filter(CaptureJob.status == JobStatus.PENDING)]
