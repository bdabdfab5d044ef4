"""Where on a page a thing sits: the article, or chrome, sidebars, teasers, footers."""

from __future__ import annotations

import re

from lxml.html import HtmlElement

__all__ = [
    "first_h1",
    "in_chrome",
    "in_nested_article",
    "is_aside",
    "main_container",
    "outside_main",
    "visible_lead",
]

# Where a date belongs to something other than the page's own article.
_NOT_MAIN = re.compile(
    r"side|related|teaser|widget|popular|recommend|more-?news|latest|also|most-?read|"
    r"read-?more|comment|footer|promo|banner|rail|carousel|similar|news-?list|newsfeed|"
    r"trending|other",
    re.IGNORECASE,
)
_NOT_MAIN_TAGS = {"aside", "nav", "footer"}


def is_aside(node: HtmlElement) -> bool:
    """True for a sidebar, teaser list, footer, comments … block: what it holds is not the
    page's own article."""
    if node.tag in _NOT_MAIN_TAGS:
        return True
    marks = f"{node.get('class', '')} {node.get('id', '')}"
    return bool(marks.strip()) and _NOT_MAIN.search(marks) is not None


def outside_main(element: HtmlElement) -> bool:
    """True when the element sits in a sidebar, teaser list, footer, comments …"""
    return any(isinstance(node.tag, str) and is_aside(node) for node in element.iterancestors())


def main_container(tree: HtmlElement) -> HtmlElement | None:
    """The element holding the page's own article: the biggest <article>, else <main>."""
    articles = [a for a in tree.iter("article") if not outside_main(a)]
    if articles:
        return max(articles, key=lambda a: len(a.text_content()))
    body = tree.xpath('//*[@itemprop="articleBody"]')
    if body:
        parent = body[0].getparent()
        return parent if parent is not None else body[0]
    main = tree.xpath('//main | //*[@role="main"]')
    return main[0] if main else None


def in_nested_article(element: HtmlElement, container: HtmlElement) -> bool:
    for node in element.iterancestors():
        if node is container:
            return False
        if node.tag == "article":
            return True
    return False


def in_chrome(element: HtmlElement) -> bool:
    """Site chrome (top bar, nav, footer): a login box there is not the page's content."""
    return any(
        isinstance(node.tag, str) and node.tag in {"header", "nav", "footer"}
        for node in element.iterancestors()
    )


def first_h1(tree: HtmlElement) -> HtmlElement | None:
    """The first <h1> that is not in the header, nav or footer (a logo is often an h1)."""
    for el in tree.iter("h1"):
        if not in_chrome(el):
            return el
    return None


def visible_lead(tree: HtmlElement, chars: int) -> str:
    """Visible text of the main container (or body) when trafilatura found no body."""
    scope = main_container(tree)
    if scope is None:
        bodies = tree.xpath("//body")
        scope = bodies[0] if bodies else tree
    parts: list[str] = []
    size = 0
    for node in scope.iter():
        if not isinstance(node.tag, str) or node.tag in {"script", "style", "noscript"}:
            continue
        for piece in (node.text, node.tail if node is not scope else None):
            if piece and piece.strip():
                parts.append(piece.strip())
                size += len(piece)
        if size >= chars:
            break
    return " ".join(parts)
