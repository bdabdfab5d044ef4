"""pywb replay over the data dir's collection: its config, its process, and its URLs.

pywb runs in its own environment, never ours: it pins old libraries and gevent-patches
on import. We launch it with `uv tool run --from pywb==PYWB_VERSION python
archive/replay_front.py` (CI installs the tool first with `uv tool install`): pywb's
`wayback` with our WSGI front around it, which drops every archived `Set-Cookie` and
answers a TimeGate with 302 (see archive.replay_front for why).

Replay lives on another *site* than the web app, not just another port: cookies ignore
ports, and a page on the app's host name is same-site to it. Locally that is another
loopback address (127.0.0.2, the default of `replay_base_url`), in a deployment another
host name (a different registrable domain from the app's). `start_pywb` binds the base
URL's host when it is a loopback address.

The config (`<data>/pywb/config.yaml`) points pywb at `<data>/collections/`, whose
`<coll>/{archive,indexes}` layout archive.collection defines. Replay is unframed
(`framed_replay: false`): `/<coll>/<ts>/<url>` serves the archived page itself with
pywb's banner inserted, so a citation link, a browser test and an httpx fetch all see
the page text in the main document. Memento (RFC 7089) is on: a TimeGate at
`/<coll>/<url>` (send `Accept-Datetime`; it answers 302 to the closest memento, whose
response carries `Memento-Datetime` and `Link`) and a TimeMap at
`/<coll>/timemap/link/<url>`.

It takes paths and URLs, never the worker's Settings: archive/ imports only schemas and
itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from archive.cdxj import ensure_index_files
from archive.collection import Collection

__all__ = [
    "PYWB_PYTHON",
    "PYWB_VERSION",
    "PywbError",
    "PywbProcess",
    "pywb_available",
    "pywb_command",
    "replay_bind_host",
    "replay_front_command",
    "replay_url",
    "start_pywb",
    "timegate_url",
    "timemap_url",
    "timestamp14",
    "write_pywb_config",
]

log = logging.getLogger(__name__)

# 2.10.0 is the newest pywb; it installs and runs on Python 3.11 (it caps Python < 3.13).
PYWB_VERSION = "2.10.0"
PYWB_PYTHON = "3.11"
DEFAULT_PORT = 8090
# Another loopback address than the web app's 127.0.0.1: another site, not just a port.
DEFAULT_HOST = "127.0.0.2"
FRONT_SCRIPT = Path(__file__).with_name("replay_front.py")


class PywbError(RuntimeError):
    """pywb could not be started, or exited; the message carries its log's tail."""


def pywb_command(tool: str = "wayback", *, offline: bool = False) -> list[str]:
    """The argv prefix that runs a pywb executable (`wayback`, `wb-manager`) as a uv tool."""
    cmd = ["uv", "tool", "run"]
    if offline:
        cmd.append("--offline")
    return [*cmd, "--python", PYWB_PYTHON, "--from", f"pywb=={PYWB_VERSION}", tool]


def replay_front_command(*, offline: bool = False) -> list[str]:
    """The argv prefix that runs pywb behind our front (archive/replay_front.py), in pywb's
    environment; it takes `wayback`'s options (`-b HOST -p PORT`)."""
    return [*pywb_command("python", offline=offline), str(FRONT_SCRIPT)]


def replay_bind_host(base_url: str) -> str:
    """Where pywb listens for `base_url`: its host when that is a loopback address, else
    DEFAULT_HOST (a public name belongs to a reverse proxy, which forwards to it)."""
    host = urlsplit(base_url).hostname or ""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return host
    return DEFAULT_HOST


_available: dict[str, str | None] = {}


