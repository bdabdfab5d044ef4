"""The fixture web itself: proxy mechanics, the September site's behaviours, fault endpoints.

Everything runs against 127.0.0.1 only; the whole module takes a few seconds.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from tests import fixtureweb
from tests.fixtureweb import FixtureWeb, Response, start_fixture_web
from tests.fixtureweb.pages import (
    PAGES_BY_URL,
    RENDERERS,
    SEPTEMBER_PAGES,
    expected_statuses,
    ru_date,
)

AZ_ARTICLE = "https://rus.azattyq.org/a/31446385.html"
# The shared fixtures (tests/conftest.py may provide them too; these are the same objects).
fixture_web_session = fixtureweb.fixture_web_session
fixture_web = fixtureweb.fixture_web
fixture_web_env = fixtureweb.fixture_web_env

WIN1251_PAGE = "https://tirek.info/toregozhina-bahytzhan-intervyu-o-politicheskih-repressiyah/"


@pytest.fixture
def client(fixture_web: FixtureWeb) -> Iterator[httpx.Client]:
    with httpx.Client(
        proxy=fixture_web.proxy_url, verify=fixture_web.ssl_context(), timeout=10
    ) as c:
        yield c


# ----------------------------------------------------------------------------- mechanics


def test_https_page_through_proxy_is_logged(fixture_web: FixtureWeb, client: httpx.Client):
    r = client.get(AZ_ARTICLE + "?fbclid=IwAR2t2")
    assert r.status_code == 200
    assert "Николай Катчиев" in r.text
    assert r.http_version == "HTTP/1.1"
    methods = [(e.method, e.host) for e in fixture_web.requests]
    assert ("CONNECT", "rus.azattyq.org") in methods
    (hit,) = fixture_web.hits("rus.azattyq.org")
    method, host, path, headers = hit
    assert (method, host, path) == ("GET", "rus.azattyq.org", "/a/31446385.html?fbclid=IwAR2t2")
    assert dict(headers)["host"] == "rus.azattyq.org"
    assert fixture_web.was_requested(AZ_ARTICLE)


def test_certificate_is_only_trusted_with_the_fixture_ca(fixture_web: FixtureWeb):
    with (
        httpx.Client(proxy=fixture_web.proxy_url, verify=True, timeout=5) as c,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        c.get(AZ_ARTICLE)


def test_unknown_host_is_a_502_at_connect(client: httpx.Client):
    with pytest.raises(httpx.ProxyError, match="502"):
        client.get("https://no-such-host.example/")


def test_plain_http_proxy_request_and_https_only_redirect(client: httpx.Client):
    r = client.get("http://tirek.info/sanavar-zakirova-vyigrala-u-si-18/")
    assert r.status_code == 301
    assert r.headers["location"] == "https://tirek.info/sanavar-zakirova-vyigrala-u-si-18/"


def test_direct_origin_mode_with_host_header(fixture_web: FixtureWeb):
    with httpx.Client(base_url=fixture_web.base_url, timeout=5) as c:
        r = c.get("/a/31446385.html", headers={"Host": "rus.azattyq.org"})
    assert r.status_code == 200
    assert "Катчиев" in r.text


def test_head_has_no_body(client: httpx.Client):
    r = client.head(AZ_ARTICLE, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) > 10_000


def test_runtime_route_handler_and_scoped_undo(fixture_web_session: FixtureWeb):
    with fixture_web_session.scoped() as fw:
        fw.route("example.test", "/hello", lambda req: f"<p>hi {req.arg('who')}</p>")
        fw.route_url("https://example.test/teapot", Response(status=418, body=b"short"))
        with httpx.Client(proxy=fw.proxy_url, verify=fw.ssl_context()) as c:
            assert c.get("https://example.test/hello?who=x").text == "<p>hi x</p>"
            assert c.get("https://example.test/teapot").status_code == 418
            assert c.get("https://example.test/other").status_code == 404
    with (
        httpx.Client(proxy=fw.proxy_url, verify=fw.ssl_context()) as c,
        pytest.raises(httpx.ProxyError),
    ):
        c.get("https://example.test/hello")


@pytest.mark.parametrize(
    ("how", "exc"),
    [
        ("refused", httpx.ProxyError),
        ("reset", httpx.TransportError),
        ("bad_tls", httpx.ConnectError),
    ],
)
def test_set_unreachable(fixture_web: FixtureWeb, client: httpx.Client, how, exc):
    fixture_web.set_unreachable("kaztag.kz", how)
    with pytest.raises(exc):
        client.get("https://kaztag.kz/ru/")


def test_set_unreachable_timeout(fixture_web: FixtureWeb, client: httpx.Client):
    fixture_web.set_unreachable("kaztag.kz", "timeout")
    with pytest.raises(httpx.TimeoutException):
        client.get("https://kaztag.kz/ru/", timeout=0.3)


def test_concurrent_clients(fixture_web: FixtureWeb):
    urls = [p.final_url for p in SEPTEMBER_PAGES if p.kind in ("azattyq", "tirek")][:10]
    errors: list[BaseException] = []
    sizes: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            with httpx.Client(proxy=fixture_web.proxy_url, verify=fixture_web.ssl_context()) as c:
                for k in range(3):
                    r = c.get(urls[(i + k) % len(urls)])
                    r.raise_for_status()
                    with lock:
                        sizes.append(len(r.content))
        except BaseException as e:
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(sizes) == 60
    assert len(fixture_web.hits()) == 60


def test_env_routes_a_default_client(fixture_web_env: FixtureWeb):
    # httpx reads HTTPS_PROXY and SSL_CERT_FILE from the environment by default.
    with httpx.Client(timeout=5) as c:
        assert c.get(AZ_ARTICLE).status_code == 200
    assert fixture_web_env.was_requested(AZ_ARTICLE)


def test_stop_closes_the_port():
    fw = start_fixture_web(None)
    port = fw.port
    fw.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


# ----------------------------------------------------------------------------- September site


def test_table_covers_every_digest_footnote():
    numbered = {n for p in SEPTEMBER_PAGES for n in p.footnotes}
    assert numbered == set(range(1, 49)) - {6}  # the digest has no footnote [6]
    assert expected_statuses()["https://tirek.info/wp-admin/post.php?post=14658&action=edit"] == (
        "not_public"
    )
    assert not [p.url for p in SEPTEMBER_PAGES if "fbclid" in p.url]


def test_every_article_names_its_people_and_date(client: httpx.Client):
    for page in SEPTEMBER_PAGES:
        if page.kind not in RENDERERS:
            continue
        r = client.get(page.url, follow_redirects=True)
        assert r.status_code == 200, page.url
        assert 10_000 <= len(r.content) <= 60_000, (page.url, len(r.content))
        body = r.content.decode(page.charset)
        assert page.title.split("«")[0][:30] in body, page.url
        for name in page.people:
            assert name in body, (page.url, name)
        assert page.published.startswith("2021-09-")
        if page.kind != "fb_public":
            assert page.published in body, page.url


def test_azattyq_page_has_metadata_and_other_dates(client: httpx.Client):
    r = client.get("https://rus.azattyq.org/a/31438644.html")
    t = r.text
    assert '<meta property="article:published_time" content="2021-09-01T16:25:00+06:00">' in t
    assert '"datePublished": "2021-09-01T16:25:00+06:00"' in t
    assert '<time pubdate="pubdate" datetime="2021-09-01T16:25:00+06:00">1 сентября 2021' in t
    assert 'property="og:title"' in t and "Амангельды Батырбеков" in t
    # the sidebar carries teasers with other dates, as real pages do
    assert t.count('<span class="date"><time datetime=') >= 8
    assert "октября 2021" in t or "августа 2021" in t


def test_windows_1251_bytes_are_preserved(client: httpx.Client):
    r = client.get(WIN1251_PAGE)
    assert r.headers["content-type"] == "text/html; charset=windows-1251"
    assert b'<meta charset="windows-1251">' in r.content
    assert "Бахытжан Торегожина".encode("cp1251") in r.content
    with pytest.raises(UnicodeDecodeError):
        r.content.decode("utf-8")
    assert "Бахытжан Торегожина" in r.text  # httpx honours the declared charset


def test_charset_only_in_meta(client: httpx.Client):
    page = next(p for p in SEPTEMBER_PAGES if p.kind == "infoprof")
    r = client.get(page.url)
    assert r.headers["content-type"] == "text/html"
    assert b'content="text/html; charset=windows-1251"' in r.content
    assert "Абдурахим Бейсен".encode("cp1251") in r.content


def test_gzip_content_encoding(client: httpx.Client):
    # 31462889 is always gzipped; other articles only when the client accepts gzip.
    url = "https://rus.azattyq.org/a/31462889.html"
    with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    assert raw[:2] == b"\x1f\x8b"
    assert "Исламбек Дастан" in gzip.decompress(raw).decode()
    plain = client.get(AZ_ARTICLE, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert client.get(AZ_ARTICLE).headers["content-encoding"] == "gzip"


def test_kaztag_is_chunked(client: httpx.Client):
    page = next(p for p in SEPTEMBER_PAGES if p.kind == "kaztag")
    r = client.get(page.url + "?fbclid=IwAR23fiAgcn")
    assert r.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.headers
    assert "Нуржан Алтаев" in r.text


def test_gone_article_and_unknown_path_are_404(client: httpx.Client):
    r = client.get("https://rus.azattyq.org/a/31462729.html")
    assert r.status_code == 404
    assert "Страница не найдена" in r.text
    assert client.get("https://tirek.info/no-such-post/").status_code == 404
    assert client.get("https://kaztag.kz/ru/news/nothing").status_code == 404


def test_redirects(client: httpx.Client):
    r = client.get("https://rus.azattyq.org/a/31461304.html", follow_redirects=True)
    assert [h.status_code for h in r.history] == [301]
    assert str(r.url) == PAGES_BY_URL["https://rus.azattyq.org/a/31461304.html"].moved_to
    assert "Алмат Жумагулов" in r.text
    r = client.get("http://us.azattyq.org/a/31472983.html", follow_redirects=True)
    assert [(h.status_code, str(h.url)) for h in r.history] == [
        (301, "http://us.azattyq.org/a/31472983.html")
    ]
    assert str(r.url) == "https://rus.azattyq.org/a/31472983.html"
    assert "Ербол Есхожин" in r.text


def test_facebook_login_wall_and_public_page(client: httpx.Client):
    url = "https://www.facebook.com/permalink.php?story_fbid=1293504337771295&id=100013352235450"
    r = client.get(url)
    assert r.status_code == 302
    loc = r.headers["location"]
    assert loc.startswith("https://www.facebook.com/login/?next=")
    assert unquote(urlsplit(loc).query.removeprefix("next=")) == url
    login = client.get(loc)
    assert login.status_code == 200
    assert 'id="login_form"' in login.text and 'name="pass"' in login.text
    group = client.get(
        "https://www.facebook.com/groups/ActivistsNotExtremists/", follow_redirects=True
    )
    assert "/login/" in str(group.url)
    public = client.get("https://www.facebook.com/toregozhina")
    assert public.status_code == 200
    assert "Сыздыкбек Сабит" in public.text


def test_wp_admin_hits_are_visible_in_the_log(fixture_web: FixtureWeb, client: httpx.Client):
    client.get("https://tirek.info/v-sud-na-ombudsmena-azimovu/")
    assert not fixture_web.hits("tirek.info", "/wp-admin")
    r = client.get("https://tirek.info/wp-admin/post.php?post=14658&action=edit")
    assert r.status_code == 302 and "wp-login.php" in r.headers["location"]
    assert fixture_web.hits("tirek.info", "/wp-admin")


def test_published_dates_match_incident_month():
    for page in SEPTEMBER_PAGES:
        if page.published:
            assert page.published.endswith("+06:00")
            assert ru_date(page.published).endswith("сентября 2021")


# ----------------------------------------------------------------------------- faults


def test_fault_status_and_soft404(client: httpx.Client):
    r = client.get("https://faults.test/status/503")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert client.get("https://rus.azattyq.org/_faults/status/410").status_code == 410
    r = client.get("https://faults.test/soft404")
    assert r.status_code == 200 and "Страница не найдена" in r.text


def test_fault_slow_and_drip(client: httpx.Client):
    t0 = time.monotonic()
    assert client.get("https://faults.test/slow?delay=0.3").status_code == 200
    assert time.monotonic() - t0 >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.get("https://faults.test/slow?delay=2", timeout=0.2)
    t0 = time.monotonic()
    r = client.get("https://faults.test/drip?bytes=3&interval=0.1")
    assert r.content == b"xxx" and time.monotonic() - t0 >= 0.3


def test_fault_redirect_loop_and_chain(client: httpx.Client):
    with pytest.raises(httpx.TooManyRedirects):
        client.get("https://faults.test/redirect-loop", follow_redirects=True)
    r = client.get("https://tirek.info/_faults/redirect-chain?n=3", follow_redirects=True)
    assert len(r.history) == 3 and r.url.path == "/_faults/redirect-chain"


def test_fault_gzip_bomb_and_huge(client: httpx.Client):
    with client.stream("GET", "https://faults.test/gzip-bomb?mb=64") as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    assert len(raw) < 200_000
    inflated = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 1 << 20)
    assert inflated == bytes(1 << 20)  # bounded peek: it would go on to 64 MiB
    assert len(gzip.decompress(raw)) == 64 << 20
    with client.stream("GET", "https://faults.test/huge?mb=3") as r:
        assert r.headers["content-length"] == str(3 << 20)
        assert sum(len(c) for c in r.iter_raw()) == 3 << 20


def test_fault_reset_and_wrong_length(client: httpx.Client):
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get("https://faults.test/reset")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("https://faults.test/wrong-length")
    assert client.get("https://faults.test/status/200").status_code == 200  # still serving
