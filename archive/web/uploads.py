"""An uploaded or pasted digest → its text and parse, in the web app's parse process.

Reading is `worker.digest.read` (the command line reads files the same way); this module
is what the web app runs in a worker process with a time limit (`archive.web.parse_pool`).
"""

from __future__ import annotations

from schemas import Digest
from worker.digest.parse import parse_digest
from worker.digest.read import ACCEPTED, DigestInputError, DigestTooLarge, read_digest_bytes

__all__ = ["ACCEPTED", "UploadError", "UploadTooLarge", "read_and_parse"]

# the web app's names for the reader's errors: their messages are shown to the editor
UploadError = DigestInputError
UploadTooLarge = DigestTooLarge


def read_and_parse(
    filename: str | None, data: bytes | str, max_bytes: int, name: str, year: int | None
) -> tuple[str, Digest]:
    """The text of an upload (`filename` and its bytes) or pasted text (a str), and its
    parse: what the web app runs in a worker process."""
    text = data if isinstance(data, str) else read_digest_bytes(filename, data, max_bytes=max_bytes)
    return text, parse_digest(text, name=name, year=year)
