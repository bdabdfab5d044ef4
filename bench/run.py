"""Run the whole benchmark and write its table into bench/README.md.

    uv run python -m bench.run            # defaults: 1,000 URLs / 50 hosts / 100 ms, 3 repeats
    uv run python -m bench.run --quick    # 1 repeat, 200 URLs: a smoke run of every part

One run starts the bench web (`bench.web`, its own process), then per repetition:
`sourcevault run` (embedded default), `sourcevault worker` × N on redis-server (submit +
`status --json` polling), `wget --warc-file`, the naive httpx+trafilatura loop (both
sequential, over an every-k-th sample of the list: `--baseline-urls`), and the CPU
ceiling (extraction of every page on all cores). The network and politeness ceilings
are computed from the site (latency, faults, hops per host) and the settings. Then once:
a huge response into WARC, `parse` of 10,000 incidents, a 10,000-source report.
Medians of the repetitions go to the table; every raw figure to bench/results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench import breakdown, scenarios
from bench.scenarios import MB, Result
from bench.site import BenchUrl, SiteSpec, build_digest, build_urls, sample_urls
from bench.web import site_args, site_argv, spec_from
from worker.settings import Settings

log = logging.getLogger("bench")
HERE = Path(__file__).resolve().parent
# wget --page-requisites is sequential, ~70 requests a page: 30 pages give its rate
REQ_SAMPLE = 30
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} CPUs ({model}), {ram:.1f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; load average "
        f"{os.getloadavg()[0]:.1f} at the end (the machine is shared: other work competes)"
    )


# ---------------------------------------------------------------------------- ceilings


def network_ceiling(spec: SiteSpec, latency: float, slots: int) -> float:
    """URLs/s if `slots` requests were always in flight: N × slots / Σ slot-seconds, where a
    URL costs latency per hop (a redirect is two) plus a slow page's extra delay."""
    busy = 0.0
    for u in build_urls(spec):
        hops = 2 if u.fault == "redirect" else 1
        busy += hops * latency + (spec.slow_seconds if u.fault == "slow" else 0.0)
    return spec.urls * slots / busy


def politeness_ceiling(spec: SiteSpec, latency: float, delay: float, gates: int) -> float:
    """URLs/s allowed by per-host spacing: the busiest host needs (requests/gates - 1) ×
    delay + latency seconds (each worker process has its own gate)."""
    per_host: dict[str, int] = {}
    for u in build_urls(spec):
        per_host[u.host] = per_host.get(u.host, 0) + (2 if u.fault == "redirect" else 1)
    worst = max(per_host.values())
    return spec.urls / (max(worst / gates - 1, 0) * delay + latency)


# ------------------------------------------------------------------------------- table


