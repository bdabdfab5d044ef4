"""worker.report.cite: a footnote's stable link opens the readable copy closest to the incident."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.digest.parse import parse_digest
from worker.report.build import ReplayUrl
from worker.report.cite import CitationNotFound, resolve_citation
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow

DIGEST = """\
On September 8, in Nur-Sultan, an activist was detained by the police [1].
On September 20, in Almaty, a journalist was fined [2].
[1]https://news.example/a/1.html
[2]https://news.example/a/2.html
https://other.example/b
[3]not a url
"""
REPLAY = ReplayUrl("http://127.0.0.1:8090", "sourcevault")
URL1 = "https://news.example/a/1.html"


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return make_session_factory(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))


def _run(sessions: sessionmaker[Session]) -> str:
    digest = parse_digest(DIGEST, name="cite-test", year=2021)
    with sessions() as session:
        run_id = jobs.next_run_id(session, digest.id)
        jobs.create_run(session, run_id, digest)
        session.commit()
    return run_id


def _capture(
    sessions: sessionmaker[Session], run_id: str, url: str, when: dt.datetime, status: str
) -> None:
    with sessions() as session:
        job = session.scalars(
            select(CaptureJob).where(CaptureJob.run_id == run_id, CaptureJob.canonical_url == url)
        ).one()
        session.add(
            CaptureRow(
                job_id=job.id,
                url=url,
                warc_file="f.warc.gz",
                offset=0,
                length=1,
                end_offset=1,
                record_id=f"<urn:uuid:{run_id}-{job.id}>",
                sha256="0" * 64,
                payload_length=1,
                captured_at=when,
            )
        )
        session.add(EvidenceRow(job_id=job.id, status=status, data={}))
        session.commit()


def test_the_closest_readable_copy_across_runs_wins(sessions: sessionmaker[Session]) -> None:
    first, second, third = _run(sessions), _run(sessions), _run(sessions)
    _capture(sessions, first, URL1, dt.datetime(2021, 9, 30, 10, tzinfo=dt.UTC), "ok")
    # closer to Sep 8, but a dead page: never preferred over a readable copy
    _capture(sessions, second, URL1, dt.datetime(2021, 9, 9, 10, tzinfo=dt.UTC), "dead")
    _capture(sessions, third, URL1, dt.datetime(2022, 3, 1, 10, tzinfo=dt.UTC), "ok")
    with sessions() as session:
        [target] = resolve_citation(session, third, 1, REPLAY)
    assert target.incident_date == dt.date(2021, 9, 8)
    assert target.captures == 3
    assert target.run_id == first
    assert target.captured_at == dt.datetime(2021, 9, 30, 10, tzinfo=dt.UTC)
    assert target.replay_url == f"http://127.0.0.1:8090/sourcevault/20210930100000/{URL1}"
    assert target.status == "ok"


def test_only_unreadable_copies_still_open_the_closest(sessions: sessionmaker[Session]) -> None:
    run_id = _run(sessions)
    _capture(sessions, run_id, URL1, dt.datetime(2021, 9, 9, tzinfo=dt.UTC), "login_wall")
    with sessions() as session:
        [target] = resolve_citation(session, run_id, 1, REPLAY)
    assert target.status == "login_wall" and target.replay_url is not None


def test_a_footnote_with_two_urls_gives_two_targets(sessions: sessionmaker[Session]) -> None:
    _run(sessions)
    run_id = _run(sessions)  # the digest's second, latest run
    _capture(
        sessions, run_id, "https://other.example/b", dt.datetime(2021, 9, 21, tzinfo=dt.UTC), "ok"
    )
    with sessions() as session:
        # by digest id, not run id: the latest run of that digest
        digest_id = parse_digest(DIGEST, name="cite-test", year=2021).id
        assert digest_id != run_id  # the run id is `<digest id>-2`
        targets = resolve_citation(session, digest_id, 2, REPLAY)
    assert [t.url for t in targets] == ["https://news.example/a/2.html", "https://other.example/b"]
    assert targets[0].replay_url is None and targets[0].captures == 0  # never captured
    assert targets[1].incident_date == dt.date(2021, 9, 20)
    assert targets[1].replay_url is not None


def test_unknown_digest_or_footnote(sessions: sessionmaker[Session]) -> None:
    run_id = _run(sessions)
    with sessions() as session:
        with pytest.raises(CitationNotFound, match="no digest or run"):
            resolve_citation(session, "nope", 1, REPLAY)
        with pytest.raises(CitationNotFound, match="no footnote 9"):
            resolve_citation(session, run_id, 9, REPLAY)
