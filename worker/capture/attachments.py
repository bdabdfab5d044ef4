"""Evidence attached by hand to a footnote: a screenshot, PDF, WARC or WACZ made elsewhere.

The file is copied into `<data_dir>/attachments/<sha256[:2]>/<sha256><suffix>` (content
addressed: the same file attached twice is stored once), hashed while copying, and tied
to (run, footnote) in the database; the report lists it under the footnote's citations
and sources.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import mimetypes
import os
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas import Attachment, Digest
from worker.store.models import AttachmentRow, Run, as_utc

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
EXTRA_TYPES = {".warc": "application/warc", ".wacz": "application/wacz", ".gz": "application/gzip"}


class AttachError(ValueError):
    """The run, the footnote or the file is wrong; the message names which."""


def _media_type(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".warc.gz"):
        return "application/warc"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or EXTRA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def attach(
    session: Session,
    data_dir: Path,
    run_id: str,
    footnote: int,
    file: Path,
    *,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> AttachmentRow:
    run = session.get(Run, run_id)
    if run is None:
        raise AttachError(f"no digest run with id {run_id!r}")
    digest = Digest.model_validate_json(run.digest_json)
    numbers = {f.number for f in digest.footnotes} | {
        n for i in digest.incidents for n in i.footnotes
    }
    if footnote not in numbers:
        raise AttachError(f"run {run_id!r} has no footnote [{footnote}]")
    if not file.is_file():
        raise AttachError(f"{file}: no such file")
    store = data_dir / "attachments"
    store.mkdir(parents=True, exist_ok=True)
    digest_ = hashlib.sha256()
    size = 0
    # Copy and hash in one pass into a temp file beside the store, then rename into place.
    with file.open("rb") as src, tempfile.NamedTemporaryFile(dir=store, delete=False) as tmp:
        while chunk := src.read(CHUNK):
            digest_.update(chunk)
            tmp.write(chunk)
            size += len(chunk)
        tmp.flush()
        os.fsync(tmp.fileno())
    sha = digest_.hexdigest()
    suffix = "".join(file.suffixes[-2:]) if file.name.lower().endswith(".warc.gz") else file.suffix
    final = store / sha[:2] / f"{sha}{suffix.lower()}"
    final.parent.mkdir(exist_ok=True)
    if final.exists():
        Path(tmp.name).unlink()
    else:
        shutil.move(tmp.name, final)
    row = AttachmentRow(
        run_id=run_id,
        footnote=footnote,
        filename=file.name,
        sha256=sha,
        size=size,
        media_type=_media_type(file),
        path=str(final.relative_to(data_dir)),
        attached_at=now or dt.datetime.now(dt.UTC),
        note=note,
    )
    session.add(row)
    session.commit()
    log.info("attached %s (sha256 %s) to [%d] of %s", file.name, sha, footnote, run_id)
    return row


def attachments_for_run(session: Session, run_id: str) -> list[Attachment]:
    rows = session.scalars(
        select(AttachmentRow).where(AttachmentRow.run_id == run_id).order_by(AttachmentRow.id)
    )
    return [
        Attachment(
            id=r.id,
            footnote=r.footnote,
            filename=r.filename,
            sha256=r.sha256,
            size=r.size,
            media_type=r.media_type,
            path=r.path,
            attached_at=as_utc(r.attached_at),
            note=r.note,
        )
        for r in rows
    ]
