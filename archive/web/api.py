"""The JSON API (described at /openapi.json): preview, queue, progress, reports.

Every status code a route can answer is in its `responses` (errors are `ErrorOut`: a
message, or FastAPI's list of validation errors), times are timezone-aware (UTC), and
`year` is bounded in the schema (`MIN_YEAR..MAX_YEAR`): the API is fuzzed with
schemathesis against its own description (tests/web/test_schemathesis.py). Parsing runs
in the service's parse process, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from archive.web.access import require_auditor, require_editor
from archive.web.auth import User
from archive.web.service import NotFound, QueueUnavailable, RunSummary, Service
from archive.web.uploads import UploadError, UploadTooLarge
from schemas import Digest, Problem, Report
from worker.digest.parse import MAX_YEAR, MIN_YEAR

router = APIRouter(prefix="/api", tags=["api"])


def service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


Svc = Annotated[Service, Depends(service)]
Auditor = Annotated[User, Depends(require_auditor)]
Editor = Annotated[User, Depends(require_editor)]


class ErrorOut(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="what went wrong: a message, or FastAPI's list of validation errors"
    )


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {
        400: "the body cannot be read (not UTF-8 JSON, a broken multipart form)",
        401: "no or bad credentials",
        403: "the credentials' role may not do this",
        404: "no such digest",
        413: "larger than the upload limit, or a .docx that expands past its limits",
        422: "not a usable digest or request (the message says why)",
        503: "no broker to queue on",
    }
    return {code: {"model": ErrorOut, "description": what[code]} for code in codes}


READ_ERRORS = _errors(401, 403, 422)
WRITE_ERRORS = _errors(400, 401, 403, 413, 422)

Year = Annotated[
    int | None,
    Field(ge=MIN_YEAR, le=MAX_YEAR, description="year for dates written without one"),
]


class DigestIn(BaseModel):
    text: str = Field(
        description="the digest as plain text (not empty, not only white space)", pattern=r"\S"
    )
    name: str = Field(default="digest", description="names the digest id and title")
    year: Year = None


class IncidentPreview(BaseModel):
    id: int
    line: int
    date: dt.date | None
    footnotes: list[int]
    people: list[str]
    text: str


class PreviewOut(BaseModel):
    id: str
    title: str
    incidents: int
    footnotes: int
    sources: int
    problems: list[Problem]
    incident_list: list[IncidentPreview]


class RunOut(BaseModel):
    id: str
    title: str
    state: str = Field(description="queued | running | done | failed")
    done: int
    total: int
    failed: int
    created_at: AwareDatetime
    finished_at: AwareDatetime | None
    report_url: str


class QueuedOut(BaseModel):
    id: str
    status_url: str
    page_url: str


class Me(BaseModel):
    name: str
    role: str


def _run_out(run: RunSummary) -> RunOut:
    return RunOut(
        id=run.id,
        title=run.title,
        state=run.state,
        done=run.done,
        total=run.total,
        failed=run.failed,
        created_at=run.created_at,
        finished_at=run.finished_at,
        report_url=f"/api/digests/{run.id}/report",
    )


async def _parse(svc: Service, body: DigestIn) -> Digest:
    try:
        return await svc.parse_text(body.text, name=body.name, year=body.year)
    except UploadError as exc:  # too slow, or killed its process
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def _queue(svc: Service, digest: Digest, source_name: str, editor: str) -> QueuedOut:
    try:
        run_id = svc.queue(digest, source_name=source_name, editor=editor)
    except QueueUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return QueuedOut(id=run_id, status_url=f"/api/digests/{run_id}", page_url=f"/digests/{run_id}")


@router.get(
    "/me", response_model=Me, summary="who the credentials belong to", responses=READ_ERRORS
)
def me(user: Auditor) -> Me:
    return Me(name=user.name, role=user.role.value)


@router.post(
    "/preview",
    response_model=PreviewOut,
    summary="parse a digest without queueing",
    responses=WRITE_ERRORS,
)
async def preview(body: DigestIn, svc: Svc, _user: Editor) -> PreviewOut:
    digest = await _parse(svc, body)
    return PreviewOut(
        id=digest.id,
        title=digest.title,
        incidents=len(digest.incidents),
        footnotes=len(digest.footnotes),
        sources=len(digest.sources),
        problems=digest.problems,
        incident_list=[
            IncidentPreview.model_validate(i, from_attributes=True) for i in digest.incidents
        ],
    )


@router.post(
    "/digests",
    response_model=QueuedOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="queue a digest given as text",
    responses={**WRITE_ERRORS, **_errors(503)},
)
async def queue_text(body: DigestIn, svc: Svc, user: Editor) -> QueuedOut:
    digest = await _parse(svc, body)
    return await run_in_threadpool(_queue, svc, digest, f"api:{user.name}", user.name)


@router.post(
    "/digests/upload",
    response_model=QueuedOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="queue a digest file (.txt, .md, .docx, .html)",
    responses={**WRITE_ERRORS, **_errors(503)},
)
async def queue_file(
    request: Request,
    svc: Svc,
    user: Editor,
    file: Annotated[UploadFile, File(description="the digest file")],
    # `int`, not `int | None`: a form field cannot say null, so the schema must not offer it
    year: Annotated[
        int,  # noqa: RUF013
        Form(ge=MIN_YEAR, le=MAX_YEAR, description="year for dates written without one"),
    ] = None,  # type: ignore[assignment]
) -> QueuedOut:
    cap = request.app.state.access.config.max_upload_bytes
    data = await file.read(cap + 1)
    name = file.filename or "digest.txt"
    try:
        _text, digest = await svc.read_upload(
            name, data, max_bytes=cap, name=Path(name).stem or "digest", year=year
        )
    except UploadTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    except UploadError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    source = f"upload:{Path(name).name} by {user.name}"
    return await run_in_threadpool(_queue, svc, digest, source, user.name)


@router.get(
    "/digests",
    response_model=list[RunOut],
    summary="every digest run, newest first",
    responses=READ_ERRORS,
)
def list_digests(svc: Svc, _user: Auditor) -> list[RunOut]:
    return [_run_out(r) for r in svc.runs()]


@router.get(
    "/digests/{run_id}",
    response_model=RunOut,
    summary="progress of one digest",
    responses={**READ_ERRORS, **_errors(404)},
)
def get_digest(run_id: str, svc: Svc, _user: Auditor) -> RunOut:
    try:
        return _run_out(svc.run(run_id))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no digest {run_id!r}") from exc


@router.get(
    "/digests/{run_id}/report",
    response_model=Report,
    summary="the report (report.json)",
    responses={**READ_ERRORS, **_errors(404)},
)
def get_report(run_id: str, svc: Svc, _user: Auditor) -> Report:
    try:
        return svc.report(run_id)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no digest {run_id!r}") from exc


@router.post(
    "/digests/{run_id}/rerun",
    response_model=QueuedOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="capture a digest's sources again, as a new run",
    responses={**_errors(400, 401, 403, 404, 413, 422, 503)},
)
def rerun(run_id: str, svc: Svc, user: Editor) -> QueuedOut:
    try:
        new_id = svc.rerun(run_id, editor=user.name)  # interactive: ahead of bulk work
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no digest {run_id!r}") from exc
    except QueueUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return QueuedOut(id=new_id, status_url=f"/api/digests/{new_id}", page_url=f"/digests/{new_id}")


# Starlette answers a method a path lacks with the Allow of the first route on that path
# only ("GET" for /api/digests, which also takes POST): answer for the whole path here.
_PATH_METHODS: dict[str, list[str]] = {}
for _route in router.routes:
    _PATH_METHODS.setdefault(getattr(_route, "path", ""), []).extend(
        sorted(getattr(_route, "methods", None) or ())
    )
_ALL_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}


def _method_not_allowed(allowed: list[str]) -> Any:
    allow = ", ".join(allowed)

    async def not_allowed() -> JSONResponse:
        return JSONResponse(
            {"detail": "Method Not Allowed"},
            status.HTTP_405_METHOD_NOT_ALLOWED,
            headers={"Allow": allow},
        )

    return not_allowed


for _path, _methods in _PATH_METHODS.items():
    if _path and len(_methods) > 1:
        _others = sorted(_ALL_METHODS - set(_methods) - {"HEAD"})
        router.add_api_route(
            _path.removeprefix(router.prefix),
            _method_not_allowed(_methods),
            methods=_others,
            include_in_schema=False,
        )
