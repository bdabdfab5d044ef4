"""The classes of page where the extractor used to read worse than plain htmldate/trafilatura.

One hand-written page (or a few) per class of issue #14: time zones, a date outside the
article body, a "latest news" sidebar, signals that disagree, articles the precise pass
loses, a menu bar in the article's container, and broken decoding. Each test names what
the page states and what the extractor must make of it.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata

import pytest

from worker.extract.page import (
    ExtractedPage,
    ExtractionFailure,
    ExtractOptions,
    decode_html,
    extract,
)

OPTIONS = ExtractOptions()

PARAGRAPHS_RU = [
    "Специализированный межрайонный административный суд Алматы оштрафовал активиста "
    "Ерлана Жумабаева на сто месячных расчётных показателей за участие в мирном пикете.",
    "По словам адвоката, суд не стал рассматривать видеозапись, на которой видно, что "
    "пикет длился не более десяти минут и не мешал движению пешеходов у здания акимата.",
    "Правозащитники считают, что преследование связано с публикациями активиста о "
    "задержаниях участников январских протестов и пытках в изоляторах временного содержания.",
    "Сам Жумабаев заявил журналистам, что обжалует решение в апелляционной инстанции и "
    "продолжит добиваться регистрации общественного объединения своих сторонников.",
]
PARAGRAPHS_KK = [
    "Алматы қаласындағы мамандандырылған әкімшілік сот белсенді Ерлан Жұмабаевқа бейбіт "
    "пикетке қатысқаны үшін жүз айлық есептік көрсеткіш көлемінде айыппұл салды.",
    "Адвокаттың айтуынша, сот пикеттің он минуттан аспағанын көрсететін бейнежазбаны "
    "қарамаған, ал пикет әкімдік ғимаратының жанындағы жаяу жүргіншілерге кедергі келтірмеген.",
    "Құқық қорғаушылар қудалау белсендінің уақытша ұстау изоляторларындағы азаптау туралы "
    "жарияланымдарымен байланысты деп санайды.",
]


def body(paragraphs: list[str]) -> str:
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def run(html: str | bytes, url: str, charset: str | None = None) -> ExtractedPage:
    data = html.encode() if isinstance(html, str) else html
    result = extract(data, url=url, charset=charset, options=OPTIONS)
    assert isinstance(result, ExtractedPage), getattr(result, "reason", result)
    return result


SIDEBAR = """
<aside class="sidebar"><h3>Последние новости</h3><ul>
<li><time datetime="2021-10-19T10:00:00+06:00">19 октября 2021</time> <a href="/n/1">Новость один</a></li>
<li><time datetime="2021-10-18T09:00:00+06:00">18 октября 2021</time> <a href="/n/2">Новость два</a></li>
</ul></aside>
"""  # noqa: E501


# ---- 1 time zones: the page's own day, never converted


@pytest.mark.parametrize(
    ("stamp", "day"),
    [
        ("2020-09-20T23:32:00+03:00", dt.date(2020, 9, 20)),  # the 21st in Almaty
        ("2021-09-14T20:30:00Z", dt.date(2021, 9, 14)),  # the 15th in Almaty
        ("2021-09-15T00:40:00+06:00", dt.date(2021, 9, 15)),  # the 14th in UTC
    ],
)
def test_a_timestamp_gives_the_day_it_states(stamp: str, day: dt.date) -> None:
    html = (
        f'<html><head><meta property="article:published_time" content="{stamp}">'
        f"<title>Суд</title></head><body><article><h1>Суд оштрафовал активиста</h1>"
        f"{body(PARAGRAPHS_RU)}</article></body></html>"
    )
    page = run(html, "https://rus.azattyq.org/a/31000001.html")
    assert page.published == day
    assert page.published_at == stamp


# ---- 2 a date outside the article body: above the <h1>, in the byline


def test_a_date_line_above_the_h1_is_found() -> None:
    html = (
        "<html><head><title>Суд над активистом</title></head><body>"
        '<header class="site"><nav><a href="/">Главная</a> <a href="/news">Новости</a></nav>'
        "</header>"
        '<div class="content"><p class="date">15 августа 2016</p>'
        f"<h1>Суд оштрафовал активиста</h1>{body(PARAGRAPHS_RU)}</div>{SIDEBAR}</body></html>"
    )
    page = run(html, "https://vlast.kz/obshchestvo/18731-sud.html")
    assert page.published == dt.date(2016, 8, 15)
    assert page.date_source == "byline:text"


def test_a_kazakh_byline_date_below_the_h1_is_found() -> None:
    html = (
        "<html><head><title>Сот</title></head><body><div class='post'>"
        "<h1>Белсендіге айыппұл салынды</h1>"
        '<div class="post-info">Автор: Айгүл Сәрсенова · 2021 жылғы 14 қазан, 18:20</div>'
        f"{body(PARAGRAPHS_KK)}</div></body></html>"
    )
    page = run(html, "https://kaz.example.kz/news/belsendi")
    assert page.published == dt.date(2021, 10, 14)
    assert page.language == "kk"


def test_a_sidebar_date_is_never_a_byline() -> None:
    html = (
        "<html><head><title>Суд</title></head><body><div class='wrap'>"
        f"<h1>Суд оштрафовал активиста</h1>{body(PARAGRAPHS_RU)}"
        '<div class="latest-news"><span class="date">19 октября 2021</span> '
        '<a href="/n/1">Другая новость</a></div></div></body></html>'
    )
    page = run(html, "https://kaz.example.kz/news/sud")
    # the only date on the page is a teaser's: never a byline, at best htmldate's weak guess
    assert all(not c.source.startswith("byline") for c in page.date_candidates)
    assert page.date_source in ("none", "htmldate-unbacked", "htmldate-unbacked:extensive")


# ---- 3 a "latest news" block must not date the article


@pytest.mark.parametrize(
    ("lead", "day"),
    [
        ("14 октября 2021 года в Алматы", dt.date(2021, 10, 14)),
        ("2021 жылғы 14 қазанда Алматыда", dt.date(2021, 10, 14)),
    ],
)
def test_the_texts_own_date_beats_the_newest_sidebar_date(lead: str, day: dt.date) -> None:
    paragraphs = PARAGRAPHS_KK if "жылғы" in lead else PARAGRAPHS_RU
    html = (
        "<html><head><title>Суд</title></head><body><div id='main'>"
        f"<h2>Суд оштрафовал активиста</h2><p>{lead} {paragraphs[0]}</p>"
        f"{body(paragraphs[1:])}</div>{SIDEBAR}"
        '<footer>© 2021 <time datetime="2021-10-20">20.10.2021</time></footer></body></html>'
    )
    page = run(html, "https://tirek.example/sud-oshtrafoval")
    assert page.published == day
    assert page.date_source == "text:lead"
    # htmldate's pick, if it made one from the sidebar, is kept as a weak candidate
    sidebar = [c for c in page.date_candidates if c.date == dt.date(2021, 10, 19)]
    assert all(c.source.startswith("htmldate-unbacked") for c in sidebar)


# ---- 4 signals that disagree


def _jsonld(kind: str, published: str, url: str | None = None) -> str:
    node = {"@context": "https://schema.org", "@type": kind, "datePublished": published}
    if url:
        node["url"] = url
    return f'<script type="application/ld+json">{json.dumps(node)}</script>'


def test_url_and_htmldate_beat_a_webpage_jsonld_date() -> None:
    url = "https://kaztag.example/ru/news/2021/09/15/aktivist"
    html = (
        f"<html><head><title>Активист</title>{_jsonld('WebPage', '2019-01-01T00:00:00+06:00')}"
        f"</head><body><div class='news'><h1>Активист</h1>{body(PARAGRAPHS_RU)}</div></body></html>"
    )
    page = run(html, url)
    assert page.published == dt.date(2021, 9, 15)
    assert "agree on 2021-09-15" in page.date_choice
    sources = {c.source for c in page.date_candidates}
    assert "json-ld-other:datePublished" in sources and "url" in sources


def test_the_pages_own_newsarticle_jsonld_wins() -> None:
    url = "https://kaztag.example/ru/news/2021/09/15/aktivist"
    html = (
        f"<html><head><title>Активист</title>"
        f"{_jsonld('NewsArticle', '2021-09-16T09:00:00+06:00', url)}"
        f"</head><body><div class='news'><h1>Активист</h1>{body(PARAGRAPHS_RU)}</div></body></html>"
    )
    page = run(html, url)
    assert page.published == dt.date(2021, 9, 16)
    assert page.date_choice == "the page's own article JSON-LD"


def test_another_pages_newsarticle_is_not_the_pages_own() -> None:
    url = "https://kaztag.example/ru/news/2021/09/15/aktivist"
    other = _jsonld("NewsArticle", "2020-03-01T09:00:00+06:00", "https://kaztag.example/ru/x")
    html = (
        f"<html><head><title>Активист</title>{other}</head><body><div class='news'>"
        f"<h1>Активист</h1>{body(PARAGRAPHS_RU)}</div></body></html>"
    )
    page = run(html, url)
    assert page.published == dt.date(2021, 9, 15)


# ---- 5 articles the precise pass loses; menus are not articles


def test_an_article_the_precise_pass_loses_is_found_by_the_fallback() -> None:
    from trafilatura import bare_extraction
    from trafilatura.utils import load_html

    lines = "<br>".join(PARAGRAPHS_RU)
    html = (
        "<html><head><title>Суд</title></head><body>"
        + "".join(
            f'<div class="row"><div class="cell"><a href="/r/{i}">Раздел {i}</a></div></div>'
            for i in range(12)
        )
        + f'<div class="txt">{lines}</div>'
        '<div class="legal">Все права защищены. Перепечатка запрещена.</div></body></html>'
    )
    url = "https://kaztag.example/ru/news/sud"
    precise = bare_extraction(load_html(html), url=url, fast=True, favor_precision=True)
    precise_text = (precise.text or "") if precise is not None else ""
    if len(precise_text) >= OPTIONS.min_text_chars:
        pytest.skip("this trafilatura finds the article in its precise pass")
    page = run(html, url)
    assert "Ерлана Жумабаева" in page.text


def test_a_menu_bar_is_not_the_start_of_the_article() -> None:
    menu = "".join(
        f'<li><a href="/ru/{w}">{w.capitalize()}</a></li>'
        for w in ["политика", "экономика", "общество", "происшествия", "спорт", "культура"]
    )
    html = (
        "<html><head><title>Суд</title></head><body><div class='article'>"
        f'<ul class="menu">{menu}</ul><h1>Суд оштрафовал активиста</h1>'
        f"{body(PARAGRAPHS_RU)}</div></body></html>"
    )
    page = run(html, "https://kaztag.example/ru/news/sud-2")
    assert page.text.startswith("Специализированный") or page.text.startswith("Суд оштрафовал")
    assert "Экономика" not in page.text


# ---- 6 decoding


def _article(text_paragraphs: list[str]) -> str:
    return (
        "<html><head><meta charset='utf-8'><title>Суд над активистом</title></head><body>"
        f"<article><h1>Суд над активистом</h1>{body(text_paragraphs)}</article></body></html>"
    )


def test_one_stray_byte_keeps_a_utf8_page_utf8() -> None:
    data = _article(PARAGRAPHS_RU).encode()
    cut = data.index("межрайонный".encode())
    damaged = data[:cut] + b"\xff" + data[cut:]
    page = run(damaged, "https://rus.azattyq.org/a/1.html")
    assert page.charset == "utf-8" and "replaced" in page.charset_source
    assert "Ерлана Жумабаева" in page.text and page.title == "Суд над активистом"


def test_a_body_cut_inside_a_letter_keeps_every_whole_letter() -> None:
    data = _article(PARAGRAPHS_RU).encode()
    cut = data.index("продолжит".encode()) + 3  # inside the second letter, "р"
    text, codec, _how = decode_html(data[:cut])
    assert codec == "utf-8"
    assert text.endswith("п") and "\ufffd" not in text


def test_decomposed_letters_are_composed() -> None:
    nfd = unicodedata.normalize("NFD", _article(PARAGRAPHS_RU))
    assert nfd != unicodedata.normalize("NFC", nfd)
    page = run(nfd, "https://rus.azattyq.org/a/2.html")
    assert "расчётных" in page.text  # ё as one letter, as the phrase packs spell it


def test_a_nul_byte_does_not_lose_the_page() -> None:
    data = _article(PARAGRAPHS_RU).encode().replace(b"<h1>", b"<h1>\x00", 1)
    result = extract(data, url="https://rus.azattyq.org/a/3.html", options=OPTIONS)
    assert isinstance(result, ExtractedPage)
    assert "Ерлана Жумабаева" in result.text


def test_windows_1251_declared_only_in_the_header() -> None:
    data = (
        "<html><head><title>Суд над активистом</title></head><body><article><h1>Суд</h1>"
        f"{body(PARAGRAPHS_RU)}</article></body></html>"
    ).encode("cp1251")
    page = run(data, "https://old.example.kz/news/1", charset="windows-1251")
    assert page.charset == "windows-1251" and "Ерлана Жумабаева" in page.text


def test_an_unreadable_page_is_still_a_failure_not_a_crash() -> None:
    result = extract(b"\x00\x01\x02", url="https://x.test/", options=OPTIONS)
    assert isinstance(result, ExtractionFailure)
