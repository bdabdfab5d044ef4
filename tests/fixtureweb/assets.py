"""What the September pages load to render: photos and CSS on a CDN host, fonts, scripts.

Like the real sites: RFE/RL serves photos (in `srcset` sizes `_w250`, `_w650`, `_w1200`)
and its stylesheet from `gdb.rferl.org`; the stylesheet `@import`s a font stylesheet whose
`@font-face` points at a `.woff2`, and sets a header background image. The sidebar's
thumbnails are lazy (`data-src`, a 1×1 placeholder in `src`). WordPress sites serve their
theme, block-library CSS, jQuery and uploads under `/wp-content/` and `/wp-includes/`. A
Google Tag Manager and a Yandex.Metrika script are served too, so a test can tell whether
anything asked for them (the tracker blocklist should keep them from being fetched).

Every image is a real PNG (its width from the `_w<N>` in the name), so a browser draws it.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from functools import lru_cache

from tests.fixtureweb.server import FixtureWeb, Request, Response

CDN = "gdb.rferl.org"
FB_CDN = "static.xx.fbcdn.net"
CDN_URL = f"https://{CDN}"
RFE_CSS = f"{CDN_URL}/Content/responsive/RFE/ru-KZ/RFE-ru-KZ.css?v=2021.9.1"
GOOGLE_FONTS = "fonts.googleapis.com"
GSTATIC = "fonts.gstatic.com"
GOOGLE_FONTS_CSS = (
    f"https://{GOOGLE_FONTS}/css?family=Libre+Franklin%3A300%2C400%2C600&subset=latin%2Ccyrillic"
)
TRACKER_HOSTS = ("www.googletagmanager.com", "mc.yandex.ru")
GTAG = "https://www.googletagmanager.com/gtag/js?id=G-AZ2021RU"
METRIKA = "https://mc.yandex.ru/metrika/tag.js"
LAZY_PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
# what the CDN stylesheet does, visibly: a test reads it back from the replayed page
COVER_BORDER = "4px solid rgb(200, 16, 46)"

_WIDTH = re.compile(r"_w(\d+)")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG (zlib + struct: the format is four chunks)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width  # filter byte 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


@lru_cache(maxsize=256)
def photo(path: str) -> bytes:
    """The PNG a CDN path names: `_w650` → 650 pixels wide (16:9), colour from the path."""
    match = _WIDTH.search(path)
    width = min(int(match.group(1)), 1600) if match else 120
    seed = hashlib.sha256(path.encode()).digest()
    return png(width, max(1, width * 9 // 16), (seed[0], seed[1], seed[2]))


def _image(req: Request) -> Response:
    return Response(
        body=photo(req.path),
        content_type="image/png",
        headers=[
            ("Cache-Control", "public, max-age=31536000"),
            ("Access-Control-Allow-Origin", "*"),
        ],
    )


RFE_STYLESHEET = f"""@charset "utf-8";
@import url("fonts/roboto.css");
.hdr{{background:#1c2e4a url("../img/header-pattern_w40.png") repeat-x}}
.cover-media figure{{margin:0;border-top:{COVER_BORDER}}}
.cover-media img{{width:100%;height:auto;display:block}}
.media-block img{{width:100px;height:56px}}
"""
ROBOTO_CSS = """@font-face{font-family:Roboto;font-style:normal;font-weight:400;
src:url(roboto-regular.woff2) format("woff2"),url(roboto-regular.woff) format("woff")}
"""
FONT = b"wOF2" + hashlib.sha256(b"roboto").digest() * 8  # a browser drops it, we archive it
LOADER_JS = (
    "(function(){document.documentElement.className="
    "document.documentElement.className.replace('no-js','js');})();\n"
)
JQUERY_JS = "/*! jQuery v3.6.0 | (c) OpenJS Foundation */\nwindow.jQuery=window.$=function(){};\n"
WP_EMBED_JS = "/*! wp-embed */\n!function(){window.wp=window.wp||{};}();\n"
WP_BLOCK_CSS = ".wp-block-image img{max-width:100%;height:auto}.wp-block-quote{margin:0}\n"
WP_THEME_CSS = (
    ".site-header{background:url(assets/images/header_w200.png) no-repeat}"
    ".entry-content img{max-width:100%}\n"
)
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" fill="#1c2e4a"/></svg>'
)


def _cdn(req: Request) -> Response:
    path = req.path
    if path.endswith(".css") and path.endswith("RFE-ru-KZ.css"):
        return Response(body=RFE_STYLESHEET, content_type="text/css", charset="utf-8")
    if path.endswith("/fonts/roboto.css"):
        return Response(body=ROBOTO_CSS, content_type="text/css", charset="utf-8")
    if path.endswith((".woff2", ".woff")):
        return Response(body=FONT, content_type="font/woff2")
    if path.endswith((".jpg", ".png", ".jpeg", ".webp")):
        return _image(req)
    return Response(status=404, body="Not Found", content_type="text/plain")


GOOGLE_FONTS_STYLESHEET = f"""/* cyrillic */
@font-face{{font-family:'Libre Franklin';font-style:normal;font-weight:400;
src:url(https://{GSTATIC}/s/librefranklin/v7/jizDREVItHgc8qDIbSTKq4XkRiUa6z.woff2) format('woff2');
unicode-range:U+0400-045F}}
"""


def _google_fonts(req: Request) -> Response:
    return Response(body=GOOGLE_FONTS_STYLESHEET, content_type="text/css", charset="utf-8")


def _site_asset(req: Request) -> Response:
    """A site's own /Content, /Scripts, /wp-content and /wp-includes files."""
    path = req.path
    if path.endswith("favicon.svg"):
        return Response(body=FAVICON_SVG, content_type="image/svg+xml")
    if path.endswith("loader.bundle.min.js"):
        return Response(body=LOADER_JS, content_type="application/javascript")
    if path.endswith("jquery.min.js"):
        return Response(body=JQUERY_JS, content_type="application/javascript")
    if path.endswith(("jquery-migrate.min.js", "global.js", "navigation.js")):
        return Response(body=f"/* {path} */\n", content_type="application/javascript")
    if path.endswith("wp-embed.min.js"):
        return Response(body=WP_EMBED_JS, content_type="application/javascript")
    if path.endswith("block-library/style.min.css"):
        return Response(body=WP_BLOCK_CSS, content_type="text/css")
    if path.endswith("/style.css"):
        return Response(body=WP_THEME_CSS, content_type="text/css")
    if path.endswith((".jpg", ".png", ".jpeg")):
        return _image(req)
    return Response(status=404, body="Not Found", content_type="text/plain")


def _tracker(req: Request) -> Response:
    return Response(body="/* tracker */\n", content_type="application/javascript")


def install_assets(fw: FixtureWeb, wordpress_hosts: tuple[str, ...]) -> None:
    """The CDN, the trackers, and each site's own static files."""
    fw.set_https_only(CDN)
    fw.route(CDN, "/*", _cdn)
    for host in TRACKER_HOSTS:
        fw.set_https_only(host)
        fw.route(host, "/*", _tracker)
    for host in (GOOGLE_FONTS, GSTATIC):
        fw.set_https_only(host)
    fw.route(GOOGLE_FONTS, "/css", _google_fonts)
    fw.route(GSTATIC, "/s/*", Response(body=FONT, content_type="font/woff2"))
    fw.set_https_only(FB_CDN)
    fw.route(FB_CDN, "/*", _image)  # Facebook's icons and sprites (rsrc.php/…)
    for prefix in ("/Content/*", "/Scripts/*"):
        fw.route("rus.azattyq.org", prefix, _site_asset)
    for host in wordpress_hosts:
        for prefix in ("/wp-content/*", "/wp-includes/*"):
            fw.route(host, prefix, _site_asset)


def cover_img(page_key: str) -> str:
    """An RFE/RL cover photo: `src` the 650 size, a srcset of three sizes."""
    stem = f"{CDN_URL}/{_seed_hex(page_key)}"
    sizes = ", ".join(f"{stem}_w{w}_r1_s.jpg {w}w" for w in (250, 650, 1200))
    attrs = 'sizes="650px" alt="" class="cover-photo"'
    return f'<img src="{stem}_w650_r1_s.jpg" srcset="{sizes}" {attrs}>'


def lazy_thumb(key: str) -> str:
    return (
        f'<img class="lazy" src="{LAZY_PLACEHOLDER}" '
        f'data-src="{CDN_URL}/{_seed_hex(key)}_w100_r1.jpg" alt="">'
    )


def _seed_hex(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def wp_header_img(base: str) -> str:
    """A WordPress header image, with the sizes WordPress makes of an upload."""
    stem = f"{base}/wp-content/uploads/2021/09/header"
    sizes = ", ".join(f"{stem}_w{w}.jpg {w}w" for w in (300, 768, 1024))
    return f'<img src="{stem}_w1024.jpg" srcset="{sizes}" sizes="100vw" alt="">'
