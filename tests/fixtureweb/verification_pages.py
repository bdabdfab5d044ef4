"""Pages for the verification truth table (tests/integration/test_verification.py).

Every link status, date and names case, on hosts of their own so the September site
stays untouched. `install_verification(fw)` registers them on a `FixtureWeb`; `CASES` is
the table: one `Case` per cited URL with the incident that cites it and what the
verifier must say about the link, the date and the names.

Sites:
- `ru-news.test`: an RFE/RL-like (Pangea) Russian news site: articles in utf-8 (gzip when
  accepted) and windows-1251, sidebars of teasers with other dates, a 404 template, a
  200 "Страница не найдена" page, redirects to its home page and to a section.
- `kk-news.test`: a Kazakh site (utf-8, always gzip), dates written in Kazakh.
- `wp-kz.test`: WordPress: a 200 "Ничего не найдено" page, a redirect to a search.
- `catchall.test`: every unknown path answers 200 with the home page (only the sibling
  probe can tell), plus one real article.
- `www.facebook.com`, `vk.com`, `www.instagram.com`: logged-out visitors meet login walls.
- `shield.test`: anti-bot challenges (403 and 200), 451, 401, 429s, 410, 5xx.
- `down-refused.test`, `down-timeout.test`, `down-reset.test`, `down-tls.test`: fail
  at connect time.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from html import escape

from tests.fixtureweb.server import FixtureWeb, Request, Response, html, redirect

__all__ = ["CASES", "Case", "Incident", "install_verification"]

RU = "https://ru-news.test"
KK = "https://kk-news.test"
WP = "https://wp-kz.test"
CATCH = "https://catchall.test"
SHIELD = "https://shield.test"

RU_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
             "сентября", "октября", "ноября", "декабря")  # fmt: skip


@dataclass(frozen=True)
class Incident:
    date: dt.date | None
    people: tuple[str, ...] = ()
    mentioned: tuple[dt.date, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Case:
    """One cited URL: what the verifier must conclude, and why the case exists."""

    name: str
    url: str
    status: str
    incident: Incident
    date: str = "not_checked"
    names: str = "not_checked"
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _d(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def ru_date(day: dt.date) -> str:
    return f"{day.day} {RU_MONTHS[day.month - 1]} {day.year}"


# --------------------------------------------------------------------------- templates

_FILLER_RU = (
    "Правозащитники считают преследование политически мотивированным и требуют "
    "прекратить давление на гражданских активистов. Адвокат намерен обжаловать решение "
    "в вышестоящей инстанции. Наблюдатели отмечают, что подобные дела в последние годы "
    "участились, а суды почти никогда не оправдывают обвиняемых."
)
_FILLER_KK = (
    "Құқық қорғаушылар бұл істі саяси қудалау деп санайды және белсенділерге қысым "
    "көрсетуді тоқтатуды талап етеді. Адвокат шешімге жоғары сатыдағы сотқа шағымданатынын "
    "айтты. Бақылаушылардың айтуынша, соңғы жылдары мұндай істер жиілеп кеткен."
)


def _teasers(seed: int) -> str:
    """A sidebar of teasers whose dates are all far from the article's (must not win)."""
    days = [dt.date(2021, 6, 1 + seed % 20), dt.date(2021, 12, 1 + seed % 20), dt.date(2020, 3, 3)]
    items = "".join(
        f'<li class="media-block"><a href="/a/{90000 + seed * 10 + i}.html">'
        f"<h4>Другая новость номер {i}</h4></a>"
        f'<span class="date"><time datetime="{d.isoformat()}T09:00:00+06:00">{ru_date(d)}</time>'
        "</span></li>"
        for i, d in enumerate(days)
    )
    return f'<aside class="sidebar"><h2>Самое читаемое</h2><ul>{items}</ul></aside>'


def _ru_chrome(
    title: str, head: str, main: str, aside: str = "", lang: str = "ru", charset: str = "utf-8"
) -> str:
    nav = "".join(
        f'<li><a href="/z/{360 + i}">{n}</a></li>'
        for i, n in enumerate(("Казахстан", "Мир", "Политика", "Общество", "Видео"))
    )
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="{charset}">'
        f"<title>{escape(title)}</title>{head}</head><body>"
        f'<header class="hdr"><a href="/" class="logo">Новости Казахстана</a>'
        f'<nav><ul>{nav}</ul></nav><form action="/s"><input name="k"></form></header>'
        f'<div class="container"><div class="main-col">{main}</div>{aside}</div>'
        "<footer><p>© 2021 Новости Казахстана. Все права защищены.</p></footer></body></html>"
    )


