"""Who is asking, and may they: session cookie or Bearer token → User; role checks; CSRF.

HTML and API routes share these dependencies; the exception handlers in app.py turn
`NeedLogin`/`Forbidden` into a redirect to /login (pages) or 401/403 JSON (API).

CSRF, for every cookie-borne state-changing request (a Bearer token is never sent by a
browser on its own, so token requests are exempt):
- the request must not be cross-site: a `Sec-Fetch-Site` other than same-origin (or
  none), or an `Origin` other than this app's own (or one of `WebConfig.origins`), is
  refused (`cross_site`; app.py applies it to every POST, before any route);
- it must carry the CSRF token of its session: an HMAC with the server key of the
  session id inside the signed session cookie, or, before login, of the pre-session
  cookie's random value. The token is never read back from a cookie, so a page that
  can plant cookies for this host name (cookies ignore ports) cannot forge it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import FormData

from archive.web.auth import Role, Session, SessionCodec, User, UserStore
from archive.web.config import WebConfig

SESSION_COOKIE = "sv_session"
# A random value naming the browser before it logs in: binds the login form's token.
PRESESSION_COOKIE = "sv_presession"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class NeedLogin(Exception):
    """No valid credentials: 401 for the API, a redirect to /login for pages."""

    def __init__(self, reason: str = "log in or send an API token") -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """Valid credentials, wrong role or a failed CSRF check: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Access:
    users: UserStore
    codec: SessionCodec
    config: WebConfig


def access(request: Request) -> Access:
    found: Access = request.app.state.access
    return found


def authenticate(request: Request) -> User | None:
    """The user a request speaks for; an Authorization header that is bad is an error."""
    acc = access(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NeedLogin("the Authorization header must be 'Bearer <token>'")
        user = acc.users.check_token(token.strip())
        if user is None:
            raise NeedLogin("unknown or revoked API token")
        request.state.via_token = True
        return user
    found = session(request)
    return acc.users.get(found.user) if found else None


def session(request: Request) -> Session | None:
    """The request's valid (signed, unexpired, not logged-out) session, if any."""
    cookie = request.cookies.get(SESSION_COOKIE)
    return access(request).codec.session(cookie) if cookie else None


def _presession(request: Request) -> str | None:
    value = request.cookies.get(PRESESSION_COOKIE) or getattr(request.state, "new_presession", None)
    return value if value and len(value) <= 64 else None


def _expected_csrf(request: Request) -> str | None:
    codec = access(request).codec
    found = session(request)
    if found is not None:
        return codec.csrf_token("session", found.sid)
    pre = _presession(request)
    return codec.csrf_token("pre", pre) if pre else None


def csrf_token(request: Request) -> str:
    """The CSRF token forms on this page carry: bound to the session, or before login to a
    new pre-session cookie (the security middleware sets it on the response)."""
    token = _expected_csrf(request)
    if token is None:
        request.state.new_presession = secrets.token_urlsafe(24)
        token = _expected_csrf(request)
        assert token is not None
    return token


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None]:
    parts = urlsplit(f"//{netloc}")
    try:
        port = parts.port
    except ValueError:
        return netloc.lower(), None
    default = {"http": 80, "https": 443}.get(scheme)
    return (parts.hostname or "").lower(), port or default


def cross_site(
    method: str, headers: Mapping[str, str], *, allowed_origins: Sequence[str] = ()
) -> str | None:
    """Why a state-changing request is refused as cross-site, or None if it is not.

    `Sec-Fetch-Site` (set by every current browser) must be `same-origin` or `none`;
    an `Origin` must be this app's own (the `Host` it was sent to) or a configured one.
    A request with neither header (not a browser, or a very old one) passes here: the
    CSRF token still has to match.
    """
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return None
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        return f"a {fetch_site} request"
    origin = headers.get("origin")
    if origin is None:
        return None
    origin = origin.strip().rstrip("/")
    if origin in allowed_origins:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"a request from origin {origin!r}"
    host = headers.get("host", "")
    if _host_port(parts.netloc, parts.scheme) != _host_port(host, parts.scheme):
        return f"a request from {origin}"
    return None


async def read_form(request: Request) -> FormData:
    """The posted form, parsed once, with the upload cap as the part limit."""
    form = getattr(request.state, "form", None)
    if form is None:
        cap = access(request).config.max_upload_bytes
        # a part may pass the cap here: the handler then answers 413 with the sizes
        form = await request.form(max_files=2, max_fields=20, max_part_size=2 * cap + 1024)
        request.state.form = form
    return form


async def check_csrf(request: Request) -> None:
    """Cookie-borne POSTs come from this site and carry their session's CSRF token (a form
    field or the X-CSRF-Token header)."""
    if getattr(request.state, "via_token", False):
        return  # a Bearer token is not sent by browsers on their own
    origins = access(request).config.origins
    if cross_site(request.method, request.headers, allowed_origins=origins) is not None:
        raise Forbidden("the form was not sent from this site")
    expected = _expected_csrf(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        value = (await read_form(request)).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise Forbidden("the form is stale or was not sent from this site: reload and retry")


def require(role: Role) -> Callable[[Request], Awaitable[User]]:
    """A dependency: the caller must be logged in with `role` (editors may read)."""

    async def dependency(request: Request) -> User:
        user = authenticate(request)
        if user is None:
            raise NeedLogin()
        if not user.role.allows(role):
            raise Forbidden(f"{user.name} is an {user.role}: this needs the {role} role")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            await check_csrf(request)
        request.state.user = user
        return user

    return dependency


require_auditor = require(Role.AUDITOR)
require_editor = require(Role.EDITOR)
