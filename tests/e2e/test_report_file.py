"""The stand-alone report.html in Chromium: hostile footnotes run nothing, the filter works.

The file is opened from disk (file://), as an auditor who was mailed it would, so the
only policy in force is the page's own <meta> Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.web.render import render_html
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.unit.test_report_injection import GOOD_URL, hostile_report

sync_api = pytest.importorskip("playwright.sync_api")


def test_hostile_report_file_runs_no_script_and_filters_under_its_policy(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(hostile_report()), encoding="utf-8")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            dialogs: list[str] = []

            def on_dialog(dialog: object) -> None:
                dialogs.append(dialog.message)  # type: ignore[attr-defined]
                dialog.dismiss()  # type: ignore[attr-defined]

            page.on("dialog", on_dialog)
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.route("http*://**", lambda route: route.abort())  # never leave the file
            page.goto(path.as_uri())
            # every link on the page: only the real article and in-page anchors
            hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
            assert GOOD_URL in hrefs
            assert all(h == GOOD_URL or h.startswith("#") for h in hrefs), hrefs
            # the hostile footnote is shown as text; clicking it does nothing
            page.get_by_text("javascript://x%0Aalert(1)", exact=True).first.click()
            assert dialogs == []
            # the one allowed script runs: unticking "invalid" hides those citations
            shown = "els => els.filter(e => e.style.display !== 'none').length"
            before = page.eval_on_selector_all(".citation", shown)
            page.uncheck("#filters input[name=status][value=invalid]")
            after = page.eval_on_selector_all(".citation", shown)
            assert (before, after) == (len(hostile_report().incidents[0].citations), 1)
            assert [u for u in requests if not u.startswith("file:")] == []
        finally:
            browser.close()
