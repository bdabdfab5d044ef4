"""worker.digest.urls: finding, canonicalising and classifying footnote URLs."""

from __future__ import annotations

import pytest

from schemas.source import SourceStatus
from worker.digest.urls import MAX_URL_LENGTH, canonicalize, classify_url, find_urls, is_url_token


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # the September digest's fbclid links
        (
            "https://rus.azattyq.org/a/31438644.html?fbclid=IwAR2t2UsJYEBkkJJ_EJRlT5wZXHL5Yxz",
            "https://rus.azattyq.org/a/31438644.html",
        ),
        (
            "https://kaztag.kz/ru/news/za-eks?fbclid=IwAR23fi",
            "https://kaztag.kz/ru/news/za-eks",
        ),
        # Facebook permalinks: both parameters select the post, in their order
        (
            "https://www.facebook.com/permalink.php?story_fbid=1293504337771295&id=100013352235450",
            "https://www.facebook.com/permalink.php?story_fbid=1293504337771295&id=100013352235450",
        ),
        (
            "https://www.facebook.com/permalink.php?story_fbid=1&id=2&__tn__=K-R&__cft__[0]=AZX",
            "https://www.facebook.com/permalink.php?story_fbid=1&id=2",
        ),
        # utm_*, gclid, yclid, mc_cid, igshid go; other parameters keep their order
        (
            "https://ex.kz/p?z=9&utm_source=fb&utm_medium=x&a=1&gclid=g&yclid=y&mc_cid=m&igshid=i",
            "https://ex.kz/p?z=9&a=1",
        ),
        ("https://ex.kz/p?fbclid=x", "https://ex.kz/p"),
        # blank values and repeated keys are meaningful
        ("https://ex.kz/p?a=&b=1&b=2", "https://ex.kz/p?a=&b=1&b=2"),
        # scheme and host lower-cased, path case kept, default port and fragment dropped
        (
            "HTTPS://WWW.Facebook.COM:443/groups/ActivistsNotExtremists/#top",
            "https://www.facebook.com/groups/ActivistsNotExtremists/",
        ),
        ("http://us.azattyq.org:80/a/31472983.html", "http://us.azattyq.org/a/31472983.html"),
        ("http://ex.kz:8080/a", "http://ex.kz:8080/a"),
        ("https://ex.kz", "https://ex.kz/"),
        # "#!" fragments select content
        ("https://ex.kz/#!/post/7", "https://ex.kz/#!/post/7"),
        # IDN host to punycode, non-ASCII path percent-encoded (upper-case hex)
        ("https://Пример.рф/путь", "https://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C"),
        ("https://ex.kz/a%2fb", "https://ex.kz/a%2Fb"),
        # redirect wrappers unwrapped, and the target cleaned too
        (
            "https://l.facebook.com/l.php?u=https%3A%2F%2Frus.azattyq.org%2Fa%2F1.html%3Ffbclid%3Dx&h=AT0",
            "https://rus.azattyq.org/a/1.html",
        ),
        (
            "https://www.google.com/url?q=https://tirek.info/x/&sa=D&ust=1",
            "https://tirek.info/x/",
        ),
        ("https://www.google.kz/url?url=https://tirek.info/y", "https://tirek.info/y"),
        ("https://vk.com/away.php?to=https%3A%2F%2Fkaztag.kz%2Fa", "https://kaztag.kz/a"),
        # a bare www. host
        ("www.kaztag.kz/ru/", "http://www.kaztag.kz/ru/"),
        # "ref" tracks on Facebook but may select content elsewhere
        ("https://www.facebook.com/toregozhina?ref=share", "https://www.facebook.com/toregozhina"),
        ("https://ex.kz/list?ref=42", "https://ex.kz/list?ref=42"),
    ],
)
def test_canonicalize(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


def test_canonicalize_is_idempotent() -> None:
    once = canonicalize("HTTPS://Пример.рф:443/п?utm_source=x&b=2#f")
    assert canonicalize(once) == once


def test_canonicalize_never_raises_on_a_broken_url() -> None:
    assert canonicalize("https://ex.kz:notaport/a ") == "https://ex.kz:notaport/a"
    assert canonicalize("http://[::1") == "http://[::1"


@pytest.mark.parametrize(
    ("url", "reason_part"),
    [
        ("", "empty"),
        ("https://", "no host"),
        ("ftp://ex.kz/file", "scheme 'ftp'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("/relative/path", "scheme"),
        ("https://ex ample.kz/", "spaces"),
        ("https://ex.kz/\x07bell", "control"),
        ("https://ex.kz/" + "a" * MAX_URL_LENGTH, "longer than 2048"),
        ("https://ex.kz:99999999/", "cannot be parsed"),
        ("https://localhost/", "no top-level domain"),
        ("https://-bad-.kz/", "not a valid domain"),
    ],
)
def test_classify_invalid(url: str, reason_part: str) -> None:
    status, reason = classify_url(url)
    assert status is SourceStatus.INVALID
    assert reason_part in reason


@pytest.mark.parametrize(
    ("url", "reason_part"),
    [
        ("https://tirek.info/wp-admin/post.php?post=14658&action=edit", "wp-admin"),
        ("https://ex.kz/index.php?p=3&action=edit", "action=edit"),
        ("https://ex.kz/?p=14658&preview=true", "preview=true"),
        ("https://ex.kz/?p=1&preview_id=1&preview_nonce=abc", "preview"),
        ("https://ex.kz/wp-login.php?redirect_to=x", "wp-login.php"),
        ("https://ex.kz/user/login?destination=node/1", "/user/login"),
        ("https://ex.kz/administrator/index.php", "Joomla"),
        ("https://ex.kz/bitrix/admin/iblock_element_edit.php?ID=1", "Bitrix"),
        ("https://user:secret@ex.kz/page", "credentials"),
    ],
)
def test_classify_not_public(url: str, reason_part: str) -> None:
    status, reason = classify_url(url)
    assert status is SourceStatus.NOT_PUBLIC
    assert reason_part in reason


@pytest.mark.parametrize(
    "url",
    [
        "https://rus.azattyq.org/a/31438644.html?fbclid=IwAR2",
        "https://www.facebook.com/permalink.php?story_fbid=1&id=2",
        "http://us.azattyq.org/a/31472983.html",
        "https://docs.google.com/document/d/abc/edit",  # shared docs are public
        "https://ex.kz/news?action=view&preview=false",
        "https://Пример.рф/",
        "https://192.0.2.1/page",  # the egress policy, not the parser, judges addresses
        "www.kaztag.kz/ru/",
    ],
)
def test_classify_fetchable(url: str) -> None:
    assert classify_url(url) == (None, "")


def test_classify_uses_the_canonical_form_it_is_given() -> None:
    url = "https://l.facebook.com/l.php?u=https%3A%2F%2Fex.kz%2Fwp-admin%2F"
    assert classify_url(url)[0] is SourceStatus.NOT_PUBLIC  # unwrapped, then judged
    assert classify_url(url, canonical="https://ex.kz/public") == (None, "")


def test_is_url_token() -> None:
    assert is_url_token("https://ex.kz/a")
    assert is_url_token("www.ex.kz")
    assert is_url_token("ftp://ex.kz/")
    assert not is_url_token("ex.kz/a")
    assert not is_url_token("Для отправки")
    assert not is_url_token("https://ex.kz/a b")


def test_find_urls_trims_prose_and_keeps_text_after() -> None:
    line = "https://x.kz/z — Radio Azattyq, 2 Oct"
    assert find_urls(line) == [(0, "https://x.kz/z")]


def test_find_urls_two_on_a_line_and_glued() -> None:
    line = "https://a.kz/1, https://b.kz/2; https://c.kz/3https://d.kz/4."
    assert [u for _, u in find_urls(line)] == [
        "https://a.kz/1",
        "https://b.kz/2",
        "https://c.kz/3",
        "https://d.kz/4",
    ]


def test_find_urls_keeps_balanced_brackets_and_wrapped_urls() -> None:
    line = "(see https://en.wikipedia.org/wiki/Almaty_(city)) and https://www.google.com/url?q=https://ex.kz/a"
    assert [u for _, u in find_urls(line)] == [
        "https://en.wikipedia.org/wiki/Almaty_(city)",
        "https://www.google.com/url?q=https://ex.kz/a",
    ]


def test_find_urls_reports_offsets() -> None:
    line = "[3] https://a.kz/1 and https://b.kz/2"
    assert find_urls(line) == [(4, "https://a.kz/1"), (23, "https://b.kz/2")]


def test_find_urls_removes_bidirectional_controls() -> None:
    # U+202E would show "…/gpj.exe" as "…/exe.jpg"; U+2066/U+2069 isolate, U+200F marks
    line = "[1] https://a.kz/\u2066news\u2069/\u202egpj.exe\u200f and www.b.kz/\u200ex"
    assert [url for _, url in find_urls(line)] == ["https://a.kz/news/gpj.exe", "www.b.kz/x"]
