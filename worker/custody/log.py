"""Chain of custody: an append-only, hash-chained event log per source, signed at its head.

Every source of a run (a capture job) has its own chain `job/<id>`: queued → fetched →
stored → extracted → verified (→ rechecked, exported, reviewed). A run chain
`run/<run_id>` holds run-level events: the report's hashes at finalize (`reported`), the
WARC files' digests (`warc_digest`), exports.

An entry is a JSON object (the *body*) whose `hash` is the sha256 of its canonical
encoding (UTF-8, sorted keys, no whitespace, non-ASCII unescaped); each body holds the
previous entry's hash (`prev_hash`, 64 zeros for the first), so changing, inserting or
dropping an entry breaks every later link. A *seal* signs (Ed25519) the heads of all
chains of a run, so even a rewritten chain (every hash recomputed) no longer matches
what was signed. Auditors get the bodies, the seal and the public key; nothing else.

Privacy. A body is the auditor's record: the page's URL, the origin's certificate chain,
the server's IP for direct connections, hashes, software versions. What would identify
the monitor (its local and proxy addresses, hostname, process, attempt) goes in the
entry's `sealed` record instead, which stays in the internal database table and is never
exported. The body commits to it by `sealed_sha256`, a hash over the sealed record and a
random salt, so the sealed record can be shown to a court later and checked against the
log, while the hash alone does not let anyone guess a monitor's IP.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import platform
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from worker.store.models import CaptureJob, CustodyEntry

if TYPE_CHECKING:
    from worker.store.jobs import ClaimedJob

__all__ = [
    "EVENTS",
    "GENESIS",
    "ChainBreak",
    "ChainKey",
    "Event",
    "append",
    "append_chains",
    "append_many",
    "canonical_json",
    "entry_hash",
    "job_key",
    "run_entries",
    "run_heads",
    "run_key",
    "sealed_hash",
    "software_versions",
    "verify_chain",
]

log = logging.getLogger(__name__)

EVENTS = frozenset(
    {
        "queued",
        "fetched",
        "stored",
        "extracted",
        "verified",
        "rechecked",
        "exported",
        "reviewed",
        "reported",
        "warc_digest",
    }
)
GENESIS = "0" * 64
FORMAT = "sourcevault-custody/1"

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def canonical_json(obj: Any) -> bytes:
    """The one encoding every hash and signature is over (auditors can re-implement it)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def entry_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


def sealed_hash(sealed: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(sealed)).hexdigest()


def software_versions() -> dict[str, str]:
    """The versions that made a capture: part of the `fetched` record."""
    return dict(_software_versions())


