"""CSRF from the replay origin (issue #15): tokens bound to the session, never to a cookie a
page could plant; cross-site Origin / Sec-Fetch-Site refused; a logout ends the session.

The attacker here is an archived page: it can set cookies for the app's host name (on
the same host, cookies ignore ports) and auto-post forms, but it cannot read the app's
pages. So it knows every cookie value it planted, and no token the app handed out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.web.access import PRESESSION_COOKIE, SESSION_COOKIE, cross_site
from archive.web.auth import RevokedSessions, SessionCodec
from tests.web.conftest import EDITOR_PASSWORD, WebApp, csrf, make_web_app

DIGEST = Path(__file__).resolve().parents[2] / "examples" / "2021-09-kazakhstan.txt"
APP = "http://127.0.0.1"  # the TestClient's base URL: the app's own origin
REPLAY = "http://127.0.0.2:8090"  # the replay site


@pytest.fixture
def queued_web(tmp_path: Path, redis_url: str) -> Iterator[WebApp]:
    made = make_web_app(tmp_path, broker_url=redis_url)
    yield made
    made.app.state.service.close()


def _queue(client, token: str, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/digests",
        data={"csrf_token": token, "text": DIGEST.read_text("utf-8"), "name": "forged"},
        headers=headers,
        follow_redirects=False,
    )


def _runs(web: WebApp) -> list[str]:
    return [r.id for r in web.app.state.service.runs()]


@pytest.mark.integration
def test_a_planted_cookie_does_not_make_a_token(queued_web: WebApp) -> None:
    editor = queued_web.login("editor")
    # what a replayed page could do with the old double-submit cookie: set it, send it
    editor.cookies.set("sv_csrf", "planted-by-an-archived-page")
    r = _queue(editor, "planted-by-an-archived-page")
    assert r.status_code == 403, r.text
    # nor does a planted pre-session cookie: its token is an HMAC the page cannot compute
    editor.cookies.set(PRESESSION_COOKIE, "planted-by-an-archived-page")
    assert _queue(editor, "planted-by-an-archived-page").status_code == 403
    assert _runs(queued_web) == []
    # the legitimate form, with the token the page rendered, still queues
    r = _queue(editor, csrf(editor, "/digests/new"))
    assert r.status_code == 303, r.text
    assert len(_runs(queued_web)) == 1


@pytest.mark.integration
def test_a_cross_site_post_is_refused_even_with_a_valid_token(queued_web: WebApp) -> None:
    editor = queued_web.login("editor")
    token = csrf(editor, "/digests/new")
    for headers in (
        {"Origin": REPLAY},
        {"Origin": "http://127.0.0.1:8090"},  # same host, another port: another origin
        {"Origin": "null"},  # a sandboxed page, a data: URL
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": APP},
    ):
        r = _queue(editor, token, **headers)
        assert r.status_code == 403, headers
        assert "only accepted from this site" in r.text
    assert _runs(queued_web) == []
    r = _queue(editor, token, Origin=APP, **{"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 303, r.text
    assert len(_runs(queued_web)) == 1


def test_the_login_and_logout_forms_check_the_origin_too(web: WebApp) -> None:
    client = web.client()
    token = csrf(client)
    data = {"username": "editor", "password": EDITOR_PASSWORD, "csrf_token": token}
    r = client.post("/login", data=data, headers={"Origin": REPLAY}, follow_redirects=False)
    assert r.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    r = client.post("/login", data=data, headers={"Origin": APP}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(
        "/logout", data={"csrf_token": csrf(client)}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200  # still logged in


def test_a_token_belongs_to_its_session(web: WebApp) -> None:
    first, second = web.login("editor"), web.login("editor")
    token = csrf(first, "/digests/new")
    assert token != csrf(second, "/digests/new")
    r = second.post("/digests/preview", data={"csrf_token": token, "text": "September 1, x [1]"})
    assert r.status_code == 403
    r = first.post("/digests/preview", data={"csrf_token": token, "text": "September 1, x [1]"})
    assert r.status_code == 200
    # and it is not a value any cookie carries
    assert token not in {c.value for c in first.cookies.jar}
    # the pre-login token is another one again, and ends with the login
    anonymous = web.client()
    pre = csrf(anonymous)
    assert pre not in (token, csrf(first))


def test_bearer_requests_are_not_cookie_borne_and_stay_exempt(web: WebApp) -> None:
    r = web.client().post(
        "/api/preview",
        json={"text": "September 1, x [1]", "name": "t"},
        headers={"Authorization": f"Bearer {web.editor_token}", "Origin": REPLAY},
    )
    assert r.status_code == 200, r.text


def test_a_logged_out_session_cookie_is_refused(web: WebApp) -> None:
    client = web.login("editor")
    stolen = client.cookies[SESSION_COOKIE]
    assert client.get("/", follow_redirects=False).status_code == 200
    r = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    # the same cookie, replayed by another client after the logout: logged out for good
    other = web.client()
    other.cookies.set(SESSION_COOKIE, stolen)
    r = other.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert other.get("/api/me").status_code == 401
    # a new login is a new session, which works
    assert web.login("editor").get("/", follow_redirects=False).status_code == 200


def test_a_logout_is_seen_by_every_process(tmp_path: Path) -> None:
    """Two codecs over one revoked-sessions file stand for two web processes."""
    path = tmp_path / "revoked.json"
    one = SessionCodec(b"k" * 32, max_age=60, revoked=RevokedSessions(path))
    two = SessionCodec(b"k" * 32, max_age=60, revoked=RevokedSessions(path))
    cookie, kept = one.encode("editor", now=1000), one.encode("editor", now=1000)
    assert two.decode(cookie, now=1010) == "editor"
    assert one.revoke(cookie, now=1010)
    assert two.decode(cookie, now=1011) is None
    assert two.decode(kept, now=1011) == "editor"  # only that session ended
    assert not two.revoke("garbage", now=1011)
    # entries go once their cookie would have expired anyway: the file stays small
    later = one.encode("auditor", now=5000)
    assert one.revoke(later, now=5000)
    assert path.read_text().count('"') == 2  # just the one id


def test_cross_site_rules() -> None:
    post = "POST"
    assert cross_site("GET", {"origin": REPLAY}) is None  # reads change nothing
    assert cross_site(post, {}) is None  # not a browser: the token decides
    assert cross_site(post, {"sec-fetch-site": "same-origin"}) is None
    assert cross_site(post, {"sec-fetch-site": "none"}) is None  # typed by the user
    assert cross_site(post, {"sec-fetch-site": "same-site"}) is not None
    host = {"host": "sv.example.org"}
    assert cross_site(post, {**host, "origin": "https://sv.example.org"}) is None
    assert (
        cross_site(post, {"host": "sv.example.org:443", "origin": "https://sv.example.org"}) is None
    )
    assert cross_site(post, {**host, "origin": "https://replay.example.org"}) is not None
    assert cross_site(post, {**host, "origin": "https://sv.example.org:8443"}) is not None
    # behind a proxy that rewrites Host, the public origin is configured
    proxied = {"host": "127.0.0.1:8000", "origin": "https://sv.example.org"}
    assert cross_site(post, proxied) is not None
    assert cross_site(post, proxied, allowed_origins=["https://sv.example.org"]) is None
