"""Submit a parsed digest and wait for it: the part of `run`/`submit` below the CLI.

With no broker configured, `run_digest` starts the embedded default (private Valkey and
an in-process worker) around the same enqueue-and-wait code a deployment uses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from schemas import Digest, Report
from worker import timings
from worker.queue.app import configure
from worker.queue.canvas import enqueue_run
from worker.queue.embedded import embedded_broker, in_process_worker
from worker.queue.priorities import Kind
from worker.report.build import current_report, finalize
from worker.runtime import Runtime, get_runtime
from worker.settings import Settings
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import Run, RunState

log = logging.getLogger(__name__)

POLL_SECONDS = 0.3
# once every job has ended only the report is awaited: look often, the command's last
# wait should not be a polling interval (a query of one run's counts is cheap)
FINISHING_POLL_SECONDS = 0.05
# the embedded worker's BRPOP timeout (see _broker): 0.2 s was ~0.1 s of every run's end
EMBEDDED_POLL_SECONDS = 0.05
# When every job is finished but the chord callback has not marked the run done for this
# long (a header task failed for good, or the callback was lost), finalize here.
FINALIZE_GRACE_SECONDS = 20.0


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    report: Report
    resumed: bool = False


class RunFailed(RuntimeError):
    """The run ended `failed` (its local storage or database failed); names the cause."""

    def __init__(self, run_id: str, error: str | None) -> None:
        super().__init__(f"run {run_id} failed: {error or 'no cause recorded'}")
        self.run_id = run_id
        self.error = error


def create_run(
    sessions: sessionmaker[Session], digest: Digest, source_name: str, *, owner: str | None = None
) -> str:
    with sessions() as session:
        run_id = jobs.next_run_id(session, digest.id)
        jobs.create_run(session, run_id, digest, source_name=source_name, owner=owner)
    return run_id


def _started(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), which
    tells a live process from a later one that reuses its pid; None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (not Linux): the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie is dead too


def this_process() -> str:
    """The owner id of a run this process waits on: host, pid and process start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_started(pid)}"


def owner_alive(owner: str) -> bool:
    """Whether the process named by `owner` (`this_process()` of some process) still runs.
    Another host's process is assumed alive: only its own host can tell."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        now = _started(int(pid_text))
    except ValueError:
        return False
    return now is not None and (now == started or "?" in (now, started))


def create_or_resume(
    sessions: sessionmaker[Session], digest: Digest, source_name: str
) -> tuple[str, bool]:
    """(run id, resumed): the unfinished run of this digest whose `run` process died
    (killed, the machine rebooted), taken over; otherwise a new run."""
    me = this_process()
    with sessions() as session:
        found = jobs.resumable_run(session, digest, alive=owner_alive)
        if found is not None:
            run_id, old_owner = found
            if jobs.resume_run(session, run_id, old_owner=old_owner, owner=me):
                log.warning("resuming run %s: its `run` process (%s) is gone", run_id, old_owner)
                return run_id, True
    return create_run(sessions, digest, source_name, owner=me), False


def submit_digest(
    settings: Settings,
    digest: Digest,
    *,
    source_name: str = "",
    kind: Kind = Kind.BULK,
    editor: str = "",
    sessions: sessionmaker[Session] | None = None,
) -> str:
    """Store the run and its jobs, then queue the chord on the configured broker
    (`kind` and `editor`: worker.queue.priorities). The one way a run is queued on a
    deployment: `sourcevault submit` and the web app (its own `sessions`) alike."""
    assert settings.broker_url
    configure(settings, settings.broker_url)
    if sessions is not None:
        return _submit(sessions, digest, source_name, kind, editor)
    # Only the database: a worker Runtime would run WARC recovery in a data dir that live
    # workers are writing to, and open an HTTP client this process never uses.
    engine = make_engine(settings.effective_database_url)
    try:
        return _submit(make_session_factory(engine), digest, source_name, kind, editor)
    finally:
        engine.dispose()


def _submit(
    sessions: sessionmaker[Session], digest: Digest, source_name: str, kind: Kind, editor: str
) -> str:
    run_id = create_run(sessions, digest, source_name)
    with sessions() as session:
        enqueue_run(session, run_id, kind=kind, editor=editor)
    log.info("queued %s (%d sources, %s)", run_id, len(digest.sources), kind)
    return run_id


@contextlib.contextmanager
def _broker(settings: Settings) -> Iterator[None]:
    if settings.broker_url:
        configure(settings, settings.broker_url)
        yield
        return
    with embedded_broker(settings.data_dir) as url:
        app = configure(settings, url)
        # The worker stops only when its blocking BRPOP returns (kombu: one second by
        # default); polling a private local Valkey more often costs nothing.
        options = {**app.conf.broker_transport_options, "polling_interval": EMBEDDED_POLL_SECONDS}
        app.conf.broker_transport_options = options
        with in_process_worker(app, concurrency=settings.concurrency):
            yield
        timings.mark(settings.timings_file, "worker_stopped")


def run_digest(
    settings: Settings,
    digest: Digest,
    *,
    source_name: str = "",
    on_progress: Callable[[int, int], None] | None = None,
    timeout: float = 3600,
) -> RunOutcome:
    marks = settings.timings_file  # where the fixed costs go, for bench/
    runtime = get_runtime(settings)
    runtime.extractor.start()  # its processes import while the broker and worker start
    timings.mark(marks, "runtime")
    run_id, resumed = create_or_resume(runtime.sessions, digest, source_name)
    timings.mark(marks, "run_rows")
    with _broker(settings):
        timings.mark(marks, "worker")
        with runtime.sessions() as session:
            enqueue_run(session, run_id)
        timings.mark(marks, "enqueued")
        wait_for_run(runtime, run_id, on_progress=on_progress, timeout=timeout)
        timings.mark(marks, "seen_done")
    timings.mark(marks, "broker_stopped")
    with runtime.sessions() as session:
        run = session.get(Run, run_id)
        if run is not None and run.state == RunState.FAILED:
            raise RunFailed(run_id, run.error)
    return RunOutcome(run_id, finalized_report(runtime, run_id), resumed=resumed)


def finalized_report(runtime: Runtime, run_id: str) -> Report:
    """The report `finalize` wrote (and the custody log sealed), not a second build."""
    with runtime.sessions() as session:
        return current_report(session, runtime.settings, run_id)


def wait_for_run(
    runtime: Runtime,
    run_id: str,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    timeout: float = 3600,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Poll the database (the source of truth) until the run is done."""
    start = monotonic()
    all_finished_since: float | None = None
    while True:
        with runtime.sessions() as session:
            progress = jobs.run_progress(session, run_id)
        assert progress is not None
        if on_progress:
            on_progress(progress.done, progress.total)
        if progress.state in (RunState.DONE, RunState.FAILED):
            return
        now = monotonic()
        if progress.done + progress.failed >= progress.total:
            all_finished_since = all_finished_since or now
            if now - all_finished_since > FINALIZE_GRACE_SECONDS:
                log.warning("run %s: finalizing here, the chord callback did not", run_id)
                finalize(runtime, run_id)
                return
        if now - start > timeout:
            raise TimeoutError(
                f"run {run_id} not finished after {timeout:.0f} s "
                f"({progress.done}/{progress.total} sources done); it goes on in the "
                f"background on a deployment: `sourcevault status {run_id}`"
            )
        sleep(POLL_SECONDS if all_finished_since is None else FINISHING_POLL_SECONDS)
