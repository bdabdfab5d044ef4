"""Page-content rules (worker.judge.rules), the sibling probe (judge.soft404), the date cap."""

from __future__ import annotations

import datetime as dt
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from archive.records import HttpExchange
from schemas import DateVerdict, ProbeResult
from schemas.source import SourceStatus as S
from worker.extract.page import ExtractedPage, PageFacts
from worker.fetch.fetcher import FetchResult
from worker.judge.dates import DateRule, check_date
from worker.judge.rules import Probed, classify_with_rule
from worker.judge.soft404 import ProbeCache, ProbePage, SiblingProbe, comparable_text, sibling_url

U = "https://rus.azattyq.org/a/31470000.html"
LONG = "Суд приговорил активиста к ограничению свободы. " * 30


def ex(url: str, status: int = 200, headers: list[tuple[str, str]] | None = None) -> HttpExchange:
    return HttpExchange(
        url=url, method="GET", request_headers=[], http_version="HTTP/1.1", status=status,
        reason="", response_headers=headers or [], body=io.BytesIO(b"x"), body_length=1,
        body_sha256="", fetched_at=dt.datetime(2021, 9, 30, tzinfo=dt.UTC),
    )  # fmt: skip


def res(*urls: str, status: int = 200) -> FetchResult:
    hops = [ex(u, 301) for u in urls[:-1]] + [ex(urls[-1], status)]
    return FetchResult(url=urls[0], exchanges=hops, error=None, elapsed=0.1)


@pytest.mark.parametrize(
    ("hint", "status", "rule"),
    [
        (PageFacts(title="Страница не найдена", text=LONG), S.SOFT_404, "soft_404_phrase"),
        (PageFacts(title="Радио Азаттык", text="Материал удалён."), S.SOFT_404, "soft_404_phrase"),
        (PageFacts(title="Азаттық", text="Бет табылмады"), S.SOFT_404, "soft_404_phrase"),
        (PageFacts(title="Oops! That page can’t be found."), S.SOFT_404, "soft_404_phrase"),
        # the phrase in passing, inside a long real article, is not a soft 404
        (PageFacts(title="Сайт заблокирован", text="Видят «Страница не найдена». " + LONG),
         S.OK, "ok"),
        (PageFacts(title="Just a moment..."), S.BLOCKED, "anti_bot_page"),
        (PageFacts(title="x", text="Checking your browser before accessing"), S.BLOCKED,
         "anti_bot_page"),
        (PageFacts(title="Суд над активистом", text=LONG), S.OK, "ok"),
    ],
)  # fmt: skip
def test_page_rules(hint: PageFacts, status: S, rule: str) -> None:
    got = classify_with_rule(res(U), hint)
    assert (got.status, got.rule) == (status, rule), got.reason


def test_h1_and_login_form_come_from_the_extracted_page() -> None:
    page = ExtractedPage(
        text="Похоже, мы не можем найти то, что вам нужно.", title="Тирек", author=None,
        language="ru", published=None, date_source="none", date_candidates=[], sitename=None,
        description=None, charset="utf-8", html_title="Тирек", has_login_form=False,
        excerpt="", h1="Ничего не найдено",
    )  # fmt: skip
    got = classify_with_rule(res(U), page)
    assert got.rule == "soft_404_phrase" and "h1" in got.reason
    page.h1, page.has_login_form = "Вход", True
    assert classify_with_rule(res(U), page).status is S.LOGIN_WALL


def test_phrase_rules_never_apply_to_error_codes() -> None:
    assert classify_with_rule(res(U, status=404), PageFacts(title="Страница не найдена")).rule == (
        "http_gone"
    )


def test_cloudflare_challenge_header_is_blocked_even_on_503() -> None:
    r = FetchResult(U, [ex(U, 503, [("cf-mitigated", "challenge")])], None, 0.1)
    assert classify_with_rule(r).status is S.BLOCKED


@pytest.mark.parametrize(
    ("urls", "status", "rule"),
    [
        ((U, "https://rus.azattyq.org/"), S.REDIRECTED_AWAY, "redirected_to_root"),
        ((U, "https://rus.azattyq.org/z/360"), S.REDIRECTED_AWAY, "redirected_to_section"),
        (("https://kaztag.kz/ru/news/slug-1", "https://kaztag.kz/ru/news"), S.REDIRECTED_AWAY,
         "redirected_to_section"),
        (("https://tirek.info/2021/09/post/", "https://tirek.info/category/news/"),
         S.REDIRECTED_AWAY, "redirected_to_section"),
        (("https://tirek.info/2021/09/post/", "https://tirek.info/?s=post"), S.REDIRECTED_AWAY,
         "redirected_to_search"),
        ((U, "https://rus.azattyq.org/a/almat-zhumagulov-vyshel-na-svobodu/31470000.html"),
         S.OK, "ok"),
        (("http://us.azattyq.org/a/31472983.html", "https://rus.azattyq.org/a/31472983.html"),
         S.OK, "ok"),
        ((U, "https://other.example/"), S.OK, "ok"),
    ],
)  # fmt: skip
def test_redirect_rules(urls: tuple[str, ...], status: S, rule: str) -> None:
    got = classify_with_rule(res(*urls), PageFacts(title="t", text=LONG))
    assert (got.status, got.rule) == (status, rule), got.reason


