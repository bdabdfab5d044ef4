"""classify: the rule table, row by row, from hand-built FetchResults."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from archive.records import HttpExchange
from schemas.source import SourceStatus as S
from worker.extract.page import PageFacts
from worker.fetch import errors as fe
from worker.fetch.fetcher import FetchResult
from worker.judge.rules import RULES, classify, classify_with_rule


def ex(url: str, status: int = 200, *, truncated: bool = False, body: bytes = b"x") -> HttpExchange:
    return HttpExchange(
        url=url,
        method="GET",
        request_headers=[],
        http_version="HTTP/1.1",
        status=status,
        reason="",
        response_headers=[],
        body=io.BytesIO(body),
        body_length=len(body),
        body_sha256="",
        fetched_at=dt.datetime(2021, 9, 30, tzinfo=dt.UTC),
        truncated=truncated,
    )


def result(*hops: HttpExchange, error: fe.FetchError | None = None) -> FetchResult:
    url = hops[0].url if hops else "https://a.test/x"
    return FetchResult(url=url, exchanges=list(hops), error=error, elapsed=0.1)


U = "https://rus.azattyq.org/a/31470000.html"


@pytest.mark.parametrize(
    ("res", "status", "rule"),
    [
        (result(ex(U)), S.OK, "ok"),
        (result(ex(U, 204)), S.OK, "ok"),
        (result(ex(U, 404)), S.DEAD, "http_gone"),
        (result(ex(U, 410)), S.DEAD, "http_gone"),
        (result(error=fe.NameNotResolved("nx", url=U)), S.DEAD, "name_not_resolved"),
        (result(ex(U, 401)), S.LOGIN_WALL, "http_401"),
        (
            result(ex(U, 302), ex("https://www.facebook.com/login/?next=x")),
            S.LOGIN_WALL,
            "login_url",
        ),
        (result(ex("https://vk.com/login?u=2")), S.LOGIN_WALL, "login_url"),
        (
            result(ex("https://www.instagram.com/accounts/login/?next=/p/1")),
            S.LOGIN_WALL,
            "login_url",
        ),
        (result(ex("https://tirek.info/loginx-is-an-article")), S.OK, "ok"),
        (result(ex(U, 403)), S.BLOCKED, "http_blocked"),
        (result(ex(U, 451)), S.BLOCKED, "http_blocked"),
        (result(ex(U, 429)), S.BLOCKED, "http_blocked"),
        (result(error=fe.EgressRefused("10.0.0.5 is private", url=U)), S.REFUSED, "egress_refused"),
        (
            result(ex(U, 302), error=fe.EgressRefused("redirect to 169.254.169.254", url=U)),
            S.REFUSED,
            "egress_refused",
        ),
        (result(error=fe.InvalidURL("bad", url=U)), S.INVALID, "invalid_url"),
        (result(error=fe.ConnectTimeout("t", url=U)), S.UNREACHABLE, "no_response"),
        (result(error=fe.ConnectionRefused("r", url=U)), S.UNREACHABLE, "no_response"),
        (result(error=fe.TLSError("cert", url=U)), S.UNREACHABLE, "no_response"),
        (result(error=fe.ProxyError("p", url=U)), S.UNREACHABLE, "no_response"),
        (result(ex(U, 503)), S.UNREACHABLE, "server_error"),
        (
            result(ex(U, truncated=True), error=fe.DeadlineExceeded("d", url=U)),
            S.UNREACHABLE,
            "failed_mid_body",
        ),
        (
            result(ex(U, 404, truncated=True), error=fe.ConnectionReset("r", url=U)),
            S.DEAD,
            "http_gone",
        ),
        (
            result(ex(U, 302), ex(U, 302), error=fe.RedirectLoop("loop", url=U)),
            S.UNREACHABLE,
            "too_many_redirects",
        ),
        (
            result(ex(U, 301), ex("https://www.azattyq.org/")),
            S.REDIRECTED_AWAY,
            "redirected_to_root",
        ),
        (
            result(ex("http://kaztag.kz/ru/news/1", 301), ex("https://kaztag.kz/ru/news/1")),
            S.OK,
            "ok",
        ),
        (
            result(ex("https://kaztag.kz/", 301), ex("https://www.kaztag.kz/")),
            S.OK,
            "ok",
        ),
        (
            result(ex(U, 301), ex("https://other.example/")),
            S.OK,
            "ok",
        ),
        (result(ex(U, 400)), S.UNREACHABLE, "fallback"),
    ],
)
def test_rule_table(res: FetchResult, status: S, rule: str) -> None:
    got = classify_with_rule(res)
    assert (got.status, got.rule) == (status, rule), got.reason
    assert classify(res) == (got.status, got.reason)
    assert got.reason


def test_too_large_with_a_body_is_ok_but_says_truncated() -> None:
    res = result(ex(U, truncated=True, body=b"a" * 100), error=fe.TooLarge("big", url=U))
    status, reason = classify(res)
    assert status is S.OK and "truncated" in reason and "100" in reason


def test_name_not_resolved_is_flagged_for_the_network_down_rule() -> None:
    got = classify_with_rule(result(error=fe.NameNotResolved("nx", url=U)))
    assert got.rule == "name_not_resolved" and "name does not exist" in got.reason


def test_page_hint_is_accepted_and_rules_are_extensible() -> None:
    from worker.judge.rules import Rule

    def soft_404(res: FetchResult, hint: object) -> str | None:
        title = getattr(hint, "title", None) or ""
        return "title says not found" if "не найдена" in title else None

    rules = [*RULES[:-2], Rule("soft_404", S.SOFT_404, soft_404), *RULES[-2:]]
    hint = PageFacts(title="Страница не найдена")
    got = classify_with_rule(result(ex(U)), hint, rules=rules)
    assert got.status is S.SOFT_404
    # the default table has its own soft-404 phrase rule now (worker.judge.phrases)
    assert classify_with_rule(result(ex(U)), hint).rule == "soft_404_phrase"
    assert classify(result(ex(U)), PageFacts(title="Суд над активистом"))[0] is S.OK
