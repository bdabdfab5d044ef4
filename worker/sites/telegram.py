"""Telegram posts: fetch `t.me/<channel>/<id>` through its public preview `t.me/s/<channel>/<id>`.

The footnote's URL stays the canonical one; only the fetch goes to the preview, which
serves the post's text and date as HTML without an app or an account. The preview shows
a page of the channel's posts: `extract_post` keeps the one the footnote cites.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from lxml import html as lxml_html

from worker.extract.page import ExtractedPage, ExtractionFailure

TELEGRAM_HOSTS = frozenset({"t.me", "telegram.me", "www.t.me"})
_POST = re.compile(r"^/(?:s/)?([A-Za-z0-9_]{4,64})/(\d+)/?$")


def post_ref(url: str) -> tuple[str, int] | None:
    """(channel, post id) of a Telegram post URL, else None."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() not in TELEGRAM_HOSTS:
        return None
    match = _POST.match(parts.path)
    if match is None:
        return None
    return match.group(1), int(match.group(2))


def fetch_url(url: str) -> str:
    """The public preview URL for a post; any other URL unchanged."""
    ref = post_ref(url)
    if ref is None:
        return url
    channel, post = ref
    return f"https://t.me/s/{channel}/{post}"


def extract_post(data: bytes, url: str) -> ExtractedPage | ExtractionFailure | None:
    """The cited post out of a preview page; None when `url` is not a Telegram post."""
    ref = post_ref(url)
    if ref is None:
        return None
    channel, post = ref
    tree = lxml_html.fromstring(data.decode("utf-8", "replace"))
    wanted = f"{channel}/{post}".lower()
    for message in tree.xpath('//div[contains(@class, "tgme_widget_message")][@data-post]'):
        if str(message.get("data-post", "")).lower() != wanted:
            continue
        texts = message.xpath('.//div[contains(@class, "tgme_widget_message_text")]')
        text = "\n".join(t.text_content().strip() for t in texts).strip()
        times = message.xpath(".//time[@datetime]/@datetime")
        stamp = str(times[0]) if times else None
        published = _date(stamp) if stamp else None
        author = message.xpath('.//*[contains(@class, "tgme_widget_message_owner_name")]')
        title = tree.findtext(".//title")
        if not text:
            return ExtractionFailure(reason=f"telegram post {wanted} has no text", title=title)
        return ExtractedPage(
            text=text,
            title=(title or "").strip() or None,
            author=author[0].text_content().strip() if author else None,
            language=None,
            published=published,
            date_source="telegram:time" if published else "none",
            date_candidates=[],
            sitename="Telegram",
            description=None,
            charset="utf-8",
            html_title=title,
            has_login_form=False,
            excerpt=text[:500],
            published_at=stamp if published else None,
            date_choice="the post's own <time>" if published else "",
        )
    return ExtractionFailure(reason=f"telegram preview does not show post {wanted}")


def _date(value: str) -> dt.date | None:
    """The day the post's timestamp states (UTC on t.me); never converted here: the
    date check reads `published_at` in the incident's zone."""
    try:
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        return None
