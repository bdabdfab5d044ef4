"""custody.append_many: one query for the chain's head, entries chained in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.custody import log as custody
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import CustodyEntry


def _sessions(tmp_path: Path) -> sessionmaker[Session]:
    return make_session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}"))


def test_append_many_chains_after_the_existing_head(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    key = custody.ChainKey("run-1", 7, "https://example.org/a")
    with sessions() as session:
        first = custody.append(session, key, "fetched", {"n": 1})
        more = custody.append_many(
            session,
            key,
            [custody.Event("stored", {"n": 2}), custody.Event("verified", {"n": 3}, {"ip": "x"})],
        )
        session.commit()
    assert [e.seq for e in [first, *more]] == [1, 2, 3]
    assert more[0].prev_hash == first.hash and more[1].prev_hash == more[0].hash
    assert more[1].sealed is not None and more[1].sealed["ip"] == "x"
    with sessions() as session:
        rows = list(session.scalars(select(CustodyEntry).order_by(CustodyEntry.seq)))
        assert custody.check_rows(rows) is None  # hashes, links and seal commitments hold


def test_an_unknown_event_adds_nothing(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    key = custody.ChainKey("run-1", 7, "https://example.org/a")
    with sessions() as session:
        with pytest.raises(ValueError, match="unknown custody event 'bogus'"):
            custody.append_many(
                session, key, [custody.Event("fetched", {}), custody.Event("bogus", {})]
            )
        session.commit()
        assert session.scalar(select(CustodyEntry)) is None


def test_append_chains_continues_each_chain_from_its_own_head(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    old = custody.ChainKey("run-1", 1, "https://example.org/old")
    keys = [custody.ChainKey("run-2", n, f"https://example.org/{n}") for n in range(2, 602)]
    with sessions() as session:
        head = custody.append(session, old, "fetched", {"n": 0})
        batches = [(old, [custody.Event("stored", {"n": 1})])]
        batches += [(key, [custody.Event("queued", {"n": key.job_id})]) for key in keys]
        batches.append((old, [custody.Event("verified", {"n": 2})]))  # the same chain again
        out = custody.append_chains(session, batches)
        session.commit()
    assert [len(entries) for entries in out] == [1] * len(batches)
    assert (out[0][0].seq, out[0][0].prev_hash) == (2, head.hash)
    assert (out[-1][0].seq, out[-1][0].prev_hash) == (3, out[0][0].hash)
    assert {entries[0].seq for entries in out[1:-1]} == {1}  # 600 chains: two head queries
    with sessions() as session:
        rows = list(session.scalars(select(CustodyEntry).order_by(CustodyEntry.id)))
        for chain in {row.chain for row in rows}:
            mine = sorted((r for r in rows if r.chain == chain), key=lambda r: r.seq)
            assert custody.check_rows(mine) is None, chain


def test_run_heads_are_each_chains_last_entry_of_that_run_only(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    mine = [custody.ChainKey("run-1", n, f"https://example.org/{n}") for n in (1, 2)]
    other = custody.ChainKey("run-2", 3, "https://example.org/3")
    with sessions() as session:
        custody.append_many(
            session, mine[0], [custody.Event("queued", {}), custody.Event("fetched", {})]
        )
        custody.append(session, mine[1], "queued", {})
        custody.append(session, custody.run_key("run-1"), "reported", {})
        custody.append_many(session, other, [custody.Event("queued", {})] * 3)
        last = custody.append(session, mine[0], "stored", {})  # the head moves on
        heads = custody.run_heads(session, "run-1")
        chains = custody.run_entries(session, "run-1")
    assert heads == {chain: (rows[-1].seq, rows[-1].hash) for chain, rows in chains.items()}
    assert heads["job/1"] == (3, last.hash)
    assert set(heads) == {"job/1", "job/2", "run/run-1"}  # not run-2's chain
