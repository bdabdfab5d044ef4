"""Copies of a source in other archives: alternative evidence when ours shows a dead,
blocked or login-walled page.

Three lookups, each answering the way the real service does (endpoints in Settings):
- the Wayback Machine availability API: `GET {available}?url=U&timestamp=YYYYMMDD` →
  `{"archived_snapshots": {"closest": {"status", "available", "url", "timestamp"}}}`
- the Wayback CDX API: `GET {cdx}?url=U&output=json&filter=statuscode:200` → a JSON
  table whose first row names the columns (`timestamp`, `original`, `statuscode`…)
- a Memento aggregator TimeMap in link format: `GET {timemap}U` → `<uri>; rel="memento";
  datetime="…"` entries from many archives.

`choose` keeps, per archive, the 200 snapshot closest to the incident's date and captured
on or before it; an archive with no earlier copy offers its earliest later one, marked
`before_target=False` (a news article is often archived only after it is published).
The best of them is `chosen`. Save Page Now is off by default and never sees a private
source (`private_domains`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schemas import ArchivedCopy, Digest
from worker.digest.urls import matching_domain
from worker.settings import Settings
from worker.store.models import ArchivedCopyRow, CaptureJob, Run, as_utc

log = logging.getLogger(__name__)

WAYBACK_TS = "%Y%m%d%H%M%S"
LOOKUP_TIMEOUT = 20.0
_LINK = re.compile(r"<([^>]+)>\s*;([^<]*)")
_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


class LookupError_(RuntimeError):
    """An archive API answered with something we cannot read; the message names the URL."""


@dataclass(frozen=True)
class Found:
    archive: str
    url: str
    captured_at: dt.datetime
    status: int | None
    via: str


def target_moment(day: dt.date | None, tz: str) -> dt.datetime | None:
    """The end of the incident's day in its zone, in UTC (snapshots that day still count)."""
    if day is None:
        return None
    end = dt.datetime.combine(day, dt.time(23, 59, 59), ZoneInfo(tz))
    return end.astimezone(dt.UTC)


def _ts(value: str) -> dt.datetime:
    value = (value + "00000000000000")[:14]
    return dt.datetime.strptime(value, WAYBACK_TS).replace(tzinfo=dt.UTC)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def lookup_availability(
    client: httpx.Client, endpoint: str, url: str, target: dt.datetime | None
) -> list[Found]:
    params = {"url": url}
    if target is not None:
        params["timestamp"] = target.strftime(WAYBACK_TS)
    response = client.get(endpoint, params=params, timeout=LOOKUP_TIMEOUT)
    if response.status_code != 200:
        raise LookupError_(f"{endpoint}: HTTP {response.status_code} for {url}")
    try:
        closest = response.json().get("archived_snapshots", {}).get("closest")
    except (ValueError, AttributeError) as exc:
        raise LookupError_(f"{endpoint}: not the availability JSON for {url}") from exc
    if not closest or not closest.get("available"):
        return []
    status = str(closest.get("status", ""))
    return [
        Found(
            archive=_host(closest["url"]),
            url=closest["url"],
            captured_at=_ts(str(closest["timestamp"])),
            status=int(status) if status.isdigit() else None,
            via="availability",
        )
    ]


def lookup_cdx(client: httpx.Client, endpoint: str, url: str) -> list[Found]:
    params = {"url": url, "output": "json", "filter": "statuscode:200"}
    response = client.get(endpoint, params=params, timeout=LOOKUP_TIMEOUT)
    if response.status_code != 200:
        raise LookupError_(f"{endpoint}: HTTP {response.status_code} for {url}")
    text = response.text.strip()
    if not text:
        return []  # the real CDX server answers an empty body when it has nothing
    try:
        rows = response.json()
    except ValueError as exc:
        raise LookupError_(f"{endpoint}: not CDX JSON for {url}") from exc
    if not rows:
        return []
    header, *entries = rows
    col = {name: i for i, name in enumerate(header)}
    archive = _host(endpoint)
    found = []
    for entry in entries:
        ts, original = entry[col["timestamp"]], entry[col["original"]]
        status = str(entry[col["statuscode"]]) if "statuscode" in col else ""
        found.append(
            Found(
                archive=archive,
                url=f"https://{archive}/web/{ts}/{original}",
                captured_at=_ts(ts),
                status=int(status) if status.isdigit() else None,
                via="cdx",
            )
        )
    return found


def parse_timemap(text: str) -> list[Found]:
    """Mementos of a link-format TimeMap (RFC 7089); original/self/timegate links skipped."""
    found = []
    for match in _LINK.finditer(text):
        uri, params = match.group(1), match.group(2)
        rel = re.search(r'rel\s*=\s*"([^"]*)"', params)
        if rel is None or "memento" not in rel.group(1).split():
            continue
        attrs = dict(_ATTR.findall(params))
        try:
            when = parsedate_to_datetime(attrs["datetime"])
        except (KeyError, TypeError, ValueError):
            continue
        found.append(
            Found(
                archive=_host(uri),
                url=uri,
                captured_at=when.astimezone(dt.UTC),
                status=None,  # a TimeMap does not say; archives keep mementos of 200s
                via="timemap",
            )
        )
    return found


def lookup_timemap(client: httpx.Client, endpoint: str, url: str) -> list[Found]:
    response = client.get(endpoint + url, timeout=LOOKUP_TIMEOUT)
    if response.status_code == 404:
        return []  # the aggregator knows no memento
    if response.status_code != 200:
        raise LookupError_(f"{endpoint}: HTTP {response.status_code} for {url}")
    return parse_timemap(response.text)


