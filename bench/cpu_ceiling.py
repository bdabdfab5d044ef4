"""The CPU ceiling: extract every bench page from memory on all cores, no network.

`python -m bench.cpu_ceiling [site options] [--processes N]` builds the pages first
(untimed), then times `worker.extract.page.extract` over all of them in a fork-started
multiprocessing pool, and prints one JSON line: pages, seconds, cpu_seconds (the pool's
children, measured with RUSAGE_CHILDREN around the timed map).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time

from bench.site import build_urls, page_html
from bench.web import site_args, spec_from
from worker.extract.page import ExtractedPage, ExtractOptions, extract

_PAGES: list[tuple[str, bytes]] = []  # filled before the fork; children read it copy-on-write


def _extract_one(i: int) -> bool:
    url, html = _PAGES[i]
    return isinstance(extract(html, url=url, options=ExtractOptions()), ExtractedPage)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    site_args(parser)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    urls = [u for u in build_urls(spec_from(args)) if u.fault != "404"]
    _PAGES.extend((u.url, page_html(u)) for u in urls)
    ctx = mp.get_context("fork")
    with ctx.Pool(args.processes) as pool:
        pool.map(_extract_one, range(min(len(_PAGES), args.processes * 4)))  # warm imports
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        ok = sum(pool.map(_extract_one, range(len(_PAGES)), chunksize=4))
        seconds = time.perf_counter() - start
        pool.close()
        pool.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out = {"pages": len(_PAGES), "extracted": ok, "seconds": seconds, "cpu_seconds": cpu}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
