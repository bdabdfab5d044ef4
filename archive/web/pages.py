"""Server-rendered pages: log in, paste or upload, preview, queue, progress, reports, citations.

Everything works without JavaScript: progress refreshes with `<meta http-equiv=refresh>`,
filters are GET forms, and uploads are plain multipart forms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from archive.web.access import (
    SESSION_COOKIE,
    access,
    authenticate,
    check_csrf,
    csrf_token,
    read_form,
    require_auditor,
    require_editor,
)
from archive.web.auth import User
from archive.web.login_throttle import LoginThrottle
from archive.web.render import REPORT_CSP, STATUS_COLOURS, install_link_checks, render_html
from archive.web.service import NotFound, QueueUnavailable, Service
from archive.web.uploads import ACCEPTED, UploadError, UploadTooLarge
from schemas import Report, Verdict
from worker.digest.parse import MAX_YEAR, MIN_YEAR

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["colours"] = STATUS_COLOURS
install_link_checks(templates.env)

Auditor = Annotated[User, Depends(require_auditor)]
Editor = Annotated[User, Depends(require_editor)]
VERDICTS = [v.value for v in Verdict]


def _svc(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


Svc = Annotated[Service, Depends(_svc)]


def page(
    request: Request, template: str, status_code: int = 200, /, **context: Any
) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    if user is None and "user" not in context:
        try:
            user = authenticate(request)
        except Exception:  # a bad header on a public page is not this page's problem
            user = None
    context.setdefault("user", user)
    return templates.TemplateResponse(
        request,
        template,
        {"csrf_token": csrf_token(request), **context},
        status_code=status_code,
    )


def _safe_next(target: str | None) -> str:
    # only local paths: never an open redirect to another site
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# -- login -------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return page(request, "login.html", next=_safe_next(next), error=None, user=None)


def _login_throttle(request: Request) -> LoginThrottle:
    throttle = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


@router.post("/login")
async def login(request: Request) -> Response:
    await check_csrf(request)
    form = await read_form(request)
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    # throttled per user name and per client address before any hashing (login_throttle)
    throttle, address = _login_throttle(request), request.client.host if request.client else ""
    wait = throttle.retry_after(name, address)
    if wait:
        refused = page(
            request,
            "login.html",
            status.HTTP_429_TOO_MANY_REQUESTS,
            next=target,
            error=f"too many failed logins: try again in {wait} s",
            user=None,
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    # scrypt in a thread (it releases the GIL), never on the event loop
    user = await run_in_threadpool(access(request).users.check_password, name, password)
    if user is None:
        throttle.failed(name, address)
        return page(
            request,
            "login.html",
            status.HTTP_401_UNAUTHORIZED,
            next=target,
            error="wrong user name or password",
            user=None,
        )
    throttle.succeeded(name)
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    acc = access(request)
    response.set_cookie(
        SESSION_COOKIE,
        acc.codec.encode(user.name),
        max_age=int(acc.codec.max_age),
        httponly=True,
        samesite="strict",
        secure=acc.config.secure_cookies,
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await check_csrf(request)
    acc = access(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        acc.codec.revoke(cookie)  # refused from now on, wherever the cookie was copied
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=acc.config.secure_cookies
    )
    return response


# -- editors: new digest, preview, queue ---------------------------------------------


@router.get("/digests/new", response_class=HTMLResponse)
def new_digest(request: Request, _user: Editor) -> HTMLResponse:
    return page(request, "new.html", error=None, accepted=ACCEPTED, text="", name="", year="")


@router.post("/digests/preview", response_class=HTMLResponse)
async def preview(request: Request, svc: Svc, _user: Editor) -> HTMLResponse:
    form = await read_form(request)
    cap = access(request).config.max_upload_bytes
    upload = form.get("file")
    pasted = str(form.get("text", "") or "")
    name = str(form.get("name", "") or "").strip()
    year_raw = str(form.get("year", "") or "").strip()
    again = {"accepted": ACCEPTED, "text": pasted, "name": name, "year": year_raw}
    if year_raw and not (year_raw.isdigit() and MIN_YEAR <= int(year_raw) <= MAX_YEAR):
        return page(request, "new.html", 400, error=f"year {year_raw!r} is not a year", **again)
    year = int(year_raw) if year_raw else None
    try:  # read and parsed in the parse process, never on the event loop
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(cap + 1)
            name = name or Path(upload.filename).stem
            text, digest = await svc.read_upload(
                upload.filename, data, max_bytes=cap, name=name or "digest", year=year
            )
        elif pasted.strip():
            if len(pasted.encode()) > cap:
                raise UploadTooLarge(f"the pasted text is larger than the {cap:,}-byte limit")
            text = pasted
            digest = await svc.parse_text(text, name=name or "digest", year=year)
        else:
            raise UploadError("paste a digest or choose a file")
    except UploadTooLarge as exc:
        return page(request, "new.html", 413, error=str(exc), **again)
    except UploadError as exc:
        return page(request, "new.html", 400, error=str(exc), **again)
    return page(
        request, "preview.html", digest=digest, text=text, name=name or "digest", year=year_raw
    )


@router.post("/digests")
async def queue(request: Request, svc: Svc, user: Editor) -> Response:
    form = await read_form(request)
    text = str(form.get("text", "") or "")
    name = str(form.get("name", "") or "digest")
    year_raw = str(form.get("year", "") or "")
    if not text.strip():
        return page(request, "new.html", 400, error="nothing to queue: the digest is empty",
                    accepted=ACCEPTED, text="", name=name, year=year_raw)  # fmt: skip
    year = int(year_raw) if year_raw.isdigit() else None
    if year is not None and not MIN_YEAR <= year <= MAX_YEAR:
        return page(request, "new.html", 400, error=f"year {year_raw!r} is not a year",
                    accepted=ACCEPTED, text=text, name=name, year=year_raw)  # fmt: skip
    try:
        digest = await svc.parse_text(text, name=name, year=year)
    except UploadError as exc:
        return page(request, "message.html", 422, title="Cannot parse", message=str(exc))
    try:
        run_id = svc.queue(digest, source_name=f"{name} (web, {user.name})", editor=user.name)
    except QueueUnavailable as exc:
        return page(request, "message.html", 503, title="Cannot queue", message=str(exc))
    return RedirectResponse(f"/digests/{quote(run_id)}", status.HTTP_303_SEE_OTHER)


@router.post("/digests/{run_id}/rerun")
def rerun(request: Request, run_id: str, svc: Svc, user: Editor) -> Response:
    try:
        new_id = svc.rerun(run_id, editor=user.name)  # interactive: ahead of bulk work
    except NotFound:
        return _not_found(request, run_id)
    except QueueUnavailable as exc:
        return page(request, "message.html", 503, title="Cannot queue", message=str(exc))
    return RedirectResponse(f"/digests/{quote(new_id)}", status.HTTP_303_SEE_OTHER)


# -- auditors: digests, progress, report, incidents, sources -------------------------


def _not_found(request: Request, what: str) -> HTMLResponse:
    return page(request, "message.html", 404, title="Not found", message=f"no digest {what!r}")


@router.get("/", response_class=HTMLResponse)
def digests(request: Request, svc: Svc, _user: Auditor) -> HTMLResponse:
    return page(request, "digests.html", runs=svc.runs())


@router.get("/digests/{run_id}", response_class=HTMLResponse)
def digest(request: Request, run_id: str, svc: Svc, _user: Auditor) -> HTMLResponse:
    try:
        run = svc.run(run_id)
    except NotFound:
        return _not_found(request, run_id)
    finished = run.state in ("done", "failed")
    report = svc.report(run_id) if finished else None
    return page(request, "digest.html", run=run, report=report, finished=finished)


def _report_or_404(request: Request, svc: Service, run_id: str) -> Report | HTMLResponse:
    try:
        return svc.report(run_id)
    except NotFound:
        return _not_found(request, run_id)


@router.get("/digests/{run_id}/report", response_class=HTMLResponse)
def full_report(request: Request, run_id: str, svc: Svc, _user: Auditor) -> Response:
    report = _report_or_404(request, svc, run_id)
    if isinstance(report, HTMLResponse):
        return report
    html = render_html(report)
    # The page's own <meta> policy, plus what only a header can say.
    csp = REPORT_CSP + "; frame-ancestors 'none'"
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


@router.get("/digests/{run_id}/report.json")
def report_json(request: Request, run_id: str, svc: Svc, _user: Auditor) -> Response:
    report = _report_or_404(request, svc, run_id)
    if isinstance(report, HTMLResponse):
        return report
    return Response(
        report.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{run_id}.json"'},
    )


@router.get("/digests/{run_id}/robust.{fmt}")
def robust_digest(request: Request, run_id: str, fmt: str, svc: Svc, _user: Auditor) -> Response:
    """The digest written back with Robust Links (worker.report.robustify), to publish."""
    from worker.report.robustify import Format, render

    try:
        chosen = Format(fmt)
    except ValueError:
        return page(request, "message.html", 404, title="No such format", message=fmt)
    report = _report_or_404(request, svc, run_id)
    if isinstance(report, HTMLResponse):
        return report
    types = {
        Format.HTML: "text/html; charset=utf-8",
        Format.MD: "text/markdown; charset=utf-8",
        Format.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
    return Response(
        render(report, chosen),
        media_type=types[chosen],
        headers={"Content-Disposition": f'attachment; filename="{run_id}-robust.{fmt}"'},
    )


@router.get("/digests/{run_id}/incidents", response_class=HTMLResponse)
def incidents(
    request: Request,
    run_id: str,
    svc: Svc,
    _user: Auditor,
    verdict: Annotated[list[str] | None, Query()] = None,
) -> Response:
    report = _report_or_404(request, svc, run_id)
    if isinstance(report, HTMLResponse):
        return report
    chosen = [v for v in (verdict or []) if v in VERDICTS] or VERDICTS
    shown = [i for i in report.incidents if i.verdict.value in chosen]
    return page(
        request,
        "incidents.html",
        report=report,
        incidents=shown,
        chosen=chosen,
        verdicts=VERDICTS,
        sources={s.canonical_url: s for s in report.sources},
    )


@router.get("/digests/{run_id}/sources", response_class=HTMLResponse)
def sources(
    request: Request,
    run_id: str,
    svc: Svc,
    _user: Auditor,
    status_: Annotated[str | None, Query(alias="status")] = None,
) -> Response:
    report = _report_or_404(request, svc, run_id)
    if isinstance(report, HTMLResponse):
        return report
    present = sorted({s.status.value for s in report.sources})
    shown = [s for s in report.sources if not status_ or s.status.value == status_]
    return page(
        request, "sources.html", report=report, sources=shown, present=present, chosen=status_
    )


# -- citations: public, like a printed footnote ----------------------------------------


@router.get("/cite/{run_id}/{footnote}")
def cite(request: Request, run_id: str, footnote: int, svc: Svc) -> Response:
    """The stable citation link of a footnote: redirects to its archived copy on the
    replay origin (never served from here). Public, like the footnote it stands for."""
    try:
        targets = svc.citation(run_id, footnote)
    except NotFound:
        return page(
            request,
            "message.html",
            404,
            title="Unknown citation",
            message=f"digest {run_id!r} has no footnote {footnote}",
        )
    archived = [t for t in targets if t.replay_url]
    if len(targets) == 1 and archived:
        return RedirectResponse(str(archived[0].replay_url), status.HTTP_303_SEE_OTHER)
    return page(request, "cite.html", run_id=run_id, footnote=footnote, targets=targets)
