"""The JSON API (described at /openapi.json): preview, queue, progress, reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from pydantic import BaseModel, Field

from archive.web.access import require_auditor, require_editor
from archive.web.auth import User
from archive.web.service import NotFound, QueueUnavailable, RunSummary, Service
from archive.web.uploads import UploadError, UploadTooLarge, digest_text
from schemas import Problem, Report

router = APIRouter(prefix="/api", tags=["api"])


def service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


Svc = Annotated[Service, Depends(service)]
Auditor = Annotated[User, Depends(require_auditor)]
Editor = Annotated[User, Depends(require_editor)]


class DigestIn(BaseModel):
    text: str = Field(description="the digest as plain text")
    name: str = Field(default="digest", description="names the digest id and title")
    year: int | None = Field(default=None, description="year for dates written without one")


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
    created_at: dt.datetime
    finished_at: dt.datetime | None
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


def _queue(svc: Service, body: DigestIn, source_name: str, editor: str) -> QueuedOut:
    digest = svc.parse(body.text, name=body.name, year=body.year)
    try:
        run_id = svc.queue(digest, source_name=source_name, editor=editor)
    except QueueUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return QueuedOut(id=run_id, status_url=f"/api/digests/{run_id}", page_url=f"/digests/{run_id}")


def _text_or_422(body: DigestIn) -> None:
    if not body.text.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the digest text is empty")


@router.get("/me", response_model=Me, summary="who the credentials belong to")
def me(user: Auditor) -> Me:
    return Me(name=user.name, role=user.role.value)


@router.post("/preview", response_model=PreviewOut, summary="parse a digest without queueing")
def preview(body: DigestIn, svc: Svc, _user: Editor) -> PreviewOut:
    _text_or_422(body)
    digest = svc.parse(body.text, name=body.name, year=body.year)
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
)
def queue_text(body: DigestIn, svc: Svc, user: Editor) -> QueuedOut:
    _text_or_422(body)
    return _queue(svc, body, f"api:{user.name}", user.name)


@router.post(
    "/digests/upload",
    response_model=QueuedOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="queue a digest file (.txt, .md, .docx, .html)",
    responses={413: {"description": "larger than the upload limit"}},
)
async def queue_file(
    request: Request,
    svc: Svc,
    user: Editor,
    file: Annotated[UploadFile, File(description="the digest file")],
    year: Annotated[int | None, Form()] = None,
) -> QueuedOut:
    cap = request.app.state.access.config.max_upload_bytes
    data = await file.read(cap + 1)
    name = file.filename or "digest.txt"
    try:
        text = digest_text(name, data, max_bytes=cap)
    except UploadTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    except UploadError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    body = DigestIn(text=text, name=Path(name).stem or "digest", year=year)
    return _queue(svc, body, f"upload:{Path(name).name} by {user.name}", user.name)


@router.get("/digests", response_model=list[RunOut], summary="every digest run, newest first")
def list_digests(svc: Svc, _user: Auditor) -> list[RunOut]:
    return [_run_out(r) for r in svc.runs()]


@router.get("/digests/{run_id}", response_model=RunOut, summary="progress of one digest")
def get_digest(run_id: str, svc: Svc, _user: Auditor) -> RunOut:
    try:
        return _run_out(svc.run(run_id))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no digest {run_id!r}") from exc


@router.get("/digests/{run_id}/report", response_model=Report, summary="the report (report.json)")
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
)
def rerun(run_id: str, svc: Svc, user: Editor) -> QueuedOut:
    try:
        new_id = svc.rerun(run_id, editor=user.name)  # interactive: ahead of bulk work
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no digest {run_id!r}") from exc
    except QueueUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return QueuedOut(id=new_id, status_url=f"/api/digests/{new_id}", page_url=f"/digests/{new_id}")