def article(
    title: str,
    paragraphs: list[str],
    *,
    published: str | None = None,
    structured: str = "jsonld",
    lang: str = "ru",
    teasers: int | None = None,
    charset_meta: str | None = None,
) -> str:
    """A news article. `structured`: "jsonld" (JSON-LD + meta + <time>), "time" (only
    <time datetime> in the article), or "none" (dates only in the text, if any)."""
    head = ""
    byline = ""
    if published and structured == "jsonld":
        ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
              "datePublished": published}  # fmt: skip
        head += (
            f'<meta property="article:published_time" content="{published}">'
            f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>'
        )
    if published and structured in ("jsonld", "time"):
        day = dt.datetime.fromisoformat(published).date()
        byline = (
            f'<div class="publishing-details"><time pubdate datetime="{published}">'
            f"{ru_date(day)}</time></div>"
        )
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    main = (
        f'<article class="article"><h1 class="pg-title">{escape(title)}</h1>{byline}'
        f'<div class="wsw">{body}</div></article>'
    )
    aside = _teasers(teasers) if teasers is not None else ""
    return _ru_chrome(title, head, main, aside, lang=lang, charset=charset_meta or "utf-8")


def home_page(site: str) -> str:
    items = "".join(
        f'<li><a href="/a/{1000 + i}.html">Главная новость дня номер {i}: что произошло</a></li>'
        for i in range(12)
    )
    main = (
        f'<h1 class="pg-title">Главное</h1><ul class="media-list">{items}</ul>'
        f"<p>{site}: все новости Казахстана и мира, аналитика и мнения, видео и фото.</p>"
    )
    return _ru_chrome(f"{site} — главные новости", "", main)


def section_page() -> str:
    items = "".join(
        f'<li><a href="/a/{2000 + i}.html">Новость раздела номер {i}</a></li>' for i in range(12)
    )
    return _ru_chrome("Казахстан — Новости Казахстана", "", f"<h1>Казахстан</h1><ul>{items}</ul>")


def rferl_not_found(status: int) -> Response:
    main = (
        '<div class="error-page"><h1 class="title pg-title">Страница не найдена</h1>'
        "<p>Страница, которую вы ищете, не существует или была удалена. Попробуйте "
        'воспользоваться поиском или перейдите на <a href="/">главную страницу</a>.</p></div>'
    )
    return html(_ru_chrome("Страница не найдена", "", main, _teasers(7)), status, gzip="auto")


def kk_not_found() -> str:
    main = (
        '<div class="error-page"><h1>Бет табылмады</h1><p>Сіз іздеген бет жойылған немесе '
        'мекенжайы өзгерген. <a href="/">Басты бетке</a> оралыңыз.</p></div>'
    )
    return _ru_chrome("Қате 404 — Бет табылмады", "", main, lang="kk")


def wp_nothing_found() -> str:
    """A WordPress theme's "nothing found" template served with 200 for a removed post."""
    return (
        "<!DOCTYPE html><html lang='ru-RU'><head><meta charset='UTF-8'>"
        "<title>Правозащитный портал</title></head><body class='error404'>"
        "<header id='masthead'><p class='site-title'><a href='/'>Правозащитный портал</a></p>"
        "<nav><a href='/category/news/'>Новости</a> <a href='/category/sud/'>Суды</a></nav>"
        "</header><main id='main'><section class='no-results not-found'>"
        "<header class='page-header'><h1 class='page-title'>Ничего не найдено</h1></header>"
        "<div class='page-content'><p>Похоже, мы не можем найти то, что вам нужно. "
        "Возможно, поможет поиск.</p><form role='search' action='/'><input name='s'>"
        "<input type='submit' value='Найти'></form></div></section></main>"
        "<footer><p>Сайт работает на WordPress</p></footer></body></html>"
    )


def login_page(title: str, heading: str) -> str:
    form = (
        '<form id="login_form" action="/login" method="post">'
        '<input type="text" name="email" placeholder="Телефон или email">'
        '<input type="password" name="pass" placeholder="Пароль">'
        '<button type="submit">Войти</button></form>'
    )
    return (
        f"<!DOCTYPE html><html lang='ru'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title></head><body><div id='content'><h2>{escape(heading)}</h2>{form}"
        "<a href='/join'>Регистрация</a></div></body></html>"
    )


