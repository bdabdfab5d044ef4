"""capture_one: the whole life of one source in numbered steps, each a one-job module.

    1 claim      jobs.claim_job: compare-and-swap; a finished job returns its outcome
                 (writes go through runtime.writing(): SQLite writers take turns)
    2 egress     egress.EgressPolicy (direct connections only; a proxy owns egress)
    3 fetch      fetch.fetch_with_retries: streamed, raw body spooled, sha256 while reading;
                 sites.prepare first (Telegram preview URL, login-profile cookies)
    4 extract    content.decode_body (capped) here, then extract.extract (text, title,
                 dates…) on runtime.extractor: a process per core (worker.pool)
    5 verify     soft404 sibling probe, then verify.evidence_for: classify + facts → Evidence
    6 archive    the page's requisites fetched (worker.capture.requisites), then one writer
                 batch: request/response (or revisit) per hop of the page and of each
                 requisite + metadata record (+ a screenshot resource record), fsynced

Steps 2-6 are `worker.capture.steps` (observe, write_records), which re-checks call too.
    7 commit     fsync the WARC, then capture + evidence + custody entries + job done in
                 one transaction, shared with the captures other threads of this process
                 finish meanwhile (worker.store.group_commit: one commit for all of them)

Records of one capture are written in one locked batch, after the fetch and extraction,
so a failure never leaves half a capture in a WARC file that stays open.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from worker import timings
from worker.capture import steps as capture_steps
from worker.custody import events as custody_events
from worker.custody import log as custody
from worker.runtime import Runtime
from worker.store import jobs
from worker.store.group_commit import Skip
from worker.store.models import EvidenceRow

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")


class JobBusy(RuntimeError):
    """Another live delivery holds the job; the task retries later."""


class StorageError(RuntimeError):
    """Our own storage failed (the WARC dir, the disk, the database), not the link.

    Never evidence: the job goes back to pending with no status, the task retries it
    (worker.queue.tasks), and when the retries are spent the run fails naming this error."""


def is_storage_error(exc: BaseException) -> bool:
    """An error of local storage. The fetcher never raises network failures (they are
    FetchErrors in the result), so an OSError reaching here is ours: the WARC writer,
    a spool file, the database file; SQLAlchemy's DBAPI errors are the database's."""
    return isinstance(exc, (OSError, DBAPIError))


@dataclass(frozen=True)
class Outcome:
    job_id: int
    status: str
    capture_id: int | None = None
    repeated: bool = False


def capture_one(runtime: Runtime, run_id: str, job_id: int, *, task_id: str | None) -> Outcome:
    # where its wall time goes, for bench/ (off unless settings.timings_file is set)
    with timings.capture(runtime.settings.timings_file, run_id=run_id, job_id=job_id) as line:
        outcome = _capture(runtime, run_id, job_id, task_id=task_id)
        line.update(status=outcome.status, repeated=outcome.repeated)
        return outcome


def _capture(runtime: Runtime, run_id: str, job_id: int, *, task_id: str | None) -> Outcome:
    settings = runtime.settings
    # 1 claim
    with timings.span("claim"), runtime.writing() as session:
        claim = jobs.claim_job(
            session,
            job_id,
            task_id,
            stale_after=dt.timedelta(seconds=settings.claim_stale_after),
        )
        if claim.outcome is jobs.ClaimOutcome.MISSING:
            raise ValueError(f"capture job {job_id} of run {run_id} does not exist")
        if claim.outcome is jobs.ClaimOutcome.ALREADY_DONE:
            return _existing_outcome(runtime, job_id)
        if claim.outcome is jobs.ClaimOutcome.BUSY:
            raise JobBusy(f"job {job_id} is being captured by another delivery")
        assert claim.job is not None
        url = claim.job.canonical_url
        chain = custody.job_key(claim.job)
        attempt_id = claim.attempt_id
    heartbeat = runtime.heartbeat
    if heartbeat is not None:
        heartbeat.add(job_id)
    try:
        return _capture_claimed(runtime, chain, attempt_id)
    except jobs.ClaimLost:  # we looked dead and another delivery took the job over
        log.warning("capture of %s (job %d) was taken over; keeping the other", url, job_id)
        return _existing_outcome(runtime, job_id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if is_storage_error(exc):
            # a fact about our disk or database, not about the link: no evidence, no status
            log.error("capture of %s (job %d): local storage failed: %s", url, job_id, error)
            _release(runtime, job_id, attempt_id, f"local storage failed: {error}")
            raise StorageError(f"local storage failed: {error}") from exc
        # record and report; the chord must still complete
        log.exception("capture of %s (job %d) failed", url, job_id)
        with runtime.writing() as session:
            jobs.fail_job(session, job_id, attempt_id, error)
        return Outcome(job_id, "failed")
    finally:
        if heartbeat is not None:
            heartbeat.discard(job_id)


def _release(runtime: Runtime, job_id: int, attempt_id: int | None, error: str) -> None:
    """Give the job back for a retry; if the database itself is down, the claim's
    heartbeat stops and a sweeper takes the job over instead."""
    try:
        with runtime.writing() as session:
            jobs.release_job(session, job_id, attempt_id, error)
    except DBAPIError:
        log.warning("job %d: could not release it (database failing too)", job_id)


def _capture_claimed(runtime: Runtime, chain: custody.ChainKey, attempt_id: int | None) -> Outcome:
    settings = runtime.settings
    assert chain.job_id is not None and chain.canonical_url is not None
    job_id, url = chain.job_id, chain.canonical_url
    # 2 egress + 3 fetch + 4 extract + 5 verify: worker.capture.steps, shared with re-checks
    seen = capture_steps.observe(runtime, url)
    result, page, evidence = seen.result, seen.page, seen.evidence
    try:
        # 6 archive: the page, its requisites (+ a PNG of the archived HTML when
        # screenshots are on), in one batch, fsynced
        written = capture_steps.write_records(runtime, seen, screenshots=True)
        capture = written.capture if written is not None else None
        # 7 commit (the WARC bytes are on disk before the row that points at them)
        if settings.debug_pause_before_commit:  # fault injection for the crash tests only
            pause = settings.debug_pause_before_commit
            log.warning("pausing %.1f s before committing %s", pause, url)
            time.sleep(pause)
        name_matches = capture_steps.match_names(runtime, chain.run_id, url, evidence)
        # custody entries commit with the capture, or not at all (worker.custody.events)
        custody_rows = custody_events.capture_rows(
            chain,
            result,
            page,
            evidence,
            capture,
            clock=runtime.clock,
            attempt_id=attempt_id,
            requisites=written.requisites if written is not None else (),
            missing=[m.as_dict() for m in written.missing] if written is not None else (),
        )

        def extra_rows(session: Session) -> None:
            custody_rows(session)
            if written is not None:
                written.add_rows(session, url)

        def finish(session: Session) -> None:
            try:
                jobs.finish_job(
                    session,
                    job_id,
                    attempt_id,
                    capture=capture,
                    evidence=evidence,
                    extra_rows=extra_rows,
                    commit=False,
                    text_signature=seen.text_signature,
                    name_matches=name_matches,
                )
            except jobs.ClaimLost as exc:  # raised before it wrote anything
                raise Skip(exc) from exc

        # committed with the captures other threads finish meanwhile, in one transaction
        with timings.span("commit"):
            runtime.committer.run(finish)
        capture_id = capture.id if capture is not None else None
        return Outcome(job_id, evidence.status, capture_id)
    finally:
        seen.close()


def _existing_outcome(runtime: Runtime, job_id: int) -> Outcome:
    with runtime.sessions() as session:
        capture = jobs.existing_capture(session, job_id)
        evidence = session.query(EvidenceRow).filter_by(job_id=job_id).one_or_none()
        status = evidence.status if evidence is not None else "done"
        return Outcome(job_id, status, capture.id if capture else None, repeated=True)
