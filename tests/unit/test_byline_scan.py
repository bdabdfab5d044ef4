"""The byline scan: a date line marked by its class or id, read in the article's header,
never in a sidebar, teaser list or footer however deep it sits (worker.extract.dates)."""

from __future__ import annotations

import datetime as dt

from lxml import html as lxml_html

from worker.extract.dates import byline_signal
from worker.extract.regions import first_h1


def _signal(page: str) -> dt.date | None:
    tree = lxml_html.fromstring(page)
    found = byline_signal(tree, first_h1(tree), 2021)
    return found.date if found is not None else None


def _teasers(days: range) -> str:
    return "".join(
        f'<li><div class="card"><span class="date">{d} октября 2021</span>'
        f'<a href="/n/{d}">Новость {d}</a></div></li>'
        for d in days
    )


def test_teaser_dates_deep_in_a_sidebar_before_the_byline_are_skipped() -> None:
    page = (
        "<html><body><div class='page'><div class='layout'>"
        f"<aside><div class='box'><ul>{_teasers(range(1, 20))}</ul></div></aside>"
        f"<div class='most-read'><ul>{_teasers(range(20, 28))}</ul></div>"
        "<div class='story'><h1>Суд оштрафовал активиста</h1><p>Специализированный суд "
        "Алматы оштрафовал активиста на сто месячных расчётных показателей за пикет.</p>"
        "<div class='meta'><span class='author'>Айгуль Сарсенова</span>"
        "<span class='published'>14 сентября 2021</span></div></div>"
        "</div></div></body></html>"
    )
    assert _signal(page) == dt.date(2021, 9, 14)


def test_a_marked_line_nested_in_the_header_comes_in_document_order() -> None:
    page = (
        "<html><body><div class='page'><div class='wrap'><div class='head'>"
        "<div class='top'><p class='dateline'>2 сентября 2021</p></div>"
        "<h1>Пикет в Алматы</h1>"
        "<div class='info'><span>обновлено</span><span class='time'>5 сентября 2021</span></div>"
        "</div></div></div></body></html>"
    )
    assert _signal(page) == dt.date(2021, 9, 2)  # the line above the h1 is read first


def test_a_header_inside_a_teaser_block_dates_nothing() -> None:
    page = (
        "<html><body><div class='related-news'><div class='a'><div class='b'><div class='c'>"
        "<h1>Другая новость</h1><span class='date'>19 октября 2021</span>"
        "</div></div></div></div></body></html>"
    )
    assert _signal(page) is None
