"""Phrase packs that tell a page's kind from its words: not-found pages and anti-bot walls.

Russian, Kazakh and English, plus the WordPress and RFE/RL (Pangea) templates the digest's
sites use. A phrase alone proves little (an article may say "page not found" in passing),
so `worker.judge.rules` only trusts a hit in the page's title or first <h1>, or in a page so
short (`SHORT_PAGE_CHARS`) that the phrase is its content. Matching is on folded text:
casefolded, ё→е, typographic apostrophes straightened, whitespace collapsed.
"""

from __future__ import annotations

import re

__all__ = [
    "ANTI_BOT_PHRASES",
    "BLOCK_PAGE_PHRASES",
    "SHORT_PAGE_CHARS",
    "SOFT_404_PHRASES",
    "find_phrase",
    "fold",
]

SHORT_PAGE_CHARS = 600
"""Main text shorter than this is "a short page": a phrase in it is the page's message."""

SOFT_404_PHRASES: dict[str, tuple[str, ...]] = {
    "ru": (
        "страница не найдена",
        "страница не существует",
        "страницы не существует",
        "такой страницы нет",
        "страница удалена",
        "страница была удалена",
        "материал удален",
        "материал не найден",
        "материал не существует",
        "статья не найдена",
        "новость не найдена",
        "публикация не найдена",
        "запись не найдена",
        "ничего не найдено",
        "ошибка 404",
    ),
    "kk": (
        "бет табылмады",
        "парақ табылмады",
        "парақша табылмады",
        "материал табылмады",
        "материал жойылды",
        "ештеңе табылмады",
        "сіз іздеген бет",
        "қате 404",
    ),
    "en": (
        "page not found",
        "404 not found",
        "error 404",
        "404 error",
        "nothing found",
        "nothing was found",
        "page cannot be found",
        "page can't be found",
        "page could not be found",
        "page does not exist",
        "page doesn't exist",
        "article not found",
        "content not found",
    ),
    # WordPress themes (ru/en): "Упс! Эта страница не найдена.", "Похоже, здесь ничего нет"
    "wordpress": ("эта страница не найдена", "похоже, здесь ничего нет", "oops! that page"),
    # RFE/RL (Pangea) error page: "Страница, которую вы ищете, не существует или была удалена"
    "rferl": ("страница, которую вы ищете", "the page you are looking for", "сіз іздеген парақ"),
}

# What ISPs put in place of a blocked site (Kazakhstan's, in Russian and Kazakh; Russia's
# and others'): the page answered, but it is not the site's. A source showing one is
# re-tried through another vantage (SOURCEVAULT_VANTAGES) before anything is concluded.
BLOCK_PAGE_PHRASES: tuple[str, ...] = (
    "доступ к данному интернет-ресурсу временно ограничен",
    "доступ к интернет-ресурсу ограничен",
    "доступ к данному ресурсу ограничен",
    "доступ ограничен в соответствии с законодательством республики казахстан",
    "интернет-ресурс заблокирован",
    "ресурс заблокирован по решению",
    "сайт заблокирован по решению",
    "доступ к запрашиваемому ресурсу ограничен",
    "доступ к информационному ресурсу ограничен на основании федерального закона",
    "интернет-ресурсқа қолжетімділік шектелген",
    "бұл интернет-ресурсқа кіру шектелген",
    "access to this website has been blocked",
    "access to this resource is restricted",
    "this website has been blocked",
    "the requested url has been blocked",
)

ANTI_BOT_PHRASES: tuple[str, ...] = (
    "just a moment...",
    "checking your browser",
    "checking if the site connection is secure",
    "attention required! | cloudflare",
    "verify you are human",
    "verifying you are human",
    "enable javascript and cookies to continue",
    "ddos protection by",
    "ddos-guard",
    "are you a robot",
    "captcha",
    "проверка браузера",
    "проверяем ваш браузер",
    "подтвердите, что вы не робот",
    "вы не робот",
    "я не робот",
    "сіз робот емессіз",
)

_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    """Casefold, ё→е, ’→', collapse whitespace: the form phrases are matched in."""
    text = text.casefold().replace("ё", "е").replace("’", "'").replace("‘", "'")
    return _SPACE.sub(" ", text).strip()


def find_phrase(text: str | None, phrases: tuple[str, ...]) -> str | None:
    """The first of `phrases` (already folded) that `text` contains, or None."""
    if not text:
        return None
    folded = fold(text)
    return next((p for p in phrases if p in folded), None)


SOFT_404_ALL: tuple[str, ...] = tuple(p for pack in SOFT_404_PHRASES.values() for p in pack)
