"""Login: throttled per user name and per address, scrypt off the event loop, one scrypt
for unknown and known names alike (issue #15.5). A fake clock, no sleeping."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from archive.web import auth
from archive.web.login_throttle import LoginThrottle
from tests.web.conftest import EDITOR_PASSWORD, WebApp, csrf


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttled(web: WebApp, **kwargs: float) -> Clock:
    clock = Clock()
    web.app.state.login_throttle = LoginThrottle(clock=clock, **kwargs)  # type: ignore[arg-type]
    return clock


def _login(client, user: str, password: str):  # type: ignore[no-untyped-def]
    if not client.cookies.get("sv_csrf"):
        client.get("/login")
    return client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": csrf(client)},
        follow_redirects=False,
    )


def test_failed_logins_for_one_user_back_off_with_429_and_retry_after(web: WebApp) -> None:
    clock = _throttled(web)
    client = web.client()
    for _ in range(5):
        assert _login(client, "editor", "wrong-guess").status_code == 401
    r = _login(client, "editor", EDITOR_PASSWORD)  # after 5: even the right one must wait
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert "too many failed logins" in r.text
    clock.now += 1.5
    assert _login(client, "editor", "wrong-guess").status_code == 401  # the 6th: now 2 s
    clock.now += 1.5
    assert _login(client, "editor", EDITOR_PASSWORD).status_code == 429
    assert _login(client, "EDITOR", "x").headers["Retry-After"] == "1"  # names fold case
    clock.now += 1
    assert _login(client, "editor", EDITOR_PASSWORD).status_code == 303
    # success clears the user's failures
    assert _login(web.client(), "editor", "wrong-guess").status_code == 401


def test_one_address_guessing_many_names_is_throttled(web: WebApp) -> None:
    _throttled(web, free_per_address=20)
    client = web.client()
    for i in range(20):
        assert _login(client, f"nobody{i}", "guess").status_code == 401
    r = _login(client, "auditor", "another-guess")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1


def test_the_delay_is_capped_and_old_failures_are_forgotten(web: WebApp) -> None:
    throttle = LoginThrottle(free_per_user=1, max_delay=60, window=600, clock=(clock := Clock()))
    for _ in range(30):
        throttle.failed("u", "a")
    assert throttle.retry_after("u", "a") == 60
    clock.now += 601
    assert throttle.retry_after("u", "a") == 0


def test_keys_are_bounded() -> None:
    throttle = LoginThrottle(max_keys=100, clock=Clock())
    for i in range(1000):
        throttle.failed(f"user{i}", "a")
    assert len(throttle._failures) <= 100


def test_unknown_and_known_names_cost_one_scrypt_each(
    web: WebApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = web.app.state.access.users
    users.check_password("nobody", "x")  # the dummy hash is made once, at first use
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(auth.hashlib, "scrypt", counting)
    assert users.check_password("editor", "wrong-guess") is None
    known = len(calls)
    calls.clear()
    assert users.check_password("nobody-at-all", "wrong-guess") is None
    assert known == len(calls) == 1  # was 1 against 2 (hash_password + verify_password)


def test_passwords_are_checked_off_the_event_loop(
    web: WebApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = auth.UserStore.check_password

    def check(self, name, password):  # type: ignore[no-untyped-def]
        try:
            asyncio.get_running_loop()
            seen.append(True)  # called on the event loop's thread
        except RuntimeError:
            seen.append(False)
        return real(self, name, password)

    monkeypatch.setattr(auth.UserStore, "check_password", check)
    assert _login(web.client(), "editor", EDITOR_PASSWORD).status_code == 303
    assert seen == [False]
