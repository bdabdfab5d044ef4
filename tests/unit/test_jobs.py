"""Durable jobs: the claim is a compare-and-swap, a finished job is never redone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from schemas import Digest, Evidence, Source, SourceStatus
from worker import jobs
from worker.db import CaptureJob, CaptureRow, JobStatus, make_engine, make_session_factory

STALE = dt.timedelta(minutes=5)


def _digest() -> Digest:
    return Digest(
        id="d-1",
        title="d",
        year=2021,
        incidents=[],
        footnotes=[],
        sources=[
            Source(
                id=1, url="https://a.example/x", canonical_url="https://a.example/x", footnotes=[1]
            ),
            Source(
                id=2,
                url="https://b.example/wp-admin/x",
                canonical_url="https://b.example/wp-admin/x",
                footnotes=[2],
                status=SourceStatus.NOT_PUBLIC,
            ),
        ],
    )


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    # database_url (tests/pg.py) runs every test on SQLite and on PostgreSQL
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _job_ids(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as s:
        return {j.canonical_url: j.id for j in s.query(CaptureJob)}


def test_create_run_commits_one_job_per_source(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    with sessions() as s:
        statuses = {j.canonical_url: j.status for j in s.query(CaptureJob)}
    assert statuses == {
        "https://a.example/x": JobStatus.PENDING,
        "https://b.example/wp-admin/x": JobStatus.SKIPPED,
    }


def test_next_run_id_numbers_repeated_runs(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        assert jobs.next_run_id(s, "d-1") == "d-1"
        jobs.create_run(s, "d-1", _digest())
        assert jobs.next_run_id(s, "d-1") == "d-1-2"


def test_second_claim_is_busy_and_a_finished_job_is_already_done(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    job_id = _job_ids(sessions)["https://a.example/x"]
    with sessions() as s:
        first = jobs.claim_job(s, job_id, "task-1", stale_after=STALE)
    with sessions() as s:
        second = jobs.claim_job(s, job_id, "task-2", stale_after=STALE)
    assert first.outcome is jobs.ClaimOutcome.CLAIMED
    assert second.outcome is jobs.ClaimOutcome.BUSY
    with sessions() as s:
        jobs.finish_job(
            s,
            job_id,
            first.attempt_id,
            capture=None,
            evidence=Evidence(status=SourceStatus.DEAD, reason="HTTP 404"),
        )
    with sessions() as s:
        third = jobs.claim_job(s, job_id, "task-3", stale_after=STALE)
    assert third.outcome is jobs.ClaimOutcome.ALREADY_DONE


def test_a_stale_claim_is_reclaimed(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    job_id = _job_ids(sessions)["https://a.example/x"]
    with sessions() as s:
        jobs.claim_job(s, job_id, "dead-worker", stale_after=STALE)
        s.execute(
            update(CaptureJob)
            .where(CaptureJob.id == job_id)
            .values(claimed_at=jobs.utcnow() - dt.timedelta(hours=1))
        )
        s.commit()
    with sessions() as s:
        again = jobs.claim_job(s, job_id, "redelivered", stale_after=STALE)
        assert again.outcome is jobs.ClaimOutcome.CLAIMED
        assert again.job is not None and again.job.attempts == 2


def test_one_capture_row_per_job(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    job_id = _job_ids(sessions)["https://a.example/x"]

    def row() -> CaptureRow:
        return CaptureRow(
            job_id=job_id,
            url="u",
            warc_file="f",
            offset=0,
            length=1,
            end_offset=1,
            record_id="<urn:uuid:1>",
            sha256="0" * 64,
            payload_length=1,
        )

    with sessions() as s:
        s.add(row())
        s.commit()
        s.add(row())
        with pytest.raises(IntegrityError, match=r"(?i)unique"):
            s.commit()


def test_progress_counts_skipped_as_done(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
        progress = jobs.run_progress(s, "d-1")
    assert progress is not None
    assert (progress.state, progress.done, progress.total) == ("queued", 1, 2)


def test_committed_end_is_the_furthest_committed_record(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
        job_id = _job_ids(sessions)["https://a.example/x"]
        assert jobs.committed_end(s, "f.warc.gz") == 0
        s.add(
            CaptureRow(
                job_id=job_id,
                url="u",
                warc_file="f.warc.gz",
                offset=10,
                length=5,
                end_offset=99,
                record_id="r",
                sha256="0" * 64,
                payload_length=1,
            )
        )
        s.commit()
        assert jobs.committed_end(s, "f.warc.gz") == 99


def test_abandoned_claims_fail_and_their_run_becomes_finalizable(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    job_id = _job_ids(sessions)["https://a.example/x"]
    with sessions() as s:
        jobs.claim_job(s, job_id, "killed-by-hard-limit", stale_after=STALE)
        assert jobs.unfinalized_runs(s) == []  # a job is still in progress
        assert jobs.abandon_stale(s, stale_after=dt.timedelta(hours=1)) == 0  # too recent
        s.execute(
            update(CaptureJob)
            .where(CaptureJob.id == job_id)
            .values(claimed_at=jobs.utcnow() - dt.timedelta(hours=3))
        )
        s.commit()
        assert jobs.abandon_stale(s, stale_after=dt.timedelta(hours=1)) == 1
        assert jobs.unfinalized_runs(s) == ["d-1"]
        jobs.mark_run(s, "d-1", jobs.RunState.DONE)
        assert jobs.unfinalized_runs(s) == []
