"""Pages that show nothing without JavaScript: a Facebook group post and a news SPA.

* `FB_POST`: a group post. Logged out, Facebook sends the visitor to its login page, as
  for every other group URL. With a session (cookies `c_user` and `xs`), the answer is
  Facebook's page shell: an empty mount point and a loader script from
  `static.xx.fbcdn.net`, which asks `/api/graphql/` (same cookies) for the post and draws
  it; the API answers 401 without the session.
* `SPA_ARTICLE`: an informburo-like article whose HTML is a `<div id="app">` and a script
  bundle; the bundle fetches `/api/v1/articles/<id>` and renders title, date and text.

Neither text is in any HTML the server sends: only a browser that runs the scripts
(and, for the post, sends the session) ever sees it.
"""

from __future__ import annotations

import json

from tests.fixtureweb.assets import FB_CDN, photo
from tests.fixtureweb.server import FixtureWeb, Request, Response, html, redirect

FB = "https://www.facebook.com"
FB_POST_PATH = "/groups/ActivistsNotExtremists/posts/4100000000000001/"
FB_POST = f"{FB}{FB_POST_PATH}"
FB_SESSION = {"c_user": "100042", "xs": "fixture-session-7f3a"}
FB_POST_TEXT = (
    "13 сентября 2021 года в Алматы активистка Инга Иманбай вышла на одиночный пикет у "
    "здания акимата с плакатом «Свободу политзаключённым».",
    "Через двадцать минут её задержали сотрудники полиции и доставили в отдел, где "
    "составили протокол о нарушении порядка проведения мирных собраний.",
    "Вечером того же дня суд назначил Инге Иманбай штраф в размере 30 МРП.",
)
FB_POST_TITLE = "Инга Иманбай — Активисты не экстремисты | Facebook"
LOADER = "/rsrc.php/v3/yQ/r/post-loader.js"

SPA_HOST = "informburo.kz"
SPA_PATH = "/novosti/aktivistov-zaderzhali-u-akimata-almaty-125432.html"
SPA_ARTICLE = f"https://{SPA_HOST}{SPA_PATH}"
SPA_TITLE = "Активистов задержали у акимата Алматы"
SPA_TEXT = (
    "14 сентября у здания акимата Алматы полиция задержала четырёх активистов, которые "
    "вышли с плакатами в поддержку политзаключённых.",
    "Среди задержанных — Бахытжан Торегожина. Ей вменяют участие в несанкционированном "
    "митинге, рассмотрение дела назначено на 16 сентября.",
    "Правозащитники назвали задержание давлением на гражданских активистов накануне "
    "годовщины январских событий и потребовали освободить задержанных.",
)
SPA_PUBLISHED = "2021-09-14T15:40:00+06:00"

_FB_LOADER_JS = """(function () {
  var s = document.currentScript, id = s.getAttribute('data-post');
  fetch('/api/graphql/?doc_id=GroupPostQuery&post=' + id, {credentials: 'include'})
    .then(function (r) { return r.json(); })
    .then(function (d) {
      var m = document.getElementById('mount_0_0');
      m.innerHTML = '<div role="article"><h2><a href="/' + d.author_id + '">' + d.author +
        '</a></h2><div data-ad-preview="message"><p>' + d.text.join('</p><p>') +
        '</p></div><abbr data-utime="' + d.utime + '">' + d.date + '</abbr>' +
        '<img src="' + d.photo + '" alt=""></div>';
      document.title = d.title;
    });
})();
"""

_SPA_JS = """(function () {
  var id = location.pathname.match(/-(\\d+)\\.html$/)[1];
  fetch('/api/v1/articles/' + id).then(function (r) { return r.json(); }).then(function (a) {
    document.title = a.title + ' — Informburo.kz';
    document.getElementById('app').innerHTML = '<article><h1>' + a.title + '</h1>' +
      '<time datetime="' + a.published + '">' + a.published_text + '</time>' +
      a.paragraphs.map(function (p) { return '<p>' + p + '</p>'; }).join('') + '</article>';
  });
})();
"""


def _has_session(req: Request) -> bool:
    cookie = req.header("cookie") or ""
    pairs = dict(part.strip().split("=", 1) for part in cookie.split(";") if "=" in part)
    return all(pairs.get(k) == v for k, v in FB_SESSION.items())


def _login(req: Request) -> Response:
    target = f"{FB}{req.target}"
    return redirect(f"{FB}/login/?next={target}", 302)


def _fb_post(req: Request) -> Response:
    if not _has_session(req):
        return _login(req)
    shell = (
        '<!DOCTYPE html><html lang="ru" id="facebook"><head><meta charset="utf-8">'
        "<title>Facebook</title>"
        f'<link rel="shortcut icon" href="https://{FB_CDN}/rsrc.php/yD/r/d4ZIVX-5C-b.ico">'
        '</head><body><div id="mount_0_0"><div role="progressbar">Загрузка…</div></div>'
        f'<script src="https://{FB_CDN}{LOADER}" data-post="4100000000000001"></script>'
        "</body></html>"
    )
    return html(shell, headers=[("Cache-Control", "private, no-cache, no-store")])


def _fb_api(req: Request) -> Response:
    if not _has_session(req):
        return Response(
            status=401, body='{"error":"login required"}', content_type="application/json"
        )
    data = {
        "author": "Инга Иманбай",
        "author_id": "inga.imanbay",
        "text": list(FB_POST_TEXT),
        "utime": 1631530800,
        "date": "13 сентября 2021 г.",
        "title": FB_POST_TITLE,
        "photo": f"https://{FB_CDN}/v/t39.30808-6/241711_picket_w720.jpg",
    }
    return Response(body=json.dumps(data, ensure_ascii=False), content_type="application/json")


def _spa_shell(req: Request) -> Response:
    return html(
        '<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>Informburo.kz</title>'
        '<meta name="viewport" content="width=device-width"></head><body>'
        "<noscript>Включите JavaScript, чтобы читать Informburo.kz</noscript>"
        '<div id="app"></div><script src="/static/js/app.9f3c2e.js"></script></body></html>'
    )


def _spa_api(req: Request) -> Response:
    data = {
        "title": SPA_TITLE,
        "published": SPA_PUBLISHED,
        "published_text": "14 сентября 2021, 15:40",
        "paragraphs": list(SPA_TEXT),
    }
    return Response(body=json.dumps(data, ensure_ascii=False), content_type="application/json")


def install_scripted(fw: FixtureWeb) -> None:
    fw.route("www.facebook.com", FB_POST_PATH, _fb_post)
    fw.route("www.facebook.com", "/api/graphql/", _fb_api)
    fw.route(FB_CDN, LOADER, Response(body=_FB_LOADER_JS, content_type="application/javascript"))
    fw.route(FB_CDN, "/v/*", lambda req: Response(body=photo(req.path), content_type="image/png"))
    fw.set_https_only(SPA_HOST)
    fw.route(SPA_HOST, SPA_PATH, _spa_shell)
    fw.route(
        SPA_HOST,
        "/static/js/app.9f3c2e.js",
        Response(body=_SPA_JS, content_type="application/javascript"),
    )
    fw.route(SPA_HOST, "/api/v1/articles/125432", _spa_api)
