"""End to end in headless Chromium: an editor queues the September digest and watches it
finish; an auditor reads the report, filters to the broken incidents and follows a
citation link to the archived copy.

Real parts: Debian's chromium (Playwright drives it; no `playwright install`), a private
redis-server, a `sourcevault worker` subprocess fetching through the fixture web, and
the app under uvicorn on 127.0.0.1. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from archive.web.auth import Role, UserStore
from tests.browsers import CHROMIUM, CHROMIUM_ARGS
from tests.fixtureweb import start_fixture_web
from tests.servers import free_port, redis_server
from worker.digest.parse import parse_digest
from worker.digest.read import read_digest_file
from worker.settings import Settings, load_settings

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DIGEST = ROOT / "examples" / "2021-09-kazakhstan.txt"
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORDS = {"editor": "editor-password-e2e", "auditor": "auditor-password-e2e"}

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed (bash .ci/test installs it)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Stack:
    base_url: str
    settings: Settings
    replay_running: bool


@contextlib.contextmanager
def _worker(settings: Settings, env: dict[str, str], log_path: Path) -> Iterator[None]:
    """A real `sourcevault worker` process: the deployment's worker, not an in-process one."""
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "worker", "-c", "4"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def _serve(env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """`sourcevault serve` in its own process: one Celery app, one broker, as deployed."""
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "worker",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(trust_env=False) as client:  # loopback, never a proxy
                for _ in range(1800):  # pywb starts first: up to ~90 s
                    if proc.poll() is not None:
                        raise RuntimeError(f"serve exited: {log_path.read_text()[-2000:]}")
                    with contextlib.suppress(httpx.TransportError):
                        if client.get(f"{base}/healthz").status_code == 200:
                            break
                    time.sleep(0.05)
                else:
                    raise RuntimeError("serve did not answer /healthz")
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _replay_available() -> bool:
    """pywb can run here (archive.replay has it and the uv tool is installed or cached)."""
    try:
        replay = importlib.import_module("archive.replay")
    except ImportError:
        return False
    if not hasattr(replay, "start_pywb"):
        return False
    available = getattr(replay, "pywb_available", lambda: None)
    return available() is None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    with contextlib.ExitStack() as stack:
        fw = stack.enter_context(start_fixture_web("september"))
        broker = stack.enter_context(redis_server(tmp / "redis"))
        replay_port = free_port()
        settings = load_settings(
            data_dir=tmp / "data",
            broker_url=broker,
            concurrency=4,
            replay_base_url=f"http://127.0.0.2:{replay_port}",  # its own site, as by default
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in ("no_proxy", "all_proxy") and not k.startswith("SOURCEVAULT_")
        }
        env.update(fw.env())
        env.update(
            SOURCEVAULT_DATA_DIR=str(settings.data_dir),
            SOURCEVAULT_BROKER_URL=broker,
            SOURCEVAULT_REPLAY_BASE_URL=settings.replay_base_url,
            # politeness has its own tests; here the pages and their CDN's photos just load
            SOURCEVAULT_PER_HOST_DELAY="0",
        )
        stack.enter_context(_worker(settings, env, tmp / "worker.log"))
        users = UserStore(settings.data_dir / "web" / "users.json")
        for role in ("editor", "auditor"):
            users.add(role, Role(role), PASSWORDS[role])
        # the app and pywb fetch nothing: no fixture-web proxy for them
        serve_env = {k: v for k, v in env.items() if k not in fw.env()}
        base_url = stack.enter_context(_serve(serve_env, free_port(), tmp / "serve.log"))
        yield Stack(base_url, settings, replay_running=_replay_available())


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)  # type: ignore[attr-defined]


def _login(page: object, base: str, role: str, next_path: str = "/") -> None:
    page.goto(f"{base}/login?next={next_path}")  # type: ignore[attr-defined]
    page.fill("input[name=username]", role)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORDS[role])  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


