"""An exported WACZ replays in ReplayWeb.page, and ReplayWeb.page verifies its signature.

Real parts: ReplayWeb.page's own bundles (`ui.js`, `sw.js` from the npm package
`replaywebpage`, unpacked by .ci/test into a cache dir), served with the WACZ from a
loopback static server (with HTTP range requests, which ReplayWeb.page reads the zip
with); Debian's chromium driven by Playwright. The service worker needs a secure
context: http://127.0.0.1 is one. The page fetches nothing else: chromium's own
background traffic is off (the flags of the other browser tests) and every other
request goes to a closed proxy port.

pywb never cared about the ZIP64 field in the local header (it unpacks the WACZ);
ReplayWeb.page reads records out of the zip at offsets, so this is the test that fails
when the zip layout is wrong: 0 of the pages replayed.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import shutil
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.browsers import CHROMIUM
from tests.browsers import CHROMIUM_ARGS as BROWSER_ARGS
from tests.servers import free_port
from tests.wacz_sample import SampleWacz, make_sample_wacz

pytestmark = pytest.mark.integration

REPLAYWEBPAGE_VERSION = "2.5.3"  # .ci/test unpacks this version
CHROMIUM_ARGS = [
    *BROWSER_ARGS,
    # nothing leaves the machine: whatever is not loopback goes to a closed port
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
]
WAIT_MS = 90_000  # a bound on waiting for the replay, not a measured expectation


def replaywebpage_dir() -> Path:
    """Where .ci/test unpacks the npm package (`SOURCEVAULT_REPLAYWEBPAGE_DIR` overrides)."""
    env = os.environ.get("SOURCEVAULT_REPLAYWEBPAGE_DIR")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "sourcevault" / f"replaywebpage-{REPLAYWEBPAGE_VERSION}" / "package"


BUNDLES = replaywebpage_dir()
if not (BUNDLES / "ui.js").is_file() or not (BUNDLES / "sw.js").is_file():
    pytest.skip(
        f"ReplayWeb.page {REPLAYWEBPAGE_VERSION} is not unpacked in {BUNDLES} "
        "(bash .ci/test installs it with npm)",
        allow_module_level=True,
    )
if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed (bash .ci/test installs it)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api")

EMBED = """<!doctype html>
<html><head><meta charset="utf-8"><script src="./ui.js"></script></head>
<body><replay-web-page source="{source}" url="{url}" replayBase="./replay/"
 style="display:block;width:1200px;height:900px"></replay-web-page></body></html>
"""


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """The stdlib's static handler plus single byte ranges (ReplayWeb.page reads the WACZ
    by range) and no caching."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self) -> Any:
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if m is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start_s, end_s = m.groups()
        if start_s:
            start, end = int(start_s), min(int(end_s) if end_s else size - 1, size - 1)
        else:  # a suffix range: the last N bytes
            start, end = max(0, size - int(end_s or 0)), size - 1
        if start > end:
            self.send_error(416, "range not satisfiable")
            return None
        f = open(path, "rb")  # noqa: SIM115  (closed by the stdlib's do_GET/do_HEAD)
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return _Limited(f, end - start + 1)


class _Limited:
    """A file object that ends after `n` bytes (what copyfile reads for a range)."""

    def __init__(self, f: Any, n: int) -> None:
        self._f, self._left = f, n

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._f.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return bytes(data)

    def close(self) -> None:
        self._f.close()


