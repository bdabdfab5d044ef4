"""Who may do what: tokens, logins, roles, CSRF, headers, the OpenAPI description."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archive.web.auth import SessionCodec, hash_password, verify_password
from tests.web.conftest import WebApp, csrf, make_web_app
from worker.cli import app as cli

DIGEST = Path(__file__).resolve().parents[2] / "examples" / "2021-09-kazakhstan.txt"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_without_credentials_is_401(web: WebApp) -> None:
    r = web.client().get("/api/digests")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    r = web.client().post("/api/digests", json={"text": "x"})
    assert r.status_code == 401


def test_a_wrong_or_malformed_token_is_401(web: WebApp) -> None:
    client = web.client()
    assert client.get("/api/digests", headers=bearer("svt_not-a-token")).status_code == 401
    r = client.get("/api/digests", headers={"Authorization": web.auditor_token})
    assert r.status_code == 401
    assert "Bearer" in r.json()["detail"]


def test_an_auditor_token_reads_but_cannot_queue(web: WebApp) -> None:
    client = web.client()
    assert client.get("/api/digests", headers=bearer(web.auditor_token)).status_code == 200
    assert client.get("/api/me", headers=bearer(web.auditor_token)).json() == {
        "name": "auditor",
        "role": "auditor",
    }
    body = {"text": DIGEST.read_text("utf-8"), "name": "september"}
    for path in ("/api/digests", "/api/preview"):
        r = client.post(path, json=body, headers=bearer(web.auditor_token))
        assert r.status_code == 403, path
        assert "editor" in r.json()["detail"]
    r = client.post(
        "/api/digests/upload",
        files={"file": ("d.txt", DIGEST.read_bytes(), "text/plain")},
        headers=bearer(web.auditor_token),
    )
    assert r.status_code == 403
    assert client.post("/api/digests/x/rerun", headers=bearer(web.auditor_token)).status_code == 403


def test_an_editor_token_previews_the_parse_problems(web: WebApp) -> None:
    r = web.client().post(
        "/api/preview",
        json={"text": DIGEST.read_text("utf-8"), "name": "2021-09-kazakhstan"},
        headers=bearer(web.editor_token),
    )
    assert r.status_code == 200
    data = r.json()
    from worker.digest.parse import parse_digest

    expected = parse_digest(DIGEST.read_text("utf-8"), name="2021-09-kazakhstan")
    assert data["incidents"] == len(expected.incidents) == len(data["incident_list"])
    assert [p["code"] for p in data["problems"]] == [p.code.value for p in expected.problems]
    assert data["problems"], "the September digest is messy on purpose"


def test_pages_send_anonymous_visitors_to_the_login(web: WebApp) -> None:
    r = web.client().get("/digests/new?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/digests/new%3Fx%3D1"


def test_a_wrong_password_is_refused(web: WebApp) -> None:
    client = web.client()
    client.get("/login")
    r = client.post(
        "/login", data={"username": "editor", "password": "nope", "csrf_token": csrf(client)}
    )
    assert r.status_code == 401
    assert "wrong user name or password" in r.text
    assert "sv_session" not in client.cookies


def test_an_auditor_login_cannot_open_the_editor_pages(web: WebApp) -> None:
    client = web.login("auditor")
    assert client.get("/").status_code == 200
    r = client.get("/digests/new")
    assert r.status_code == 403
    assert "needs the editor role" in r.text


def test_form_posts_without_the_csrf_token_are_refused(web: WebApp) -> None:
    client = web.login("editor")
    r = client.post("/digests/preview", data={"text": DIGEST.read_text("utf-8")})
    assert r.status_code == 403
    assert "reload" in r.text
    r = client.post("/digests/preview", data={"text": "September 1, x [1]", "csrf_token": "forged"})
    assert r.status_code == 403
    # a login form posted from elsewhere (no CSRF cookie) is refused as well
    fresh = web.client()
    r = fresh.post("/login", data={"username": "editor", "password": "editor-password-1"})
    assert r.status_code == 403


def test_cookies_and_security_headers(web: WebApp) -> None:
    client = web.client()
    r = client.get("/login")
    assert r.headers["X-Frame-Options"] == "DENY"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    cookie = r.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie
    r = client.post(
        "/login",
        data={"username": "auditor", "password": "auditor-password-1", "csrf_token": csrf(client)},
        follow_redirects=False,
    )
    session_cookie = r.headers["set-cookie"].lower()
    assert session_cookie.startswith("sv_session=")
    assert "samesite=strict" in session_cookie and "httponly" in session_cookie


def test_the_login_redirect_stays_on_this_site(web: WebApp) -> None:
    client = web.client()
    client.get("/login")
    r = client.post(
        "/login",
        data={
            "username": "auditor",
            "password": "auditor-password-1",
            "csrf_token": csrf(client),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_openapi_describes_the_api(web: WebApp) -> None:
    r = web.client().get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = spec["paths"]
    for path in ("/api/digests", "/api/digests/upload", "/api/digests/{run_id}", "/api/preview"):
        assert path in paths, path
    assert "Report" in spec["components"]["schemas"]
    assert "/login" not in paths  # the pages are not part of the API


def test_passwords_and_sessions() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    codec = SessionCodec(b"k" * 32, max_age=60)
    cookie = codec.encode("editor", now=1000)
    assert codec.decode(cookie, now=1030) == "editor"
    assert codec.decode(cookie, now=1061) is None  # expired
    body, _, sig = cookie.partition(".")
    forged = SessionCodec(b"x" * 32, max_age=60).encode("editor", now=1000)
    assert codec.decode(forged, now=1030) is None
    tampered = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert codec.decode(body + "." + tampered, now=1030) is None
    assert codec.decode("garbage", now=1030) is None


def test_users_cli_adds_users_and_issues_working_tokens(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    r = runner.invoke(
        cli,
        ["users", "add", "alma", "--role", "auditor", "--password-stdin", "--data-dir", str(data)],
        input="a-long-password\n",
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["users", "token", "alma", "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    web = make_web_app(tmp_path)  # same data dir: tmp_path / "data"
    client = web.client()
    assert client.get("/api/me", headers=bearer(token)).json()["name"] == "alma"
    r = runner.invoke(cli, ["users", "token", "nobody", "--data-dir", str(data)])
    assert r.exit_code == 2
    assert "no user 'nobody'" in r.output


@pytest.mark.parametrize("name", ["", "a b", "../x"])
def test_bad_user_names_are_refused(tmp_path: Path, name: str) -> None:
    r = CliRunner().invoke(
        cli,
        ["users", "add", name, "--role", "editor", "--no-password", "--data-dir", str(tmp_path)],
    )
    assert r.exit_code == 2
