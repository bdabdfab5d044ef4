"""Users, passwords, API tokens and signed session cookies for the web app.

Two roles: `auditor` reads, `editor` reads and queues. Users live in a small JSON file
(`sourcevault users add`); passwords are hashed with scrypt, API tokens are stored only
as their SHA-256. Sessions are a signed cookie (HMAC-SHA256 over a small JSON payload)
carrying a random session id; the only session state the app keeps is the ids of
sessions ended by a logout (RevokedSessions). The key sits in the data dir, created on
first use.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)

# scrypt cost: ~50 ms and 16 MiB per hash, the interactive-login figures from RFC 7914.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
TOKEN_PREFIX = "svt_"


class Role(StrEnum):
    AUDITOR = "auditor"
    EDITOR = "editor"

    def allows(self, needed: Role) -> bool:
        """An editor may do everything an auditor may."""
        return self is Role.EDITOR or needed is Role.AUDITOR


@dataclass(frozen=True)
class User:
    name: str
    role: Role


class AuthError(ValueError):
    """A user or token operation cannot be done; the message says why."""


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    """What an unknown user's password is checked against: same cost as a real one."""
    return hash_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """The users file: `{"users": {name: {"role", "password", "tokens": [sha256…]}}}`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        users = data.get("users", {})
        if not isinstance(users, dict):
            raise AuthError(f"{self.path}: 'users' must be an object")
        return users

    def _save(self, users: dict[str, dict[str, object]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"users": users}, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)

    def add(self, name: str, role: Role, password: str | None) -> User:
        """Create or update a user; a None password keeps the old one (or allows tokens only)."""
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise AuthError(f"bad user name {name!r}: letters, digits, '-', '_' and '.' only")
        with self._lock:
            users = self._load()
            entry = users.get(name, {"tokens": []})
            entry["role"] = role.value
            if password is not None:
                if len(password) < 8:
                    raise AuthError("passwords need at least 8 characters")
                entry["password"] = hash_password(password)
            users[name] = entry
            self._save(users)
        return User(name, role)

    def issue_token(self, name: str) -> str:
        """A new API token for `name`; only its hash is kept, so show it once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            users = self._load()
            if name not in users:
                raise AuthError(f"no user {name!r}: add it first")
            tokens = users[name].setdefault("tokens", [])
            assert isinstance(tokens, list)
            tokens.append(_token_hash(token))
            self._save(users)
        return token

    def list(self) -> list[User]:
        return [User(n, Role(str(e["role"]))) for n, e in sorted(self._load().items())]

    def check_password(self, name: str, password: str) -> User | None:
        """One scrypt whether or not `name` exists (unknown names are checked against a
        dummy hash made once), so the answer's timing does not tell names apart. Blocking
        (~50 ms of scrypt, which releases the GIL): the app calls it in a thread."""
        entry = self._load().get(name)
        stored = entry.get("password") if entry else None
        if entry is None or not isinstance(stored, str):
            verify_password(password, _dummy_hash())
            return None
        if not verify_password(password, stored):
            return None
        return User(name, Role(str(entry["role"])))

    def check_token(self, token: str) -> User | None:
        wanted = _token_hash(token)
        for name, entry in self._load().items():
            tokens = entry.get("tokens", [])
            assert isinstance(tokens, list)
            if any(hmac.compare_digest(wanted, t) for t in tokens):
                return User(name, Role(str(entry["role"])))
        return None

    def get(self, name: str) -> User | None:
        entry = self._load().get(name)
        return User(name, Role(str(entry["role"]))) if entry else None


def load_secret(path: Path) -> bytes:
    """The session signing key, created (0600) on first use."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        log.info("created the web session key %s", path)
        return key


@dataclass(frozen=True)
class Session:
    """A valid session cookie's content: who, which session, until when (unix time)."""

    user: str
    sid: str
    exp: float


class RevokedSessions:
    """Session ids ended by a logout, each kept until its cookie would have expired.

    A small JSON file (`{sid: exp}`) so every web process sees a logout; with no path,
    in memory only (one process). Re-read only when the file changes.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ids: dict[str, float] = {}
        self._stamp: tuple[int, int] | None = None

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._ids, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text("utf-8"))
                ids = {str(k): float(v) for k, v in data.items()}
            except (ValueError, TypeError, AttributeError):
                log.error("%s is unreadable: no session is refused by it", self.path)
                ids = {}
            self._ids, self._stamp = ids, stamp

    def add(self, sid: str, exp: float, *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            self._refresh()
            ids = {k: v for k, v in self._ids.items() if v > now}  # expired ones: gone
            ids[sid] = exp
            self._ids = ids
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(ids), encoding="utf-8")
                os.chmod(tmp, 0o600)
                tmp.replace(self.path)
                self._stamp = None  # re-read: another process may write next

    def __contains__(self, sid: object) -> bool:
        with self._lock:
            self._refresh()
            return sid in self._ids


class SessionCodec:
    """Signs and checks `{"u": user, "sid": session id, "exp": unix time}` session cookies.

    The signature makes a cookie unforgeable; the session id makes it revocable: a
    logout adds it to `revoked`, and a revoked cookie is refused from then on. The id
    also binds the session's CSRF token (`csrf_token`), so the token is never a value a
    browser could be handed by another page: it is derived from the server key.
    """

    def __init__(
        self, secret: bytes, *, max_age: float, revoked: RevokedSessions | None = None
    ) -> None:
        self.secret = secret
        self.max_age = max_age
        self.revoked = revoked if revoked is not None else RevokedSessions(None)

    def _sign(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    def encode(self, user: str, *, now: float | None = None) -> str:
        payload = {
            "u": user,
            "sid": secrets.token_urlsafe(18),
            "exp": int((now or time.time()) + self.max_age),
        }
        body = base64.urlsafe_b64encode(json.dumps(payload).encode())
        return f"{body.decode()}.{self._sign(body)}"

    def session(self, cookie: str, *, now: float | None = None) -> Session | None:
        """The session, or None for a forged, malformed, expired or logged-out cookie."""
        body, _, sig = cookie.partition(".")
        if not hmac.compare_digest(self._sign(body.encode()), sig):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body))
            found = Session(str(payload["u"]), str(payload["sid"]), float(payload["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        if found.exp <= (now or time.time()) or found.sid in self.revoked:
            return None
        return found

    def decode(self, cookie: str, *, now: float | None = None) -> str | None:
        """The user name, or None for a forged, malformed, expired or logged-out cookie."""
        found = self.session(cookie, now=now)
        return found.user if found else None

    def revoke(self, cookie: str, *, now: float | None = None) -> bool:
        """End the cookie's session (logout): refused from now on. False if it was not valid."""
        found = self.session(cookie, now=now)
        if found is None:
            return False
        self.revoked.add(found.sid, found.exp, now=now)
        return True

    def csrf_token(self, purpose: str, binding: str) -> str:
        """The CSRF token bound to a session id (`purpose="session"`) or to a pre-session
        cookie's value (`"pre"`, the login form): an HMAC with the server key."""
        msg = f"sourcevault-csrf\0{purpose}\0{binding}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()
