"""Queueing from the web app onto a real redis-server (no worker: the jobs stay queued)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.conftest import WebApp, csrf, make_web_app

pytestmark = pytest.mark.integration

DIGEST = Path(__file__).resolve().parents[2] / "examples" / "2021-09-kazakhstan.txt"


@pytest.fixture
def queued_web(tmp_path: Path, redis_url: str) -> Iterator[WebApp]:
    made = make_web_app(tmp_path, broker_url=redis_url)
    yield made
    made.app.state.service.close()


def test_an_editor_token_queues_and_an_auditor_token_sees_progress(queued_web: WebApp) -> None:
    client = queued_web.client()
    r = client.post(
        "/api/digests/upload",
        files={"file": ("2021-09-kazakhstan.txt", DIGEST.read_bytes(), "text/plain")},
        headers={"Authorization": f"Bearer {queued_web.editor_token}"},
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    assert run_id.startswith("2021-09-kazakhstan-")
    r = client.get(
        f"/api/digests/{run_id}", headers={"Authorization": f"Bearer {queued_web.auditor_token}"}
    )
    progress = r.json()
    assert progress["state"] == "queued"
    assert progress["total"] == 47
    assert progress["done"] == 1  # the wp-admin link is never fetched: skipped at once
    # the auditor cannot queue it again
    r = client.post(
        f"/api/digests/{run_id}/rerun",
        headers={"Authorization": f"Bearer {queued_web.auditor_token}"},
    )
    assert r.status_code == 403


def test_the_queue_form_redirects_to_a_self_refreshing_progress_page(queued_web: WebApp) -> None:
    client = queued_web.login("editor")
    r = client.post(
        "/digests",
        data={"csrf_token": csrf(client), "text": DIGEST.read_text("utf-8"), "name": "sept"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert '<meta http-equiv="refresh"' in page.text
    assert 'id="total">47<' in page.text


def test_without_a_broker_queueing_is_503_not_a_crash(tmp_path: Path) -> None:
    web = make_web_app(tmp_path)
    r = web.client().post(
        "/api/digests",
        json={"text": DIGEST.read_text("utf-8")},
        headers={"Authorization": f"Bearer {web.editor_token}"},
    )
    assert r.status_code == 503
    assert "no broker" in r.json()["detail"]
