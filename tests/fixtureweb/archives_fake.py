"""Local fakes of the archive APIs worker.capture.fallbacks reads, answering like the real ones.

Installed on a FixtureWeb, so they are reached through the proxy like every other host:

- archive.org `/wayback/available?url=&timestamp=` → `{"url", "archived_snapshots":
  {"closest": {"status": "200", "available": true, "url", "timestamp"}}}` (`{}` when none)
- web.archive.org `/cdx/search/cdx?url=&output=json&filter=statuscode:200` → a JSON table
  whose first row is the field names; an empty body when nothing matches (as the real
  server answers); `/web/<ts>/<url>` → the snapshot; `/save/<url>` → Save Page Now
- timetravel.mementoweb.org `/timemap/link/<url>` → an RFC 7089 link-format TimeMap
  over every archive's copies (404 when there is none)
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from email.utils import format_datetime
from urllib.parse import unquote

from tests.fixtureweb.server import FixtureWeb, Request, Response, html, text

WAYBACK = "web.archive.org"


@dataclass(frozen=True)
class Snapshot:
    url: str  # the original URL
    timestamp: str  # 14 digits, UTC
    status: int = 200
    archive: str = WAYBACK
    body: str = "<html><body><p>archived copy</p></body></html>"

    @property
    def memento(self) -> str:
        if self.archive == WAYBACK:
            return f"http://{WAYBACK}/web/{self.timestamp}/{self.url}"
        return f"https://{self.archive}/{self.timestamp}/{self.url}"

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def _same(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        u = u.split("://", 1)[-1]
        return u.removeprefix("www.").rstrip("/").lower()

    return norm(a) == norm(b)


@dataclass
class ArchivesFake:
    snapshots: list[Snapshot] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)

    def add(self, url: str, timestamp: str, status: int = 200, archive: str = WAYBACK) -> None:
        self.snapshots.append(Snapshot(url, timestamp, status, archive))

    def of(self, url: str, archive: str | None = None) -> list[Snapshot]:
        return [
            s
            for s in self.snapshots
            if _same(s.url, url) and (archive is None or s.archive == archive)
        ]

    # -- the three APIs -----------------------------------------------------------------

    def available(self, req: Request) -> Response:
        url = req.arg("url") or ""
        stamp = (req.arg("timestamp") or "")[:14].ljust(14, "0")
        ok = [s for s in self.of(url, WAYBACK) if s.status == 200]
        snapshots: dict[str, object] = {}
        if ok:
            when = (
                dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
                if stamp.strip("0")
                else dt.datetime.now(dt.UTC)
            )
            best = min(ok, key=lambda s: abs((s.when - when).total_seconds()))
            snapshots["closest"] = {
                "status": str(best.status),
                "available": True,
                "url": best.memento,
                "timestamp": best.timestamp,
            }
        body = {"url": url, "archived_snapshots": snapshots}
        if req.arg("timestamp"):
            body["timestamp"] = req.arg("timestamp")
        return Response(body=json.dumps(body), content_type="application/json")

    def cdx(self, req: Request) -> Response:
        url = req.arg("url") or ""
        rows = self.of(url, WAYBACK)
        flt = req.arg("filter") or ""
        if flt.startswith("statuscode:"):
            rows = [s for s in rows if str(s.status) == flt.split(":", 1)[1]]
        if not rows:
            return Response(body=b"", content_type="text/plain")
        table: list[list[str]] = [
            ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
        ]
        for s in sorted(rows, key=lambda s: s.timestamp):
            table.append(
                ["key", s.timestamp, s.url, "text/html", str(s.status), "SHA1DIGEST", "1234"]
            )
        return Response(body=json.dumps(table), content_type="application/json")

    def timemap(self, req: Request) -> Response:
        url = unquote(req.target.removeprefix("/timemap/link/"))
        rows = sorted((s for s in self.of(url) if s.status == 200), key=lambda s: s.timestamp)
        if not rows:
            return text("", 404)
        lines = [
            f'<{url}>; rel="original"',
            f'<http://timetravel.mementoweb.org/timemap/link/{url}>; rel="self"; '
            'type="application/link-format"',
            f'<http://timetravel.mementoweb.org/timegate/{url}>; rel="timegate"',
        ]
        for i, s in enumerate(rows):
            rel = "first memento" if i == 0 else "last memento" if i == len(rows) - 1 else "memento"
            lines.append(
                f'<{s.memento}>; rel="{rel}"; datetime="{format_datetime(s.when, usegmt=True)}"'
            )
        return Response(body=",\n".join(lines) + "\n", content_type="application/link-format")

    def snapshot(self, req: Request) -> Response:
        rest = req.target.removeprefix("/web/")
        stamp, _, url = rest.partition("/")
        for s in self.of(url, WAYBACK):
            if s.timestamp == stamp.rstrip("id_"):
                return html(s.body)
        return text("not in archive", 404)

    def save(self, req: Request) -> Response:
        self.saved.append(req.target.removeprefix("/save/"))
        return html("<p>Saving page now</p>")

    def install(self, fw: FixtureWeb) -> ArchivesFake:
        fw.route("archive.org", "/wayback/available*", self.available)
        fw.route(WAYBACK, "/cdx/search/cdx*", self.cdx)
        fw.route(WAYBACK, "/web/*", self.snapshot)
        fw.route(WAYBACK, "/save/*", self.save)
        fw.route("timetravel.mementoweb.org", "/timemap/link/*", self.timemap)
        return self