def challenge_page() -> str:
    return (
        "<!DOCTYPE html><html lang='en-US'><head><title>Just a moment...</title>"
        "<meta name='robots' content='noindex,nofollow'></head><body>"
        "<div class='main-wrapper'><h1>shield.test</h1><h2>Checking your browser before "
        "accessing shield.test.</h2><p>This process is automatic. Your browser will redirect "
        "to your requested content shortly.</p><noscript>Enable JavaScript and cookies to "
        "continue</noscript></div></body></html>"
    )


def captcha_page() -> str:
    return (
        "<!DOCTYPE html><html lang='ru'><head><meta charset='utf-8'><title>Проверка браузера"
        "</title></head><body><div><h1>Подтвердите, что вы не робот</h1>"
        "<p>Мы заметили подозрительный трафик из вашей сети.</p>"
        "<div class='g-recaptcha' data-sitekey='x'></div></div></body></html>"
    )


# --------------------------------------------------------------------------- articles

KAYIRBEK_RU = article(
    "В Алматы задержали активиста Аскара Кайырбека",
    [
        "Полиция Алматы задержала гражданского активиста Аскара Кайырбека у здания акимата. "
        "По словам родственников, Кайырбеку не объяснили причину задержания.",
        "Асқар Қайырбек ранее участвовал в мирных акциях протеста. " + _FILLER_RU,
        _FILLER_RU,
    ],
    published="2021-09-08T10:15:00+06:00",
    teasers=1,
)

TOREGOZHINA_1251 = article(
    "Суд оштрафовал правозащитницу Торегожину",
    [
        f"{ru_date(dt.date(2021, 9, 2))}. Специализированный административный суд Алматы "
        "оштрафовал правозащитницу Бахытжан Торегожину за участие в мирном собрании.",
        "Торегожиной назначили штраф в 50 МРП. " + _FILLER_RU,
        _FILLER_RU,
    ],
    structured="none",
    charset_meta="windows-1251",
)

MAMAI_KK = article(
    "Жанболат Мамайға қатысты сот үкімі шықты",
    [
        "2021 жылғы 15 қыркүйек. Алматы қалалық соты Қазақстан демократиялық партиясының "
        "жетекшісі Жанболат Мамайдың ісі бойынша үкім шығарды.",
        "Мамайдың адвокаты үкімге шағымданатынын айтты. " + _FILLER_KK,
        _FILLER_KK,
    ],
    structured="none",
    lang="kk",
)

ANNOUNCEMENT = article(
    "Активисты объявили о митинге 25 сентября",
    [
        "Активисты движения за права водителей объявили, что 25 сентября проведут мирный "
        "митинг в Алматы. Организатор Ерлан Калиев подал уведомление в акимат.",
        "Калиев говорит, что акимат пока не ответил. " + _FILLER_RU,
        _FILLER_RU,
    ],
    published="2021-09-20T12:00:00+06:00",
    teasers=2,
)

LATE_ARTICLE = article(
    "Итоги года: преследование активистов",
    [
        "Подводя итоги, правозащитники вспоминают дело активиста Нурлана Ережепова, "
        "который в сентябре провел несколько суток под арестом.",
        "Ережепова задерживали и раньше. " + _FILLER_RU,
        _FILLER_RU,
    ],
    published="2021-11-25T09:00:00+06:00",
    structured="time",
    teasers=3,
)

NO_DATE_ARTICLE = article(
    "Активистку Айгерим Тлеужан вызвали в полицию",
    [
        "Активистку Айгерим Тлеужан вызвали в полицию для дачи объяснений по поводу поста "
        "в социальной сети.",
        "Тлеужан считает вызов давлением. " + _FILLER_RU,
        _FILLER_RU,
    ],
    structured="none",
)

OLD_ARTICLE = article(
    "Суд приговорил Максата Ильясулы",
    [
        "Суд приговорил активиста Максата Ильясулы к ограничению свободы по статье о "
        "распространении заведомо ложной информации.",
        "Ильясулы свою вину не признал. " + _FILLER_RU,
        _FILLER_RU,
    ],
    published="2019-01-10T11:00:00+06:00",
    teasers=4,
)

