"""Who is asking, and may they: session cookie or Bearer token → User; role checks; CSRF.

HTML and API routes share these dependencies; the exception handlers in app.py turn
`NeedLogin`/`Forbidden` into a redirect to /login (pages) or 401/403 JSON (API).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import FormData

from archive.web.auth import Role, SessionCodec, User, UserStore
from archive.web.config import WebConfig

SESSION_COOKIE = "sv_session"
CSRF_COOKIE = "sv_csrf"
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
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    name = acc.codec.decode(cookie)
    return acc.users.get(name) if name else None


def csrf_token(request: Request) -> str:
    """The double-submit token: the CSRF cookie's value (a new one if the browser has none;
    the security middleware then sets the cookie on the response)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if token is None:
        token = request.state.new_csrf = secrets.token_urlsafe(24)
    return str(token)


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
    """Cookie-borne POSTs carry the CSRF cookie's value in a form field or header."""
    if getattr(request.state, "via_token", False):
        return  # a Bearer token is not sent by browsers on their own
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        value = (await read_form(request)).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
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
