"""The web app: editors queue digests, auditors read reports (FastAPI + Jinja2, no CDN).

`create_app(settings)` builds it; `sourcevault serve` runs it under uvicorn. Archived
pages are never served from this origin, nor from this site: citation links redirect to
replay on its own host (archive.replay). Every cookie-borne POST must come from this
origin (`access.cross_site`, checked here before any route) and carry its session's
CSRF token (`access.check_csrf`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive.web import api, pages
from archive.web.access import PRESESSION_COOKIE, Access, Forbidden, NeedLogin, cross_site
from archive.web.auth import RevokedSessions, SessionCodec, UserStore, load_secret
from archive.web.config import WebConfig
from archive.web.service import Service
from worker.settings import Settings

log = logging.getLogger(__name__)

# No inline scripts or styles on our own pages; the report page sets its own policy.
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# A multipart form wraps the file in a little more than the file itself.
FORM_OVERHEAD = 64 * 1024


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


class BodyLimit:
    """413 before reading a body larger than the upload cap (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        if declared is None:  # chunked: read it here, within the limit, then replay it
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.limit:
                    await self._too_large(scope, receive, send)
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit - FORM_OVERHEAD
        message = (
            f"the upload is larger than the limit of {limit:,} bytes ({limit // 1024 // 1024} MiB)"
        )
        if scope["path"].startswith("/api/"):
            response: Response = JSONResponse(
                {"detail": message}, status.HTTP_413_CONTENT_TOO_LARGE
            )
        else:
            response = Response(
                f"<!doctype html><title>Too large</title><h1>Upload too large</h1><p>{message}.</p>"
                '<p><a href="/digests/new">Back</a></p>',
                status.HTTP_413_CONTENT_TOO_LARGE,
                media_type="text/html",
            )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def create_app(
    settings: Settings, config: WebConfig | None = None, *, service: Service | None = None
) -> FastAPI:
    config = config or WebConfig()
    web_dir = settings.data_dir / "web"
    users = UserStore(config.users_file or web_dir / "users.json")
    codec = SessionCodec(
        load_secret(config.secret_file or web_dir / "secret.key"),
        max_age=config.session_hours * 3600,
        revoked=RevokedSessions(web_dir / "revoked-sessions.json"),
    )
    app = FastAPI(
        title="sourcevault",
        version="0.1.0",
        description=(
            "Queue a digest's footnote sources for archiving and verification, follow "
            "progress, read the reports. Authenticate with `Authorization: Bearer <token>` "
            "(`sourcevault users token NAME`); `editor` tokens may queue, `auditor` tokens read."
        ),
        docs_url=None,  # the Swagger UI loads from a CDN; /openapi.json is the description
        redoc_url=None,
    )
    app.state.service = service or Service(settings)
    app.state.access = Access(users=users, codec=codec, config=config)
    app.state.settings = settings
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        # A Bearer token is never sent by a browser on its own: only cookie-borne
        # requests can be forged from another site.
        refused = None
        if "authorization" not in request.headers:
            refused = cross_site(request.method, request.headers, allowed_origins=config.origins)
        if refused is not None:
            log.warning("refused %s %s: %s", request.method, request.url.path, refused)
            reason = f"refused: {refused}; forms are only accepted from this site"
            response: Response = (
                JSONResponse({"detail": reason}, status.HTTP_403_FORBIDDEN)
                if _wants_json(request)
                else pages.page(request, "message.html", 403, title="Not allowed", message=reason)
            )
        else:
            response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        new_presession = getattr(request.state, "new_presession", None)
        if new_presession and PRESESSION_COOKIE not in request.cookies:
            response.set_cookie(
                PRESESSION_COOKIE,
                new_presession,
                httponly=True,
                samesite="strict",
                secure=config.secure_cookies,
            )
        return response

    app.add_middleware(BodyLimit, limit=config.max_upload_bytes + FORM_OVERHEAD)

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.reason},
                status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status.HTTP_303_SEE_OTHER)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.reason}, status.HTTP_403_FORBIDDEN)
        return pages.page(request, "message.html", 403, title="Not allowed", message=exc.reason)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _wants_json(request) or not isinstance(exc.detail, str):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        return pages.page(
            request, "message.html", exc.status_code, title="Error", message=exc.detail
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # Logged with its traceback here; the client gets a message, never the trace.
        log.exception("%s %s failed", request.method, request.url.path)
        message = "internal error: it has been logged; please retry or tell the administrator"
        if _wants_json(request):
            return JSONResponse({"detail": message}, status.HTTP_500_INTERNAL_SERVER_ERROR)
        return Response(message, status.HTTP_500_INTERNAL_SERVER_ERROR, media_type="text/plain")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
