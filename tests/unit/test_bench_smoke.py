"""The benchmark's site builder works: URL list, fault shares, pages, digest (no timing)."""

from __future__ import annotations

from collections import Counter

from bench.site import SiteSpec, build_digest, build_urls, page_html, sample_urls
from worker.digest.parse import parse_digest
from worker.extract.page import ExtractedPage, ExtractOptions, extract


def test_url_list_spreads_hosts_and_faults() -> None:
    spec = SiteSpec(urls=200, hosts=20, fault_rate=0.05)
    urls = build_urls(spec)
    assert len({u.url for u in urls}) == 200
    assert Counter(u.host for u in urls) == Counter({u.host: 10 for u in urls})
    faults = Counter(u.fault for u in urls if u.fault)
    assert sum(faults.values()) == 10 and set(faults) == {"404", "slow", "redirect"}
    assert build_urls(spec) == urls  # deterministic: the web process rebuilds the same list
    sample = sample_urls(urls, 60)
    assert len(sample) == 60 and len({u.url for u in sample}) == 60
    assert len({u.host for u in sample}) >= 15  # spread over the hosts, not aliased onto a few


def test_pages_have_the_requested_size_and_extract() -> None:
    spec = SiteSpec(urls=6, hosts=2, min_kb=30, max_kb=120, fault_rate=0)
    for u in build_urls(spec):
        html = page_html(u)
        assert abs(len(html) - u.size) < 2048, (u.size, len(html))
        page = extract(html, url=u.url, options=ExtractOptions())
        assert isinstance(page, ExtractedPage)
        assert page.published is not None and page.published.day == u.day
        assert page.language == "ru"


def test_digest_cites_every_url_once() -> None:
    urls = build_urls(SiteSpec(urls=40, hosts=5))
    digest = parse_digest(build_digest(urls), name="bench")
    assert [s.canonical_url for s in digest.sources] == [u.url for u in urls]
    assert len(digest.incidents) == 20 and not digest.problems


def test_every_requisite_a_page_links_to_is_served() -> None:
    from bench.site import asset
    from worker.capture.requisite_links import page_links

    (u,) = build_urls(SiteSpec(urls=1, hosts=1, fault_rate=0))
    links = page_links(page_html(u).decode(), u.url)
    assert {link.kind for link in links} >= {"stylesheet", "image"}
    for link in links:
        found = asset(link.url.split(u.host, 1)[1])
        assert found is not None, link.url
    ctype, css = asset("/static/css/0.min.css") or ("", b"")
    assert ctype == "text/css" and b"url(/static/img/sprite.png)" in css
    assert asset("/media/1.jpg") != asset("/media/2.jpg")  # each image its own bytes
    assert asset("/ru/news/missing.html") is None
