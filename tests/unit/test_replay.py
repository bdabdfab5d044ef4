"""archive.replay: URLs, pywb's config, and the process wrapper (with a stand-in server).

The real pywb runs in tests/integration/test_replay.py; here a tiny stand-in that takes
the same `-b HOST -p PORT` arguments checks start, readiness, environment and stop.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from archive.replay import (
    PywbError,
    PywbProcess,
    replay_url,
    start_pywb,
    timegate_url,
    timemap_url,
    timestamp14,
    write_pywb_config,
)
from tests.servers import free_port
from worker.report import ReplayUrl
from worker.settings import load_settings

WHEN = dt.datetime(2021, 9, 8, 13, 47, 5, tzinfo=dt.timezone(dt.timedelta(hours=6)))
URL = "https://kaztag.kz/ru/news/x?a=1"

STAND_IN = textwrap.dedent(
    """
    import argparse, http.server, json, os
    p = argparse.ArgumentParser(); p.add_argument("-b"); p.add_argument("-p", type=int)
    a = p.parse_args()
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}).encode()
            self.send_response(200); self.end_headers(); self.wfile.write(body)
        def log_message(self, *args): pass
    http.server.HTTPServer((a.b, a.p), H).serve_forever()
    """
)


def test_urls() -> None:
    base = "http://127.0.0.1:8090/"
    assert timestamp14(WHEN) == "20210908074705"  # UTC
    assert timestamp14(dt.datetime(2021, 9, 8, 7, 47, 5)) == "20210908074705"  # naive = UTC
    assert replay_url(base, "c", URL, WHEN) == f"http://127.0.0.1:8090/c/20210908074705/{URL}"
    assert replay_url(base, "c", URL, "20210908", modifier="mp_").endswith(f"/c/20210908mp_/{URL}")
    assert timemap_url(base, "c", URL) == f"http://127.0.0.1:8090/c/timemap/link/{URL}"
    assert timegate_url(base, "c", URL) == f"http://127.0.0.1:8090/c/{URL}"
    # the report's builder makes the same URL
    assert ReplayUrl(base, "c")(URL, WHEN) == replay_url(base, "c", URL, WHEN)
    with pytest.raises(ValueError):
        timestamp14("yesterday")


def test_config_points_at_the_collections_and_enables_memento(tmp_path: Path) -> None:
    path = write_pywb_config(tmp_path / "data")
    text = path.read_text()
    lines = dict(ln.split(": ", 1) for ln in text.splitlines() if not ln.startswith("#"))
    assert json.loads(lines["collections_root"]) == str((tmp_path / "data/collections").resolve())
    assert lines["enable_memento"] == "true"
    assert lines["framed_replay"] == "false"
    assert lines["redirect_to_exact"] == "true"
    assert "live" not in text and "record" not in text  # never the live web


def test_process_starts_without_proxy_vars_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # an editor's Tor/HTTP proxy
    monkeypatch.setenv("no_proxy", "example.org")
    port = free_port()
    settings = load_settings(data_dir=tmp_path / "data", replay_base_url=f"http://127.0.0.1:{port}")
    with start_pywb(settings, command=[sys.executable, str(script)]) as proc:
        assert proc.port == port and proc.host == "127.0.0.1"
        seen = httpx.get(proc.base_url, trust_env=False, timeout=5).json()
        pid = proc.proc.pid if proc.proc else None
    env = seen["env"]
    assert "HTTPS_PROXY" not in env and "no_proxy" not in env
    assert env["PYWB_CONFIG_FILE"] == str(settings.data_dir / "pywb" / "config.yaml")
    # the collection and every index file exist before pywb lists them
    indexes = settings.indexes_dir
    for name in ("index.cdxj", "live.cdxj", "live-recent.cdxj"):
        assert (indexes / name).exists()
    assert pid is not None and proc.proc is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", trust_env=False, timeout=2)


def test_a_process_that_exits_reports_its_log(tmp_path: Path) -> None:
    bad = [sys.executable, "-c", "import sys; print('no config here'); sys.exit(3)"]
    with pytest.raises(PywbError, match=r"exited with 3: .*no config here"):
        PywbProcess(tmp_path, free_port(), command=bad).start()
