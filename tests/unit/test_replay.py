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
    DEFAULT_HOST,
    FRONT_SCRIPT,
    PywbError,
    PywbProcess,
    replay_bind_host,
    replay_front_command,
    replay_url,
    start_pywb,
    timegate_url,
    timemap_url,
    timestamp14,
    write_pywb_config,
)
from archive.replay_front import ReplayFront
from archive.web.server import replay_site_problem
from tests.servers import free_port
from worker.report.build import ReplayUrl
from worker.settings import Settings, SettingsError, load_settings

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
    settings = load_settings(data_dir=tmp_path / "data", replay_base_url=f"http://127.0.0.2:{port}")
    with start_pywb(
        settings.data_dir,
        replay_base_url=settings.replay_base_url,
        collection=settings.collection,
        command=[sys.executable, str(script)],
    ) as proc:
        assert proc.port == port and proc.host == "127.0.0.2"  # the base URL's loopback host
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
        httpx.get(f"http://127.0.0.2:{port}/", trust_env=False, timeout=2)


def test_a_process_that_exits_reports_its_log(tmp_path: Path) -> None:
    bad = [sys.executable, "-c", "import sys; print('no config here'); sys.exit(3)"]
    with pytest.raises(PywbError, match=r"exited with 3: .*no config here"):
        PywbProcess(tmp_path, free_port(), command=bad).start()


# -- replay's own site, and our front on pywb -------------------------------------------


def test_replay_is_on_another_site_by_default(tmp_path: Path) -> None:
    default = Settings(data_dir=tmp_path).replay_base_url
    assert default == "http://127.0.0.2:8090"
    assert replay_bind_host(default) == DEFAULT_HOST == "127.0.0.2"
    assert replay_bind_host("http://127.0.0.3:9000") == "127.0.0.3"
    # a public name belongs to a reverse proxy, which forwards to the loopback bind
    assert replay_bind_host("https://replay.example-archive.org") == DEFAULT_HOST
    assert replay_bind_host("http://10.0.0.5:8090") == DEFAULT_HOST  # never a public bind
    # serve refuses replay on the app's own host name, whatever the port
    assert replay_site_problem("127.0.0.1", "http://127.0.0.1:8090") is not None
    assert replay_site_problem("sv.example.org", "https://SV.example.org:8443/") is not None
    assert replay_site_problem("127.0.0.1", default) is None
    assert replay_site_problem("0.0.0.0", "https://replay.example-archive.org") is None


@pytest.mark.parametrize("bad", ["127.0.0.2:8090", "ftp://127.0.0.2/", "http:///x", "http://h/?q"])
def test_a_replay_base_must_be_a_plain_http_url(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SettingsError, match="replay_base_url"):
        load_settings(data_dir=tmp_path, replay_base_url=bad)
    assert load_settings(
        data_dir=tmp_path, replay_base_url="https://r.example/"
    ).replay_base_url == ("https://r.example")


def test_pywb_runs_behind_the_front() -> None:
    argv = replay_front_command()
    assert argv[-2:] == ["python", str(FRONT_SCRIPT)] and FRONT_SCRIPT.exists()
    assert "--from" in argv and argv[argv.index("--from") + 1].startswith("pywb==")


def _call(app: ReplayFront, method: str = "GET") -> tuple[str, list[tuple[str, str]], bytes]:
    seen: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None):  # type: ignore[no-untyped-def]
        seen.update(status=status, headers=headers)

    body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": "/"}, start_response))
    return str(seen["status"]), list(seen["headers"]), body  # type: ignore[call-overload]


def _archived(status: str):  # type: ignore[no-untyped-def]
    """A stand-in for pywb's WSGI app: an archived response with its cookies."""

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response(
            status,
            [
                ("Content-Type", "text/html"),
                ("Set-Cookie", "sv_csrf=planted; Path=/"),
                ("set-cookie", "b=2"),
                ("Set-Cookie2", "c=3"),
                ("Clear-Site-Data", '"cookies"'),
                ("Location", "/coll/20210908074705/https://example.org/"),
                ("Memento-Datetime", "Wed, 08 Sep 2021 07:47:05 GMT"),
            ],
        )
        return [b"<p>archived</p>"]

    return app


def test_the_front_drops_every_archived_cookie() -> None:
    status, headers, body = _call(ReplayFront(_archived("200 OK")))
    names = [k.lower() for k, _ in headers]
    assert status == "200 OK" and body == b"<p>archived</p>"
    assert not {"set-cookie", "set-cookie2", "clear-site-data"} & set(names)
    assert names == ["content-type", "location", "memento-datetime"]  # the rest untouched


def test_the_front_answers_a_timegate_with_302() -> None:
    assert _call(ReplayFront(_archived("307 Temporary Redirect")))[0] == "302 Found"
    assert _call(ReplayFront(_archived("307 Redirect")), "HEAD")[0] == "302 Found"
    # a POST keeps 307 (its method and body must survive the redirect); others untouched
    assert _call(ReplayFront(_archived("307 Redirect")), "POST")[0] == "307 Redirect"
    assert _call(ReplayFront(_archived("301 Moved Permanently")))[0] == "301 Moved Permanently"
    assert _call(ReplayFront(_archived("404 Not Found")))[0] == "404 Not Found"


def test_compose_publishes_replay_on_its_own_site_behind_the_front() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text("utf-8"))
    pywb, web = compose["services"]["pywb"], compose["services"]["web"]
    assert [p.rsplit(":", 2)[0] for p in pywb["ports"]] == ["127.0.0.2"]
    assert [p.rsplit(":", 2)[0] for p in web["ports"]] == ["127.0.0.1"]
    assert pywb["command"][:2] == ["python", "/sourcevault/replay_front.py"]
    assert "./archive/replay_front.py:/sourcevault/replay_front.py:ro" in pywb["volumes"]
    env = compose["x-sourcevault"]["environment"]
    assert "127.0.0.2:8090" in env["SOURCEVAULT_REPLAY_BASE_URL"]