@functools.cache
def _software_versions() -> dict[str, str]:
    # importlib.metadata reads and parses METADATA files: ~1 ms a package, per capture
    versions = {"python": platform.python_version()}
    for dist in ("sourcevault", "httpx", "warcio", "trafilatura"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    return versions


# -- appending ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainKey:
    """Which log an event goes to: a source's (`job_id` set) or its run's."""

    run_id: str
    job_id: int | None = None
    canonical_url: str | None = None

    @property
    def chain(self) -> str:
        return f"job/{self.job_id}" if self.job_id is not None else f"run/{self.run_id}"


def job_key(job: CaptureJob | ClaimedJob) -> ChainKey:
    return ChainKey(job.run_id, job.id, job.canonical_url)


def run_key(run_id: str) -> ChainKey:
    return ChainKey(run_id)


class Event(NamedTuple):
    """One entry to append: its event name, public data and (optional) sealed record."""

    name: str
    data: dict[str, Any]
    sealed: dict[str, Any] | None = None


def append(
    session: Session,
    source_key: ChainKey,
    event: str,
    data: dict[str, Any],
    *,
    clock: Clock = utcnow,
    sealed: dict[str, Any] | None = None,
) -> CustodyEntry:
    """Add one entry to the chain, in the caller's transaction (no commit here)."""
    return append_many(session, source_key, [Event(event, data, sealed)], clock=clock)[-1]


def append_many(
    session: Session, source_key: ChainKey, events: Sequence[Event], *, clock: Clock = utcnow
) -> list[CustodyEntry]:
    """Add entries to the chain in order, in the caller's transaction (no commit here).

    The caller commits them together with the work they record, so a crash leaves no
    entry for uncommitted work. Two writers racing on one chain collide on the unique
    (chain, seq) constraint instead of forking it. One query for the chain's head and
    one flush for all of them (a capture appends four).
    """
    return append_chains(session, [(source_key, events)], clock=clock)[0]


_HEADS_PER_QUERY = 500  # chains per IN list: well under SQLite's bound-parameter limit
_ENTRIES = cast(Table, CustodyEntry.__table__)
# built once: every capture asks it for its chain's head, inside the write turn
_CHAIN_ROWS = select(_ENTRIES.c.chain, _ENTRIES.c.seq, _ENTRIES.c.hash).where(
    _ENTRIES.c.chain.in_(bindparam("b_chains", expanding=True))
)


def append_chains(
    session: Session,
    batches: Sequence[tuple[ChainKey, Sequence[Event]]],
    *,
    clock: Clock = utcnow,
) -> list[list[CustodyEntry]]:
    """`append_many` for several chains at once (a new run's `queued` for each of its
    jobs): one query per 500 chains for their heads and one flush for every entry."""
    for _key, events in batches:
        for event in events:
            if event.name not in EVENTS:
                raise ValueError(f"unknown custody event {event.name!r} (one of {sorted(EVENTS)})")
    chains = list(dict.fromkeys(key.chain for key, _events in batches))
    heads: dict[str, tuple[int, str]] = {}
    for start in range(0, len(chains), _HEADS_PER_QUERY):
        rows = session.execute(_CHAIN_ROWS, {"b_chains": chains[start : start + _HEADS_PER_QUERY]})
        for chain, seq, digest in rows:
            if chain not in heads or seq > heads[chain][0]:
                heads[chain] = (seq, digest)
    out: list[list[CustodyEntry]] = []
    values: list[dict[str, Any]] = []
    for source_key, events in batches:
        chain = source_key.chain
        seq, prev = heads.get(chain, (0, GENESIS))
        entries = []
        for event in events:
            seq += 1
            entry = _entry(source_key, seq, prev, event, clock)
            entries.append(entry)
            values.append({c: getattr(entry, c) for c in _COLUMNS})
            prev = entry.hash
        heads[chain] = (seq, prev)  # a chain named twice goes on from its first batch
        out.append(entries)
    # one multi-row INSERT, not the unit of work's bookkeeping per object (most of a
    # capture's commit); executed now, so the next append in this transaction sees them.
    # The entries returned are the values inserted, not objects of the session. On the
    # table, not the entity: the ORM's bulk-insert preparation cost more than the insert.
    if values:
        session.execute(insert(_ENTRIES), values)
    return out


_COLUMNS = (
    "run_id",
    "job_id",
    "canonical_url",
    "chain",
    "seq",
    "event",
    "data",
    "sealed",
    "prev_hash",
    "hash",
)


def _entry(source_key: ChainKey, seq: int, prev: str, event: Event, clock: Clock) -> CustodyEntry:
    chain = source_key.chain
    sealed_record = None
    if event.sealed is not None:
        # the salt keeps a guessable value (an IP) from being confirmed by its hash
        sealed_record = {**event.sealed, "salt": secrets.token_hex(16)}
    body: dict[str, Any] = {
        "format": FORMAT,
        "chain": chain,
        "seq": seq,
        "event": event.name,
        "at": clock().astimezone(dt.UTC).isoformat(),
        "run_id": source_key.run_id,
        "job_id": source_key.job_id,
        "url": source_key.canonical_url,
        "data": event.data,
        "sealed_sha256": sealed_hash(sealed_record) if sealed_record is not None else None,
        "prev_hash": prev,
    }
    # a JSON round trip now, so the stored body hashes exactly as it will when read back
    body = json.loads(canonical_json(body))
    return CustodyEntry(
        run_id=source_key.run_id,
        job_id=source_key.job_id,
        canonical_url=source_key.canonical_url,
        chain=chain,
        seq=seq,
        event=event.name,
        data=body,
        sealed=sealed_record,
        prev_hash=prev,
        hash=entry_hash(body),
    )


# -- checking a chain --------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    """The first entry of a chain that does not check, and why."""

    chain: str
    seq: int | None
    url: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.chain} entry {self.seq}" if self.seq is not None else self.chain
        return f"custody log {where} ({self.url or 'run-level'}): {self.reason}"


