"""What archiving a page's requisites costs, over httpx and in the browser: time, bytes, CPU.

The September fixture web's `ok` HTML pages (RFE/RL articles with their CDN photos,
stylesheet and fonts; WordPress posts with Google Fonts, theme CSS and scripts) are each
captured once through the one capture path (`worker.capture.steps.observe` then
`write_records`: fetch, extract, judge, requisites, one WARC batch, fsync), one page after
the other, into a fresh data dir per mode: requisites off, requisites on (`http`), and the
browser capture (`browser`: Chromium, every request through the fetcher, screenshot and
DOM records); at per-host delay 0 (the work itself) and the default 0.5 s (politeness
included). The fixture web answers
at once (loopback TLS proxy), so the wall figures are the work and the politeness waits,
not a network's latency. CPU is this process's (fetching, parsing, writing) plus its
finished children's (the browser's driver and Chromium, waited for after each page);
extraction runs in the pool's long-lived processes and is the same in every mode.

    uv run python -m bench.requisites [--delays 0,0.5] [--repeats 3] [--modes page,http,browser]

Prints a Markdown table of medians per page; nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.fixtureweb import FixtureWeb, start_fixture_web
from tests.fixtureweb.pages import SEPTEMBER_PAGES
from worker.capture import steps
from worker.runtime import Runtime, build_runtime
from worker.settings import load_settings

KINDS = ("azattyq", "tirek", "kuresker", "infoprof")


@dataclass
class Figures:
    mode: str
    delay: float
    pages: int
    requisites: float  # median per page
    wall_ms: float
    cpu_ms: float
    warc_kb: float


@contextlib.contextmanager
def _proxied(fw: FixtureWeb) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(fw.env())
    for key in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(key, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _warc_bytes(runtime: Runtime) -> int:
    return sum(p.stat().st_size for p in runtime.settings.archive_dir.glob("*.warc.gz*"))


MODES = {  # name: (requisites, capture)
    "page": (False, "http"),
    "http": (True, "http"),
    "browser": (True, "browser"),
}


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(urls: list[str], *, mode: str, delay: float, work: Path) -> Figures:
    requisites, capture = MODES[mode]
    settings = load_settings(
        data_dir=work,
        requisites=requisites,
        capture=capture,
        per_host_delay=delay,
        retries=0,
        screenshots=False,
    )
    runtime = build_runtime(settings)
    walls, cpus, sizes, counts = [], [], [], []
    try:
        steps.observe(runtime, urls[0]).close()  # warm: imports, pool start, TLS
        for url in urls:
            before = _warc_bytes(runtime)
            cpu, wall = _cpu(), time.perf_counter()
            seen = steps.observe(runtime, url)
            try:
                written = steps.write_records(runtime, seen)
            finally:
                seen.close()
            walls.append(time.perf_counter() - wall)
            cpus.append(_cpu() - cpu)
            runtime.writer.sync()
            sizes.append(_warc_bytes(runtime) - before)
            counts.append(len(written.requisites) if written else 0)
            if written is not None:  # commit the rows, so later pages can stand on them
                with runtime.writing() as session:
                    session.add_all(written.requisites)
                    session.commit()
    finally:
        runtime.close()
    return Figures(
        mode={"page": "page only", "http": "http + requisites", "browser": "browser"}[mode],
        delay=delay,
        pages=len(urls),
        requisites=statistics.median(counts),
        wall_ms=statistics.median(walls) * 1000,
        cpu_ms=statistics.median(cpus) * 1000,
        warc_kb=statistics.median(sizes) / 1024,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delays", default="0,0.5", help="per-host delays to measure")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode (median taken)")
    parser.add_argument("--modes", default="page,http,browser", help=f"of {', '.join(MODES)}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    urls = [p.final_url for p in SEPTEMBER_PAGES if p.kind in KINDS and p.expected == "ok"]
    rows: list[Figures] = []
    with start_fixture_web("september") as fw, _proxied(fw):
        for delay in (float(d) for d in args.delays.split(",")):
            for mode in args.modes.split(","):
                runs = []
                for _ in range(args.repeats):
                    with tempfile.TemporaryDirectory(prefix="sv-bench-req-") as tmp:
                        runs.append(measure(urls, mode=mode, delay=delay, work=Path(tmp)))
                rows.append(sorted(runs, key=lambda f: f.wall_ms)[len(runs) // 2])
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, load {load:.2f}; {rows[0].pages} "
        f"pages, medians per page of {args.repeats} runs"
    )
    print()
    print("| per-host delay | mode | requisites | wall ms | CPU ms | WARC KiB |")
    print("|---:|---|---:|---:|---:|---:|")
    for f in rows:
        print(f"| {f.delay:g} s | {f.mode} | {f.requisites:g} | {f.wall_ms:.0f} | "
              f"{f.cpu_ms:.1f} | {f.warc_kb:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
