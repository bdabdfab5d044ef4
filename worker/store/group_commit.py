"""Group commit: the finished captures of many threads in one transaction.

Each capture thread used to take the write turn (worker.runtime: SQLite has one writer)
for a transaction of its own. With two dozen threads the turn itself became the limit:
measured (bench/), threads waited ~870 ms of a ~1.5 s capture for it, while the holder,
short of the GIL among the others, kept it ~35 ms for a few statements and a commit.

`GroupCommit.run(work)` queues `work(session)` and returns once it is committed. The
first thread to arrive leads: it takes the write turn, runs every queued work in one
session, commits once, wakes their threads, and hands the lead to a thread that queued
meanwhile (so no thread serves others for long). A work raising `Skip` (a capture whose
claim was taken over: nothing of it written) fails alone. Any other error rolls the batch
back, and every other work is run again in a transaction of its own, so one bad capture
never fails those beside it; objects the rolled-back batch had inserted get their keys
cleared first, so they are inserted afresh.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from worker import timings

__all__ = ["GroupCommit", "Skip"]

Work = Callable[[Session], None]


class Skip(Exception):
    """Raised by a work that wrote nothing and fails alone; `error` reaches its thread."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Item:
    work: Work
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to lead the next batch, not because it is done
    error: BaseException | None = None


class GroupCommit:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        turn: AbstractContextManager[object] | None = None,
        *,
        max_batch: int = 64,
    ) -> None:
        self._sessions = sessions
        self._turn = turn if turn is not None else contextlib.nullcontext()
        self._max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: list[_Item] = []
        self._leading = False
        self.batches = 0  # transactions committed (a batch run again alone counts each)

    @property
    def waiting(self) -> int:
        """Works queued and not yet taken into a batch."""
        with self._mutex:
            return len(self._queue)

    def run(self, work: Work) -> None:
        """Run `work(session)` in a transaction shared with other threads' works; return
        when it is committed, or raise what it raised."""
        item = _Item(work)
        with self._mutex:
            self._queue.append(item)
            lead = not self._leading
            self._leading = True
        while not lead:
            item.done.wait()
            if not item.lead:
                break
            item.done.clear()
            lead, item.lead = True, False
        if lead:
            self._lead()
        if item.error is not None:
            raise item.error

    def _lead(self) -> None:
        with self._mutex:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        try:
            self._commit(batch)
        except BaseException as exc:  # a bug here must not leave the batch waiting forever
            for item in batch:
                item.error = item.error or exc
        for item in batch:
            item.done.set()
        with self._mutex:
            if self._queue:  # arrived meanwhile: the first of them leads the next batch
                nxt = self._queue[0]
                nxt.lead = True
                nxt.done.set()
            else:
                self._leading = False

    def _commit(self, batch: list[_Item]) -> None:
        with timings.entering("db_lock", self._turn):
            failed = self._together(batch)
            if failed is None or len(batch) == 1:
                return
            # one work raised: the batch is rolled back; the others again, each alone
            for item in batch:
                if item is not failed and item.error is None:
                    self._together([item])

    def _together(self, batch: list[_Item]) -> _Item | None:
        """Every work in one transaction; the item whose error rolled it back, if any."""
        current: _Item | None = None
        session = self._sessions()
        try:
            for current in batch:
                try:
                    current.work(session)
                except Skip as skip:
                    current.error = skip.error
            current = None
            session.commit()
            self.batches += 1
            return None
        except BaseException as exc:
            _roll_back(session)
            if current is None:  # the commit itself failed: every work gets its error
                for item in batch:
                    item.error = item.error or exc
                return batch[0]
            current.error = exc
            return current
        finally:
            session.close()


def _roll_back(session: Session) -> None:
    """Roll back, then clear the primary keys the transaction had given the objects it
    inserted: added again, they are inserted with new ones."""
    inserted = [obj for obj in session if inspect(obj).pending or inspect(obj).persistent]
    session.rollback()
    _forget_keys(inserted)


def _forget_keys(objects: list[object]) -> None:
    """Objects a rolled-back transaction had inserted keep the primary keys it gave them;
    cleared, they are inserted with new ones when added again."""
    for obj in objects:
        state = inspect(obj)
        if not state.transient:  # loaded from the database: its key is real
            continue
        for column in state.mapper.primary_key:
            prop = state.mapper.get_property_by_column(column)
            setattr(obj, prop.key, None)