def verify_chain(entries: Sequence[dict[str, Any]]) -> ChainBreak | None:
    """Check one chain's entries (public bodies with their `hash`), in seq order.

    Returns the first bad entry or None. Checks: seq runs 1, 2, 3…; each hash is the
    sha256 of the canonical body; each prev_hash is the previous entry's hash.
    """
    prev = GENESIS
    for expected_seq, raw in enumerate(entries, start=1):
        body = {k: v for k, v in raw.items() if k != "hash"}
        chain = str(body.get("chain", "?"))
        seq = body.get("seq")
        url = body.get("url")

        def brk(reason: str, chain: str = chain, seq: Any = seq, url: Any = url) -> ChainBreak:
            return ChainBreak(chain, seq if isinstance(seq, int) else None, url, reason)

        if seq != expected_seq:
            return brk(f"sequence number {seq!r} where {expected_seq} was expected (gap or insert)")
        if body.get("prev_hash") != prev:
            return brk("prev_hash does not match the previous entry's hash (chain broken)")
        actual = entry_hash(body)
        if raw.get("hash") != actual:
            return brk(
                f"content changed: hash {actual[:16]}… != recorded {str(raw.get('hash'))[:16]}…"
            )
        prev = actual
    return None


def run_entries(session: Session, run_id: str) -> dict[str, list[CustodyEntry]]:
    """Every chain of a run, entries in seq order, keyed by chain name."""
    rows = session.scalars(
        select(CustodyEntry)
        .where(CustodyEntry.run_id == run_id)
        .order_by(CustodyEntry.chain, CustodyEntry.seq)
    )
    chains: dict[str, list[CustodyEntry]] = {}
    for row in rows:
        chains.setdefault(row.chain, []).append(row)
    return chains


def run_heads(session: Session, run_id: str) -> dict[str, tuple[int, str]]:
    """The head of every chain of a run, (last seq, its hash), keyed by chain name: what
    a seal signs. One query; no entry is loaded (a run has several per source)."""
    # a Core query needs no flush: entries go into the table at once (append_chains)
    t = _ENTRIES.c
    last = (
        select(t.chain, func.max(t.seq).label("seq"))
        .where(t.run_id == run_id)
        .group_by(t.chain)
        .subquery()
    )
    rows = session.execute(
        select(t.chain, t.seq, t.hash).join(last, (t.chain == last.c.chain) & (t.seq == last.c.seq))
    )
    return {chain: (seq, digest) for chain, seq, digest in rows}


def public_entry(row: CustodyEntry) -> dict[str, Any]:
    return {**row.data, "hash": row.hash}


def check_rows(rows: Sequence[CustodyEntry]) -> ChainBreak | None:
    """verify_chain, plus: the indexed columns agree with the hashed body, and the sealed
    record still matches its commitment (internal check, database only)."""
    brk = verify_chain([public_entry(r) for r in rows])
    if brk is not None:
        return brk
    for row in rows:
        body = row.data
        for column, key in (("chain", "chain"), ("seq", "seq"), ("event", "event")):
            if getattr(row, column) != body.get(key):
                return ChainBreak(row.chain, row.seq, row.canonical_url, f"column {column} edited")
        if row.prev_hash != body.get("prev_hash"):
            return ChainBreak(row.chain, row.seq, row.canonical_url, "column prev_hash edited")
        want = body.get("sealed_sha256")
        if (row.sealed is None) != (want is None) or (
            row.sealed is not None and sealed_hash(row.sealed) != want
        ):
            return ChainBreak(
                row.chain, row.seq, row.canonical_url, "sealed record does not match its hash"
            )
    return None


# -- keys and seals ----------------------------------------------------------------------
