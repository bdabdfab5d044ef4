"""Measure subprocesses: wall time, CPU seconds and the peak RSS of every process in their trees.

`Measured` starts processes (`start`), samples every process tree below them with psutil
(`rss`, and the kernel's own high-water mark `VmHWM`, so a spike between samples still
counts), and on `finish` reaps each root with `os.wait4`, whose rusage includes every
descendant the root reaped itself. Long-lived roots (redis-server, workers) can be
measured over a window: `cpu_window()` reads psutil CPU times at both ends.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = ["Measured", "ProcStats"]


@dataclass
class ProcStats:
    label: str
    peak_rss: int = 0  # bytes
    cpu: float = 0.0  # seconds, last seen (user + system)


@dataclass
class Measured:
    interval: float = 0.1
    procs: dict[int, ProcStats] = field(default_factory=dict)
    roots: dict[int, tuple[subprocess.Popen[bytes], str]] = field(default_factory=dict)
    root_pids: set[int] = field(default_factory=set)  # every root started, reaped or not
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    reaped_cpu: float = 0.0
    peak_total_rss: int = 0

    def start(
        self,
        label: str,
        argv: list[str],
        *,
        env: dict[str, str],
        log: Path,
        err: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `argv`; stdout to `log`, stderr to `err` (or to `log` too)."""
        out = open(log, "ab")  # noqa: SIM115 - closed right after the start
        errf = open(err, "ab") if err else None  # noqa: SIM115
        stderr = errf if errf is not None else subprocess.STDOUT
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=stderr)
        out.close()
        if errf is not None:
            errf.close()
        self.roots[proc.pid] = (proc, label)
        self.root_pids.add(proc.pid)
        self.procs[proc.pid] = ProcStats(label)
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return proc

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        total = 0
        for pid, (_proc, label) in list(self.roots.items()):
            try:
                root = psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for p in tree:
                try:
                    with p.oneshot():
                        rss = p.memory_info().rss
                        cpu = p.cpu_times()
                        name = p.name()
                    hwm = _vm_hwm(p.pid)
                except psutil.Error:
                    continue
                stats = self.procs.setdefault(p.pid, ProcStats(f"{label}/{name}"))
                stats.peak_rss = max(stats.peak_rss, rss, hwm)
                stats.cpu = cpu.user + cpu.system
                total += rss
        self.peak_total_rss = max(self.peak_total_rss, total)

    def wait(self, proc: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        """Reap `proc` with wait4 (its rusage counts the descendants it reaped)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.roots[proc.pid][1]} still running after {timeout} s")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.reaped_cpu += usage.ru_utime + usage.ru_stime
        stats = self.procs[proc.pid]
        stats.peak_rss = max(stats.peak_rss, usage.ru_maxrss * 1024)
        del self.roots[proc.pid]
        return proc.returncode

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def tree_cpu(self, pid: int) -> float:
        """CPU seconds of a live process and its live descendants, right now."""
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for p in tree:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds by role, as last sampled (up to `interval` short at each process's
        end): the root itself, its Python children (extraction processes and their fork
        server), and other programs by name (valkey-server)."""
        out: dict[str, float] = {}
        for pid, s in self.procs.items():
            name = s.label.rsplit("/", 1)[-1]
            role = (
                "main" if pid in self.root_pids
                else "python children" if name.startswith("python")
                else name
            )  # fmt: skip
            out[role] = out.get(role, 0.0) + s.cpu
        return out

    def peaks(self) -> dict[str, int]:
        """Peak RSS by label (the largest of processes sharing one label)."""
        out: dict[str, int] = {}
        for s in self.procs.values():
            out[s.label] = max(out.get(s.label, 0), s.peak_rss)
        return out


def _vm_hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