TWO_PEOPLE = article(
    "Задержан блогер Дармен Садвакасов",
    [
        "В Алматы задержан блогер Дармен Садвакасов, сообщили его коллеги.",
        "Садвакасова доставили в отдел полиции Алмалинского района. " + _FILLER_RU,
        _FILLER_RU,
    ],
    published="2021-09-12T18:40:00+06:00",
    structured="time",
    teasers=5,
)

PASSING_PHRASE = article(
    "Сайт правозащитников заблокирован",
    [
        "Пользователи из Казахстана при попытке открыть сайт правозащитного бюро видят "
        "сообщение «Страница не найдена», хотя из-за рубежа сайт открывается. Об этом "
        "сообщила директор бюро Асель Нурбаева.",
        "Нурбаева считает, что блокировка связана с публикациями о политических "
        "заключенных. " + _FILLER_RU,
        _FILLER_RU,
    ],
    published="2021-09-14T15:00:00+06:00",
    teasers=6,
)

CATCHALL_ARTICLE = article(
    "Активиста Бейбарыса Толымбекова арестовали на 10 суток",
    [
        "Суд арестовал активиста Бейбарыса Толымбекова на десять суток за участие в "
        "несанкционированном митинге.",
        "Толымбеков намерен обжаловать арест. " + _FILLER_RU,
        _FILLER_RU,
    ],
    published="2021-09-16T13:00:00+06:00",
)


# --------------------------------------------------------------------------- the table

