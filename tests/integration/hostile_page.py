"""An archived page that attacks the web app, written into a collection with our own writer.

Archived pages are attacker-controlled content: this one's archived response sets the
app's old CSRF cookie and a pre-session cookie (`Set-Cookie`), its script sets them too
(`document.cookie`), and it auto-posts a digest to the app's queue form with the planted
value as the token. Replay must hand a browser none of its cookies, and the app must
refuse the post (tests/integration/test_replay.py, tests/e2e/test_replay_csrf.py).
"""

from __future__ import annotations

import datetime as dt
import html
import io
from dataclasses import dataclass
from pathlib import Path

from archive.records import HttpExchange, sha256_hex
from archive.warc_writer import WarcWriter

URL = "https://hostile.example.org/looks-like-a-news-article"
PLANTED = "planted-by-an-archived-page"
HEADER_COOKIES = [
    f"sv_csrf={PLANTED}; Path=/",
    f"sv_presession={PLANTED}; Path=/",
    "sv_archived_header=1; Path=/; Max-Age=86400",
]
FORGED_DIGEST = (
    "On September 1, in Almaty, a forged incident was queued from an archived page[1].\n"
    "[1]https://hostile.example.org/forged\n"
)


@dataclass(frozen=True)
class HostilePage:
    url: str
    fetched_at: dt.datetime
    warc_file: str


def hostile_html(app_base: str) -> bytes:
    action = html.escape(f"{app_base.rstrip('/')}/digests")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Hostile archived page</title></head>
<body><h1>An ordinary-looking article</h1>
<form id="forge" method="post" action="{action}">
<input type="hidden" name="csrf_token" value="{PLANTED}">
<input type="hidden" name="name" value="forged">
<textarea name="text">{html.escape(FORGED_DIGEST)}</textarea>
</form>
<script>
document.cookie = "sv_csrf={PLANTED}; path=/";
document.cookie = "sv_presession={PLANTED}; path=/";
document.getElementById("forge").submit();
</script>
</body></html>
""".encode()


def write_hostile_page(archive_dir: Path, app_base: str) -> HostilePage:
    """Write the page's request and response into `archive_dir` (indexed as it lands)."""
    body = hostile_html(app_base)
    fetched_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ex = HttpExchange(
        url=URL,
        method="GET",
        request_headers=[("Host", "hostile.example.org")],
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            *(("Set-Cookie", c) for c in HEADER_COOKIES),
        ],
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256=sha256_hex(body),
        fetched_at=fetched_at,
        peer_ip="127.0.0.1",
    )
    writer = WarcWriter(archive_dir, prefix="hostile", max_size=1 << 30)
    try:
        with writer.batch() as batch:
            _req, resp = batch.write_exchange(ex)
        writer.sync()
    finally:
        writer.close()
    return HostilePage(URL, fetched_at, resp.warc_file)
