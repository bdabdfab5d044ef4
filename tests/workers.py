"""Real `sourcevault worker` processes for integration tests: start, wait, kill, stop.

Each worker runs in its own session (process group), so `kill()` SIGKILLs the Celery
main process and every prefork child at once, as a crashed container would be, and
teardown never leaves a child behind. The CLI runs through this interpreter
(`python -m worker`), which is the `sourcevault` entry point without `uv`'s startup.

    env = worker_env(broker_url=url, data_dir=tmp, proxy=fw.env(),
                     settings={"VISIBILITY_TIMEOUT": "10"})
    with running_worker(env, log_path=tmp / "w1.log") as w:
        wait_for(lambda: job_done(), timeout=30, what="job done")
        w.kill()

`sourcevault(...)` runs any other CLI command (submit, status) against the same env.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

READY_LINE = " ready."  # Celery logs "celery@<host> ready." once the consumer runs

# Cleared from the inherited environment, so a developer's shell cannot leak into a test.
_SCRUB_PREFIXES = ("SOURCEVAULT_",)
_SCRUB = {
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
}


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{on_timeout()}" if on_timeout else ""
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def worker_env(
    *,
    broker_url: str,
    data_dir: Path,
    proxy: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a worker (or CLI) process: broker, data dir, fixture-web proxy,
    and SOURCEVAULT_<KEY> for each `settings` key."""
    env = {
        k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith(_SCRUB_PREFIXES)
    }
    env.update(proxy or {})
    env["SOURCEVAULT_BROKER_URL"] = broker_url
    env["SOURCEVAULT_DATA_DIR"] = str(data_dir)
    for key, value in (settings or {}).items():
        env[f"SOURCEVAULT_{key.upper()}"] = value
    env["PYTHONUNBUFFERED"] = "1"
    return env


class WorkerProcess:
    """One `sourcevault worker` in its own process group; its output goes to `log_path`."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if not self.alive:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            return READY_LINE in self.log()

        wait_for(ready, timeout=timeout, what="the worker to be ready", on_timeout=self.tail)

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and prefork children)."""
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        """Warm shutdown (SIGTERM: running tasks finish, WARC files close); SIGKILL if stuck."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # prefork children orphaned by a crash of the main process go too
        self._signal_group(signal.SIGKILL)
        return self.proc.returncode

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)  # start_new_session: pgid == pid


def spawn_worker(
    env: Mapping[str, str], *, log_path: Path, pool: str, concurrency: int, queues: str
) -> WorkerProcess:
    """`sourcevault worker` in its own session (so its whole group can be killed)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "worker",
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                f"--queues={queues}",
            ],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return WorkerProcess(proc, log_path)


def start_worker(
    env: Mapping[str, str],
    *,
    log_path: Path,
    pool: str = "threads",
    concurrency: int = 2,
    queues: str = "interactive,default,capture",
    ready_timeout: float = 30.0,
) -> WorkerProcess:
    """Start `sourcevault worker` and wait until its consumer is ready."""
    worker = spawn_worker(env, log_path=log_path, pool=pool, concurrency=concurrency, queues=queues)
    try:
        worker.wait_ready(ready_timeout)
    except BaseException:
        worker.kill()
        raise
    return worker


@contextmanager
def running_worker(
    env: Mapping[str, str],
    *,
    log_path: Path,
    pool: str = "threads",
    concurrency: int = 2,
    queues: str = "interactive,default,capture",
) -> Iterator[WorkerProcess]:
    """`start_worker`, and SIGKILL its process group on the way out whatever happened."""
    worker = start_worker(env, log_path=log_path, pool=pool, concurrency=concurrency, queues=queues)
    try:
        yield worker
    finally:
        if worker.alive:
            worker.kill()
        worker._signal_group(signal.SIGKILL)


def sourcevault(
    env: Mapping[str, str], *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run a `sourcevault` CLI command in a subprocess; raises on a non-zero exit."""
    proc = subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"sourcevault {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@contextmanager
def running_workers(
    env: Mapping[str, str],
    count: int,
    *,
    log_dir: Path,
    pool: str = "threads",
    concurrency: int = 2,
    queues: str = "interactive,default,capture",
    ready_timeout: float = 60.0,
) -> Iterator[list[WorkerProcess]]:
    """`count` workers started in parallel (logs `log_dir/w<i>.log`), all ready on entry;
    every process group is SIGKILLed on the way out whatever happened."""
    log_dir.mkdir(parents=True, exist_ok=True)
    workers: list[WorkerProcess] = []
    try:
        for i in range(count):
            workers.append(
                spawn_worker(
                    env,
                    log_path=log_dir / f"w{i}.log",
                    pool=pool,
                    concurrency=concurrency,
                    queues=queues,
                )
            )
        for w in workers:
            w.wait_ready(ready_timeout)
        yield workers
    finally:
        for w in workers:
            if w.alive:
                w.kill()
            w._signal_group(signal.SIGKILL)
