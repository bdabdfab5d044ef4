"""Durable jobs: the claim is a compare-and-swap, a finished job is never redone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from schemas import Digest, Evidence, Source, SourceStatus
from worker.store import jobs, sweep
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow, JobStatus

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
        an_hour_ago = jobs.utcnow() - dt.timedelta(hours=1)
        s.execute(  # claimed long ago, and its worker stopped heartbeating as long ago
            update(CaptureJob)
            .where(CaptureJob.id == job_id)
            .values(claimed_at=an_hour_ago, heartbeat_at=an_hour_ago)
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
        assert sweep.unfinalized_runs(s) == []  # a job is still in progress
        assert sweep.abandon_stale(s, stale_after=dt.timedelta(hours=1)) == 0  # too recent
        s.execute(
            update(CaptureJob)
            .where(CaptureJob.id == job_id)
            .values(
                claimed_at=jobs.utcnow() - dt.timedelta(hours=3),
                heartbeat_at=jobs.utcnow() - dt.timedelta(hours=3),
            )
        )
        s.commit()
        assert sweep.abandon_stale(s, stale_after=dt.timedelta(hours=1)) == 1
        assert sweep.unfinalized_runs(s) == ["d-1"]
        jobs.mark_run(s, "d-1", jobs.RunState.DONE)
        assert sweep.unfinalized_runs(s) == []


def _backdate(s: Session, job_id: int, seconds: float) -> None:
    past = jobs.utcnow() - dt.timedelta(seconds=seconds)
    s.execute(
        update(CaptureJob).where(CaptureJob.id == job_id).values(claimed_at=past, heartbeat_at=past)
    )
    s.commit()


def test_a_beating_claim_is_kept_a_silent_one_is_taken_over_once(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    job_id = _job_ids(sessions)["https://a.example/x"]
    stale = dt.timedelta(seconds=30)
    with sessions() as s:
        first = jobs.claim_job(s, job_id, "worker-a", stale_after=stale)
        _backdate(s, job_id, 60)  # claimed a minute ago...
    beat = sweep.Heartbeat(sessions, interval=3600)
    beat.add(job_id)
    assert beat.beat() == 1  # ...but its worker is alive and says so
    with sessions() as s:
        assert sweep.take_over_stale(s, stale_after=stale) == []
        assert jobs.claim_job(s, job_id, "other", stale_after=stale).outcome is (
            jobs.ClaimOutcome.BUSY
        )
        _backdate(s, job_id, 60)  # now the beats stopped (the worker died)
        lost = sweep.take_over_stale(s, stale_after=stale)
        assert lost == [sweep.LostJob("d-1", job_id, "stale claim")]
        assert sweep.take_over_stale(s, stale_after=stale) == []  # one sweeper wins
        job = s.get(CaptureJob, job_id, populate_existing=True)
        assert job is not None and job.status == JobStatus.PENDING
        second = jobs.claim_job(s, job_id, "resent", stale_after=stale)
        assert second.outcome is jobs.ClaimOutcome.CLAIMED
    beat.close()
    # the dead worker's late commit loses: the new owner's capture is the one that counts
    with sessions() as s, pytest.raises(jobs.ClaimLost):
        jobs.finish_job(
            s,
            job_id,
            first.attempt_id,
            capture=None,
            evidence=Evidence(status=SourceStatus.OK, reason="late"),
        )
    with sessions() as s:
        job = s.get(CaptureJob, job_id)
        assert job is not None and job.status == JobStatus.IN_PROGRESS


def test_pending_jobs_whose_message_is_lost_are_sent_again_once(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    ids = sorted(_job_ids(sessions).values())
    with sessions() as s:
        sweep.mark_enqueued(s, ids)
        assert sweep.take_over_unsent(s, lost_after=dt.timedelta(seconds=30)) == []
        s.execute(update(CaptureJob).values(enqueued_at=jobs.utcnow() - dt.timedelta(minutes=2)))
        s.commit()
        lost = sweep.take_over_unsent(s, lost_after=dt.timedelta(seconds=30))
        pending = [
            i
            for i in ids
            if s.get(CaptureJob, i).status == JobStatus.PENDING  # type: ignore[union-attr]
        ]
        assert sorted(x.job_id for x in lost) == pending and pending
        assert sweep.take_over_unsent(s, lost_after=dt.timedelta(seconds=30)) == []


def test_a_failed_run_stays_failed_when_finalize_marks_it_done(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    job_id = _job_ids(sessions)["https://a.example/x"]
    with sessions() as s:
        jobs.fail_on_storage(s, "d-1", job_id, "OSError: [Errno 28] No space left on device")
        jobs.mark_run(s, "d-1", jobs.RunState.DONE)
        progress = jobs.run_progress(s, "d-1")
        run = s.get(jobs.Run, "d-1")
    assert progress is not None and progress.state == jobs.RunState.FAILED
    assert run is not None and run.error is not None and "No space left" in run.error
    with sessions() as s:  # the link was never judged
        assert s.scalar(select(EvidenceRow).where(EvidenceRow.job_id == job_id)) is None


def test_a_dead_owners_run_is_resumed_a_live_owners_is_not(
    sessions: sessionmaker[Session],
) -> None:
    digest = _digest()
    with sessions() as s:
        jobs.create_run(s, "d-1", digest, owner="dead")
    job_id = _job_ids(sessions)["https://a.example/x"]
    with sessions() as s:
        jobs.claim_job(s, job_id, "t", stale_after=STALE)
        assert jobs.resumable_run(s, digest, alive=lambda owner: True) is None
        assert jobs.resumable_run(s, digest, alive=lambda owner: False) == ("d-1", "dead")
        changed = digest.model_copy(update={"title": "another text"})
        assert jobs.resumable_run(s, changed, alive=lambda owner: False) is None
        assert jobs.resume_run(s, "d-1", old_owner="dead", owner="me")
        assert not jobs.resume_run(s, "d-1", old_owner="dead", owner="someone else")
        job = s.get(CaptureJob, job_id, populate_existing=True)
        assert job is not None and job.status == JobStatus.PENDING
        assert jobs.run_owner(s, "d-1") == "me"


def test_a_second_finish_replaces_the_evidence_in_place(sessions: sessionmaker[Session]) -> None:
    # a retry of a job whose first capture left its evidence: one row, the latest facts
    with sessions() as s:
        jobs.create_run(s, "d-1", _digest())
    job_id = _job_ids(sessions)["https://a.example/x"]
    first = Evidence(status=SourceStatus.DEAD, reason="HTTP 404", http_status=404)
    second = Evidence(status=SourceStatus.OK, reason="HTTP 200", http_status=200)
    with sessions() as s:
        jobs.finish_job(s, job_id, None, capture=None, evidence=first, text_signature=[1, 2])
    with sessions() as s:
        first_id = s.scalars(select(EvidenceRow.id).where(EvidenceRow.job_id == job_id)).one()
        jobs.finish_job(s, job_id, None, capture=None, evidence=second, name_matches={"key": "k"})
    with sessions() as s:
        row = s.scalars(select(EvidenceRow).where(EvidenceRow.job_id == job_id)).one()
        assert (row.id, row.job_id, row.status) == (first_id, job_id, "ok")
        assert row.data["http_status"] == 200
        assert row.signature is None and row.names == {"key": "k"}
