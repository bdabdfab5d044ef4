"""The three single-process figures: a huge response into WARC, a big parse, a big report.

Each runs in its own subprocess (`python -m bench.extras huge|parse|report …`) so its
memory is its own, and prints one JSON line.

- `huge --proxy URL --mb N`: `worker.fetch.fetcher.fetch` of `/_huge?mb=N` (incompressible bytes)
  then `archive.warc_writer` writes it; peak RSS growth = the kernel's high-water mark
  (reset via /proc/self/clear_refs after imports) minus the RSS before the fetch.
- `parse --incidents N`: `worker.digest.parse.parse_digest` of an N-incident digest.
- `report --sources N`: `worker.report.build.build_report` over a synthetic SQLite database of
  one run with N sources, each with a capture row and an `ok` evidence.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil


def _hwm() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def huge(proxy: str, mb: int) -> dict[str, object]:
    import os

    from archive.warc_writer import WarcWriter
    from worker.fetch.client import build_client, build_egress_policy
    from worker.fetch.fetcher import FetchLimits, fetch
    from worker.settings import load_settings

    os.environ["HTTP_PROXY"] = proxy
    with tempfile.TemporaryDirectory(prefix="svbench-huge-") as tmp:
        settings = load_settings(data_dir=Path(tmp), max_body_bytes=(mb + 16) * 2**20)
        policy = build_egress_policy(settings)
        client = build_client(settings, policy=policy)
        limits = FetchLimits(max_body_bytes=(mb + 16) * 2**20, total_timeout=600, max_redirects=3)
        url = f"http://news00.bench.test/_huge?mb={mb}"
        fetch("http://news00.bench.test/_huge?mb=1", client, limits, policy=policy).close()
        # reset the high-water mark, so imports and warm-up do not count
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        base = psutil.Process().memory_info().rss
        start = time.perf_counter()
        result = fetch(url, client, limits, policy=policy)
        assert result.final is not None, result.error
        writer = WarcWriter(Path(tmp) / "archive", prefix="huge", max_size=2**40)
        with writer.batch() as batch:
            batch.write_exchange(result.final)
        writer.close()
        seconds = time.perf_counter() - start
        length, truncated = result.final.body_length, result.final.truncated
        result.close()
        warc_bytes = sum(p.stat().st_size for p in (Path(tmp) / "archive").iterdir())
        client.close()
    peak = _hwm()
    return {
        "mb": mb,
        "seconds": seconds,
        "body_length": length,
        "truncated": truncated,
        "warc_bytes": warc_bytes,
        "rss_before": base,
        "peak_rss": peak,
        "growth": max(0, peak - base),
    }


def _digest(incidents: int) -> str:
    from bench.site import SiteSpec, build_digest, build_urls

    return build_digest(build_urls(SiteSpec(urls=incidents * 2, fault_rate=0)))


def parse(incidents: int, repeats: int) -> dict[str, object]:
    from worker.digest.parse import parse_digest

    text = _digest(incidents)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        digest = parse_digest(text, name="bench-big")
        times.append(time.perf_counter() - start)
    return {
        "incidents": len(digest.incidents),
        "sources": len(digest.sources),
        "problems": len(digest.problems),
        "seconds": statistics.median(times),
    }


def report(sources: int, repeats: int) -> dict[str, object]:
    from bench.site import PEOPLE, SiteSpec, build_urls, page_html
    from schemas import Evidence, SourceStatus
    from worker.digest.parse import parse_digest
    from worker.report.build import build_report
    from worker.store.engine import make_engine, make_session_factory
    from worker.store.models import CaptureJob, CaptureRow, EvidenceRow, JobStatus, Run, RunState

    urls = build_urls(SiteSpec(urls=sources, fault_rate=0))
    digest = parse_digest(_digest(sources // 2), name="bench-report")
    by_url = {u.url: u for u in urls}
    with tempfile.TemporaryDirectory(prefix="svbench-report-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/db.sqlite")
        sessions = make_session_factory(engine)
        with sessions() as session:
            # rows by hand, not jobs.create_run: its per-job custody log is setup, not the
            # figure, and costs minutes at 10,000 sources
            session.add(
                Run(
                    id="bench-report",
                    digest_id=digest.id,
                    title=digest.title,
                    digest_json=digest.model_dump_json(),
                    state=RunState.DONE,
                )
            )
            session.flush()
            session.add_all(
                CaptureJob(
                    run_id="bench-report",
                    source_id=s.id,
                    url=s.url,
                    canonical_url=s.canonical_url,
                    status=JobStatus.DONE,
                )
                for s in digest.sources
            )
            session.flush()
            now = dt.datetime.now(dt.UTC)
            for job in session.query(CaptureJob).all():
                u = by_url.get(job.canonical_url) or by_url.get(job.url)
                text = page_html(u).decode()[:3000] if u is not None and u.index < 50 else None
                ev = Evidence(
                    status=SourceStatus.OK,
                    reason="200",
                    http_status=200,
                    final_url=job.url,
                    content_type="text/html",
                    title=f"{PEOPLE[u.person][1] if u else ''}: суд",
                    language="ru",
                    published=dt.date(2021, 9, u.day if u else 1),
                    date_source="json-ld:datePublished",
                    text=text or ("Суд первой инстанции сообщил, что заседание перенесли. " * 40),
                    text_excerpt="Суд первой инстанции сообщил, что заседание перенесли.",
                )
                session.add(
                    EvidenceRow(job_id=job.id, status="ok", data=ev.model_dump(mode="json"))
                )
                session.add(
                    CaptureRow(
                        job_id=job.id,
                        url=job.url,
                        warc_file="bench.warc.gz",
                        offset=job.id * 1000,
                        length=900,
                        end_offset=job.id * 1000 + 1000,
                        record_id=f"<urn:uuid:{job.id}>",
                        sha256=f"{job.id:064x}",
                        payload_length=80000,
                        captured_at=now,
                    )
                )
                job.status = JobStatus.DONE
            session.commit()
        times = []
        for _ in range(repeats):
            with sessions() as session:
                start = time.perf_counter()
                built = build_report(session, "bench-report")
                times.append(time.perf_counter() - start)
        engine.dispose()
    return {
        "sources": len(built.sources),
        "incidents": len(built.incidents),
        "seconds": statistics.median(times),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    h = sub.add_parser("huge")
    h.add_argument("--proxy", required=True)
    h.add_argument("--mb", type=int, default=500)
    p = sub.add_parser("parse")
    p.add_argument("--incidents", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    r = sub.add_parser("report")
    r.add_argument("--sources", type=int, default=10_000)
    r.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.what == "huge":
        out = huge(args.proxy, args.mb)
    elif args.what == "parse":
        out = parse(args.incidents, args.repeats)
    else:
        out = report(args.sources, args.repeats)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
