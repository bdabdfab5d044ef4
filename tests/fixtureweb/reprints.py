"""The same story at another URL: a Vlast.kz reprint of the KazTAG article on Altayev.

Kazakh outlets copy each other's news with a source line. `REPRINT` carries the KazTAG
article's paragraphs (`ORIGINAL`) word for word, in Vlast's own chrome (menu, sidebar of
other news with other dates, footer), under its own headline and a day later, with
"Источник: КазТАГ" at the end. `UNRELATED` is another Vlast page in the same chrome with
a different story: what must not count as the same text.
"""

from __future__ import annotations

from html import escape

from tests.fixtureweb.server import FixtureWeb, html

ORIGINAL = (
    "https://kaztag.kz/ru/news/za-eks-mazhilismenom-liderom-el-tiregi-nurzhanom-altaevym-"
    "prishla-politsiya"
)
HOST = "vlast.kz"
REPRINT = f"https://{HOST}/novosti/46871-k-eks-deputatu-nurzhanu-altaevu-prishla-policiya.html"
UNRELATED = f"https://{HOST}/novosti/46880-v-astane-otkryli-novyj-most.html"
UNRELATED_TEXT = (
    "В столице открыли новый автомобильный мост через реку Есиль, его строили два года.",
    "По словам акима города, мост разгрузит движение в часы пик на правом берегу.",
    "Длина моста составляет 420 метров, на нём по три полосы в каждую сторону и тротуары.",
    "Подрядчик получил на строительство 18 миллиардов тенге из местного бюджета.",
)


def _vlast(title: str, published: str, paragraphs: list[str], source_line: str) -> str:
    menu = "".join(
        f'<li><a href="/{slug}/">{name}</a></li>'
        for slug, name in [("novosti", "Новости"), ("politika", "Политика"),
                           ("obshchestvo", "Общество"), ("ekonomika", "Экономика")]
    )  # fmt: skip
    side = "".join(
        f'<li><a href="/novosti/{46800 + n}.html">Новость дня номер {n}</a>'
        f'<time datetime="2021-09-{10 + n:02d}T10:00:00+06:00">{10 + n} сентября</time></li>'
        for n in range(8)
    )
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8">
<title>{escape(title)} | Власть</title>
<meta property="article:published_time" content="{published}">
</head><body><header><a href="/" class="logo">Власть</a><ul class="menu">{menu}</ul></header>
<main><article><h1>{escape(title)}</h1><time datetime="{published}">{published[:10]}</time>
<div class="article-body">{body}<p class="source">{escape(source_line)}</p></div></article></main>
<aside><h3>Новости</h3><ul>{side}</ul></aside>
<footer><p>© 2021 Власть. Перепечатка материалов — с разрешения редакции.</p></footer>
</body></html>"""


def install_reprints(fw: FixtureWeb) -> None:
    from tests.fixtureweb.pages import SEPTEMBER_PAGES, paragraphs_of

    original = next(p for p in SEPTEMBER_PAGES if p.url == ORIGINAL)
    fw.set_https_only(HOST)
    fw.route_url(
        REPRINT,
        html(_vlast("К экс-депутату Нуржану Алтаеву пришла полиция",
                    "2021-09-09T09:15:00+06:00", paragraphs_of(original), "Источник: КазТАГ")),
    )  # fmt: skip
    fw.route_url(
        UNRELATED,
        html(_vlast("В Астане открыли новый мост", "2021-09-10T12:00:00+06:00",
                    list(UNRELATED_TEXT), "Фото: пресс-служба акимата")),
    )  # fmt: skip
