"""The web app serves the sealed report, and the digest written back with Robust Links."""

from __future__ import annotations

import io

from docx import Document
from lxml import html as lxml_html

from tests.unit.test_robustify import DEAD_URL, WAYBACK, report_with_a_dead_source
from tests.web.conftest import WebApp
from worker.report.build import report_dir


def _sealed(web: WebApp) -> str:
    report = report_with_a_dead_source()
    run_id = report.digest.id
    folder = report_dir(web.settings, run_id)
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(report.model_dump_json(), "utf-8")
    return run_id


def test_the_robust_digest_in_each_format(web: WebApp) -> None:
    run_id = _sealed(web)
    client = web.login("auditor")
    page = client.get(f"/digests/{run_id}/robust.html")
    assert page.status_code == 200, page.text
    dead = lxml_html.fromstring(page.text).xpath(f'//a[@data-originalurl="{DEAD_URL}"]')
    assert dead and dead[0].get("href") == WAYBACK
    assert "robust.html" in page.headers["content-disposition"]
    docx = client.get(f"/digests/{run_id}/robust.docx")
    text = "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    assert f"archived copy: {WAYBACK}" in text
    assert client.get(f"/digests/{run_id}/robust.pdf").status_code == 404


def test_the_report_pages_serve_the_sealed_report(web: WebApp) -> None:
    run_id = _sealed(web)  # no run in the database at all: only the sealed file
    client = web.login("auditor")
    got = client.get(f"/digests/{run_id}/report.json")
    assert got.status_code == 200
    assert DEAD_URL in got.text


def test_anonymous_visitors_get_no_robust_digest(web: WebApp) -> None:
    run_id = _sealed(web)
    r = web.client().get(f"/digests/{run_id}/robust.html", follow_redirects=False)
    assert r.status_code == 303 and "/login" in r.headers["location"]
