"""Per-process resources the pipeline needs, built once from Settings and closed at exit.

Tasks fetch the runtime here and pass it explicitly into plain functions; nothing deeper
reads globals.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from archive.collection import Collection
from archive.warc_writer import WarcWriter, recover_open_files
from schemas.digest import Digest
from worker import timings
from worker.custody.keys import host_pseudonym
from worker.digest.sources import people_by_source
from worker.fetch.client import build_client, build_egress_policy, build_vantage
from worker.fetch.egress import EgressPolicy
from worker.fetch.gates import build_gate
from worker.fetch.politeness import Gate
from worker.judge.soft404 import ProbeCache
from worker.pool import Extractor, InlineExtractor, build_extractor
from worker.settings import Settings
from worker.store import jobs, sweep
from worker.store.engine import make_engine, make_session_factory
from worker.store.group_commit import GroupCommit
from worker.store.models import Run

log = logging.getLogger(__name__)


class CitedPeople:
    """Whom each source of a run is cited for (worker.digest.sources.people_by_source),
    read from the run's digest once per process: a capture matches them in its page, so
    the report's names checks need no second pass over every text at the end."""

    KEEP = 8  # runs remembered: a worker serves a few digests at a time

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, list[str]]] = {}
        self._loading: dict[str, threading.Lock] = {}  # one reader of a run's digest

    def of(self, sessions: sessionmaker[Session], run_id: str, url: str) -> list[str]:
        """The people `run_id`'s incidents citing `url` name; [] for none, or a run
        without its digest (gone meanwhile)."""
        with self._lock:
            people = self._runs.get(run_id)
            loading = (
                None if people is not None else self._loading.setdefault(run_id, threading.Lock())
            )
        if loading is not None:
            with loading:  # a run's first captures start together: one reads its digest
                with self._lock:
                    people = self._runs.get(run_id)
                if people is None:
                    people = self._load(sessions, run_id)
                    self._keep(run_id, people)
        assert people is not None
        return people.get(url, [])

    def _keep(self, run_id: str, people: dict[str, list[str]]) -> None:
        with self._lock:
            while len(self._runs) >= self.KEEP:
                self._runs.pop(next(iter(self._runs)))
            self._runs[run_id] = people
            self._loading.pop(run_id, None)  # threads waiting for it have it already

    @staticmethod
    def _load(sessions: sessionmaker[Session], run_id: str) -> dict[str, list[str]]:
        with sessions() as session:
            digest_json = session.scalar(select(Run.digest_json).where(Run.id == run_id))
        if digest_json is None:
            return {}
        return people_by_source(Digest.model_validate_json(digest_json))


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    client: httpx.Client
    writer: WarcWriter
    policy: EgressPolicy
    collection: Collection
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    gate: Gate | None = None  # per-host concurrency and delay (worker.fetch.gates: Redis or local)
    probe_cache: ProbeCache = field(default_factory=ProbeCache)  # soft-404 probe, per host
    cited: CitedPeople = field(default_factory=CitedPeople)  # the names a capture looks for
    extractor: Extractor = field(default_factory=InlineExtractor)  # processes: extract_pool
    # SQLite takes one writer at a time, and a writer that finds it busy sleeps in
    # SQLite's busy handler (1, 2, 5 … 100 ms steps) however soon the lock frees: with
    # dozens of capture threads those sleeps were most of a capture's time. Threads of
    # this process queue on this lock instead; PostgreSQL needs none.
    write_lock: AbstractContextManager[object] = field(default_factory=contextlib.nullcontext)
    # keeps this process's claims fresh while their captures run (worker.store.sweep.Heartbeat)
    heartbeat: sweep.Heartbeat | None = None
    # other network paths (SOURCEVAULT_VANTAGES): name -> (client, policy), in order
    vantages: dict[str, tuple[httpx.Client, EgressPolicy]] = field(default_factory=dict)
    # finished captures of this process's threads, committed together in the write turn
    committer: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.committer = GroupCommit(self.sessions, self.write_lock)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Session]:
        """A session for one write transaction, taken in turn with this process's other
        writers on SQLite."""
        # the wait for the turn is its own step, apart from the transaction itself
        with timings.entering("db_lock", self.write_lock), self.sessions() as session:
            yield session

    def close(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.close()
        self.extractor.close()
        self.writer.close()
        self.client.close()
        for client, _policy in self.vantages.values():
            client.close()
        self.engine.dispose()


def build_runtime(settings: Settings, *, transport: httpx.BaseTransport | None = None) -> Runtime:
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    collection = Collection(settings.data_dir, settings.collection)
    collection.ensure()
    recover_warcs(collection, sessions)
    policy = build_egress_policy(settings)  # knows which URLs a proxy carries
    writer = WarcWriter(
        collection.archive_dir,
        # a pseudonym, not the hostname: WARC names and warcinfo reach auditors (custody)
        prefix=f"sourcevault-{host_pseudonym(settings.data_dir)}-{os.getpid()}",
        hostname=host_pseudonym(settings.data_dir),
        max_size=settings.warc_max_size,
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        client=build_client(settings, transport=transport, policy=policy),
        writer=writer,
        policy=policy,
        collection=collection,
        gate=build_gate(settings),  # shared in Redis on a deployment, per process embedded
        extractor=build_extractor(settings.extract_processes, timeout=settings.extract_timeout),
        write_lock=_write_lock(engine),
    )
    runtime.heartbeat = sweep.Heartbeat(runtime.writing, settings.claim_heartbeat_interval)
    runtime.vantages = {
        name: build_vantage(settings, proxy) for name, proxy in settings.vantages.items()
    }
    return runtime


def _write_lock(engine: Engine) -> AbstractContextManager[object]:
    return threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()


def recover_warcs(collection: Collection, sessions: sessionmaker[Session]) -> None:
    """Cut records that a dead writer wrote but the database never committed."""

    def keep(name: str) -> int | None:
        with sessions() as session:
            return jobs.committed_end(session, name)

    for report in recover_open_files(collection.archive_dir, keep):
        log.warning("recovered WARC file: %s", report)


_lock = threading.Lock()
_runtimes: dict[tuple[int, str], Runtime] = {}


def get_runtime(settings: Settings) -> Runtime:
    """One runtime per process and settings (a forked prefork child builds its own)."""
    key = (os.getpid(), settings.model_dump_json())
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _runtimes[key] = build_runtime(settings)
        return runtime


def close_runtime() -> None:
    """Close this process's runtimes (worker shutdown, end of `run`)."""
    pid = os.getpid()
    with _lock:
        mine = [key for key in _runtimes if key[0] == pid]
        closing = [_runtimes.pop(key) for key in mine]
    for runtime in closing:
        runtime.close()
