"""`sourcevault serve`: the web app under uvicorn, plus replay and (optionally) a broker.

With `embedded=True` and no broker configured, a private Valkey and an in-process
Celery worker start first (worker.queue.embedded), so a fresh machine can serve, queue and
capture with one command. pywb starts through archive.replay when that module has it,
on its own site (127.0.0.2 by default): never on the app's host name (`replay_site_problem`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
from collections.abc import Iterator
from urllib.parse import urlsplit

import uvicorn

from archive.web.app import create_app
from archive.web.config import WebConfig
from worker.settings import Settings

log = logging.getLogger(__name__)


@contextlib.contextmanager
def embedded_queue(settings: Settings) -> Iterator[Settings]:
    """Settings with a broker: the configured one, or a private Valkey + in-process worker."""
    if settings.broker_url:
        yield settings
        return
    from worker.queue.app import configure
    from worker.queue.embedded import embedded_broker, in_process_worker

    with embedded_broker(settings.data_dir) as url:
        with_broker = settings.model_copy(update={"broker_url": url})
        celery = configure(with_broker, url)
        with in_process_worker(celery, concurrency=settings.concurrency):
            yield with_broker


@contextlib.contextmanager
def replay(settings: Settings) -> Iterator[object | None]:
    """pywb over the collection, when archive.replay provides `start_pywb`."""
    try:
        replay_mod = importlib.import_module("archive.replay")  # built by the replay work
    except ImportError:
        log.warning("archive.replay is not available: archived copies will not open")
        yield None
        return
    start = getattr(replay_mod, "start_pywb", None)
    if start is None:
        log.warning("archive.replay has no start_pywb: archived copies will not open")
        yield None
        return
    available = getattr(replay_mod, "pywb_available", lambda: None)
    reason = available()
    if reason is not None:
        log.warning("pywb cannot run here, archived copies will not open: %s", reason)
        yield None
        return
    try:
        handle = start(
            settings.data_dir,
            replay_base_url=settings.replay_base_url,
            collection=settings.collection,
        )
    except RuntimeError as exc:  # PywbError: the app still serves reports without replay
        log.error("pywb did not start, archived copies will not open: %s", exc)
        yield None
        return
    try:
        # start_pywb may hand back a context manager or a process-like object
        if hasattr(handle, "__enter__"):
            with handle as entered:
                yield entered
        else:
            yield handle
    finally:
        stop = getattr(handle, "stop", None) or getattr(handle, "terminate", None)
        if callable(stop) and not hasattr(handle, "__enter__"):
            stop()


def replay_site_problem(app_host: str, replay_base_url: str) -> str | None:
    """Why replay at `replay_base_url` would share a site with the app on `app_host`.

    Cookies ignore ports and SameSite compares sites, not origins: an archived page
    served from the app's own host name, on any port, could plant cookies for the app
    and have its forms carry the app's session. Replay needs another host: locally
    another loopback address (127.0.0.2), deployed its own host name.
    """
    replay_host = (urlsplit(replay_base_url).hostname or "").lower()
    if replay_host and replay_host == app_host.strip("[]").lower():
        return (
            f"replay_base_url {replay_base_url} is on the web app's host {app_host}: archived "
            "pages would be same-site with the app. Give replay another host "
            "(SOURCEVAULT_REPLAY_BASE_URL=http://127.0.0.2:8090 locally, its own host name "
            "when deployed)"
        )
    return None


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    embedded: bool = False,
    with_replay: bool = True,
) -> None:
    config = WebConfig()
    problem = replay_site_problem(host, settings.replay_base_url)
    if problem is not None:
        raise SystemExit(f"error: {problem}")
    with contextlib.ExitStack() as stack:
        if embedded:
            settings = stack.enter_context(embedded_queue(settings))
        if with_replay:
            stack.enter_context(replay(settings))
        app = create_app(settings, config)
        log.info("serving on http://%s:%d/", host, port)
        # uvicorn re-raises SIGTERM after its graceful shutdown; the default action would
        # kill us before the ExitStack stops pywb, the worker and the private Valkey.
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
