"""Web app fixtures: an app over a temp data dir with one editor and one auditor."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette's notice about httpx vs httpx2, not ours
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from archive.web.app import create_app
from archive.web.auth import Role
from archive.web.config import WebConfig
from worker.settings import Settings, load_settings

EDITOR_PASSWORD = "editor-password-1"
AUDITOR_PASSWORD = "auditor-password-1"


@dataclass
class WebApp:
    app: FastAPI
    settings: Settings
    editor_token: str
    auditor_token: str

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://127.0.0.1")

    def login(self, role: str) -> TestClient:
        """A client logged in as `editor` or `auditor` (its session cookie)."""
        client = self.client()
        client.get("/login")
        password = EDITOR_PASSWORD if role == "editor" else AUDITOR_PASSWORD
        r = client.post(
            "/login",
            data={"username": role, "password": password, "csrf_token": csrf(client)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return client


_CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token a page's forms carry (bound to the client's session or, before login,
    to its pre-session cookie), read from the page as a browser would: never a cookie."""
    r = client.get(path)
    found = _CSRF_FIELD.search(r.text)
    assert found, f"{path} has no CSRF field"
    return found.group(1)


def make_web_app(
    tmp_path: Path, *, broker_url: str | None = None, max_upload_bytes: int = 200_000
) -> WebApp:
    settings = load_settings(data_dir=tmp_path / "data", broker_url=broker_url)
    app = create_app(settings, WebConfig(max_upload_bytes=max_upload_bytes))
    users = app.state.access.users
    users.add("editor", Role.EDITOR, EDITOR_PASSWORD)
    users.add("auditor", Role.AUDITOR, AUDITOR_PASSWORD)
    return WebApp(app, settings, users.issue_token("editor"), users.issue_token("auditor"))


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebApp]:
    made = make_web_app(tmp_path)
    yield made
    made.app.state.service.close()
