"""Login profiles: per-domain cookies from a browser's export (Netscape cookies.txt).

`<cookie_profiles>/<domain>.txt` serves that domain and its subdomains (the most
specific file wins: www.facebook.com.txt before facebook.com.txt). Cookies past their
expiry are dropped when loaded; if the site still shows its login page, the session is
gone: `expired_problem` says so (`profile_expired`), naming the file, never a value.
Cookie values never reach a log, and archive.records redacts the `Cookie` request header
in WARC request records.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, LoadError, MozillaCookieJar
from pathlib import Path
from urllib.parse import urlsplit

from schemas import Evidence, Problem, ProblemCode, SourceStatus

log = logging.getLogger(__name__)


class ProfileError(ValueError):
    """A profile file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Profile:
    domain: str
    path: Path
    jar: CookieJar
    cookies: int  # usable (unexpired) cookies
    expired: int  # dropped because past their expiry
    latest_expiry: dt.datetime | None


def profile_path(profiles_dir: Path, host: str) -> Path | None:
    """The most specific `<domain>.txt` for `host` (the host itself, then its parents)."""
    labels = host.lower().rstrip(".").split(".")
    for i in range(len(labels) - 1):
        candidate = profiles_dir / (".".join(labels[i:]) + ".txt")
        if candidate.is_file():
            return candidate
    return None


def load_profile(path: Path, *, now: float | None = None) -> Profile:
    jar = MozillaCookieJar(str(path))
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except (LoadError, OSError) as exc:
        raise ProfileError(f"login profile {path}: not a Netscape cookies.txt ({exc})") from exc
    now = time.time() if now is None else now
    usable = MozillaCookieJar()
    expired = 0
    latest: int | None = None
    for cookie in jar:
        if cookie.expires is not None:
            latest = max(latest or 0, cookie.expires)
        if cookie.is_expired(int(now)):
            expired += 1
        else:
            usable.set_cookie(cookie)
    return Profile(
        domain=path.stem,
        path=path,
        jar=usable,
        cookies=len(usable),
        expired=expired,
        latest_expiry=dt.datetime.fromtimestamp(latest, dt.UTC) if latest else None,
    )


def profile_for(profiles_dir: Path | None, url: str, *, now: float | None = None) -> Profile | None:
    if profiles_dir is None:
        return None
    host = urlsplit(url).hostname or ""
    path = profile_path(profiles_dir, host) if host else None
    if path is None:
        return None
    profile = load_profile(path, now=now)
    log.info(
        "login profile %s for %s: %d cookies (%d expired)",
        path.name,
        host,
        profile.cookies,
        profile.expired,
    )
    return profile


def expired_problem(profile: Profile | None, evidence: Evidence) -> Problem | None:
    """`profile_expired` when we logged in with a profile and still met the login page."""
    if profile is None or evidence.status is not SourceStatus.LOGIN_WALL:
        return None
    if profile.cookies == 0 and profile.expired:
        when = profile.latest_expiry.date().isoformat() if profile.latest_expiry else "?"
        why = f"every cookie of it expired (the last on {when})"
    else:
        why = "the site no longer accepts its session"
    return Problem(
        code=ProblemCode.PROFILE_EXPIRED,
        message=(
            f"login profile {profile.path.name} was used but the login page came back: {why}; "
            "export fresh cookies from a logged-in browser"
        ),
        url=evidence.final_url,
    )
