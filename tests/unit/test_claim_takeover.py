"""A claim held by the same Celery task id is taken over at once (its delivery died or
is retrying); a claim held by another live task id stays busy until it goes stale.

The real-process version (an OOM-killed prefork child) is in
tests/integration/test_crash.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schemas import Digest, Source
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import Attempt, CaptureJob

STALE = dt.timedelta(minutes=5)
URL = "https://a.example/x"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def job_id(sessions: sessionmaker[Session]) -> int:
    digest = Digest(
        id="d-1",
        title="d",
        year=2021,
        incidents=[],
        footnotes=[],
        sources=[Source(id=1, url=URL, canonical_url=URL, footnotes=[1])],
    )
    with sessions() as s:
        jobs.create_run(s, "d-1", digest)
        return s.scalars(select(CaptureJob.id)).one()


def _claim(sessions: sessionmaker[Session], job_id: int, task_id: str | None) -> jobs.Claim:
    with sessions() as s:
        return jobs.claim_job(s, job_id, task_id, stale_after=STALE)


def test_the_same_task_id_takes_over_its_own_fresh_claim(
    sessions: sessionmaker[Session], job_id: int
) -> None:
    first = _claim(sessions, job_id, "task-1")
    again = _claim(sessions, job_id, "task-1")  # requeued after its worker was lost
    assert first.outcome is jobs.ClaimOutcome.CLAIMED
    assert again.outcome is jobs.ClaimOutcome.CLAIMED
    assert again.job is not None and again.job.attempts == 2
    with sessions() as s:
        attempts = s.scalars(select(Attempt).order_by(Attempt.id)).all()
    # the attempt log says what happened to the first delivery
    assert [(a.task_id, a.outcome) for a in attempts] == [("task-1", "lost"), ("task-1", None)]
    assert attempts[0].finished_at is not None


def test_another_task_id_or_none_stays_busy_while_the_claim_is_fresh(
    sessions: sessionmaker[Session], job_id: int
) -> None:
    assert _claim(sessions, job_id, "task-1").outcome is jobs.ClaimOutcome.CLAIMED
    assert _claim(sessions, job_id, "task-2").outcome is jobs.ClaimOutcome.BUSY
    assert _claim(sessions, job_id, None).outcome is jobs.ClaimOutcome.BUSY


def test_a_finished_attempt_of_the_same_task_id_gives_no_takeover(
    sessions: sessionmaker[Session], job_id: int
) -> None:
    # a claim without an open attempt by this id (e.g. a capture run with task_id=None)
    assert _claim(sessions, job_id, None).outcome is jobs.ClaimOutcome.CLAIMED
    assert _claim(sessions, job_id, "task-1").outcome is jobs.ClaimOutcome.BUSY