def pywb_available() -> str | None:
    """None when pywb can run here (installed or cached), else the reason it cannot."""
    if "pywb" not in _available:
        try:
            proc = subprocess.run(
                [*pywb_command(offline=True), "--help"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            reason = None if proc.returncode == 0 else (proc.stderr or proc.stdout)[-500:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        _available["pywb"] = reason
    return _available["pywb"]


def timestamp14(when: dt.datetime | str) -> str:
    """A 14-digit UTC timestamp (pywb's and CDXJ's), from a datetime or digits."""
    if isinstance(when, str):
        digits = "".join(c for c in when if c.isdigit())
        if not 4 <= len(digits) <= 14:
            raise ValueError(f"not a timestamp: {when!r}")
        return digits
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # SQLite drops the zone; we always store UTC
    return when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def replay_url(base: str, coll: str, url: str, ts: dt.datetime | str, *, modifier: str = "") -> str:
    """`<base>/<coll>/<ts><modifier>/<url>`: the capture of `url` closest to `ts`.

    With our unframed config the bare form serves the page with pywb's banner;
    `modifier="mp_"` serves it without the banner, `"id_"` the original bytes.
    """
    return f"{base.rstrip('/')}/{coll}/{timestamp14(ts)}{modifier}/{url}"


def timemap_url(base: str, coll: str, url: str, *, fmt: str = "link") -> str:
    """RFC 7089 TimeMap (application/link-format) listing every capture of `url`."""
    return f"{base.rstrip('/')}/{coll}/timemap/{fmt}/{url}"


def timegate_url(base: str, coll: str, url: str) -> str:
    """RFC 7089 TimeGate: GET with `Accept-Datetime` redirects to the closest memento."""
    return f"{base.rstrip('/')}/{coll}/{url}"


def write_pywb_config(data_dir: Path, *, config_dir: Path | None = None) -> Path:
    """Write pywb's config.yaml for `<data_dir>/collections/`; returns its path.

    Regenerated at every start, so it always matches the data dir. Values are JSON
    strings, which YAML reads as they are.
    """
    data_dir = Path(data_dir).resolve()
    config_dir = Path(config_dir) if config_dir else data_dir / "pywb"
    config_dir.mkdir(parents=True, exist_ok=True)
    text = "\n".join(
        [
            "# Written by sourcevault (archive/replay.py) at every start; edits are lost.",
            f"collections_root: {json.dumps(str(data_dir / 'collections'))}",
            "archive_paths: archive",
            "index_paths: indexes",
            # RFC 7089 TimeGate + TimeMap, and Memento headers on every replayed page
            "enable_memento: true",
            # the page itself at /<coll>/<ts>/<url>, banner inserted: no frame to dig into
            "framed_replay: false",
            # a TimeGate, or a replay URL whose timestamp is not a capture's, redirects to
            # the exact memento URL (302 through our front): the address bar shows when
            # the copy was made
            "redirect_to_exact: true",
            "",
        ]
    )
    path = config_dir / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class PywbProcess:
    """A running `wayback` over a data dir. Use as a context manager: stops on exit."""

    data_dir: Path
    port: int
    host: str = DEFAULT_HOST
    collection: str | None = None
    command: Sequence[str] | None = None
    startup_timeout: float = 60.0
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    log_path: Path | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> PywbProcess:
        if self.proc is not None:
            return self
        data_dir = Path(self.data_dir).resolve()
        if self.collection:
            coll = Collection(data_dir, self.collection).ensure()
            ensure_index_files(coll.indexes_dir)  # pywb caches the index file list
        config = write_pywb_config(data_dir)
        self.log_path = config.parent / "pywb.log"
        argv = [*(self.command or replay_front_command()), "-b", self.host, "-p", str(self.port)]
        env = _pywb_env(config)
        log.info("starting pywb on %s: %s", self.base_url, " ".join(argv))
        with open(self.log_path, "ab") as out:
            # its own session: stop() signals the whole group (uv and the pywb under it)
            self.proc = subprocess.Popen(
                argv,
                cwd=config.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("pywb ready on %s", self.base_url)
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PywbError(f"pywb exited with {self.proc.returncode}: {self._log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                # trust_env=False: a proxy in the environment must not carry a loopback probe
                resp = httpx.get(self.base_url + "/", timeout=2.0, trust_env=False)
                if resp.status_code == 200:
                    return
            time.sleep(0.1)
        raise PywbError(
            f"pywb did not answer on {self.base_url} within {self.startup_timeout:.0f}s: "
            f"{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text("utf-8", errors="replace")[-2000:]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.info("pywb on %s stopped", self.base_url)

    def __enter__(self) -> PywbProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def _pywb_env(config: Path) -> dict[str, str]:
    # No proxy variables: pywb's front end calls its own warcserver over HTTP on
    # 127.0.0.1 with `requests`, which would send that through an editor's proxy (502).
    # Replay never needs the live web anyway.
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env["PYWB_CONFIG_FILE"] = str(config)
    return env


def start_pywb(
    data_dir: Path | str,
    port: int | None = None,
    host: str | None = None,
    *,
    replay_base_url: str | None = None,
    collection: str | None = None,
    command: Sequence[str] | None = None,
) -> PywbProcess:
    """Start pywb over a data dir and wait until it answers; returns the running process.

    With `replay_base_url` (settings.replay_base_url), the port and host come from it:
    its port (default 8090) and its host when that is a loopback address, else 127.0.0.2
    (a public name belongs to a reverse proxy in front of it; see `replay_bind_host`).
    Use the result as a context manager (`with start_pywb(...) as pywb:`) or `stop()`.
    """
    if replay_base_url is not None:
        if port is None:
            port = urlsplit(replay_base_url).port or DEFAULT_PORT
        if host is None:
            host = replay_bind_host(replay_base_url)
    process = PywbProcess(
        data_dir=Path(data_dir),
        port=port if port is not None else DEFAULT_PORT,
        host=host or DEFAULT_HOST,
        collection=collection,
        command=command,
    )
    return process.start()
