"""Scale-out benchmark: one `sourcevault worker` against three, on PostgreSQL and redis-server.

A digest of N footnotes (default 200) on H fixture-web hosts (default 20), every response
delayed by the fixture web's latency (default 100 ms), is submitted to a fresh deployment
(private redis-server, a fresh PostgreSQL database, a fresh data dir) with 1, then 3
worker processes (threads pool, `-c` each). Workers are ready before the clock starts;
the figure compared is the time from the first job claim to the last capture (Attempt
rows); wall time from `submit` is printed too.

    uv run python -m bench.scale_out [--urls 200] [--hosts 20] [--latency 0.1] [-c 4]

Prints one line per worker count and the speed-up; nothing here asserts a duration.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from tests.fixtureweb import Request, Response, start_fixture_web
from tests.pg import postgres_cluster
from tests.servers import redis_server
from tests.workers import running_workers, sourcevault, wait_for, worker_env
from worker.store import jobs
from worker.store.models import Attempt, RunState

log = logging.getLogger(__name__)


def _page(req: Request) -> Response:
    n = req.path.rsplit("/", 1)[-1].removesuffix(".html")
    body = (
        f"<html><head><title>Case {n}</title>"
        '<meta property="article:published_time" content="2021-09-10T10:00:00+06:00">'
        f"</head><body><article><h1>Case {n}</h1>"
        + "<p>Активист Иван Петров задержан в Алматы. Суд продлил арест.</p>" * 20
        + "</article></body></html>"
    )
    return Response(status=200, body=body.encode(), content_type="text/html; charset=utf-8")


def _digest(path: Path, urls: list[str]) -> None:
    lines = [
        f"September {1 + i % 28}, Almaty, Ivan Petrov, case {i + 1} was heard [{i + 1}]."
        for i in range(len(urls))
    ]
    lines.append("")
    lines += [f"[{i + 1}]{url}" for i, url in enumerate(urls)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure(
    workers: int, *, urls: int, hosts: int, latency: float, concurrency: int, tmp: Path
) -> float:
    with start_fixture_web(None) as fw, postgres_cluster() as pg:
        names = [f"news{h}.bench.test" for h in range(hosts)]
        for host in names:
            fw.route(host, "/a/*", _page)
            fw.set_latency(host, latency)
        digest = tmp / f"bench-{workers}.txt"
        _digest(digest, [f"https://{names[i % hosts]}/a/{i}.html" for i in range(urls)])
        with redis_server(tmp / f"redis-{workers}") as broker:
            database_url = pg.create_database("bench")
            env = worker_env(
                broker_url=broker,
                data_dir=tmp / f"data-{workers}",
                proxy=fw.env(),
                # capacity, not politeness: the per-host spacing would dominate otherwise
                settings={"DATABASE_URL": database_url, "PER_HOST_DELAY": "0"},
            )
            engine = create_engine(database_url)
            with running_workers(
                env, workers, log_dir=tmp / f"logs-{workers}", concurrency=concurrency
            ) as procs:
                start = time.monotonic()
                run_id = sourcevault(env, "submit", str(digest)).stdout.strip().splitlines()[-1]

                def done() -> bool:
                    with Session(engine) as session:
                        p = jobs.run_progress(session, run_id)
                    return p is not None and p.state in (RunState.DONE, RunState.FAILED)

                wait_for(done, timeout=1800, what="the bench run", interval=0.1)
                elapsed = time.monotonic() - start
                with Session(engine) as session:
                    p = jobs.run_progress(session, run_id)
                    first, last = session.execute(
                        select(func.min(Attempt.started_at), func.max(Attempt.finished_at))
                    ).one()
                for w in procs:
                    w.stop()
            engine.dispose()
    assert p is not None
    busy = (last - first).total_seconds()
    sys.stdout.write(
        f"{workers} worker(s) x {concurrency} threads: {p.done}/{p.total} done in "
        f"{elapsed:.1f} s from submit = {p.done / elapsed:.1f} URLs/s; "
        f"first claim to last capture {busy:.1f} s = {p.done / busy:.1f} URLs/s\n"
    )
    return busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("-c", "--concurrency", type=int, default=4)
    parser.add_argument("--workers", default="1,3")
    args = parser.parse_args()
    sys.stdout.write(
        f"{args.urls} URLs on {args.hosts} hosts, {args.latency * 1000:.0f} ms latency, "
        f"{os.cpu_count()} CPUs\n"
    )
    with tempfile.TemporaryDirectory(prefix="sv-bench-") as tmp:
        times = {
            n: measure(
                n,
                urls=args.urls,
                hosts=args.hosts,
                latency=args.latency,
                concurrency=args.concurrency,
                tmp=Path(tmp),
            )
            for n in (int(x) for x in args.workers.split(","))
        }
    if 1 in times and 3 in times:
        sys.stdout.write(f"speed-up of 3 workers over 1: {times[1] / times[3]:.2f}x\n")


if __name__ == "__main__":
    main()
