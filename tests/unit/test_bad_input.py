"""Bad input never crashes and never takes unbounded time: digests, URLs, HTML, bodies.

Bounded time is hypothesis' own per-example `deadline` (generous: 2 s per example on a
loaded 2-core runner), not a wall-clock assertion of ours.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas import Digest, SourceStatus
from worker.digest.parse import parse_digest
from worker.digest.urls import MAX_URL_LENGTH, canonicalize, classify_url
from worker.extract.page import ExtractedPage, ExtractionFailure, ExtractOptions, extract
from worker.fetch.body import binary_problem
from worker.fetch.egress import EgressPolicy

DEADLINE_MS = 2000
BOUNDED = settings(
    max_examples=150, deadline=DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow]
)

# --- the digest parser: no crash, bounded time per example ----------------------------

_LINES = st.one_of(
    st.sampled_from(
        [
            "September 1, Almaty, Reichert Roman [1].",
            "15 сентября 2021 г. в Алматы задержан Болат Рысбаев [2][3]",
            "[1] https://rus.azattyq.org/a/31446385.html?fbclid=IwAR0",
            "2. https://tirek.info/wp-admin/post.php?post=1&action=edit",
            "[3] https://exa mple.kz",
            "[" * 500,
            "[1]" * 2000,
            "https://" + "a." * 3000 + "kz/",
            "1" * 5000,
            "\x00\x01\x1b[31m",
        ]
    ),
    st.text(max_size=200),
)


@BOUNDED
@given(st.lists(_LINES, max_size=40), st.one_of(st.none(), st.integers(1990, 2100)))
def test_digest_parser_is_bounded_on_hostile_lines(lines: list[str], year: int | None) -> None:
    digest = parse_digest("\n".join(lines), year=year)
    assert Digest.model_validate(digest.model_dump()) == digest


@BOUNDED
@given(st.text(max_size=5000))
def test_digest_parser_is_bounded_on_any_text(text: str) -> None:
    digest = parse_digest(text)
    assert all(s.canonical_url for s in digest.sources)


# --- URLs: canonicalised or invalid with a reason, never a crash ------------------------


def _never_resolves(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "stub resolver: tests never resolve real names")


def _check_url(url: str) -> tuple[SourceStatus | None, str, str]:
    canonical = canonicalize(url)
    status, reason = classify_url(url, canonical=canonical)
    if status is not None:
        assert reason, f"{status} without a reason for {url!r}"
    else:
        # fetchable: httpx must accept the canonical form, and egress must judge it
        httpx.URL(canonical)
        decision = EgressPolicy([], resolver=_never_resolves).check(canonical)
        assert decision.reason
        assert canonicalize(canonical) == canonical
    return status, reason, canonical


def _idna(host: str) -> str:
    return host.encode("idna").decode("ascii")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://қазақстан.kz/жаңалықтар", f"https://{_idna('қазақстан.kz')}/%D0%B6"),
        ("https://ПРЕЗИДЕНТ.рф/news", f"https://{_idna('президент.рф')}/news"),
        ("https://tirek.info/%d0%b0?q=%d0%b1", "https://tirek.info/%D0%B0?q="),
        ("https://kaztag.kz/ru/новости", "https://kaztag.kz/ru/%D0%BD%D0%BE%D0%B2"),
    ],
)
def test_idn_and_percent_encoding_are_canonicalised(url: str, expected: str) -> None:
    status, _reason, canonical = _check_url(url)
    assert status is None
    assert canonical.startswith(expected)
    assert canonical.isascii()


@pytest.mark.parametrize(
    ("url", "reason_part"),
    [
        ("https://kaztag.kz/a b", "spaces"),
        ("https://kaztag.kz/a\x00b", "control"),
        ("https://kaztag.kz/a\rb", "control"),
        ("https://kaztag.kz/\u200ba", "spaces"),
        ("https://kaztag.kz/" + "a" * (MAX_URL_LENGTH + 1), "longer than"),
        ("https://xn--.kz/", "not a valid domain"),
        ("https://" + "a" * 64 + ".kz/", "not a valid domain"),
        ("javascript:alert(1)", "scheme"),
        ("https://kaztag.kz:99999/", "cannot be parsed"),
    ],
)
def test_unusable_urls_are_invalid_with_a_reason(url: str, reason_part: str) -> None:
    status, reason, _canonical = _check_url(url)
    assert status is SourceStatus.INVALID
    assert reason_part in reason


def test_a_long_url_under_the_limit_is_kept_whole() -> None:
    url = "https://kaztag.kz/ru/news/" + "a" * 1990
    status, _reason, canonical = _check_url(url)
    assert len(url) > 2000 and status is None and canonical == url


_URLISH = st.builds(
    lambda scheme, host, path, query: f"{scheme}{host}{path}{query}",
    st.sampled_from(["https://", "http://", "HTTP://", "ftp://", "//", "www.", ""]),
    st.one_of(
        st.sampled_from(["kaztag.kz", "қазақстан.kz", "[::1]", "127.0.0.1", "a..b", "x.kz:0"]),
        st.text(max_size=30),
    ),
    st.text(max_size=300),
    st.one_of(st.just(""), st.text(max_size=100).map(lambda q: "?" + q)),
)


@BOUNDED
@given(st.one_of(_URLISH, st.text(max_size=3000)))
@example("https://қазақстан.kz\U0001342f")  # an IDNA label with no bidi direction
def test_any_url_is_canonicalised_or_invalid_never_a_crash(url: str) -> None:
    _check_url(url)


# --- HTML in broken or lying encodings -------------------------------------------------

ARTICLE = (
    "<html><head><title>Суд над активистом</title></head><body><article>"
    + "<p>Суд в Алматы приговорил активиста Кайырбека Ахметова к ограничению свободы. "
    "Правозащитники назвали приговор политически мотивированным.</p>"
    * 4
    + "</article></body></html>"
)
OPTIONS = ExtractOptions()


def _text(result: ExtractedPage | ExtractionFailure) -> str:
    return (result.text or "") + (result.title or "")


@pytest.mark.parametrize(
    ("body", "header_charset"),
    [
        (ARTICLE.encode("cp1251"), "utf-8"),  # header says utf-8, body is windows-1251
        (ARTICLE.encode("cp1251"), None),  # no charset anywhere
        (ARTICLE.replace("<head>", "<head><meta charset='utf-8'>").encode("cp1251"), None),
        (ARTICLE.encode("koi8-r"), None),  # the other Cyrillic single-byte charset, undeclared
        (ARTICLE.encode("utf-8"), "windows-1251"),  # server default over a UTF-8 CMS
        (ARTICLE.encode("utf-8"), "no-such-charset"),
    ],
)
def test_lying_encodings_still_give_readable_text(body: bytes, header_charset: str | None) -> None:
    result = extract(body, url="https://tirek.info/x", charset=header_charset, options=OPTIONS)
    assert isinstance(result, ExtractedPage), result
    assert "Кайырбек" in result.text and "Суд" in (result.title or "")


def test_invalid_utf8_bytes_are_replaced_not_fatal() -> None:
    good = ARTICLE.encode("utf-8")
    body = good[:300] + b"\xff\xfe\xc3\x28" + good[300:]
    result = extract(body, url="https://tirek.info/x", charset="utf-8", options=OPTIONS)
    assert "Правозащитники" in _text(result)


@settings(max_examples=60, deadline=DEADLINE_MS)
@given(
    st.one_of(
        st.binary(max_size=4000),
        st.text(max_size=2000).map(lambda t: f"<html><body><p>{t}</p></body></html>".encode()),
        st.builds(
            lambda a, b: a + ARTICLE.encode("cp1251") + b,
            st.binary(max_size=50),
            st.binary(max_size=50),
        ),  # cp1251 article with junk bytes either side
    ),
    st.sampled_from([None, "utf-8", "windows-1251", "utf-16", "bogus", "latin-1"]),
)
def test_extract_never_crashes_on_any_bytes(body: bytes, charset: str | None) -> None:
    result = extract(body, url="https://tirek.info/x", charset=charset, options=OPTIONS)
    assert isinstance(result, ExtractedPage | ExtractionFailure)
    if isinstance(result, ExtractionFailure):
        assert result.reason


# --- binary served as text ---------------------------------------------------------------


def test_binary_garbage_and_bomb_zeros_are_recognised() -> None:
    import random

    assert binary_problem(random.Random(1).randbytes(8192)) is not None
    assert binary_problem(bytes(1 << 16)) is not None  # a gzip bomb's payload
    assert binary_problem(b"\x89PNG\r\n\x1a\n" + bytes(100)) is not None


def test_text_in_any_charset_is_not_binary() -> None:
    assert binary_problem(ARTICLE.encode("utf-8")) is None
    assert binary_problem(ARTICLE.encode("cp1251")) is None
    assert binary_problem(ARTICLE.encode("utf-16")) is None  # BOM, NULs allowed
    assert binary_problem(b"<p>tab\there,\r\nform\x0cfeed</p>") is None
    assert binary_problem(b"") is None
