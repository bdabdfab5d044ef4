"""worker.extract.page on hand-written Russian/Kazakh news pages in tests/unit/data/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from worker.extract.page import (
    DateSignal,
    ExtractedPage,
    ExtractionFailure,
    ExtractOptions,
    decode_html,
    extract,
)

DATA = Path(__file__).parent / "data"
OPTIONS = ExtractOptions()


def page(name: str, url: str = "https://example.kz/news/1", **kw: object) -> object:
    return extract((DATA / name).read_bytes(), url=url, options=OPTIONS, **kw)  # type: ignore[arg-type]


def ok(name: str, url: str = "https://example.kz/news/1") -> ExtractedPage:
    result = page(name, url)
    assert isinstance(result, ExtractedPage), getattr(result, "reason", result)
    return result


# ---- decoding


def test_windows_1251_page_decodes_from_meta() -> None:
    raw = (DATA / "azattyq_kayirbek.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the sample really is windows-1251 bytes
    result = ok("azattyq_kayirbek.html", "https://rus.azattyq.org/a/31438700.html")
    assert result.charset == "windows-1251"
    assert result.charset_source == "meta"
    assert result.title == "Апелляционный суд увеличил срок активисту Аскару Кайырбеку"
    assert "Аскару Кайырбеку" in result.text
    assert "Асқар Қайырбек" in result.text  # Kazakh letters written as &#1179; entities
    assert result.sitename == "Радио Азаттык"
    assert result.language == "ru"


def test_header_charset_wins_and_wrong_declarations_fall_through() -> None:
    html = "<html><head><title>Суд</title></head><body><p>Кайырбек</p></body></html>"
    cp1251 = html.encode("cp1251")
    assert decode_html(cp1251, "windows-1251")[1:] == ("windows-1251", "header")
    # a utf-8 header on cp1251 bytes cannot decode: detection takes over
    text, charset, how = decode_html(cp1251, "utf-8")
    assert "Кайырбек" in text and charset == "windows-1251" and how == "detected"
    # a server default of windows-1251 over a UTF-8 CMS page
    text, charset, _how = decode_html(html.encode("utf-8"), "windows-1251")
    assert "Кайырбек" in text and charset == "utf-8"
    assert decode_html(b"\xef\xbb\xbf<p>\xd0\x90</p>", "windows-1251")[1:] == ("utf-8", "bom")


def test_undeclared_cyrillic_is_detected() -> None:
    html = (
        "<html><body><p>Коллегия по уголовным делам городского суда Нур-Султана увеличила "
        "срок заключения гражданскому активисту.</p></body></html>"
    )
    text, charset, how = decode_html(html.encode("cp1251"))
    assert "Коллегия" in text and charset == "windows-1251" and how == "detected"


# ---- dates


def test_json_ld_beats_sidebar_teaser_dates() -> None:
    result = ok("azattyq_kayirbek.html", "https://rus.azattyq.org/a/31438700.html")
    assert result.published == dt.date(2021, 9, 2)
    assert result.date_source == "json-ld:datePublished"
    dates = {s.date for s in result.date_candidates}
    # the teasers (19 and 23 Sep) and the footer (31 Dec) are never candidates
    assert dates == {dt.date(2021, 9, 2)}
    assert all(isinstance(s, DateSignal) and 0 < s.confidence <= 1 for s in result.date_candidates)


def test_time_in_main_article_not_sidebar_or_nested_cards() -> None:
    result = ok("tirek_teasers.html")
    assert result.published == dt.date(2021, 9, 8)
    assert result.date_source == "time:article"
    sources = {s.source: s.date for s in result.date_candidates}
    assert sources["time:article"] == dt.date(2021, 9, 8)
    assert dt.date(2021, 9, 28) not in sources.values()
    assert dt.date(2021, 9, 15) not in sources.values()  # the nested "read also" card


def test_a_timestamp_keeps_the_day_it_states_and_its_offset() -> None:
    result = ok("almaty_midnight.html")
    # 2021-09-14T20:30:00Z: the page says the 14th (it is 02:30 on the 15th in Almaty,
    # which worker.judge.dates allows for; the extractor never converts)
    assert result.published == dt.date(2021, 9, 14)
    assert result.published_at == "2021-09-14T20:30:00Z"
    assert result.date_source == "meta:article:published_time"
    assert result.date_candidates[0].raw == "2021-09-14T20:30:00Z"


def test_written_kazakh_date_in_lead() -> None:
    result = ok("kazakh_lead.html")
    assert result.published == dt.date(2021, 9, 18)
    assert result.date_source == "text:lead"
    assert result.language == "kk"


def test_written_date_without_year_takes_the_url_year() -> None:
    html = (
        "<html><head><meta charset='utf-8'><title>Сот</title></head><body><article>"
        "<p>Алматы. 2 қыркүйекте Алматы қалалық соты белсендінің шағымын қарады. Сот отырысы "
        "онлайн форматта өтті, белсенді үкіммен келіспейтінін мәлімдеді.</p>"
        "</article></body></html>"
    ).encode()
    result = extract(html, url="https://kaztag.kz/kz/news/2021/09/03/sot", options=OPTIONS)
    signals = {s.source: s.date for s in result.date_candidates}
    assert signals["url"] == dt.date(2021, 9, 3)
    assert signals["text:lead"] == dt.date(2021, 9, 2)
    # htmldate reads the URL too; both outrank a date written in the text
    assert result.published == dt.date(2021, 9, 3)
    assert result.date_source in {"htmldate", "url"}


def test_date_in_url_only() -> None:
    html = (
        b"<html><body><article><p>"
        + "Текст новости о суде. ".encode() * 10
        + b"</p></article></body></html>"
    )
    result = extract(html, url="https://kaztag.kz/ru/news/2021/09/15/sud", options=OPTIONS)
    assert result.published == dt.date(2021, 9, 15)
    assert result.date_source in {"htmldate", "url"}
    assert {s.source for s in result.date_candidates} >= {"url"}


def test_no_date_anywhere() -> None:
    html = (
        b"<html><body><article><p>"
        + "Текст без даты. ".encode() * 10
        + b"</p></article></body></html>"
    )
    result = extract(html, url="https://x.kz/a/31438644.html", options=OPTIONS)
    assert isinstance(result, ExtractedPage)
    assert result.published is None
    assert result.date_source == "none"


# ---- failures keep their metadata


def test_body_failure_keeps_published_date() -> None:
    result = page("tiny_video.html")
    assert isinstance(result, ExtractionFailure)
    assert "too short" in result.reason
    assert result.published == dt.date(2021, 9, 18)
    # a VideoObject is not an article: its date ranks below an article's own JSON-LD
    assert result.date_source == "json-ld-other:datePublished"
    assert result.published_at == "2021-09-18T15:02:00+06:00"
    assert result.title == "Видео: митинг у памятника Абаю"
    assert result.text == "Видео"


@pytest.mark.parametrize("html", [b"", b"   \n", b"\x00\x01\x02"])
def test_garbage_gives_a_reason_not_none(html: bytes) -> None:
    result = extract(html, url="https://x.kz/", options=OPTIONS)
    assert isinstance(result, ExtractionFailure)
    assert result.reason


def test_size_cap() -> None:
    raw = (DATA / "azattyq_kayirbek.html").read_bytes()
    result = extract(raw, url="https://x.kz/", options=ExtractOptions(max_html_bytes=900))
    assert isinstance(result, ExtractionFailure | ExtractedPage)
    assert result.published == dt.date(2021, 9, 2)  # the JSON-LD sits in the first bytes


# ---- login walls


def test_facebook_login_page_is_a_login_form() -> None:
    result = page("facebook_login.html", "https://www.facebook.com/groups/ActivistsNotExtremists/")
    assert isinstance(result, ExtractionFailure | ExtractedPage)
    assert result.has_login_form is True
    assert result.html_title == "Facebook – войдите или зарегистрируйтесь"


def test_login_box_in_header_of_an_article_is_not_a_wall() -> None:
    html = (
        "<html><head><meta charset='utf-8'></head><body><header><form action='/login'>"
        "<input name='u'><input type='password' name='p'><button>Войти</button></form></header>"
        "<article><p>" + "Суд увеличил срок активисту. " * 8 + "</p></article></body></html>"
    ).encode()
    result = extract(html, url="https://x.kz/a", options=OPTIONS)
    assert result.has_login_form is False


def test_articles_are_not_login_walls() -> None:
    for name in ("azattyq_kayirbek.html", "tirek_teasers.html", "kazakh_lead.html"):
        assert ok(name).has_login_form is False


# ---- bounded work


def test_large_page_is_handled_in_one_pass() -> None:
    # ~80 KB with 150 dated teasers: must finish (no heavy fallbacks); no timing assert
    teasers = "".join(
        f'<li class="teaser"><a href="/a/{i}">Новость {i}</a>'
        f'<time datetime="2021-09-{i % 28 + 1:02d}T10:00:00+06:00">x</time></li>'
        for i in range(150)
    )
    body = "".join(f"<p>{'Абзац о суде над активистом. ' * 20}</p>" for _ in range(60))
    html = (
        "<html><head><meta charset='utf-8'><script type='application/ld+json'>"
        '{"@type":"NewsArticle","datePublished":"2021-09-02T10:00:00+06:00"}</script></head>'
        f"<body><div class='sidebar'><ul>{teasers}</ul></div><main><article>{body}</article>"
        "</main></body></html>"
    ).encode()
    assert len(html) > 70_000
    result = extract(html, url="https://x.kz/a", options=OPTIONS)
    assert isinstance(result, ExtractedPage)
    assert result.published == dt.date(2021, 9, 2)
    assert len(result.excerpt) <= OPTIONS.excerpt_chars + 1
