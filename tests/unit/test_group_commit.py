"""worker.store.group_commit: many threads' works in one transaction, failures alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from worker.store.group_commit import GroupCommit, Skip


class _Base(DeclarativeBase):
    pass


class Row(_Base):
    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(f"sqlite:///{tmp_path}/g.db", connect_args={"check_same_thread": False})
    _Base.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _wait_until(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < deadline, "threads never queued"
        time.sleep(0.005)


def _insert(name: str, obj: list[Row] | None = None) -> Callable[[Session], None]:
    def work(session: Session) -> None:
        row = Row(name=name)
        session.add(row)
        session.flush()
        if obj is not None:
            obj.append(row)

    return work


def _together(
    group: GroupCommit, works: list[Callable[[Session], None]]
) -> dict[int, BaseException | None]:
    """Run works[0] first, holding the lead until every other work has queued behind it."""
    release = threading.Event()
    errors: dict[int, BaseException | None] = {}

    def first(session: Session) -> None:
        release.wait(30)
        works[0](session)

    def call(i: int, work: Callable[[Session], None]) -> None:
        try:
            group.run(work)
            errors[i] = None
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=call, args=(0, first))]
    threads[0].start()
    _wait_until(lambda: group.waiting == 0 and 0 not in errors)  # the leader took it
    for i, work in enumerate(works[1:], 1):
        threads.append(threading.Thread(target=call, args=(i, work)))
        threads[-1].start()
    _wait_until(lambda: group.waiting == len(works) - 1)
    release.set()
    for t in threads:
        t.join(30)
    return errors


def _names(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as s:
        return set(s.scalars(select(Row.name)))


def test_works_queued_meanwhile_commit_in_one_transaction(
    sessions: sessionmaker[Session],
) -> None:
    group = GroupCommit(sessions, threading.Lock())
    errors = _together(group, [_insert(f"r{i}") for i in range(12)])
    assert errors == dict.fromkeys(range(12))
    assert _names(sessions) == {f"r{i}" for i in range(12)}
    assert group.batches == 2  # the leader's own, then the eleven that queued behind it


def test_a_failing_work_fails_alone_and_the_rest_commit(sessions: sessionmaker[Session]) -> None:
    group = GroupCommit(sessions)
    kept: list[Row] = []

    def broken(session: Session) -> None:
        session.add(Row(name="r1"))
        raise ValueError("a bug in one capture")

    works = [_insert("r0"), _insert("r2", kept), broken, _insert("r3")]
    errors = _together(group, works)
    assert isinstance(errors[2], ValueError)
    assert [i for i, e in errors.items() if e is None] == [0, 1, 3]
    # r2 was inserted by the rolled-back batch, then again alone: with its new key
    assert _names(sessions) == {"r0", "r2", "r3"}
    with sessions() as s:
        assert s.scalar(select(Row.id).where(Row.name == "r2")) == kept[-1].id


def test_a_skipped_work_gets_its_own_error_and_rolls_nothing_back(
    sessions: sessionmaker[Session],
) -> None:
    group = GroupCommit(sessions)

    def lost(_session: Session) -> None:
        raise Skip(LookupError("claim taken over"))

    errors = _together(group, [_insert("r0"), _insert("r1"), lost, _insert("r3")])
    assert isinstance(errors[2], LookupError)
    assert _names(sessions) == {"r0", "r1", "r3"}
    assert group.batches == 2  # no batch was run again


def test_a_database_error_in_one_work_fails_it_alone(sessions: sessionmaker[Session]) -> None:
    group = GroupCommit(sessions)
    with sessions() as s:
        s.add(Row(name="taken"))
        s.commit()
    # the unique name fails at the flush inside the work: that work alone fails
    errors = _together(group, [_insert("a"), _insert("taken"), _insert("b")])
    assert isinstance(errors[1], Exception) and errors[0] is None and errors[2] is None
    assert _names(sessions) == {"taken", "a", "b"}


def test_an_error_of_the_group_itself_reaches_its_threads_and_the_next_batch_runs(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    import worker.store.group_commit as group_commit

    def broken_cleanup(_objects: list[object]) -> None:
        raise RuntimeError("a bug in the group's own code")

    monkeypatch.setattr(group_commit, "_forget_keys", broken_cleanup)
    group = GroupCommit(sessions)

    def broken(_session: Session) -> None:
        raise ValueError("a bug in one capture")

    errors = _together(group, [_insert("r0"), _insert("r1"), broken])
    assert len(errors) == 3  # every thread returned: none waits for good
    assert errors[0] is None  # the leader's own batch, before the broken one
    assert isinstance(errors[1], RuntimeError) and isinstance(errors[2], RuntimeError)
    group.run(_insert("after"))  # the lead was handed back
    assert "after" in _names(sessions)
