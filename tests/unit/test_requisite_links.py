"""What a page needs to render, read from its HTML and CSS (worker.capture.requisite_links)."""

from __future__ import annotations

from worker.capture.requisite_links import Link, page_links, stylesheet_links
from worker.digest.urls import matching_domain

PAGE = "https://rus.azattyq.org/a/31446385.html"


def _urls(links: list[Link]) -> list[str]:
    return [link.url for link in links]


def test_a_srcset_gives_its_largest_candidate_first_and_the_others_last() -> None:
    html = """<html><body>
    <img src="/p/photo_w650.jpg" srcset="/p/photo_w250.jpg 250w, /p/photo_w1200.jpg 1200w,
      /p/photo_w650.jpg 650w">
    <script src="/app.js"></script></body></html>"""
    links = page_links(html, PAGE)
    assert _urls(links) == [
        "https://rus.azattyq.org/p/photo_w650.jpg",
        "https://rus.azattyq.org/p/photo_w1200.jpg",
        "https://rus.azattyq.org/app.js",
        "https://rus.azattyq.org/p/photo_w250.jpg",  # the smallest: cut first by a budget
    ]
    assert [link.tier for link in links] == [0, 0, 0, 1]


def test_density_descriptors_rank_by_density() -> None:
    links = page_links('<img srcset="a.jpg, b.jpg 3x, c.jpg 2x">', PAGE)
    assert _urls(links)[0].endswith("/a/b.jpg")
    assert [link.tier for link in links] == [0, 1, 1]


def test_every_kind_of_requisite_is_found_with_where_it_came_from() -> None:
    html = """<!DOCTYPE html><html><head>
    <meta property="og:image" content="https://gdb.rferl.org/og_w1200.jpg">
    <link rel="stylesheet" href="https://gdb.rferl.org/main.css">
    <link rel="shortcut icon" href="/favicon.ico">
    <link rel="preload" as="font" href="/f.woff2" crossorigin>
    <link rel="canonical" href="https://rus.azattyq.org/a/other.html">
    <link rel="alternate" type="application/rss+xml" href="/rss">
    <style>@import url("/print.css"); .hdr{background:url(/img/bg.png)}</style>
    </head><body style="background-image:url('/img/body.png')">
    <img class="lazy" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/thumb.jpg">
    <picture><source srcset="/pic.webp"><img src="/pic.jpg"></picture>
    <video poster="/poster.jpg"><source src="/clip.mp4" type="video/mp4"></video>
    <a href="/next.html">next</a><iframe src="https://www.youtube.com/embed/x"></iframe>
    </body></html>"""
    got = {
        link.url.removeprefix("https://rus.azattyq.org"): (link.kind, link.via)
        for link in page_links(html, PAGE)
    }
    assert got == {
        "https://gdb.rferl.org/og_w1200.jpg": ("image", "meta[og:image]"),
        "https://gdb.rferl.org/main.css": ("stylesheet", "link[stylesheet]"),
        "/favicon.ico": ("icon", "link[icon shortcut]"),
        "/f.woff2": ("font", "link[preload]"),
        "/print.css": ("stylesheet", "style@import"),
        "/img/bg.png": ("css", "style@url"),
        "/img/body.png": ("css", "style@url"),
        "/thumb.jpg": ("image", "img@data-src"),
        "/pic.webp": ("image", "source@srcset"),
        "/pic.jpg": ("image", "img@src"),
        "/poster.jpg": ("image", "video@poster"),
        "/clip.mp4": ("media", "source@src"),
    }


def test_base_href_fragments_and_non_http_urls_are_handled_like_a_browser() -> None:
    html = """<html><head><base href="https://cdn.example.org/static/"></head><body>
    <img src="a.png#top"><img src="a.png"><img src="javascript:void(0)">
    <img src="about:blank"><img src="  "><img src="http://[::1"><img src="//x.org/b.png">
    <img src="https://rus.azattyq.org/a/31446385.html"></body></html>"""
    assert _urls(page_links(html, PAGE)) == [
        "https://cdn.example.org/static/a.png",  # resolved on <base>, once, no fragment
        "https://x.org/b.png",
    ]


def test_html_that_is_not_a_document_gives_no_links() -> None:
    assert page_links("", PAGE) == []
    assert page_links("\x00\x00", PAGE) == []


def test_a_stylesheet_gives_its_imports_fonts_and_images_on_its_own_url() -> None:
    css = """@charset "utf-8";
    @import "fonts/roboto.css";
    @import url(print.css) print;
    /* url(commented.png) */
    @font-face{font-family:R;src:url(../fonts/r.woff2) format("woff2"), url("../fonts/r.woff")}
    @media (min-width: 600px){ .hdr{ background: url( 'hdr.png' ) } }
    .x{background:url(data:image/png;base64,iVBOR)}"""
    links = stylesheet_links(css, "https://gdb.rferl.org/css/main.css?v=2")
    assert [(link.url, link.kind) for link in links] == [
        ("https://gdb.rferl.org/css/fonts/roboto.css", "stylesheet"),
        ("https://gdb.rferl.org/css/print.css", "stylesheet"),
        ("https://gdb.rferl.org/fonts/r.woff2", "font"),
        ("https://gdb.rferl.org/fonts/r.woff", "font"),
        ("https://gdb.rferl.org/css/hdr.png", "css"),
    ]


def test_the_blocklist_covers_a_domain_and_its_subdomains_only() -> None:
    blocklist = ["google-analytics.com", ".mc.yandex.ru"]
    assert matching_domain("https://www.google-analytics.com/analytics.js", blocklist) == (
        "google-analytics.com"
    )
    assert matching_domain("https://MC.Yandex.RU./metrika/tag.js", blocklist) == "mc.yandex.ru"
    assert matching_domain("https://notgoogle-analytics.com/a.js", blocklist) is None
    assert matching_domain("https://yandex.ru/logo.png", blocklist) is None


def test_the_referer_is_what_a_browser_sends_by_default() -> None:
    from worker.capture.requisites import referer_for

    page = "https://rus.azattyq.org/a/31446385.html#comments"
    assert referer_for(page, "https://rus.azattyq.org/Scripts/a.js") == page.split("#")[0]
    assert referer_for(page, "https://gdb.rferl.org/p.jpg") == "https://rus.azattyq.org/"
    assert referer_for(page, "http://old-cdn.example/p.jpg") is None  # never https → http
    assert referer_for("http://x.kz/a", "http://y.kz/b.png") == "http://x.kz/"
