"""One function per measured contender; each returns a `Result` (wall, CPU, peak RSS).

Every contender runs as subprocesses sampled by `bench.procs.Measured`, against the
bench web (`HTTP_PROXY` pointing at it), with a fresh data dir per repetition.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench import breakdown
from bench.procs import Measured

PY = sys.executable
MB = 1024 * 1024


@dataclass
class Result:
    name: str
    urls: int
    seconds: float
    cpu_seconds: float
    peak_rss: dict[str, int]  # by process label
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def urls_per_s(self) -> float:
        return self.urls / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_url(self) -> float:
        return 1000 * self.cpu_seconds / self.urls if self.urls else 0.0

    @property
    def largest_rss(self) -> int:
        return max(self.peak_rss.values(), default=0)

    @property
    def total_rss(self) -> int:
        return sum(self.peak_rss.values())


def bench_env(proxy: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and not k.startswith("SOURCEVAULT_")
    }
    env.update(HTTP_PROXY=proxy, http_proxy=proxy, PYTHONUNBUFFERED="1", **extra)
    return env


def embedded_run(
    work: Path,
    digest: Path,
    proxy: str,
    n_urls: int,
    concurrency: int | None,
    *,
    requisites: bool = False,
) -> Result:
    """`sourcevault run` with no broker: private Valkey + in-process threads worker; the
    pages alone (as `wget --warc-file` fetches them), or with their requisites."""
    data = work / "data"
    m = Measured()
    argv = [PY, "-m", "worker", "run", str(digest), "--out", str(work / "report")]
    argv += ["--data-dir", str(data)]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    timings = work / "timings.jsonl"  # where each capture's time went (worker.timings)
    env = bench_env(
        proxy, SOURCEVAULT_REQUISITES=str(requisites).lower(), SOURCEVAULT_TIMINGS_FILE=str(timings)
    )
    start, began = time.perf_counter(), dt.datetime.now(dt.UTC).replace(tzinfo=None)
    began_at = time.time()
    proc = m.start("run", argv, env=env, log=work / "run.log")
    rc = m.wait(proc, timeout=3600)
    seconds, ended_at = time.perf_counter() - start, time.time()
    m.stop()
    if rc != 0:
        raise RuntimeError(f"sourcevault run exited {rc}: see {work / 'run.log'}")
    counts = json.loads((work / "report" / "report.json").read_text())["digest"]["counts"]
    extra = {"counts": _status_counts(counts), **phases(data / "sourcevault.db", began, seconds)}
    extra["breakdown"] = breakdown.summarise(timings, began=began_at, ended=ended_at)
    extra["cpu_by_process"] = m.cpu_by_process()
    return Result("run", n_urls, seconds, m.reaped_cpu, m.peaks(), extra)


def phases(db: Path, began: dt.datetime, seconds: float) -> dict[str, float]:
    """Where a run's wall time went, from its attempts' rows (naive UTC): start of the
    command to the first claim (imports, broker, worker, extraction processes), the
    capture phase (first claim to last finish), and the last finish to the exit
    (finalize: report, seal; stopping the worker and the broker)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT started_at, finished_at FROM attempts WHERE finished_at IS NOT NULL"
        ).fetchall()
    spans = [tuple(dt.datetime.fromisoformat(v) for v in row) for row in rows]
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    head, middle = (first - began).total_seconds(), (last - first).total_seconds()
    return {"start_s": head, "capture_s": middle, "end_s": seconds - head - middle}


def _status_counts(counts: dict[str, int]) -> dict[str, int]:
    return {k.removeprefix("status_"): v for k, v in counts.items() if k.startswith("status_")}


