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

import base64
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import platform
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.store.models import CaptureJob, CustodyEntry, CustodySeal, CustodyTimestamp

__all__ = [
    "EVENTS",
    "GENESIS",
    "KEY_FILE",
    "WACZ_KEY_FILE",
    "ChainBreak",
    "ChainKey",
    "CustodyExport",
    "Event",
    "SealCheck",
    "append",
    "append_many",
    "canonical_json",
    "check_seal",
    "entry_hash",
    "export_custody",
    "job_key",
    "load_or_create_key",
    "load_or_create_wacz_key",
    "public_key_pem",
    "run_entries",
    "run_key",
    "sealed_hash",
    "sign_head",
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
KEY_FILE = Path("keys") / "custody_ed25519"
WACZ_KEY_FILE = Path("keys") / "wacz_ecdsa_p384"
FORMAT = "sourcevault-custody/1"

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
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


def job_key(job: CaptureJob) -> ChainKey:
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
    clock: Clock = _utcnow,
    sealed: dict[str, Any] | None = None,
) -> CustodyEntry:
    """Add one entry to the chain, in the caller's transaction (no commit here)."""
    return append_many(session, source_key, [Event(event, data, sealed)], clock=clock)[-1]


def append_many(
    session: Session, source_key: ChainKey, events: Sequence[Event], *, clock: Clock = _utcnow
) -> list[CustodyEntry]:
    """Add entries to the chain in order, in the caller's transaction (no commit here).

    The caller commits them together with the work they record, so a crash leaves no
    entry for uncommitted work. Two writers racing on one chain collide on the unique
    (chain, seq) constraint instead of forking it. One query for the chain's head and
    one flush for all of them (a capture appends four).
    """
    for event in events:
        if event.name not in EVENTS:
            raise ValueError(f"unknown custody event {event.name!r} (one of {sorted(EVENTS)})")
    chain = source_key.chain
    last = session.scalar(
        select(CustodyEntry)
        .where(CustodyEntry.chain == chain)
        .order_by(CustodyEntry.seq.desc())
        .limit(1)
    )
    seq = 0 if last is None else last.seq
    prev = GENESIS if last is None else last.hash
    entries = []
    for event in events:
        seq += 1
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
        entry = CustodyEntry(
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
        session.add(entry)
        entries.append(entry)
        prev = entry.hash
    session.flush()  # the next append in this transaction must see these
    return entries


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


def load_or_create_key(data_dir: Path) -> Ed25519PrivateKey:
    """The data dir's signing key (`keys/custody_ed25519`, 0600), made on first use.

    Creation is race-free across processes: each writes its own temp file and links it
    into place; the loser of the race reads the winner's key.
    """
    path = data_dir / KEY_FILE
    if not path.exists():
        _create_key_file(path, Ed25519PrivateKey.generate(), "custody signing key")
    loaded = _load_key_file(path)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return loaded


def load_or_create_wacz_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The data dir's WACZ signing key (`keys/wacz_ecdsa_p384`, 0600), made on first use.

    ECDSA on P-384: the WACZ signing spec's anonymous mode wants an ECDSA key, and
    ReplayWeb.page (wabac.js) imports anonymous public keys as P-384 only. The custody
    seal keeps its own Ed25519 key (`load_or_create_key`); this one signs packages.
    """
    path = data_dir / WACZ_KEY_FILE
    if not path.exists():
        _create_key_file(path, ec.generate_private_key(ec.SECP384R1()), "WACZ signing key")
    loaded = _load_key_file(path)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp384r1":
        raise ValueError(f"{path}: not an ECDSA P-384 private key")
    return loaded


def _create_key_file(
    path: Path, key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey, what: str
) -> None:
    """Link a new 0600 PKCS#8 key into place (a concurrent winner's key is kept), with
    its public key beside it (`.pub.pem`)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        log.info("created %s %s", what, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    pub = path.with_suffix(".pub.pem")
    if not pub.exists():
        winner = _load_key_file(path)
        pub.write_bytes(
            winner.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def _load_key_file(path: Path) -> Any:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{path}: signing key is readable by others (mode {mode:o})")
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign_head(
    session: Session, run_id: str, key: Ed25519PrivateKey, *, clock: Clock = _utcnow
) -> CustodySeal:
    """Sign the heads (last seq and hash) of every chain of the run; no commit here."""
    heads = {
        chain: {"seq": rows[-1].seq, "hash": rows[-1].hash}
        for chain, rows in run_entries(session, run_id).items()
    }
    body = {
        "format": FORMAT,
        "run_id": run_id,
        "at": clock().astimezone(dt.UTC).isoformat(),
        "heads": heads,
        "public_key_sha256": key_fingerprint(key.public_key()),
    }
    body = json.loads(canonical_json(body))
    signed = canonical_json(body)
    seal = CustodySeal(
        run_id=run_id,
        heads=body,
        digest=hashlib.sha256(signed).hexdigest(),
        signature=base64.b64encode(key.sign(signed)).decode("ascii"),
        public_key=public_key_pem(key.public_key()).decode("ascii"),
    )
    session.add(seal)
    session.flush()
    return seal


@dataclass(frozen=True)
class SealCheck:
    ok: bool
    reason: str
    unsealed: int = 0  # entries appended after the seal (not covered by any signature)
    url: str | None = None  # the source whose chain does not match its signed head


def check_seal(
    body: dict[str, Any],
    signature_b64: str,
    public_pem: bytes,
    chains: dict[str, list[dict[str, Any]]],
) -> SealCheck:
    """Signature over the canonical seal body, then every signed head against the chains."""
    try:
        pub = serialization.load_pem_public_key(public_pem)
    except ValueError as exc:
        return SealCheck(False, f"public key unreadable: {exc}")
    if not isinstance(pub, Ed25519PublicKey):
        return SealCheck(False, "public key is not Ed25519")
    if body.get("public_key_sha256") != key_fingerprint(pub):
        return SealCheck(False, "seal was made with a different key than the one given")
    try:
        pub.verify(base64.b64decode(signature_b64), canonical_json(body))
    except (InvalidSignature, ValueError):
        return SealCheck(
            False, "Ed25519 signature does not verify (seal body or signature changed)"
        )
    heads = body.get("heads") or {}
    unsealed = 0
    for chain, head in sorted(heads.items()):
        entries = chains.get(chain, [])
        seq = int(head["seq"])
        url = entries[0].get("url") if entries else None
        if len(entries) < seq:
            why = f"{chain}: signed head is entry {seq}, the log has {len(entries)} (cut short)"
            return SealCheck(False, why, url=url)
        if entries[seq - 1].get("hash") != head["hash"]:
            why = f"{chain}: entry {seq} differs from the signed head (the chain was rewritten)"
            return SealCheck(False, why, url=url)
        unsealed += len(entries) - seq
    unsealed += sum(len(v) for k, v in chains.items() if k not in heads)
    return SealCheck(True, "signature and heads match", unsealed)


def latest_seal(session: Session, run_id: str) -> CustodySeal | None:
    return session.scalar(
        select(CustodySeal)
        .where(CustodySeal.run_id == run_id)
        .order_by(CustodySeal.id.desc())
        .limit(1)
    )


# -- export ------------------------------------------------------------------------------


class CustodyExport(NamedTuple):
    """What a WACZ carries under `custody/`: see `files()`."""

    jsonl: bytes  # custody/log.jsonl: one public entry per line, chains in order
    signature: bytes  # custody/seal.json: the signed seal body, signature, timestamp tokens
    public_key_pem: bytes  # custody/public_key.pem

    def files(self) -> dict[str, bytes]:
        return {
            "custody/log.jsonl": self.jsonl,
            "custody/seal.json": self.signature,
            "custody/public_key.pem": self.public_key_pem,
        }


def export_custody(
    session: Session,
    run_id: str,
    *,
    key: Ed25519PrivateKey,
    clock: Clock = _utcnow,
    export_name: str | None = None,
) -> CustodyExport:
    """Record `exported` on every chain of the run, seal, commit, and return the files.

    Only public bodies leave: the sealed records stay in the database.
    """
    for chain, rows in run_entries(session, run_id).items():
        first = rows[0]
        source_key = ChainKey(run_id, first.job_id, first.canonical_url)
        append(session, source_key, "exported", {"export": export_name}, clock=clock)
        log.debug("custody: exported %s", chain)
    seal = sign_head(session, run_id, key, clock=clock)
    session.commit()
    lines = [
        canonical_json(public_entry(row))
        for rows in run_entries(session, run_id).values()
        for row in rows
    ]
    timestamps = session.scalars(
        select(CustodyTimestamp)
        .where(CustodyTimestamp.run_id == run_id)
        .order_by(CustodyTimestamp.id)
    )
    seal_doc = {
        "seal": seal.heads,
        "digest": seal.digest,
        "signature": seal.signature,
        "timestamps": [
            {
                "subject": t.subject,
                "sha256": t.sha256,
                "tsa_url": t.tsa_url,
                "token_b64": base64.b64encode(t.token).decode("ascii"),
            }
            for t in timestamps
        ],
    }
    return CustodyExport(
        b"".join(line + b"\n" for line in lines),
        json.dumps(seal_doc, indent=1, ensure_ascii=False).encode("utf-8"),
        seal.public_key.encode("ascii"),
    )


def parse_jsonl(data: bytes) -> dict[str, list[dict[str, Any]]]:
    """custody/log.jsonl → chains (entries in file order; verify_chain checks the order)."""
    chains: dict[str, list[dict[str, Any]]] = {}
    for n, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"custody/log.jsonl line {n}: not JSON ({exc})") from exc
        chains.setdefault(str(entry.get("chain")), []).append(entry)
    return chains


def iter_public(rows: Iterable[CustodyEntry]) -> list[dict[str, Any]]:
    return [public_entry(r) for r in rows]


def host_pseudonym(data_dir: Path) -> str:
    """A stable name for this machine that does not reveal its hostname.

    Keyed with a random secret kept in the data dir, so nobody can confirm a guessed
    hostname from it; distinct per host, so WARC file names from several machines sharing
    one data dir still do not collide. The sealed custody records keep the real hostname.
    """
    path = data_dir / "keys" / "instance_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode("ascii"))
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    secret = path.read_bytes().strip()
    return "h" + hashlib.sha256(secret + socket.gethostname().encode()).hexdigest()[:10]