def test_similar_probe_makes_a_soft_404_and_says_so() -> None:
    probe = ProbeResult(probe_url="https://x.test/a/sv-probe-1.html", probe_status=200,
                        score=98.0, similar=True, threshold=90.0)  # fmt: skip
    home = PageFacts(title="Home", text=LONG)
    got = classify_with_rule(res("https://x.test/a/1.html"), Probed(home, probe))
    assert got.rule == "soft_404_probe" and "sv-probe-1.html" in got.reason and "98" in got.reason
    different = probe.model_copy(update={"similar": False, "score": 12.0})
    page = PageFacts(title="t", text=LONG)
    assert classify_with_rule(res(U), Probed(page, different)).status is S.OK


def test_sibling_url_keeps_directory_and_extension() -> None:
    assert sibling_url(U + "?x=1", "ab") == "https://rus.azattyq.org/a/sv-probe-ab.html"
    assert sibling_url("https://k.kz/archives/3996", "c") == "https://k.kz/archives/sv-probe-c"
    assert sibling_url("https://k.kz/", "c") == "https://k.kz/sv-probe-c"


def test_probe_compares_text_and_probes_each_host_once_under_concurrency() -> None:
    calls: list[str] = []
    lock = threading.Lock()
    gate = threading.Event()

    def fetch_fn(url: str) -> ProbePage:
        gate.wait(2)  # hold the first probe so the others pile up behind it
        with lock:
            calls.append(url)
        home = PageFacts(title="Home", text="Главное")
        return ProbePage(url=url, status=200, text=comparable_text(home))

    probe = SiblingProbe(fetch_fn, ProbeCache())
    home = comparable_text(PageFacts(title="Home", text="Главное"))
    article = comparable_text(PageFacts(title="Суд", text=LONG))
    with ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(probe.check, f"https://x.test/a/{i}.html", home if i % 2 else article)
            for i in range(8)
        ]
        gate.set()
        results = [f.result() for f in futures]
    assert len(calls) == 1 and len(probe.cache) == 1
    assert [r.similar for r in results] == [bool(i % 2) for i in range(8)]
    assert probe.check("https://y.test/a/1.html", home).similar and len(calls) == 2


def test_probe_that_404s_is_never_similar() -> None:
    probe = SiblingProbe(lambda u: ProbePage(u, 404, "home"), ProbeCache())
    got = probe.check(U, "home")
    assert not got.similar and got.probe_status == 404 and got.score == 0


def test_probe_runs_only_for_pages_that_look_ok() -> None:
    seen: list[str] = []

    def fetch_fn(url: str) -> ProbePage:
        seen.append(url)
        return ProbePage(url, 404, "")

    probe = SiblingProbe(fetch_fn, ProbeCache())
    assert probe.maybe_check(res(U, status=404), PageFacts(title="t", text=LONG)) is None
    assert probe.maybe_check(res(U), PageFacts(title="Страница не найдена", text="")) is None
    assert probe.maybe_check(res(U), None) is None
    assert seen == []
    assert probe.maybe_check(res(U), PageFacts(title="t", text=LONG)) is not None and len(seen) == 1


def test_mentioned_dates_older_than_the_cap_do_not_widen_the_window() -> None:
    rule = DateRule()
    incident, old = dt.date(2021, 9, 15), dt.date(2018, 3, 5)
    got = check_date(incident, [old], dt.date(2019, 1, 10), "json-ld", rule)
    assert got.verdict is DateVerdict.PREDATES
    assert "ignored: 2018-03-05" in got.rule and "60 d" in got.rule
    recent = dt.date(2021, 8, 1)  # 45 days before: an announced event still counts
    assert check_date(incident, [recent], dt.date(2021, 7, 28), None, rule).verdict is (
        DateVerdict.CONSISTENT
    )
    wide = DateRule(max_mention_days=2000)
    assert check_date(incident, [old], dt.date(2019, 1, 10), None, wide).verdict is (
        DateVerdict.CONSISTENT
    )