CASES: list[Case] = [
    # ok, with date and names cases
    Case("ok_ru_gzip_teasers", f"{RU}/a/1001.html", "ok",
         Incident(_d("2021-09-07"), ("Kayirbek Askar",)), "consistent", "supports",
         "JSON-LD date wins over sidebar teasers; inflected Кайырбеку; gzip"),
    Case("ok_windows1251_text_date", f"{RU}/a/1002.html", "ok",
         Incident(_d("2021-09-01"), ("Bakhytzhan Toregozhina",)), "consistent", "supports",
         "windows-1251 (header + meta); date only in the text, Russian"),
    Case("ok_kazakh_text_date", f"{KK}/kk/a/2001.html", "ok",
         Incident(_d("2021-09-14"), ("Zhanbolat Mamay",)), "consistent", "supports",
         "Kazakh Cyrillic (Мамайдың), date written in Kazakh, always gzip"),
    Case("announcement_window", f"{RU}/a/1003.html", "ok",
         Incident(_d("2021-09-27"), ("Yerlan Kaliyev",), (_d("2021-09-25"),)),
         "consistent", "supports",
         "announcement before the rally: inside earliest mention − 7 days"),
    Case("announcement_predates", f"{RU}/a/1003.html#dup", "ok",
         Incident(_d("2021-10-05"), ("Yerlan Kaliyev",)), "predates", "supports",
         "the same announcement, cited for an incident without the rally date"),
    Case("late", f"{RU}/a/1004.html", "ok",
         Incident(_d("2021-09-10"), ("Nurlan Yerezhepov",)), "late", "supports",
         "a year-end review: only <time> in the article, teasers around it"),
    Case("no_date", f"{RU}/a/1005.html", "ok",
         Incident(_d("2021-09-09"), ("Aigerim Tleuzhan",)), "no_date", "supports"),
    Case("old_mention_capped", f"{RU}/a/1006.html", "ok",
         Incident(_d("2021-09-15"), ("Maksat Ilyasuly",), (_d("2018-03-05"),)),
         "predates", "supports",
         "'convicted in 2018': a mention older than 60 days must not widen the window"),
    Case("names_partial", f"{RU}/a/1007.html", "ok",
         Incident(_d("2021-09-12"), ("Darmen Sadvakasov", "Makhambet Abzhan")),
         "consistent", "partial"),
    Case("names_absent", f"{RU}/a/1007.html#absent", "ok",
         Incident(_d("2021-09-12"), ("Inga Imanbay",)), "consistent", "absent"),
    Case("names_not_checked", f"{RU}/a/1007.html#nobody", "ok",
         Incident(_d("2021-09-12")), "consistent", "not_checked"),
    Case("passing_phrase_is_ok", f"{RU}/a/1008.html", "ok",
         Incident(_d("2021-09-13"), ("Asel Nurbayeva",)), "consistent", "supports",
         "'Страница не найдена' quoted inside a real article"),
    Case("catchall_real_article", f"{CATCH}/news/777.html", "ok",
         Incident(_d("2021-09-15"), ("Beibarys Tolymbekov",)), "consistent", "supports",
         "a catch-all site's real article differs from the probe page"),
    Case("retry_after_then_ok", f"{SHIELD}/flaky", "ok",
         Incident(_d("2021-09-08"), ("Kayirbek Askar",)), "consistent", "supports",
         "429 with Retry-After, then 200"),
    # dead
    Case("dead_404", f"{RU}/a/404001.html", "dead", Incident(_d("2021-09-05"), ("X Y",))),
    Case("dead_410", f"{SHIELD}/gone", "dead", Incident(_d("2021-09-05"))),
    # soft 404
    Case("soft404_rferl_200", f"{RU}/a/1999.html", "soft_404", Incident(_d("2021-09-05"))),
    Case("soft404_wordpress", f"{WP}/2021/09/zaderzhan-aktivist/", "soft_404",
         Incident(_d("2021-09-05"))),
    Case("soft404_kazakh", f"{KK}/kk/a/2999.html", "soft_404", Incident(_d("2021-09-05"))),
    Case("soft404_catchall_home", f"{CATCH}/news/12345.html", "soft_404",
         Incident(_d("2021-09-05")), note="only the sibling probe can tell"),
    # redirected away
    Case("redirect_home", f"{RU}/a/3001.html", "redirected_away", Incident(_d("2021-09-05"))),
    Case("redirect_section", f"{RU}/a/3002.html", "redirected_away", Incident(_d("2021-09-05"))),
    Case("redirect_search", f"{WP}/2021/09/old-post/", "redirected_away",
         Incident(_d("2021-09-05"))),
    # login walls
    Case("login_facebook", "https://www.facebook.com/groups/ActivistsNotExtremists/posts/1/",
         "login_wall", Incident(_d("2021-09-05"))),
    Case("login_vk_form", "https://vk.com/wall-123_456", "login_wall", Incident(_d("2021-09-05"))),
    Case("login_instagram", "https://www.instagram.com/p/CTabc123/", "login_wall",
         Incident(_d("2021-09-05"))),
    Case("login_401", f"{SHIELD}/private", "login_wall", Incident(_d("2021-09-05"))),
    # blocked
    Case("blocked_challenge_403", f"{SHIELD}/cf403", "blocked", Incident(_d("2021-09-05"))),
    Case("blocked_challenge_200", f"{SHIELD}/cf200", "blocked", Incident(_d("2021-09-05"))),
    Case("blocked_captcha_200", f"{SHIELD}/captcha", "blocked", Incident(_d("2021-09-05"))),
    Case("blocked_451", f"{SHIELD}/legal", "blocked", Incident(_d("2021-09-05"))),
    Case("blocked_429_forever", f"{SHIELD}/busy", "blocked", Incident(_d("2021-09-05"))),
    # unreachable
    Case("unreachable_503", f"{SHIELD}/broken", "unreachable", Incident(_d("2021-09-05"))),
    Case("unreachable_refused", "https://down-refused.test/a/1.html", "unreachable",
         Incident(_d("2021-09-05"))),
    Case("unreachable_timeout", "https://down-timeout.test/a/1.html", "unreachable",
         Incident(_d("2021-09-05"))),
    Case("unreachable_reset", "https://down-reset.test/a/1.html", "unreachable",
         Incident(_d("2021-09-05"))),
    Case("unreachable_bad_tls", "https://down-tls.test/a/1.html", "unreachable",
         Incident(_d("2021-09-05"))),
]  # fmt: skip


# --------------------------------------------------------------------------- install


class _FlakyOnce:
    """429 with Retry-After on the first request of each client run, then 200."""

    def __init__(self, body: str, retry_after: str = "1") -> None:
        self.body = body
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self.calls = 0

    def __call__(self, req: Request) -> Response:
        with self._lock:
            self.calls += 1
            first = self.calls % 2 == 1
        if first:
            return html(
                "<html><body><h1>Too Many Requests</h1></body></html>",
                429,
                headers=[("Retry-After", self.retry_after)],
            )
        return html(self.body)


