"""A PNG of an archived page, rendered by headless Chromium from the bytes we archived.

The page is never fetched again: the decoded HTML is written to a temporary file and
Chromium loads it with every network request sent to a dead proxy (127.0.0.1:9, the
discard port, loopback included), so subresources fail fast and the picture shows only
what the WARC holds. No `<base href>` is inserted for the same reason.

`render_png` returns the PNG bytes or None (logged); a missing or broken Chromium never
fails a capture. The pipeline stores the PNG as a WARC `resource` record
`urn:view:<url>` and a `ScreenshotRow` pointing at it (worker.capture.steps).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
from pathlib import Path

from worker.extract.page import ExtractedPage, ExtractionFailure
from worker.fetch.body import charset_from_headers, decode_body
from worker.fetch.fetcher import FetchResult
from worker.settings import Settings

log = logging.getLogger(__name__)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEFAULT_TIMEOUT = 30.0
RENDERED_TYPES = ("text/html", "application/xhtml+xml")
_STDERR_TAIL = 400


# headless and quiet (the tests' Chromium takes these too: tests/browsers.py)
HEADLESS_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
# and with no network of its own: every request, loopback too, goes to a closed port (the
# screenshot renders archived bytes; the browser capture routes every request into the
# fetcher, worker.capture.browser)
CHROMIUM_ARGS = [*HEADLESS_ARGS, "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def chromium_available(path: Path) -> bool:
    """True when `path` is an executable file (the Debian `chromium` launcher or a binary)."""
    return path.is_file() and os.access(path, os.X_OK)


def view_uri(url: str) -> str:
    return f"urn:view:{url}"


def render_png(
    html: bytes,
    *,
    url: str,
    chromium: Path,
    timeout: float = DEFAULT_TIMEOUT,
    charset: str | None = None,
) -> bytes | None:
    """Render decoded `html` (archived from `url`) to a 1280-wide PNG; None on any failure.

    `charset` (from the Content-Type header) is declared in a leading `<meta>`: a file://
    page has no headers, and a later `<meta charset>` in the page still wins if present.
    """
    with tempfile.TemporaryDirectory(prefix="sv-shot-") as tmp:
        root = Path(tmp)
        page = root / "page.html"
        shot = root / "shot.png"
        prefix = f'<meta charset="{charset}">'.encode("ascii") if charset else b""
        page.write_bytes(prefix + html)
        args = [
            str(chromium),
            *CHROMIUM_ARGS,
            f"--user-data-dir={root / 'profile'}",
            "--window-size=1280,1800",
            f"--screenshot={shot}",
            page.as_uri(),
        ]
        # own session: on timeout the whole process group (renderer, GPU, zygote) goes
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            log.warning("screenshot of %s: chromium timed out after %.0f s", url, timeout)
            return None
        finally:
            _kill_group(proc)  # stray helpers left behind by a finished launcher
        if proc.returncode != 0:
            tail = stderr.decode("utf-8", "replace")[-_STDERR_TAIL:]
            log.warning("screenshot of %s: chromium exited %d: %s", url, proc.returncode, tail)
            return None
        if not shot.is_file():
            log.warning("screenshot of %s: chromium wrote no PNG", url)
            return None
        data = shot.read_bytes()
        if not data.startswith(PNG_MAGIC):
            log.warning("screenshot of %s: output is not a PNG (%d bytes)", url, len(data))
            return None
        return data


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def for_capture(
    settings: Settings, result: FetchResult, page: ExtractedPage | ExtractionFailure | None
) -> bytes | None:
    """The PNG for a capture, or None: off, no Chromium, or not an extracted HTML page."""
    final = result.final
    if not settings.screenshots or final is None or not isinstance(page, ExtractedPage):
        return None
    if not chromium_available(settings.chromium_path):
        log.warning("screenshots are on but %s is not executable", settings.chromium_path)
        return None
    content_type = next((v for k, v in final.response_headers if k.lower() == "content-type"), "")
    if content_type.split(";")[0].strip().lower() not in RENDERED_TYPES:
        return None  # PDFs and plain text have no page to picture
    body = decode_body(
        final, max_bytes=settings.max_html_bytes, max_ratio=settings.max_decompression_ratio
    )
    return render_png(
        body.data,
        url=final.url,
        chromium=settings.chromium_path,
        charset=charset_from_headers(final.response_headers),
    )