def test_editor_queues_and_auditor_follows_a_citation(stack: Stack, browser: object) -> None:
    base = stack.base_url
    expected = parse_digest(read_digest_file(DIGEST), name=DIGEST.stem)
    # the fixture web is loopback only; nothing in the browser may leave the app (127.0.0.1)
    # and replay (127.0.0.2)
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    outside: list[str] = []
    ctx.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("http://127.0.0.1:", "http://127.0.0.2:"))
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page = ctx.new_page()
    page.set_default_timeout(20_000)

    # -- the editor: log in, upload, read the problems, queue, watch it finish
    page.goto(f"{base}/login?next=/digests/new")
    _shot(page, "01-login")
    _login(page, base, "editor", "/digests/new")
    page.wait_for_url(f"{base}/digests/new")
    page.set_input_files("input[name=file]", str(DIGEST))
    page.click("button:text-is('Preview')")
    page.wait_for_selector("#problems")
    problem_codes = page.eval_on_selector_all("tr.problem", "rows => rows.map(r => r.dataset.code)")
    assert problem_codes == [p.code.value for p in expected.problems]
    assert "unsourced_incident" in problem_codes
    _shot(page, "02-preview-problems")
    page.click("#queue")
    page.wait_for_url(f"{base}/digests/2021-09-kazakhstan-*")
    run_id = page.url.rsplit("/", 1)[-1]
    assert page.inner_text("#total") == str(len(expected.sources))
    _shot(page, "03-progress")
    # the page refreshes itself (meta refresh, no script) until the worker is done
    page.wait_for_selector('#progress[data-state="done"]', timeout=60_000)
    assert page.inner_text("#done") == str(len(expected.sources))
    _shot(page, "04-done")
    page.click("button:text-is('Log out')")
    page.wait_for_url(f"{base}/login")
    ctx.close()

    # -- the auditor: browse, filter to the broken incidents, follow a citation
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    _login(page, base, "auditor")
    page.wait_for_url(f"{base}/")
    assert page.locator("text=New digest").count() == 0  # auditors cannot queue
    _shot(page, "05-digests")
    page.click(f"a[href='/digests/{run_id}']")
    page.click(f"a[href='/digests/{run_id}/incidents']")
    page.wait_for_selector("#filters")
    for verdict in ("verified", "needs_review", "unsourced"):
        page.uncheck(f"#filters input[value={verdict}]")
    page.check("#filters input[value=broken]")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/incidents?verdict=broken")
    verdicts = page.eval_on_selector_all(
        "article.incident", "els => els.map(e => e.dataset.verdict)"
    )
    with stack_report(stack, run_id) as report:
        broken = [i.id for i in report.incidents if i.verdict.value == "broken"]
        dead = next(s for s in report.sources if s.status.value == "dead")
    assert verdicts == ["broken"] * len(broken) and broken
    assert page.locator(f"#incident-{broken[0]}").count() == 1
    _shot(page, "06-incidents-broken")

    # the full report page: its inline filter script runs under the page's CSP hash
    page.goto(f"{base}/digests/{run_id}/report")
    for verdict in ("verified", "needs_review", "unsourced"):
        page.uncheck(f"#filters input[value={verdict}]")
    assert page.locator("article.incident:visible").count() == len(broken)
    _shot(page, "07-full-report-broken")

    # a broken incident's citation: the dead page was archived as it was (the 404)
    page.goto(f"{base}/digests/{run_id}/incidents?verdict=broken")
    dead_citation = page.locator(".citation[data-status=dead] a.archived").first
    assert dead_citation.get_attribute("href") == f"/cite/{run_id}/{dead.footnotes[0]}"

    # a verified incident's citation to an azattyq article: /cite → the replay origin
    page.goto(f"{base}/digests/{run_id}/incidents?verdict=verified")
    citation = page.locator(
        ".citation[data-status=ok]:has(a[href*='rus.azattyq.org/a/31438644']) a.archived"
    ).first
    cite_href = citation.get_attribute("href")
    assert cite_href and cite_href.startswith(f"/cite/{run_id}/")
    answer = ctx.request.get(f"{base}{cite_href}", max_redirects=0)
    location = answer.headers["location"]
    assert answer.status == 303
    assert location.startswith(f"{stack.settings.replay_base_url}/{stack.settings.collection}/")
    assert location.endswith("https://rus.azattyq.org/a/31438644.html")
    assert not location.startswith(base)  # archived pages never share the app's origin
    if stack.replay_running:
        citation.click()
        page.wait_for_load_state()
        assert page.url.startswith(stack.settings.replay_base_url)
        assert "Батырбекова" in page.inner_text("body")
        _shot(page, "08-archived-copy")
    else:
        log.warning("archive.replay.start_pywb is not available: the archived copy step is pending")
    ctx.close()
    assert not outside


@contextlib.contextmanager
def stack_report(stack: Stack, run_id: str):  # type: ignore[no-untyped-def]
    from archive.web.service import Service

    service = Service(stack.settings)
    try:
        yield service.report(run_id)
    finally:
        service.close()


def test_the_browser_is_debians_chromium(browser: object) -> None:
    # the system package drives the test, never a build Playwright downloaded
    out = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True).stdout
    assert browser.version in out  # type: ignore[attr-defined]
    assert not (Path.home() / ".cache" / "ms-playwright").exists()
