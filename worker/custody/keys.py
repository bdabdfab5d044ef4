"""The data dir's keys: the custody seal's Ed25519 key, the WACZ signing key (ECDSA
P-384), and the instance secret behind the host pseudonym; each 0600, made on first use."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "host_pseudonym",
    "key_fingerprint",
    "load_or_create_key",
    "load_or_create_wacz_key",
    "public_key_pem",
]

KEY_FILE = Path("keys") / "custody_ed25519"
WACZ_KEY_FILE = Path("keys") / "wacz_ecdsa_p384"


log = logging.getLogger(__name__)


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