def _median(results: list[Result]) -> Result:
    """The repetition with the median wall time (its CPU and RSS go with it)."""
    ordered = sorted(results, key=lambda r: r.seconds)
    return ordered[(len(ordered) - 1) // 2]


def _rss(result: Result) -> str:
    parts = ", ".join(
        f"{k} {v / MB:.0f}" for k, v in sorted(result.peak_rss.items(), key=lambda kv: -kv[1])[:4]
    )
    return f"{result.largest_rss / MB:.0f} MB ({parts})"


def render(summary: dict[str, object]) -> str:
    rows = summary["rows"]
    assert isinstance(rows, list)
    lines = [
        f"Run {summary['when']} on {summary['machine']}.",
        f"Site: {summary['site']}. Repeats: {summary['repeats']} (medians).",
        "",
        "| contender | URLs | wall s | URLs/s | CPU ms/URL "
        "| peak RSS, largest process (MB by process) | ÷ lowest ceiling |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['urls']} | {r['seconds']} | {r['urls_per_s']} | "
            f"{r['cpu_ms_per_url']} | {r['rss']} | {r['ratio']} |"
        )
    lines += ["", "| ceiling | URLs/s | how |", "|---|---:|---|"]
    ceilings = summary["ceilings"]
    assert isinstance(ceilings, list)
    for c in ceilings:
        lines.append(f"| {c['name']} | {c['urls_per_s']} | {c['how']} |")
    lines += ["", "| single-process figure | result | target |", "|---|---|---|"]
    extras = summary["extras"]
    assert isinstance(extras, list)
    for e in extras:
        lines.append(f"| {e['name']} | {e['result']} | {e['target']} |")
    lines += ["", "Targets:", ""]
    targets = summary["targets"]
    assert isinstance(targets, list)
    lines += [f"- {t}" for t in targets]
    return "\n".join(lines) + "\n"


def write_readme(text: str, readme: Path) -> None:
    old = readme.read_text(encoding="utf-8") if readme.exists() else f"{BEGIN}\n{END}\n"
    if BEGIN not in old:
        old += f"\n{BEGIN}\n{END}\n"
    head, rest = old.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    readme.write_text(f"{head}{BEGIN}\n{text}{END}{tail}", encoding="utf-8")


# --------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    site_args(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 200 URLs over 20 hosts")
    parser.add_argument("--baseline-urls", type=int, default=300, help="wget/naive sample (0: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker-concurrency", type=int, default=Settings().concurrency)
    parser.add_argument("--concurrency", type=int, default=None, help="`run --concurrency`")
    parser.add_argument("--huge-mb", type=int, default=500)
    parser.add_argument(
        "--big", type=int, default=10_000, help="incidents to parse, report sources"
    )
    parser.add_argument(
        "--only", default="", help="comma list: run,run_req,workers,wget,wget_req,naive,cpu,extras"
    )
    parser.add_argument("--readme", type=Path, default=HERE / "README.md")
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.urls, args.hosts = 1, 200, 20
        args.baseline_urls = min(args.baseline_urls, 60)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    only = set(filter(None, args.only.split(","))) or {
        "run",
        "run_req",
        "workers",
        "wget",
        "wget_req",
        "naive",
        "cpu",
        "extras",
    }
    _compile_bytecode()
    spec = spec_from(args)
    urls = build_urls(spec)
    sample = sample_urls(urls, args.baseline_urls)
    work = Path(tempfile.mkdtemp(prefix="svbench-"))
    (work / "urls.txt").write_text("\n".join(u.url for u in urls) + "\n")
    (work / "sample.txt").write_text("\n".join(u.url for u in sample) + "\n")
    sample_req = sample[:REQ_SAMPLE]
    (work / "sample_req.txt").write_text("\n".join(u.url for u in sample_req) + "\n")
    digest = work / "bench-digest.txt"
    digest.write_text(build_digest(urls), encoding="utf-8")
    web = subprocess.Popen(
        [sys.executable, "-m", "bench.web", *site_argv(args)],
        stdout=subprocess.PIPE,
        stderr=open(work / "web.log", "wb"),  # noqa: SIM115
    )
    try:
        assert web.stdout is not None
        port = int(web.stdout.readline().split()[1])
        proxy = f"http://127.0.0.1:{port}"
        log.info("bench web on %s, work dir %s", proxy, work)
        summary = _measure(args, only, spec, urls, sample, work, digest, proxy, web.pid)
    finally:
        web.terminate()
        web.wait(timeout=30)
    args.results.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    text = render(summary)
    sys.stdout.write(text)
    if not args.quick or args.readme != HERE / "README.md":
        write_readme(text, args.readme)
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _compile_bytecode() -> None:
    """Compile the environment's and the project's .py files once, as an install does.

    With PYTHONDONTWRITEBYTECODE set (this machine sets it) every process would compile
    its imports again at each start: seconds of CPU a deployment never pays."""
    import compileall
    import sysconfig

    roots = [Path(sysconfig.get_paths()["purelib"])]
    roots += [HERE.parent / name for name in ("worker", "archive", "schemas", "bench")]
    start = time.perf_counter()
    for root in roots:
        compileall.compile_dir(root, quiet=1, workers=0)
    log.info("bytecode compiled in %.1f s", time.perf_counter() - start)


def _measure(
    args: argparse.Namespace,
    only: set[str],
    spec: SiteSpec,
    urls: list[BenchUrl],
    sample: list[BenchUrl],
    work: Path,
    digest: Path,
    proxy: str,
    web_pid: int,
) -> dict[str, object]:
    n, ns, n_req = len(urls), len(sample), len(sample[:REQ_SAMPLE])
    runs: dict[str, list[Result]] = {}
    web_cpu0 = psutil.Process(web_pid).cpu_times()
    for rep in range(args.repeats):
        rdir = work / f"rep{rep}"

        def step(name: str, fn: object, rep: int = rep, rdir: Path = rdir) -> None:
            d = rdir / name
            d.mkdir(parents=True)
            start = time.perf_counter()
            result = fn(d)  # type: ignore[operator]
            runs.setdefault(name, []).append(result)
            log.info(
                "rep %d %-8s %6.1f s  %6.1f URLs/s  %5.1f CPU ms/URL  %s (%.0f s)",
                rep, name, result.seconds, result.urls_per_s, result.cpu_ms_per_url,
                {k: f"{v / MB:.0f}MB" for k, v in result.peak_rss.items()},
                time.perf_counter() - start,
            )  # fmt: skip

        if "cpu" in only:
            step("cpu", lambda d: scenarios.cpu_ceiling(d, site_argv(args), n))
        if "run" in only:
            step("run", lambda d: scenarios.embedded_run(d, digest, proxy, n, args.concurrency))
        if "run_req" in only:
            step("run_req", lambda d: scenarios.embedded_run(
                d, digest, proxy, n, args.concurrency, requisites=True))  # fmt: skip
        if "workers" in only:
            step("workers", lambda d: scenarios.redis_workers(
                d, digest, proxy, n, args.workers, args.worker_concurrency))  # fmt: skip
        if "wget" in only:
            step("wget", lambda d: scenarios.wget(d, work / "sample.txt", proxy, ns))
        if "wget_req" in only:
            step("wget_req", lambda d: scenarios.wget(
                d, work / "sample_req.txt", proxy, n_req, requisites=True))  # fmt: skip
        if "naive" in only:
            step("naive", lambda d: scenarios.naive(d, work / "sample.txt", proxy, ns))
    web_cpu = sum(psutil.Process(web_pid).cpu_times()[:2]) - sum(web_cpu0[:2])

    settings = Settings()
    slots = args.concurrency or settings.concurrency
    ceilings = {
        "network": (
            network_ceiling(spec, args.latency, slots),
            f"{slots} slots ÷ ({args.latency * 1000:.0f} ms per hop + faults' extra hops and "
            f"{spec.slow_seconds:.0f} s slow pages), `run`'s default concurrency",
        ),
        "politeness": (
            politeness_ceiling(spec, args.latency, settings.per_host_delay, 1),
            f"busiest host's requests × {settings.per_host_delay} s per-host delay, one gate",
        ),
    }
    if "cpu" in runs:
        cpu = _median(runs["cpu"])
        ceilings["cpu"] = (
            cpu.urls_per_s,
            f"worker.extract.page.extract of the {cpu.extra['pages']} pages on {os.cpu_count()} "
            f"processes, no network (measured)",
        )
    lowest_name = min(ceilings, key=lambda k: ceilings[k][0])
    lowest = ceilings[lowest_name][0]
    names = {
        "run": f"`sourcevault run` (embedded, threads ×{slots}), pages only",
        "run_req": f"`sourcevault run` (embedded, threads ×{slots}), pages + requisites",
        "workers": (
            f"`sourcevault worker` ×{args.workers} (threads ×{args.worker_concurrency})"
            " + redis-server"
        ),
        "wget": "`wget --warc-file` (sample)",
        "wget_req": "`wget --warc-file --page-requisites` (sample)",
        "naive": "naive httpx + trafilatura loop (sample)",
        "cpu": "CPU ceiling: extraction only, all cores",
    }
    rows = []
    for key in ("run", "run_req", "workers", "wget", "wget_req", "naive", "cpu"):
        if key not in runs:
            continue
        r = _median(runs[key])
        rows.append(
            {
                "key": key,
                "name": names[key],
                "urls": r.urls,
                "seconds": f"{r.seconds:.1f}",
                "urls_per_s": f"{r.urls_per_s:.1f}",
                "cpu_ms_per_url": f"{r.cpu_ms_per_url:.1f}",
                "rss": _rss(r),
                "ratio": f"{r.urls_per_s / lowest:.2f}",
                "all": [
                    {"seconds": x.seconds, "cpu_s": x.cpu_seconds, "rss": x.peak_rss, **x.extra}
                    for x in runs[key]
                ],
            }
        )
    extras, targets = _extras(args, only, work, proxy, runs, lowest, lowest_name)
    return {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "site": (
            f"{spec.urls} URLs over {spec.hosts} hosts, {args.latency * 1000:.0f} ms ± "
            f"{args.jitter * 100:.0f}% latency, {spec.min_kb}–{spec.max_kb} KB pages, "
            f"{spec.fault_rate:.0%} faults (404 / {spec.slow_seconds:.0f} s slow / 301); "
            f"wget and naive over a seeded random sample of {ns} URLs; bench web used "
            f"{web_cpu:.1f} CPU s in all"
        ),
        "repeats": args.repeats,
        "rows": rows,
        "ceilings": [
            {
                "name": k + (" (lowest)" if k == lowest_name else ""),
                "urls_per_s": f"{v:.1f}",
                "how": how,
            }
            for k, (v, how) in ceilings.items()
        ],
        "extras": extras,
        "targets": targets,
    }


def _extras(
    args: argparse.Namespace,
    only: set[str],
    work: Path,
    proxy: str,
    runs: dict[str, list[Result]],
    lowest: float,
    lowest_name: str,
) -> tuple[list[dict[str, str]], list[str]]:
    extras: list[dict[str, str]] = []
    targets: list[str] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    for key in ("run", "run_req"):
        if key in runs and "start_s" in _median(runs[key]).extra:
            e = _median(runs[key]).extra
            start, capture, end = (float(e[k]) for k in ("start_s", "capture_s", "end_s"))  # type: ignore[arg-type]
            summary = e.get("breakdown")
            held = ""
            if isinstance(summary, dict) and summary:
                held = (
                    f" (a capture holds its thread {summary['held_p50_ms']:.0f} ms at the "
                    f"median, {summary['held_p90_ms']:.0f} ms at p90)"
                )
            targets.append(
                f"{key}: start to first claim {start:.1f} s, capture phase {capture:.1f} s{held}, "
                f"last capture to exit {end:.1f} s; fixed cost target ≤ 1.5 s at each end: "
                f"{verdict(start <= 1.5 and end <= 1.5)}"
            )
            if isinstance(summary, dict):
                targets += breakdown.describe(key, summary)
            by_process = e.get("cpu_by_process")
            if isinstance(by_process, dict):
                n = _median(runs[key]).urls
                targets.append(
                    f"{key}: CPU ms per URL by process (sampled): "
                    + ", ".join(f"{k} {1000 * v / n:.1f}" for k, v in sorted(by_process.items()))
                )
    for key in ("run", "run_req", "workers"):
        if key in runs:
            r = _median(runs[key])
            ratio = r.urls_per_s / lowest
            targets.append(
                f"{key}: {ratio:.0%} of the lowest ceiling ({lowest_name}, {lowest:.1f} URLs/s); "
                f"target ≥ 70%: {verdict(ratio >= 0.7)}"
            )
            # like with like: the run with requisites against wget --page-requisites
            for base in ("wget_req",) if key == "run_req" else ("wget", "naive"):
                if base in runs:
                    x = r.urls_per_s / _median(runs[base]).urls_per_s
                    targets.append(
                        f"{key} vs {base}: {x:.1f}× faster; target ≥ 10×: {verdict(x >= 10)}"
                    )
    if "extras" not in only:
        return extras, targets
    d = work / "extras"
    d.mkdir()
    huge = scenarios.extra(d, ["huge", "--proxy", proxy, "--mb", str(args.huge_mb)], "huge")
    growth = int(huge["growth"]) / MB  # type: ignore[call-overload]
    extras.append(
        {
            "name": (
                f"{args.huge_mb} MB response streamed into WARC "
                "(worker.fetch.fetcher + archive.warc_writer)"
            ),
            "result": (
                f"peak RSS growth {growth:.1f} MB, {huge['seconds']:.1f} s, "
                f"WARC {int(huge['warc_bytes']) / MB:.0f} MB"  # type: ignore[call-overload]
            ),
            "target": f"< 64 MB: {verdict(growth < 64)}",
        }
    )
    parsed = scenarios.extra(d, ["parse", "--incidents", str(args.big)], "parse")
    ps = float(parsed["seconds"])  # type: ignore[arg-type]
    extras.append(
        {
            "name": (
                f"parse_digest of {parsed['incidents']} incidents ({parsed['sources']} sources)"
            ),
            "result": f"{ps:.2f} s (median of 3)",
            "target": f"< 2 s: {verdict(ps < 2)}",
        }
    )
    rep = scenarios.extra(d, ["report", "--sources", str(args.big), "--repeats", "1"], "report")
    rs = float(rep["seconds"])  # type: ignore[arg-type]
    extras.append(
        {
            "name": (
                f"build_report for {rep['sources']} sources ({rep['incidents']} incidents, SQLite)"
            ),
            "result": f"{rs:.2f} s (one run)",
            "target": f"< 5 s: {verdict(rs < 5)}",
        }
    )
    return extras, targets


if __name__ == "__main__":
    main()
