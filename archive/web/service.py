"""What the web app asks of the worker side: parse, queue, progress, runs, reports, citations.

The app keeps its own engine and sessions: it never builds a worker Runtime (HTTP
client, WARC writer), because the web process must not write or recover WARC files.
Uploads are read and digests parsed in a worker process with a time limit
(`read_and_parse`, `archive.web.parse_pool`), never on the app's event loop.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from archive.web.parse_pool import DEFAULT_TIMEOUT, ParseCrashed, ParsePool, ParseTimeout
from archive.web.uploads import UploadError, read_and_parse
from schemas import Digest, Report
from worker.digest.parse import parse_digest
from worker.report.build import ReplayUrl, current_report
from worker.report.cite import CitationNotFound, CitationTarget, resolve_citation
from worker.settings import Settings
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import Run, as_utc

log = logging.getLogger(__name__)


class NotFound(LookupError):
    """No digest run (or footnote) by that id."""


class QueueUnavailable(RuntimeError):
    """The app has no broker to queue on."""


class ParseRefused(UploadError):
    """Reading or parsing took too long or killed its process; the message says which."""


@dataclass(frozen=True)
class RunSummary:
    id: str
    title: str
    source_name: str
    state: str
    done: int
    total: int
    failed: int
    created_at: dt.datetime
    finished_at: dt.datetime | None


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        parse_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.effective_database_url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        self.replay_url = ReplayUrl(settings.replay_base_url, settings.collection)
        self.parse_pool = ParsePool(1, timeout=parse_timeout)

    # editors -----------------------------------------------------------------

    @staticmethod
    def parse(text: str, *, name: str, year: int | None = None) -> Digest:
        """In the calling thread: for the CLI and tests. The app awaits `parse_text`."""
        return parse_digest(text, name=name, year=year)

    async def parse_text(self, text: str, *, name: str, year: int | None = None) -> Digest:
        """Parse pasted text in the parse process (raises ParseRefused)."""
        _text, digest = await self._off_loop(None, text, 0, name, year)
        return digest

    async def read_upload(
        self, filename: str, data: bytes, *, max_bytes: int, name: str, year: int | None
    ) -> tuple[str, Digest]:
        """An uploaded file's text and parse, in the parse process (raises UploadError,
        UploadTooLarge, or ParseRefused)."""
        return await self._off_loop(filename, data, max_bytes, name, year)

    async def _off_loop(
        self, filename: str | None, data: bytes | str, max_bytes: int, name: str, year: int | None
    ) -> tuple[str, Digest]:
        try:
            return await self.parse_pool.run(read_and_parse, filename, data, max_bytes, name, year)
        except ParseTimeout as exc:
            raise ParseRefused(f"{filename or 'the digest'}: {exc}") from exc
        except ParseCrashed as exc:
            raise ParseRefused(f"{filename or 'the digest'}: {exc}") from exc

    def queue(
        self, digest: Digest, *, source_name: str, editor: str = "", interactive: bool = False
    ) -> str:
        """Store the run and its jobs, then queue the chord: worker.runs.submit_digest, as
        `sourcevault submit` does. `editor` and `interactive`: worker.queue.priorities."""
        if not self.settings.broker_url:
            raise QueueUnavailable("no broker configured: start with --embedded or a broker URL")
        from worker.queue.priorities import Kind
        from worker.runs import submit_digest  # Celery loads only when queueing

        kind = Kind.INTERACTIVE if interactive else Kind.BULK
        return submit_digest(
            self.settings,
            digest,
            source_name=source_name,
            kind=kind,
            editor=editor,
            sessions=self.sessions,
        )

    def rerun(self, run_id: str, *, editor: str = "") -> str:
        """Queue a digest's sources again as a new run: interactive, an editor is waiting."""
        with self.sessions() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise NotFound(run_id)
            digest = Digest.model_validate_json(run.digest_json)
            source_name = run.source_name
        return self.queue(digest, source_name=source_name, editor=editor, interactive=True)

    # auditors ----------------------------------------------------------------

    def runs(self) -> list[RunSummary]:
        with self.sessions() as session:
            ids = list(session.scalars(select(Run.id).order_by(Run.created_at.desc())))
        return [self.run(i) for i in ids]

    def run(self, run_id: str) -> RunSummary:
        with self.sessions() as session:
            run = session.get(Run, run_id)
            progress = jobs.run_progress(session, run_id)
            if run is None or progress is None:
                raise NotFound(run_id)
            return RunSummary(
                id=run.id,
                title=run.title,
                source_name=run.source_name,
                state=progress.state,
                done=progress.done,
                total=progress.total,
                failed=progress.failed,
                created_at=as_utc(run.created_at),  # SQLite gives them back naive
                finished_at=as_utc(run.finished_at),
            )

    def report(self, run_id: str) -> Report:
        """The sealed report once the run is finalized (worker.report.build.current_report)."""
        with self.sessions() as session:
            try:
                return current_report(session, self.settings, run_id)
            except KeyError as exc:
                raise NotFound(run_id) from exc

    def citation(self, digest_or_run_id: str, footnote: int) -> list[CitationTarget]:
        """The archived copies a footnote points at, one per URL it lists: for each, the
        capture closest to the incident's date (worker.report.cite)."""
        with self.sessions() as session:
            try:
                return resolve_citation(session, digest_or_run_id, footnote, self.replay_url)
            except CitationNotFound as exc:
                raise NotFound(str(exc)) from exc

    def close(self) -> None:
        self.parse_pool.close()
        self.engine.dispose()