def redis_workers(
    work: Path, digest: Path, proxy: str, n_urls: int, workers: int, concurrency: int
) -> Result:
    """`sourcevault worker` × N on a real redis-server (pages only); `submit`, then poll
    the run's row."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    data = work / "data"
    m = Measured()
    port = _free_port()
    rdir = work / "redis"
    rdir.mkdir(parents=True)
    rargs = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir)]
    rargs += ["--save", "", "--appendonly", "yes"]
    server = m.start("redis-server", rargs, env=dict(os.environ), log=rdir / "redis.log")
    url = f"redis://127.0.0.1:{port}/0"
    _wait_ping(url)
    env = bench_env(
        proxy,
        SOURCEVAULT_BROKER_URL=url,
        SOURCEVAULT_DATA_DIR=str(data),
        SOURCEVAULT_REQUISITES="false",  # pages only, as `wget --warc-file`
    )
    procs = []
    for i in range(workers):
        argv = [PY, "-m", "worker", "worker", "-c", str(concurrency)]
        procs.append(m.start(f"worker{i}", argv, env=env, log=work / f"worker{i}.log"))
    _wait_ready([work / f"worker{i}.log" for i in range(workers)])
    busy_before = sum(m.tree_cpu(p.pid) for p in [server, *procs])
    start = time.perf_counter()
    submit = m.start(
        "submit",
        [PY, "-m", "worker", "submit", str(digest)],
        env=env,
        log=work / "submit.out",
        err=work / "submit.log",
    )
    if m.wait(submit, timeout=600) != 0:
        raise RuntimeError(f"submit failed: see {work / 'submit.log'}")
    run_id = (work / "submit.out").read_text().strip().splitlines()[-1].strip()
    # Poll the run's row from here (one SQL query every 0.2 s, the harness's own CPU): a
    # `status --json` process per poll cost ~1.4 CPU s each and competed with the workers.
    polls = _wait_run_done(data / "sourcevault.db", run_id, start)
    seconds = time.perf_counter() - start
    polling_cpu = m.reaped_cpu  # `submit`
    m.sample()
    busy = sum(m.tree_cpu(p.pid) for p in [server, *procs]) - busy_before
    log = work / "status.log"  # the user's view of the finished run, not counted
    status = m.start(
        "status", [PY, "-m", "worker", "status", run_id, "--json"], env=env, log=log,
        err=log.with_suffix(".err"),
    )  # fmt: skip
    m.wait(status, timeout=120)
    state = json.loads(log.read_text().strip().splitlines()[-1])
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        m.wait(p, timeout=60)
    server.terminate()
    m.wait(server, timeout=30)
    m.stop()
    peaks = {k: v for k, v in m.peaks().items() if k not in ("submit", "status")}
    peaks["submit/status (each)"] = max(m.peaks().get("submit", 0), m.peaks().get("status", 0))
    return Result(
        f"workers×{workers}",
        n_urls,
        seconds,
        busy + polling_cpu,
        peaks,
        {"state": state, "polls": polls, "submit_cpu_s": round(polling_cpu, 2), "run_id": run_id},
    )


def _wait_run_done(db: Path, run_id: str, start: float) -> int:
    polls = 0
    while True:
        polls += 1
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is not None and row[0] in ("done", "failed"):
            return polls
        if time.perf_counter() - start > 3600:
            raise TimeoutError(f"run {run_id} not done after an hour (state {row})")
        time.sleep(0.2)


def wget(
    work: Path, urls_file: Path, proxy: str, n_urls: int, *, requisites: bool = False
) -> Result:
    """`wget --warc-file` over the URL list, through the same proxy (sequential, like wget);
    with `requisites`, `--page-requisites` too."""
    m = Measured()
    files = work / "files"
    argv = ["wget", "-q", "--tries=1", "--timeout=60", "-e", "robots=off"]
    argv += ["-e", "use_proxy=yes", "-e", f"http_proxy={proxy}", "--delete-after"]
    argv += ["-P", str(files), f"--warc-file={work / 'wget'}", "-i", str(urls_file)]
    argv += ["--page-requisites"] if requisites else []
    start = time.perf_counter()
    proc = m.start("wget", argv, env=bench_env(proxy), log=work / "wget.log")
    rc = m.wait(proc, timeout=3600)
    seconds = time.perf_counter() - start
    m.stop()
    if rc not in (0, 8):  # 8: some server answered an error (the 404 faults)
        raise RuntimeError(f"wget exited {rc}: see {work / 'wget.log'}")
    warc = work / "wget.warc.gz"
    return Result(
        "wget", n_urls, seconds, m.reaped_cpu, m.peaks(), {"warc_bytes": warc.stat().st_size}
    )


def naive(work: Path, urls_file: Path, proxy: str, n_urls: int) -> Result:
    m = Measured()
    start = time.perf_counter()
    argv = [PY, "-m", "bench.naive", str(urls_file), "--proxy", proxy]
    proc = m.start("naive", argv, env=bench_env(proxy), log=work / "naive.log")
    rc = m.wait(proc, timeout=3600)
    seconds = time.perf_counter() - start
    m.stop()
    if rc != 0:
        raise RuntimeError(f"naive script exited {rc}: see {work / 'naive.log'}")
    out = json.loads((work / "naive.log").read_text().strip().splitlines()[-1])
    return Result("naive", n_urls, seconds, m.reaped_cpu, m.peaks(), out)


def cpu_ceiling(work: Path, site_argv: list[str], n_urls: int) -> Result:
    m = Measured()
    argv = [PY, "-m", "bench.cpu_ceiling", *site_argv]
    proc = m.start("cpu-ceiling", argv, env=dict(os.environ), log=work / "cpu.log")
    rc = m.wait(proc, timeout=3600)
    m.stop()
    if rc != 0:
        raise RuntimeError(f"cpu ceiling exited {rc}: see {work / 'cpu.log'}")
    out = json.loads((work / "cpu.log").read_text().strip().splitlines()[-1])
    # the URL list's extractable pages, timed: URLs per second as if only extraction ran
    return Result("cpu", n_urls, out["seconds"], out["cpu_seconds"], m.peaks(), out)


def extra(work: Path, args: list[str], name: str) -> dict[str, object]:
    m = Measured()
    log = work / f"extra-{name}.log"
    proc = m.start(name, [PY, "-m", "bench.extras", *args], env=dict(os.environ), log=log)
    rc = m.wait(proc, timeout=3600)
    m.stop()
    if rc != 0:
        raise RuntimeError(f"bench.extras {name} exited {rc}: see {log}")
    out: dict[str, object] = json.loads(log.read_text().strip().splitlines()[-1])
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ping(url: str) -> None:
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            if client.ping():
                client.close()
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server at {url} did not answer")


def _wait_ready(logs: list[Path], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(p.exists() and b" ready." in p.read_bytes() for p in logs):
            return
        time.sleep(0.2)
    raise RuntimeError(f"workers not ready after {timeout} s: see {logs}")