def install_verification(fw: FixtureWeb) -> FixtureWeb:
    """Register every site of the truth table on `fw`; returns `fw`."""
    # ru-news.test: Pangea-like
    fw.set_not_found("ru-news.test", lambda req: rferl_not_found(404))
    fw.route("ru-news.test", "/", html(home_page("ru-news.test"), gzip="auto"))
    fw.route("ru-news.test", "/z/360", html(section_page()))
    fw.route("ru-news.test", "/a/1001.html", html(KAYIRBEK_RU, gzip="auto"))
    fw.route(
        "ru-news.test",
        "/a/1002.html",
        Response(
            body=TOREGOZHINA_1251.encode("windows-1251"),
            content_type="text/html; charset=windows-1251",
        ),
    )
    fw.route("ru-news.test", "/a/1003.html", html(ANNOUNCEMENT, gzip="auto"))
    fw.route("ru-news.test", "/a/1004.html", html(LATE_ARTICLE))
    fw.route("ru-news.test", "/a/1005.html", html(NO_DATE_ARTICLE))
    fw.route("ru-news.test", "/a/1006.html", html(OLD_ARTICLE))
    fw.route("ru-news.test", "/a/1007.html", html(TWO_PEOPLE))
    fw.route("ru-news.test", "/a/1008.html", html(PASSING_PHRASE))
    fw.route("ru-news.test", "/a/1999.html", rferl_not_found(200))
    fw.route("ru-news.test", "/a/3001.html", redirect(f"{RU}/", 301))
    fw.route("ru-news.test", "/a/3002.html", redirect(f"{RU}/z/360", 302))

    # kk-news.test: Kazakh, gzip even when not asked for
    fw.route("kk-news.test", "/kk/a/2001.html", html(MAMAI_KK, gzip=True))
    fw.route("kk-news.test", "/kk/a/2999.html", html(kk_not_found()))

    # wp-kz.test: WordPress
    fw.route("wp-kz.test", "/2021/09/zaderzhan-aktivist/", html(wp_nothing_found()))
    fw.route("wp-kz.test", "/2021/09/old-post/", redirect(f"{WP}/?s=old-post", 301))
    fw.route("wp-kz.test", "/", html(wp_nothing_found()))

    # catchall.test: every unknown path is the home page, with 200
    fw.route("catchall.test", "/*", html(home_page("catchall.test")))
    fw.route("catchall.test", "/news/777.html", html(CATCHALL_ARTICLE))

    # social networks, logged out
    fb_login = html(login_page("Вход на Facebook | Facebook", "Вход на Facebook"))
    fw.route(
        "www.facebook.com",
        "/groups/*",
        lambda r: redirect(f"https://www.facebook.com/login/?next={r.url}", 302),
    )
    fw.route("www.facebook.com", "/login/*", fb_login)
    fw.route("www.facebook.com", "/login", fb_login)
    fw.route("vk.com", "/wall-123_456", html(login_page("ВКонтакте", "Войдите во ВКонтакте")))
    fw.route(
        "www.instagram.com",
        "/p/*",
        lambda r: redirect(f"https://www.instagram.com/accounts/login/?next={r.path}", 302),
    )
    fw.route("www.instagram.com", "/accounts/login/*", html(login_page("Instagram", "Instagram")))

    # shield.test: codes and anti-bot walls
    fw.route(SHIELD.removeprefix("https://"), "/cf403", html(challenge_page(), 403))
    fw.route("shield.test", "/cf200", html(challenge_page()))
    fw.route("shield.test", "/captcha", html(captcha_page()))
    fw.route("shield.test", "/legal", html("<h1>Unavailable For Legal Reasons</h1>", 451))
    fw.route("shield.test", "/private", html("<h1>Authorization Required</h1>", 401))
    fw.route("shield.test", "/gone", html("<h1>Gone</h1>", 410))
    fw.route(
        "shield.test",
        "/busy",
        html("<h1>Too Many Requests</h1>", 429, headers=[("Retry-After", "0")]),
    )
    fw.route("shield.test", "/broken", html("<h1>Service Unavailable</h1>", 503))
    fw.route("shield.test", "/flaky", _FlakyOnce(KAYIRBEK_RU))

    # hosts that fail at connect time
    for host, how in (
        ("down-refused.test", "refused"),
        ("down-timeout.test", "timeout"),
        ("down-reset.test", "reset"),
        ("down-tls.test", "bad_tls"),
    ):
        fw.add_host(host)
        fw.route(host, "/*", "<p>never served</p>")
        fw.set_unreachable(host, how)  # type: ignore[arg-type]
    return fw
