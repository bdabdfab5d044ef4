"""CSRF from the replay origin, in headless Chromium (issue #15 item 1).

An editor is logged in to the app; an archived page (tests/integration/hostile_page.py:
its archived response sets the app's cookies, its script sets them too, and it
auto-posts a digest to the app's queue form) is opened from replay. Nothing may be
queued, no archived cookie may reach the browser, and the editor's own form still queues.

Real parts: Debian's chromium (Playwright, no `playwright install`), a private
redis-server as the broker (no worker: a queued run stays queued, which is what is
counted), and `sourcevault serve` in its own process starting pywb behind our front on
127.0.0.2. Everything stays on loopback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from archive.replay import replay_url
from archive.web.auth import Role, UserStore
from archive.web.service import Service
from tests.e2e.test_browser import CHROMIUM as CHROMIUM_PATH
from tests.e2e.test_browser import CHROMIUM_ARGS, PASSWORDS, _replay_available, _serve
from tests.integration.hostile_page import PLANTED, HostilePage, write_hostile_page
from tests.servers import free_port, redis_server
from worker.settings import Settings, load_settings

pytestmark = pytest.mark.integration
sync_api = pytest.importorskip("playwright.sync_api")

LEGIT_DIGEST = (
    "On September 2, in Almaty, an activist was detained by the police[1].\n"
    "[1]https://kaztag.kz/ru/news/legit\n"
)


@dataclass
class Stack:
    base_url: str
    settings: Settings
    hostile: HostilePage


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not _replay_available():
        pytest.skip("pywb is not installed as a uv tool (.ci/test installs it)")
    tmp = tmp_path_factory.mktemp("replay-csrf")
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(redis_server(tmp / "redis"))
        app_port = free_port()
        base = f"http://127.0.0.1:{app_port}"
        settings = load_settings(
            data_dir=tmp / "data",
            broker_url=broker,
            replay_base_url=f"http://127.0.0.2:{free_port()}",
        )
        users = UserStore(settings.data_dir / "web" / "users.json")
        users.add("editor", Role.EDITOR, PASSWORDS["editor"])
        hostile = write_hostile_page(settings.archive_dir, base)
        env = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
            and not k.startswith("SOURCEVAULT_")
        }
        env.update(
            SOURCEVAULT_DATA_DIR=str(settings.data_dir),
            SOURCEVAULT_BROKER_URL=broker,
            SOURCEVAULT_REPLAY_BASE_URL=settings.replay_base_url,
        )
        stack.enter_context(_serve(env, app_port, tmp / "serve.log"))
        yield Stack(base, settings, hostile)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _runs(settings: Settings) -> list[str]:
    service = Service(settings)
    try:
        return [r.id for r in service.runs()]
    finally:
        service.close()


def test_a_replayed_page_cannot_queue_in_the_editors_name(stack: Stack, browser: object) -> None:
    base, settings = stack.base_url, stack.settings
    ctx = browser.new_context()  # type: ignore[attr-defined]
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
    page.set_default_timeout(30_000)

    # the editor logs in to the app
    page.goto(f"{base}/login?next=/digests/new")
    page.fill("input[name=username]", "editor")
    page.fill("input[name=password]", PASSWORDS["editor"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/digests/new")

    # ...and opens an archived page from replay (the original bytes: `id_`)
    hostile = replay_url(
        settings.replay_base_url,
        settings.collection,
        stack.hostile.url,
        stack.hostile.fetched_at,
        modifier="id_",
    )
    assert hostile.startswith("http://127.0.0.2:")
    with (
        page.expect_response(
            lambda r: r.url == f"{base}/digests" and r.request.method == "POST"
        ) as forged,
        page.expect_response(lambda r: r.url == hostile) as replayed,
    ):
        page.goto(hostile)
    assert replayed.value.status == 200
    assert "set-cookie" not in replayed.value.all_headers()  # replay sent no cookie
    assert forged.value.status == 403  # the auto-submitted form was refused
    assert _runs(settings) == []  # and nothing was queued

    # no cookie of the archived response's reached the browser; the page's own script
    # could set cookies only for the replay host, never for the app's
    cookies = ctx.cookies()
    assert not [c for c in cookies if c["name"] == "sv_archived_header"]
    app_cookies = {c["name"]: c["value"] for c in cookies if c["domain"] == "127.0.0.1"}
    assert PLANTED not in app_cookies.values() and "sv_csrf" not in app_cookies
    assert "sv_session" in app_cookies

    # the editor's own form still queues
    page.goto(f"{base}/digests/new")
    page.fill("textarea[name=text]", LEGIT_DIGEST)
    page.fill("input[name=name]", "legit")
    page.click("button:text-is('Preview')")
    page.click("#queue")
    page.wait_for_url(f"{base}/digests/legit-*")
    assert len(_runs(settings)) == 1
    ctx.close()
    assert not outside
