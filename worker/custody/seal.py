"""Sealing a run's custody chains (a signed statement of every chain's head), checking a
seal, and the custody export an auditor receives (log.jsonl, seal.json, public key)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.custody.keys import key_fingerprint, public_key_pem
from worker.custody.log import (
    FORMAT,
    ChainKey,
    Clock,
    append,
    canonical_json,
    public_entry,
    run_entries,
    run_heads,
    utcnow,
)
from worker.store.models import CustodyEntry, CustodySeal, CustodyTimestamp

__all__ = [
    "CustodyExport",
    "SealCheck",
    "check_seal",
    "export_custody",
    "iter_public",
    "latest_seal",
    "parse_jsonl",
    "sign_head",
]

log = logging.getLogger(__name__)


def sign_head(
    session: Session, run_id: str, key: Ed25519PrivateKey, *, clock: Clock = utcnow
) -> CustodySeal:
    """Sign the heads (last seq and hash) of every chain of the run; no commit here."""
    heads = {
        chain: {"seq": seq, "hash": digest}
        for chain, (seq, digest) in sorted(run_heads(session, run_id).items())
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
    clock: Clock = utcnow,
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