@contextlib.contextmanager
def static_site(root: Path) -> Iterator[str]:
    port = free_port()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), partial(_RangeHandler, directory=str(root))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def site_for(wacz: Path, root: Path, url: str) -> Path:
    """index.html embedding `wacz` at `url`, ReplayWeb.page's ui.js, replay/sw.js."""
    (root / "replay").mkdir(parents=True)
    shutil.copyfile(BUNDLES / "ui.js", root / "ui.js")
    shutil.copyfile(BUNDLES / "sw.js", root / "replay" / "sw.js")
    shutil.copyfile(wacz, root / wacz.name)
    (root / "index.html").write_text(EMBED.format(source=wacz.name, url=url), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleWacz:
    return make_sample_wacz(tmp_path_factory.mktemp("wacz"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


SW_ACTIVE = """async () => {
  const reg = await navigator.serviceWorker.getRegistration("./replay/");
  return !!(reg && reg.active && reg.active.state === "activated");
}"""
MAX_FRAME_RELOADS = 5


def _reload_uncontrolled_replay_frame(page: Any) -> bool:
    """Reload the embed's `replay/?source=` frame if it loaded before ReplayWeb.page's
    service worker was active, once that worker is. The embed does this itself only three
    times, 100 ms apart (webrecorder/replayweb.page#412); on a loaded machine the worker
    (a 1.2 MB script) takes longer to install, and the frame is left showing the static
    server's own answer for replay/. True when it reloaded a frame."""
    for frame in page.frames:
        if "/replay/?source=" not in frame.url:
            continue
        with contextlib.suppress(sync_api.Error):
            controlled = frame.evaluate("() => !!navigator.serviceWorker.controller")
            if not controlled and page.evaluate(SW_ACTIVE):
                frame.evaluate("() => location.reload()")
                return True
    return False


def _replayed_text(page: Any, url: str) -> str:
    """The body text of the frame that replays `url` (ReplayWeb.page nests it two iframes
    deep, under `replay/w/<coll>/<ts>mp_/<url>`), once it holds any."""
    deadline_polls = WAIT_MS // 250
    reloads = 0
    for poll in range(deadline_polls):
        # every 2 s, not at once: the embed's own reloads come first
        if (
            poll % 8 == 7
            and reloads < MAX_FRAME_RELOADS
            and _reload_uncontrolled_replay_frame(page)
        ):
            reloads += 1
        elif (
            poll % 80 == 79
            and reloads < MAX_FRAME_RELOADS
            and not any(f"mp_/{url}" in f.url for f in page.frames)
        ):
            # 20 s and still no replay frame, its worker in whatever state: start over once
            # more (the worker is installed by now, so the embed comes up controlled)
            with contextlib.suppress(sync_api.Error):
                page.reload(wait_until="load")
                reloads += 1
        for frame in page.frames:
            if f"mp_/{url}" in frame.url:
                with contextlib.suppress(sync_api.Error):
                    text = str(frame.evaluate("() => document.body ? document.body.innerText : ''"))
                    if text.strip():
                        return text
        page.wait_for_timeout(250)
    raise AssertionError(
        f"no replay frame with text for {url} after {reloads} reloads; "
        f"frames: {_frame_states(page)}"
    )


def _frame_states(page: Any) -> list[str]:
    """Each frame's URL, whether a service worker controls it and its first text: what a
    failure message needs to tell a slow worker from a page that never came."""
    states = []
    for frame in page.frames:
        try:
            state = frame.evaluate(
                "() => [!!navigator.serviceWorker.controller, document.readyState,"
                " (document.body ? document.body.innerText : '').slice(0, 80)]"
            )
        except sync_api.Error as exc:
            state = f"unreadable: {exc}"[:120]
        states.append(f"{frame.url} {state}")
    try:
        states.append(f"service worker active: {page.evaluate(SW_ACTIVE)}")
    except sync_api.Error as exc:
        states.append(f"service worker unknown: {exc}"[:120])
    return states


VERIFICATION = """async () => {
  // wabac.js keeps what it verified in each collection's IndexedDB 'verification' store
  const out = {};
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((ok, fail) => {
      const req = indexedDB.open(info.name);
      req.onsuccess = () => ok(req.result);
      req.onerror = () => fail(req.error);
    });
    if (db.objectStoreNames.contains("verification")) {
      const rows = await new Promise((ok, fail) => {
        const req = db.transaction("verification").objectStore("verification").getAll();
        req.onsuccess = () => ok(req.result);
        req.onerror = () => fail(req.error);
      });
      for (const row of rows) out[row.id] = row;
    }
    db.close();
  }
  return out;
}"""


def _verification(page: Any) -> dict[str, Any]:
    for _ in range(WAIT_MS // 250):
        rows = dict(page.evaluate(VERIFICATION))
        if any(k.endswith("signature") for k in rows):
            return rows
        page.wait_for_timeout(250)
    return dict(page.evaluate(VERIFICATION))


def _by_suffix(rows: dict[str, Any], name: str) -> dict[str, Any] | None:
    found = [v for k, v in rows.items() if k == name or k.endswith(":" + name)]
    return found[0] if found else None


def test_every_page_of_the_wacz_replays_in_replaywebpage(
    sample: SampleWacz, browser: Any, tmp_path: Path
) -> None:
    replayed = []
    for n, want in enumerate(sample.pages):
        root = site_for(sample.path, tmp_path / f"site-{n}", want.url)
        # a fresh context per page: its own service worker and IndexedDB
        context = browser.new_context()
        try:
            with static_site(root) as base:
                page = context.new_page()
                page.goto(f"{base}/index.html", wait_until="load")
                text = _replayed_text(page, want.url)
        finally:
            context.close()
        assert want.text in text, (want.url, text[:500])
        assert want.title in text
        replayed.append(want.url)
    assert replayed == [p.url for p in sample.pages]


def _replay_and_verification(
    browser: Any, wacz: Path, root: Path, url: str
) -> tuple[str, dict[str, Any]]:
    site_for(wacz, root, url)
    context = browser.new_context()
    try:
        with static_site(root) as base:
            page = context.new_page()
            page.goto(f"{base}/index.html", wait_until="load")
            return _replayed_text(page, url), _verification(page)
    finally:
        context.close()


def _signed_data(wacz: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wacz) as zf:
        return dict(json.loads(zf.read("datapackage-digest.json"))["signedData"])


def test_replaywebpage_verifies_the_wacz_signature(
    sample: SampleWacz, browser: Any, tmp_path: Path
) -> None:
    signed = _signed_data(sample.path)
    want = sample.pages[0]
    text, rows = _replay_and_verification(browser, sample.path, tmp_path / "site", want.url)
    assert want.text in text
    public_key = _by_suffix(rows, "publicKey")
    assert public_key is not None, rows  # imported: wabac.js takes P-384 SPKI keys
    assert public_key["expected"] == signed["publicKey"]
    signature = _by_suffix(rows, "signature")
    assert signature is not None and signature["matched"] is True, rows
    package_hash = _by_suffix(rows, "datapackageHash")
    assert package_hash is not None and package_hash["expected"] == signed["hash"]


def test_replaywebpage_rejects_a_changed_signature(
    sample: SampleWacz, browser: Any, tmp_path: Path
) -> None:
    """The control: the same check fails on a signature with one bit flipped."""
    digest_name = "datapackage-digest.json"
    bad = tmp_path / "bad.wacz"
    with zipfile.ZipFile(sample.path) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == digest_name:
                digest = json.loads(data)
                sig = bytearray(base64.b64decode(digest["signedData"]["signature"]))
                sig[5] ^= 0x01
                digest["signedData"]["signature"] = base64.b64encode(bytes(sig)).decode()
                data = json.dumps(digest, indent=2).encode()
            zout.writestr(info, data)
    want = sample.pages[0]
    text, rows = _replay_and_verification(browser, bad, tmp_path / "site", want.url)
    assert want.text in text  # still replays: the archive is readable, just not vouched for
    signature = _by_suffix(rows, "signature")
    assert signature is not None and signature["matched"] is False, rows
