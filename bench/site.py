"""The benchmark's synthetic web: the URL list, its faults, its pages and a digest citing it.

Everything is a pure function of `SiteSpec` (seeded), so the bench web subprocess, the
CPU-ceiling pool and the smoke test all rebuild the same URLs and the same bytes.

Pages imitate a Russian-language news CMS article: meta and JSON-LD dates, a menu, a
breaking-news ticker, the article (8-30 paragraphs naming one of the digest's people in
Cyrillic), related teasers, comments, a sidebar, a footer and inline scripts, padded with
teasers and script data to a size drawn from [min_kb, max_kb].
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "BenchUrl",
    "SiteSpec",
    "build_digest",
    "build_urls",
    "not_found_html",
    "page_html",
    "sample_urls",
]

FAULT_KINDS = ("404", "slow", "redirect")


@dataclass(frozen=True)
class SiteSpec:
    urls: int = 1000
    hosts: int = 50
    min_kb: int = 30
    max_kb: int = 120
    fault_rate: float = 0.05
    slow_seconds: float = 2.0
    seed: int = 2021

    def __post_init__(self) -> None:
        if self.urls < 1 or self.hosts < 1:
            raise ValueError(f"need at least one URL and one host, not {self.urls}/{self.hosts}")
        if not 0 < self.min_kb <= self.max_kb:
            raise ValueError(f"page sizes must satisfy 0 < min_kb <= max_kb: {self}")
        if not 0 <= self.fault_rate <= 1:
            raise ValueError(f"fault_rate must be in [0, 1], not {self.fault_rate}")


@dataclass(frozen=True)
class BenchUrl:
    index: int
    host: str
    path: str
    fault: str  # "" (a page), "404", "slow" (page after slow_seconds), "redirect" (301 → page)
    size: int  # target HTML bytes of the page
    day: int  # of September 2021: the article's publication day
    person: int  # index into PEOPLE: who the article (and the citing incident) names

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}"

    @property
    def page_path(self) -> str:
        """Where the article itself lives (a redirect's target, else the URL's own path)."""
        if self.fault == "redirect":
            return f"/ru/news/2021/09/{self.day:02d}/{_slug(self.index)}-{self.index}.html"
        return self.path


def host_name(i: int) -> str:
    return f"news{i:02d}.bench.test"


def build_urls(spec: SiteSpec) -> list[BenchUrl]:
    """`spec.urls` unique URLs spread round-robin over `spec.hosts` hosts; faults spread evenly."""
    rng = random.Random(spec.seed)
    n_faults = round(spec.urls * spec.fault_rate)
    fault_at = set(rng.sample(range(spec.urls), n_faults)) if n_faults else set()
    out = []
    fault_no = 0
    for i in range(spec.urls):
        fault = ""
        if i in fault_at:
            fault = FAULT_KINDS[fault_no % len(FAULT_KINDS)]
            fault_no += 1
        day = 1 + rng.randrange(30)
        path = (
            f"/a/{100000 + i}.html"
            if fault == "redirect"
            else f"/ru/news/2021/09/{day:02d}/{_slug(i)}-{i}.html"
        )
        out.append(
            BenchUrl(
                index=i,
                host=host_name(i % spec.hosts),
                path=path,
                fault=fault,
                size=rng.randint(spec.min_kb * 1024, spec.max_kb * 1024),
                day=day,
                person=rng.randrange(len(PEOPLE)),
            )
        )
    return out


def sample_urls(urls: list[BenchUrl], n: int) -> list[BenchUrl]:
    """A seeded random sample in list order (an every-k-th pick would alias the hosts)."""
    if n <= 0 or n >= len(urls):
        return list(urls)
    picked = sorted(random.Random(len(urls) * 31 + n).sample(range(len(urls)), n))
    return [urls[i] for i in picked]


# ------------------------------------------------------------------------ vocabulary

# (Latin as a digest writes it, Cyrillic as the page writes it)
PEOPLE = [
    ("Askar Kayirbek", "Аскар Кайырбек"),
    ("Nikolai Katchiyev", "Николай Катчиев"),
    ("Sanavar Zakirova", "Санавар Закирова"),
    ("Almat Zhumagulov", "Алмат Жумагулов"),
    ("Bolat Rysbaev", "Болат Рысбаев"),
    ("Lyazzat Dosmambetova", "Ляззат Досмамбетова"),
    ("Altyn Lesbayeva", "Алтын Лесбаева"),
    ("Askhat Akhmedyarov", "Асхат Ахмедьяров"),
    ("Toktasyn Yrysbek", "Токтасын Ырысбек"),
    ("Nurzhan Altayev", "Нуржан Алтаев"),
    ("Venera Zhanbaeva", "Венера Жанбаева"),
    ("Daniyar Alimkul", "Данияр Алимкул"),
    ("Islambek Dastan", "Исламбек Дастан"),
    ("Asylkhan Zhaubatyrov", "Асылхан Жаубатыров"),
    ("Syzdykbek Sabit", "Сыздыкбек Сабит"),
    ("Alnur Ilyashev", "Алнур Ильяшев"),
]
CITIES = [
    ("Almaty", "Алматы"),
    ("Nur-Sultan", "Нур-Султане"),
    ("Shymkent", "Шымкенте"),
    ("Aktobe", "Актобе"),
    ("Taraz", "Таразе"),
    ("Uralsk", "Уральске"),
    ("Karaganda", "Караганде"),
    ("Kapshagay", "Капшагае"),
]
_SUBJECTS = [
    "Суд первой инстанции",
    "Прокуратура района",
    "Адвокат активиста",
    "Представитель департамента полиции",
    "Правозащитник",
    "Судебная коллегия по уголовным делам",
    "Следователь",
    "Пресс-служба акимата",
    "Член партии «Демократическая партия Казахстана»",
    "Корреспондент нашего издания",
]
_VERBS = [
    "сообщил, что",
    "заявил журналистам, что",
    "подтвердил, что",
    "отметил, что",
    "напомнил, что",
    "настаивает на том, что",
    "не стал комментировать, почему",
    "уточнил, что",
]
_CLAUSES = [
    "заседание перенесли на следующую неделю",
    "активиста задержали у памятника Абаю до начала митинга",
    "ходатайство защиты о прекращении дела отклонено",
    "приговор вынесен по статье 405 Уголовного кодекса",
    "обвиняемому назначено ограничение свободы сроком на два года",
    "задержанных доставили в районное управление полиции",
    "в здание суда не пустили журналистов и наблюдателей",
    "на акцию вышли около двадцати человек",
    "участникам пикета назначили штрафы по статье 488",
    "жалоба на действия полиции направлена в генеральную прокуратуру",
    "апелляционная инстанция оставила решение без изменения",
    "против активиста возбуждено уголовное дело о распространении ложной информации",
    "родственники задержанного обратились к уполномоченному по правам человека",
    "процесс проходил в онлайн-формате через мессенджер",
    "обыск в доме продолжался более четырёх часов",
]
_TAILS = [
    "",
    " — сказал он",
    ", передаёт наш корреспондент",
    ", говорится в сообщении",
    " в понедельник",
    " на прошлой неделе",
    " в ходе брифинга",
]
_TEASERS = [
    "В Алматы задержали участников одиночного пикета",
    "Суд продлил срок содержания под стражей журналисту",
    "Минздрав ответил на вопросы о вакцинации детей",
    "Забастовка водителей в Шымкенте продолжается третий день",
    "Парламент рассмотрит поправки о блокировке соцсетей",
    "Правозащитники требуют освободить политзаключённых",
    "В Нур-Султане прошла акция против строительства АЭС",
    "Активисту назначили штраф за пост в Facebook",
    "Журналистов вызвали на допрос в качестве свидетелей",
    "Апелляционный суд оставил приговор без изменений",
    "Курс тенге: что ждёт валютный рынок осенью",
    "Погода: в Алматы ожидается похолодание",
]
_MENU = [
    "Главное",
    "Политика",
    "Общество",
    "Экономика",
    "Происшествия",
    "Суд",
    "Права человека",
    "Регионы",
    "В мире",
    "Культура",
    "Спорт",
    "Мнения",
    "Видео",
    "Фото",
    "Подкасты",
    "Спецпроекты",
]
_MONTHS_RU = "сентября"
_AUTHORS = ["Айгерим Тулешова", "Дмитрий Кузнецов", "Ерлан Мукашев", "Ольга Ким", "Жанна Ахметова"]


def _slug(i: int) -> str:
    words = ["sud", "aktivist", "zaderzhan", "miting", "prigovor", "shtraf", "apellyaciya", "obysk"]
    rng = random.Random(i * 7919)
    return "-".join(rng.choice(words) for _ in range(3))


def _sentence(rng: random.Random, name: str | None = None) -> str:
    subject = name if name is not None else rng.choice(_SUBJECTS)
    return f"{subject} {rng.choice(_VERBS)} {rng.choice(_CLAUSES)}{rng.choice(_TAILS)}."


def _teaser(rng: random.Random, host: str, k: int) -> str:
    day = 1 + rng.randrange(30)
    title = rng.choice(_TEASERS)
    href = f"http://{host}/ru/news/2021/09/{day:02d}/teaser-{k}.html"
    return (
        f'<div class="teaser"><div class="teaser__inner"><div class="teaser__media">'
        f'<a href="{href}"><picture><source srcset="/media/{k}.webp" type="image/webp">'
        f'<img class="teaser__img" src="/media/{k}.jpg" alt="" loading="lazy"></picture></a>'
        f'</div><div class="teaser__body"><a class="teaser__link" href="{href}">'
        f'<span class="teaser__title">{title}</span></a><div class="teaser__meta">'
        f'<time class="teaser__date" datetime="2021-09-{day:02d}">{day} {_MONTHS_RU}</time>'
        f'<span class="teaser__views">{rng.randrange(99999)}</span></div></div></div></div>\n'
    )


def _script_padding(rng: random.Random, n_bytes: int) -> str:
    items = []
    size = 0
    while size < n_bytes:
        item = json.dumps(
            {"id": rng.randrange(10**8), "slot": f"ad-{rng.randrange(99)}", "w": 300, "h": 250},
            separators=(",", ":"),
        )
        items.append(item)
        size += len(item) + 1
    return "<script>window.__ADS__=[" + ",".join(items) + "];</script>\n"


# ------------------------------------------------------------------------------ pages


@lru_cache(maxsize=64)
def _chrome(host: str) -> tuple[str, str]:
    """Header (menu, ticker) and footer of a host: the same on each of its pages."""
    site = host.split(".")[0].upper()
    menu = "".join(
        f'<li class="menu__item"><a href="/ru/{i}/">{m}</a></li>' for i, m in enumerate(_MENU)
    )
    ticker = "".join(
        f'<li><a href="/ru/news/breaking-{i}.html">{t}</a></li>' for i, t in enumerate(_TEASERS[:8])
    )
    header = (
        f'<header class="site-header"><div class="logo"><a href="/">{site}</a></div>'
        f'<nav class="menu"><ul>{menu}</ul></nav>'
        '<div class="weather">Алматы +14°, Нур-Султан +9°</div>'
        '<form class="search" action="/search"><input name="q" placeholder="Поиск"></form>'
        f'</header>\n<div class="breaking"><b>Срочно:</b><ul>{ticker}</ul></div>\n'
    )
    cols = "".join(
        f'<div class="footer__col"><h4>{m}</h4><ul>'
        + "".join(
            f'<li><a href="/ru/{j}/{i}">{_MENU[(i + j) % len(_MENU)]}</a></li>' for i in range(8)
        )
        + "</ul></div>"
        for j, m in enumerate(_MENU[:5])
    )
    footer = (
        f'<footer class="site-footer">{cols}<p class="copyright">© 2021 {site}. '
        "Все права защищены. При использовании материалов ссылка обязательна.</p></footer>\n"
    )
    return header, footer


def page_html(u: BenchUrl) -> bytes:
    """The article HTML of `u` (UTF-8), about `u.size` bytes; deterministic."""
    rng = random.Random(u.index * 1_000_003 + 17)
    _latin, name = PEOPLE[u.person]
    _city_en, city = rng.choice(CITIES)
    hour, minute = 8 + rng.randrange(12), rng.randrange(60)
    stamp = f"2021-09-{u.day:02d}T{hour:02d}:{minute:02d}:00+06:00"
    title = f"{name}: {rng.choice(_CLAUSES)} в {city}"
    author = rng.choice(_AUTHORS)
    url = f"http://{u.host}{u.page_path}"
    header, footer = _chrome(u.host)
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": stamp,
            "dateModified": stamp,
            "author": {"@type": "Person", "name": author},
            "publisher": {"@type": "Organization", "name": u.host},
            "mainEntityOfPage": url,
        },
        ensure_ascii=False,
    )
    paragraphs = []
    n_par = 8 + rng.randrange(23)
    for k in range(n_par):
        sentences = [_sentence(rng, name if k in (0, n_par // 2) else None)]
        sentences += [_sentence(rng) for _ in range(2 + rng.randrange(4))]
        text = " ".join(sentences)
        if k == 0:
            text = f"{u.day} {_MONTHS_RU} 2021 года, в {city}. {text}"
        if k % 6 == 3:
            paragraphs.append(f"<h2>{rng.choice(_TEASERS)}</h2>")
        if k % 7 == 5:
            paragraphs.append(f"<blockquote><p>{_sentence(rng)}</p></blockquote>")
        paragraphs.append(f"<p>{text}</p>")
    head = (
        '<!DOCTYPE html>\n<html lang="ru"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} | {u.host}</title>"
        f'<meta name="description" content="{title}">'
        f'<meta property="og:title" content="{title}"><meta property="og:type" content="article">'
        f'<meta property="og:url" content="{url}"><link rel="canonical" href="{url}">'
        f'<meta property="article:published_time" content="{stamp}">'
        + "".join(f'<link rel="stylesheet" href="/static/css/{i}.min.css">' for i in range(6))
        + f'<script type="application/ld+json">{ld}</script>'
        "<style>.teaser{display:flex}.menu__item{display:inline-block}</style></head>\n"
        '<body class="page page-article">\n'
    )
    article = (
        f'<main class="container"><div class="row"><div class="col-main">'
        f'<article class="article"><h1 class="article__title">{title}</h1>'
        f'<div class="article__meta"><time class="article__date" datetime="{stamp}">'
        f"{u.day} {_MONTHS_RU} 2021, {hour:02d}:{minute:02d}</time>"
        f'<span class="article__author">Автор: {author}</span></div>'
        f'<figure><img src="/media/{u.index}.jpg" alt="{name}"><figcaption>{name}. '
        "Фото из архива</figcaption></figure>"
        f'<div class="article__body">{"".join(paragraphs)}</div>'
        '<div class="tags"><a href="/tag/sud">суд</a> <a href="/tag/prava">права человека</a></div>'
        '<div class="share"><a href="#">Facebook</a> <a href="#">Telegram</a> '
        '<a href="#">WhatsApp</a>'
        "</div></article>\n"
    )
    fixed = len((head + header + article + footer).encode())
    budget = max(0, u.size - fixed)
    teaser_budget = int(budget * 0.85)  # the rest goes to inline scripts, as on real sites
    related: list[str] = []
    comments: list[str] = []
    sidebar: list[str] = []
    size, k = 0, 0
    while size < teaser_budget:
        block = _teaser(rng, u.host, k)
        if k % 5 == 4:
            comment = (
                f'<div class="comment"><span class="comment__user">user{rng.randrange(999)}</span>'
                f"<p>{_sentence(rng)}</p></div>\n"
            )
            comments.append(comment)
            size += len(comment.encode())
        (related if k % 2 else sidebar).append(block)
        size += len(block.encode())
        k += 1
    body = (
        head
        + header
        + article
        + f'<section class="related"><h3>Читайте также</h3>{"".join(related)}</section>'
        + f'<section class="comments"><h3>Комментарии</h3>{"".join(comments)}</section>'
        + f'</div><aside class="sidebar"><div class="widget">{"".join(sidebar)}</div></aside>'
        + "</div></main>\n"
        + footer
    )
    pad = max(0, u.size - len(body.encode()) - 40)
    return (body + _script_padding(rng, pad) + "</body></html>\n").encode("utf-8")


_ASSET_TYPES = {
    ".css": "text/css",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".png": "image/png",
}


def asset(path: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of a page requisite the bench pages link to, or None: each
    host's six stylesheets (each a url() to the host's sprite), its photos and teaser
    images (`/media/<k>.jpg|webp`, 4–20 KB of seeded bytes; teasers repeat on every page
    of a host, as a site's "latest news" images do) and the sprite."""
    suffix = path[path.rfind(".") :] if "." in path else ""
    ctype = _ASSET_TYPES.get(suffix)
    if ctype is None or not path.startswith(("/static/", "/media/")):
        return None
    if suffix == ".css":
        css = f".b{{background:url(/static/img/sprite.png)}} /* {path} */\n" + ".x{margin:0}" * 200
        return ctype, css.encode()
    rng = random.Random(path)
    return ctype, rng.randbytes(rng.randrange(4_000, 20_000))


def not_found_html(host: str) -> bytes:
    header, footer = _chrome(host)
    return (
        '<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>Страница не найдена'
        f"</title></head><body>{header}<main><h1>404</h1><p>Страница не найдена.</p></main>"
        f"{footer}</body></html>"
    ).encode()


# ----------------------------------------------------------------------------- digest


def build_digest(urls: list[BenchUrl]) -> str:
    """A digest in the September format: two URLs per incident, cited as footnotes."""
    lines = []
    notes: list[str] = []
    for k in range(0, len(urls), 2):
        pair = urls[k : k + 2]
        u = pair[0]
        latin, _ = PEOPLE[u.person]
        city = CITIES[u.index % len(CITIES)][0]
        markers = "".join(f"[{v.index + 1}]" for v in pair)
        lines.append(
            f"On September {u.day}, 2021, in {city}, {latin}, an activist, was detained under "
            f"Article 488, Part 7 of the Administrative Offences Code{markers}."
        )
        notes.extend(f"[{v.index + 1}]{v.url}" for v in pair)
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def digest_fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def published(u: BenchUrl) -> dt.date:
    return dt.date(2021, 9, u.day)
