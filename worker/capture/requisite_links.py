"""What a page needs to render: the URLs of its images, styles, scripts, fonts and media.

`page_links(html, url)` reads an archived HTML page once (lxml) and `stylesheet_links(css,
url)` a fetched stylesheet (tinycss2, the CSS tokenizer WeasyPrint uses), the way a browser
would resolve them: against `<base href>` when the page has one, fragments dropped, only
http(s) (a `data:` image is already in the page). A `srcset`'s largest candidate is taken
with the element's other URLs; its smaller ones come last, in a second tier a page's budget
cuts first, so replay still has the size a browser picks when the budget allows.

Not collected: `<iframe>` documents (pages of their own, with their own requisites) and
URLs a script builds at run time (that is the browser capture's job).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
import tinycss2
from lxml import etree

__all__ = ["Link", "page_links", "stylesheet_links"]

log = logging.getLogger(__name__)

# rel values whose href a browser loads to draw the page (or its tab)
RENDER_RELS = frozenset(
    {"stylesheet", "icon", "shortcut", "apple-touch-icon", "mask-icon", "preload", "modulepreload"}
)
IMAGE_ATTRS = ("src", "data-src", "data-lazy-src", "data-original", "data-full-src")
SRCSET_ATTRS = ("srcset", "data-srcset", "data-lazy-srcset")
META_IMAGES = frozenset(
    {"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"}
)
_DESCRIPTOR = re.compile(r"^(\d+(?:\.\d+)?)([wx])$", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """One requisite URL. `kind`: image, stylesheet, script, icon, media, font or css (a
    url() of a stylesheet or style attribute); `tier` 0 is needed, 1 is a smaller
    candidate of a srcset; `via` says where it was found (`img@srcset`, `css@import`…)."""

    url: str
    kind: str
    via: str
    tier: int = 0


def _absolute(base: str, value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if not value or value.startswith("#"):
        return None
    try:
        joined = urldefrag(urljoin(base, value)).url
        parts = urlsplit(joined)
    except ValueError:  # a broken IPv6 literal and the like: no URL to fetch
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return joined


def _srcset(value: str) -> list[str]:
    """The candidates of a srcset, largest first (by w, then x; undescribed count as 1x)."""
    sized: list[tuple[float, int, str]] = []
    for index, candidate in enumerate(value.split(",")):
        bits = candidate.split()
        if not bits:
            continue
        size = 1.0
        if len(bits) > 1 and (match := _DESCRIPTOR.match(bits[-1])):
            number = float(match.group(1))
            size = number if match.group(2).lower() == "w" else number * 10_000
        sized.append((size, -index, bits[0]))
    return [url for _size, _index, url in sorted(sized, reverse=True)]


def _css_urls(tokens: Iterable[object]) -> Iterator[tuple[str, bool]]:
    """(url, is_import) for every url(...) and @import in tinycss2 nodes, nested blocks too."""
    for node in tokens:
        kind = getattr(node, "type", None)
        if kind == "url":
            yield str(getattr(node, "value", "")), False
        elif kind == "function" and getattr(node, "lower_name", "") in ("url", "src"):
            for arg in getattr(node, "arguments", []):
                if getattr(arg, "type", None) == "string":
                    yield str(arg.value), False
        elif kind == "at-rule" and getattr(node, "lower_at_keyword", "") == "import":
            for part in getattr(node, "prelude", []):
                if getattr(part, "type", None) in ("url", "string"):
                    yield str(part.value), True
                    break
                if getattr(part, "type", None) == "function" and part.lower_name == "url":
                    for arg in part.arguments:
                        if getattr(arg, "type", None) == "string":
                            yield str(arg.value), True
                    break
            continue
        for child in ("prelude", "content", "arguments"):
            nested = getattr(node, child, None)
            if isinstance(nested, list):
                yield from _css_urls(nested)


def stylesheet_links(css: str, base: str, *, via: str = "css") -> list[Link]:
    """The url()s and @imports of a stylesheet (or a `<style>` element), resolved on `base`."""
    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    return _dedup(_css_link(base, url, is_import, via) for url, is_import in _css_urls(rules))


def _style_attribute_links(style: str, base: str) -> list[Link]:
    tokens = tinycss2.parse_component_value_list(style, skip_comments=True)
    return _dedup(_css_link(base, url, False, "style") for url, _imp in _css_urls(tokens))


def _css_link(base: str, value: str, is_import: bool, via: str) -> Link | None:
    url = _absolute(base, value)
    if url is None:
        return None
    if is_import:
        return Link(url, "stylesheet", f"{via}@import")
    path = urlsplit(url).path.lower()
    kind = "font" if path.endswith((".woff", ".woff2", ".ttf", ".otf", ".eot")) else "css"
    return Link(url, kind, f"{via}@url")


def _dedup(links: Iterable[Link | None]) -> list[Link]:
    seen: dict[str, Link] = {}
    for link in links:
        if link is None:
            continue
        known = seen.get(link.url)
        if known is None or link.tier < known.tier:  # needed somewhere beats optional
            seen[link.url] = link
    return list(seen.values())


def page_links(html: str, url: str) -> list[Link]:
    """Every requisite of an HTML page, tier 0 first, in document order, each URL once."""
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError) as exc:
        log.info("requisites of %s: the HTML does not parse (%s)", url, exc)
        return []
    base = url
    for element in root.iter("base"):
        if href := element.get("href"):
            base = urljoin(url, href.strip())
            break
    found: list[Link | None] = []

    def add(value: str | None, kind: str, via: str, tier: int = 0) -> None:
        absolute = _absolute(base, value)
        if absolute is not None and absolute != url:
            found.append(Link(absolute, kind, via, tier))

    for element in root.iter(etree.Element):
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in ("img", "source", "input", "image"):
            parent = element.getparent()
            in_player = tag == "source" and parent is not None and parent.tag in ("video", "audio")
            kind = "media" if in_player else "image"
            if tag != "input" or (element.get("type") or "").lower() == "image":
                for attr in IMAGE_ATTRS:
                    add(element.get(attr), kind, f"{tag}@{attr}")
            for attr in SRCSET_ATTRS:
                if srcset := element.get(attr):
                    candidates = _srcset(srcset)
                    for index, candidate in enumerate(candidates):
                        add(candidate, "image", f"{tag}@{attr}", tier=0 if index == 0 else 1)
        elif tag == "link":
            rels = set((element.get("rel") or "").lower().split())
            if rels & RENDER_RELS:
                kind = "stylesheet" if "stylesheet" in rels else "icon"
                if rels & {"preload", "modulepreload"}:
                    kind = {"style": "stylesheet", "font": "font", "image": "image"}.get(
                        (element.get("as") or "").lower(), "script"
                    )
                add(element.get("href"), kind, f"link[{' '.join(sorted(rels))}]")
        elif tag == "script":
            add(element.get("src"), "script", "script@src")
        elif tag in ("video", "audio", "track", "embed"):
            add(element.get("src"), "media", f"{tag}@src")
            add(element.get("poster"), "image", f"{tag}@poster")
        elif tag == "object":
            add(element.get("data"), "media", "object@data")
        elif tag == "meta":
            key = (element.get("property") or element.get("name") or "").lower()
            if key in META_IMAGES:
                add(element.get("content"), "image", f"meta[{key}]")
        elif tag == "style" and element.text:
            found.extend(stylesheet_links(element.text, base, via="style"))
        if style := element.get("style"):
            found.extend(_style_attribute_links(style, base))
        if background := element.get("background"):  # old table layouts still use it
            add(background, "image", f"{tag}@background")
    links = _dedup(found)
    return [link for link in links if link.tier == 0] + [link for link in links if link.tier]