def choose(found: Iterable[Found], target: dt.datetime | None) -> list[ArchivedCopy]:
    """Per archive, the closest 200 copy on or before `target` (else its earliest later one);
    the best overall is `chosen`. Without a target, each archive's latest copy."""
    by_archive: dict[str, list[Found]] = {}
    seen: set[str] = set()
    for f in found:
        if f.status not in (200, None) or f.url in seen:
            continue
        seen.add(f.url)
        by_archive.setdefault(f.archive, []).append(f)
    picks: list[ArchivedCopy] = []
    for archive, copies in sorted(by_archive.items()):
        if target is None:
            best, before = max(copies, key=lambda f: f.captured_at), True
        else:
            earlier = [f for f in copies if f.captured_at <= target]
            if earlier:
                best, before = max(earlier, key=lambda f: f.captured_at), True
            else:
                best, before = min(copies, key=lambda f: f.captured_at), False
        picks.append(
            ArchivedCopy(
                archive=archive,
                url=best.url,
                captured_at=best.captured_at,
                status=best.status,
                via=best.via,
                before_target=before,
            )
        )
    if picks:
        ref = target or dt.datetime.max.replace(tzinfo=dt.UTC)
        # before the incident beats after it; then the nearest; the Wayback Machine on ties
        best_pick = min(
            picks,
            key=lambda c: (
                not c.before_target,
                abs((ref - c.captured_at).total_seconds()),
                c.archive != "web.archive.org",
            ),
        )
        best_pick.chosen = True
    return picks


def find_copies(
    client: httpx.Client, settings: Settings, url: str, target: dt.datetime | None
) -> list[ArchivedCopy]:
    """All three lookups; one that fails is logged and skipped, never fatal."""
    found: list[Found] = []
    lookups = (
        (
            "availability",
            lambda: lookup_availability(client, settings.wayback_available_url, url, target),
        ),
        ("cdx", lambda: lookup_cdx(client, settings.wayback_cdx_url, url)),
        ("timemap", lambda: lookup_timemap(client, settings.memento_timemap_url, url)),
    )
    for name, lookup in lookups:
        try:
            found.extend(lookup())
        except (httpx.HTTPError, LookupError_) as exc:
            log.warning("archive lookup %s for %s failed: %s", name, url, exc)
    return choose(found, target)


def is_private(url: str, private_domains: Iterable[str]) -> bool:
    return matching_domain(url, private_domains) is not None


def save_page_now(client: httpx.Client, settings: Settings, url: str) -> bool:
    """Ask the Wayback Machine to capture `url` (only when enabled, never a private source)."""
    if not settings.save_page_now or is_private(url, settings.private_domains):
        return False
    try:
        response = client.get(settings.save_page_now_url + quote(url, safe=":/?&=%"), timeout=60)
    except httpx.HTTPError as exc:
        log.warning("Save Page Now for %s failed: %s", url, exc)
        return False
    log.info("Save Page Now for %s: HTTP %d", url, response.status_code)
    return response.status_code < 400


# --- storage ------------------------------------------------------------------------------


def incident_day(session: Session, url: str) -> dt.date | None:
    """The earliest date of an incident citing `url`, across every run that cited it."""
    days: list[dt.date] = []
    run_ids = set(session.scalars(select(CaptureJob.run_id).where(CaptureJob.canonical_url == url)))
    for run_id in run_ids:
        run = session.get(Run, run_id)
        if run is None:
            continue
        digest = Digest.model_validate_json(run.digest_json)
        numbers = {
            f.number
            for f in digest.footnotes
            if any((u.canonical_url or u.url) == url for u in f.urls)
        }
        days += [i.date for i in digest.incidents if i.date and numbers & set(i.footnotes)]
    return min(days) if days else None


def store_copies(session: Session, url: str, copies: list[ArchivedCopy], now: dt.datetime) -> None:
    """Replace the recorded copies of `url` with `copies` (the latest lookup wins)."""
    for row in session.scalars(select(ArchivedCopyRow).where(ArchivedCopyRow.canonical_url == url)):
        session.delete(row)
    session.flush()
    for c in copies:
        session.add(
            ArchivedCopyRow(
                canonical_url=url,
                archive=c.archive,
                url=c.url,
                captured_at=c.captured_at,
                status=c.status,
                via=c.via,
                before_target=c.before_target,
                chosen=c.chosen,
                found_at=now,
            )
        )


def stored_copies(session: Session, url: str) -> list[ArchivedCopy]:
    rows = session.scalars(
        select(ArchivedCopyRow)
        .where(ArchivedCopyRow.canonical_url == url)
        .order_by(ArchivedCopyRow.chosen.desc(), ArchivedCopyRow.archive)
    )
    return [
        ArchivedCopy(
            archive=r.archive,
            url=r.url,
            captured_at=as_utc(r.captured_at),
            status=r.status,
            via=r.via,
            before_target=r.before_target,
            chosen=r.chosen,
        )
        for r in rows
    ]


def lookup_and_store(
    client: httpx.Client,
    sessions: sessionmaker[Session],
    settings: Settings,
    url: str,
    now: dt.datetime,
) -> list[ArchivedCopy]:
    """Look a failing source up in the other archives and record what was found.

    A private source is never named to another archive: no lookup, no Save Page Now.
    """
    if is_private(url, settings.private_domains):
        return []
    with sessions() as session:
        target = target_moment(incident_day(session, url), settings.incident_tz)
    copies = find_copies(client, settings, url, target)
    save_page_now(client, settings, url)
    with sessions() as session:
        store_copies(session, url, copies, now)
        session.commit()
    return copies
