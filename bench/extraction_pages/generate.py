"""Labelled evaluation pages for the extraction bench (issue #14), built in memory.

    uv run python -m bench.extraction_pages.generate --out /tmp/pages   # write them, optional

Every page is self-written: a bank of invented Russian, Kazakh and English sentences about
courts, pickets, detentions, fines and journalists (invented people, towns, newspapers and
organisations) poured into seven site templates that vary the way real sites do:

- `rferl`: an RFE/RL-like article (rus.azattyq.org, www.azattyq.org, www.rferl.org): header
  nav, `<time>` in the byline, JSON-LD NewsArticle, "related" and "most read" lists with
  dates, footer;
- `wordpress`: tirek.info / kuresker.org: entry-meta date, a widget sidebar ("Последние
  записи") with dates, archives, comments with dates;
- `kaztag`: kaztag.kz: the article's container may begin with a long menu bar of links;
- `informburo`: informburo.kz / vlast.kz: the date as `<p class="date">` above the h1, or a
  byline `<div>` in the header region; a news feed;
- `kazakh`: a Kazakh-language news site ("2021 жылғы 14 қазанда", "14 қазан 2021",
  "14.10.2021"), "Соңғы жаңалықтар", sometimes a "Бүгін: …" date in the top bar;
- `minimal`: a static page (a table of links, an h1, paragraphs);
- any of them with a big "latest news" block of newer dates.

Labels: `published` is the day the page states for its own publication in its own zone
(2020-09-20T23:32:00+03:00 is 2020-09-20); `text` is the main article text (paragraphs
joined by newlines, the title excluded, NFC); `lang`; `cls`, the case the page exercises
(`CLASSES`). Deterministic: each page draws from its own `random.Random` seeded with
(SEED, class, index), so one class's filtering cannot shift another's pages.

The "lost" pages are kept only when trafilatura's precise pass really loses them
(`bare_extraction(fast=True, favor_precision=True)` finds < 50 characters) and plain
`trafilatura.extract` finds >= 50: that class is checked against the installed trafilatura.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import html as html_mod
import json
import random
import re
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = [
    "CLASSES",
    "LANGS",
    "Page",
    "build_pages",
    "default_text",
    "precise_text",
]

SEED = 14
CLASSES = ("plain", "tz", "header_date", "sidebar", "disagree", "lost", "menu", "decoding")
LANGS = ("ru", "kk", "en")
MIN_CHARS = 50  # the project's ExtractOptions.min_text_chars: below it a text is "lost"

# pages per class (the "lost" class keeps up to this many of its verified candidates)
COUNTS = {
    "plain": 35,
    "tz": 30,
    "header_date": 30,
    "sidebar": 32,
    "disagree": 32,
    "lost": 30,
    "menu": 30,
    "decoding": 35,
}
# 7 Kazakh, 1 English, 12 Russian in every 20 pages (35% / 5% / 60%)
_LANG_CYCLE = (
    "ru",
    "kk",
    "ru",
    "kk",
    "ru",
    "en",
    "kk",
    "ru",
    "ru",
    "kk",
    "ru",
    "kk",
    "ru",
    "ru",
    "kk",
    "ru",
    "ru",
    "kk",
    "ru",
    "ru",
)


@dataclass(frozen=True)
class Page:
    id: str
    url: str
    html: bytes
    charset: str | None
    """The HTTP Content-Type header's charset, or None (no header charset)."""
    published: str
    """YYYY-MM-DD: the day the page states for itself, in its own zone."""
    text: str
    lang: str
    cls: str
    template: str
    variant: str = ""
    """Which form of the class (e.g. "cp1251-meta", "jsonld-right", "+03:00")."""
    stamp: str | None = None
    """The timestamp as the page writes it (tz and plain pages), offset included."""

    @property
    def labels(self) -> dict[str, str]:
        return {
            "published": self.published,
            "text": self.text,
            "lang": self.lang,
            "class": self.cls,
        }

    def meta(self) -> dict[str, object]:
        """Everything but the bytes (for labels.jsonl and the bench's raw results)."""
        return {
            "id": self.id,
            "url": self.url,
            "charset": self.charset,
            "template": self.template,
            "variant": self.variant,
            "stamp": self.stamp,
            "bytes": len(self.html),
            **self.labels,
        }


# ------------------------------------------------------------------------ vocabulary

# invented people: (Russian/Kazakh spelling, Latin spelling, female?)
_PEOPLE = [
    ("Ержан Сапаргалиев", "Yerzhan Sapargaliyev", False),
    ("Данияр Темиртасов", "Daniyar Temirtasov", False),
    ("Болат Жумаканов", "Bolat Zhumakanov", False),
    ("Нурлан Оспангалиев", "Nurlan Ospangaliyev", False),
    ("Мирас Байтелесов", "Miras Baitelesov", False),
    ("Тимур Калимжанов", "Timur Kalimzhanov", False),
    ("Асхат Нурлыбеков", "Askhat Nurlybekov", False),
    ("Ерлан Есенгельдин", "Yerlan Yesengeldin", False),
    ("Айгуль Кусаинбекова", "Aigul Kusainbekova", True),
    ("Гульнар Абдрахимова", "Gulnar Abdrakhimova", True),
    ("Асель Исабаева", "Assel Isabayeva", True),
    ("Жанар Мухамедьярова", "Zhanar Mukhamedyarova", True),
    ("Сауле Турсынгалиева", "Saule Tursyngaliyeva", True),
    ("Динара Ермекбаева", "Dinara Yermekbayeva", True),
]
# invented towns: (Russian, Kazakh, Latin)
_TOWNS = [
    ("Каражар", "Қаражар", "Karazhar"),
    ("Бозтал", "Бозтал", "Boztal"),
    ("Акбулаксай", "Ақбұлақсай", "Akbulaksai"),
    ("Тасжол", "Тасжол", "Taszhol"),
    ("Шалкарсу", "Шалқарсу", "Shalkarsu"),
    ("Кызылжартау", "Қызылжартау", "Kyzylzhartau"),
    ("Сарыбулак", "Сарыбұлақ", "Sarybulak"),
    ("Жетыколь", "Жетікөл", "Zhetykol"),
]
_PAPERS = [
    ("Вечерний Каражар", "Қаражар кешкі", "Evening Karazhar"),
    ("Степной вестник", "Дала хабаршысы", "Steppe Herald"),
    ("Голос Тасжола", "Тасжол үні", "Voice of Taszhol"),
]
_ORGS = [
    ("Адилет-Монитор", "Әділет-Монитор", "Adilet Monitor"),
    ("Открытая степь", "Ашық дала", "Open Steppe"),
    ("Совет по правам", "Құқық кеңесі", "Rights Council"),
]
_COURTS = {
    "ru": [
        "Специализированный административный суд города {town}",
        "Районный суд № 2 города {town}",
        "Межрайонный суд по уголовным делам города {town}",
    ],
    "kk": [
        "{town} қаласының мамандандырылған әкімшілік соты",
        "{town} қаласының №2 аудандық соты",
        "{town} қаласының қылмыстық істер жөніндегі ауданаралық соты",
    ],
    "en": [
        "The specialised administrative court of {town}",
        "District court No. 2 of {town}",
        "The inter-district criminal court of {town}",
    ],
}

_SENTENCES = {
    "ru": [
        "{court} признал активиста виновным в нарушении порядка проведения мирных собраний.",
        "Активисту назначили {days} суток административного ареста.",
        "Суд назначил штраф в размере {amount} тенге.",
        "Адвокат {lawyer} сообщил{la}, что защита обжалует постановление в областном суде.",
        "Полицейские задержали участника акции у здания акимата в городе {town}, "
        "где он держал плакат.",
        "На плакате было написано требование освободить политических заключённых.",
        "Корреспондента газеты «{paper}» не пустили в зал судебного заседания.",
        "Правозащитники из организации «{org}» назвали процесс показательным.",
        "По словам родственников, задержанного доставили в отдел полиции без объяснения причин.",
        "В полиции заявили, что акция не была согласована с местным исполнительным органом.",
        "{person} свою вину не признал{pa} и заявил{pa}, что {went} на пикет мирно.",
        "Заседание длилось около трёх часов, в зал пустили только родственников.",
        "Прокурор запросил для обвиняемого {years} лет лишения свободы.",
        "Дело рассматривается по статье {article} Уголовного кодекса.",
        "Представитель акимата отказался комментировать ситуацию.",
        "Ранее {person} уже получал{pa} штрафы за публикации в социальных сетях.",
        "Наблюдатели отметили, что судья отклонил все ходатайства защиты.",
        "Участники пикета требовали провести расследование гибели задержанного в изоляторе.",
        "Свидетелями со стороны обвинения выступили сотрудники полиции.",
        "Редакция направила запрос в департамент полиции, но ответа пока не получила.",
        "Защита настаивает, что пикет был мирным и не мешал движению транспорта.",
        "Супруга задержанного считает решение суда несправедливым.",
        "Заседание проходило в онлайн-формате, связь несколько раз прерывалась.",
        "{person} рассказал{pa} журналистам, что не получал{pa} повестки в суд.",
        "Председательствующий судья несколько раз делал замечания слушателям в зале.",
        "После оглашения решения у здания суда собрались около двадцати человек.",
        "Обыск в квартире продолжался более четырёх часов, изъяты телефон и ноутбук.",
        "Уполномоченный по правам человека пообещал изучить жалобу родственников.",
        "Апелляционная коллегия оставила приговор без изменения.",
        "По данным защиты, {person} находится в следственном изоляторе с весны.",
        "В акимате ответили, что площадка для мирных собраний находится на окраине города.",
        "Сторонники активиста вели трансляцию заседания в Facebook и Telegram.",
        "Экспертиза, на которую ссылается обвинение, проведена без участия защиты.",
        "Журналистке «{paper}» вернули изъятое удостоверение только через неделю.",
    ],
    "kk": [
        "{court} белсендіні бейбіт жиналыстар өткізу тәртібін бұзды деп тапты.",
        "Белсендіге {days} тәулік әкімшілік қамаққа алу жазасы тағайындалды.",
        "Сот {amount} теңге көлемінде айыппұл салды.",
        "Адвокат {lawyer} қорғау тарабы қаулыға облыстық сотқа шағым түсіретінін айтты.",
        "Полиция {town} қаласындағы әкімдік ғимаратының алдында плакат ұстап тұрған "
        "белсендіні ұстады.",
        "Плакатта саяси тұтқындарды босатуды талап ететін жазу болған.",
        "«{paper}» газетінің тілшісін сот отырысы залына кіргізбеді.",
        "«{org}» құқық қорғау ұйымы бұл процесті көрсеткіш сот деп атады.",
        "Туыстарының айтуынша, ұсталған адамды себебін түсіндірмей полиция бөліміне апарған.",
        "Полиция акция жергілікті атқарушы органмен келісілмеген деп мәлімдеді.",
        "{person} кінәсін мойындамады және пикетке бейбіт түрде шыққанын айтты.",
        "Сот отырысы үш сағатқа жуық созылды, залға тек туыстарын кіргізді.",
        "Прокурор айыпталушыға {years} жыл бас бостандығынан айыру жазасын сұрады.",
        "Іс Қылмыстық кодекстің {article}-бабы бойынша қаралып жатыр.",
        "Әкімдік өкілі жағдайға түсініктеме беруден бас тартты.",
        "Бұған дейін {person} әлеуметтік желідегі жазбалары үшін айыппұл төлеген.",
        "Бақылаушылар судьяның қорғау тарабының барлық өтінішін қабылдамағанын атап өтті.",
        "Пикетке қатысушылар тергеу изоляторында қайтыс болған адамның өліміне тергеу "
        "жүргізуді талап етті.",
        "Айыптау тарабының куәлері полиция қызметкерлері болып шықты.",
        "Редакция полиция департаментіне сауал жолдады, бірақ әзірге жауап алған жоқ.",
        "Қорғау тарабы пикет бейбіт өткенін және көлік қозғалысына кедергі келтірмегенін айтады.",
        "Ұсталған адамның жұбайы сот шешімін әділетсіз деп санайды.",
        "Сот отырысы онлайн форматта өтті, байланыс бірнеше рет үзілді.",
        "Төрағалық етуші судья залдағы тыңдаушыларға бірнеше рет ескерту жасады.",
        "Шешім жарияланғаннан кейін сот ғимаратының алдына жиырмаға жуық адам жиналды.",
        "Пәтердегі тінту төрт сағаттан астам уақытқа созылып, телефон мен ноутбук тәркіленді.",
        "Адам құқықтары жөніндегі уәкіл туыстарының шағымын қарауға уәде берді.",
        "Апелляциялық алқа үкімді өзгеріссіз қалдырды.",
        "Белсендінің жақтастары сот отырысын Facebook пен Telegram желілерінде тікелей көрсетті.",
        "Әкімдіктегілер бейбіт жиналыстарға арналған алаң қала шетінде орналасқанын айтты.",
        "Қорғау тарабының айтуынша, {person} көктемнен бері тергеу изоляторында отыр.",
        "Айыптау тарабы сілтеме жасаған сараптама қорғаушының қатысуынсыз жүргізілген.",
    ],
    "en": [
        "{court} found the activist guilty of violating the rules on peaceful assemblies.",
        "The activist was sentenced to {days} days of administrative detention.",
        "The court imposed a fine of {amount} tenge.",
        "Lawyer {lawyer} said the defence would appeal to the regional court.",
        "Police detained the protester outside the akimat building in {town}, "
        "where he held a placard.",
        "The placard called for the release of political prisoners.",
        "A reporter for the {paper} newspaper was not allowed into the courtroom.",
        "The rights group {org} called the trial a show trial.",
        "Relatives said the detainee was taken to a police station without explanation.",
        "Police said the rally had not been approved by the local authorities.",
        "{person} denied the charges and said the picket had been peaceful.",
        "The hearing lasted about three hours, and only relatives were allowed in.",
        "The prosecutor asked for {years} years in prison.",
        "The case is being heard under Article {article} of the Criminal Code.",
        "A spokesman for the akimat declined to comment.",
        "Observers noted that the judge rejected every motion filed by the defence.",
        "The editors sent a request to the police department but have not yet received a reply.",
        "Supporters streamed the hearing on Facebook and Telegram.",
        "The defence insists the picket was peaceful and did not block traffic.",
        "The detainee's wife considers the ruling unfair.",
        "The search of the flat lasted more than four hours; a phone and a laptop were seized.",
        "The appeal panel upheld the sentence.",
    ],
}

_TITLES = {
    "ru": [
        "{town}: суд арестовал активиста на {days} суток",
        "{town}: участника одиночного пикета оштрафовали на {amount} тенге",
        "Журналиста не пустили на заседание по делу активиста",
        "Прокурор запросил {years} лет для обвиняемого по статье {article}",
        "Апелляция оставила в силе приговор активисту",
        "{town}: полиция задержала участников акции у акимата",
        "Правозащитники назвали процесс над активистом показательным",
        "Суд отклонил все ходатайства защиты по делу о пикете",
        "{town}: у активиста провели обыск и изъяли ноутбук",
    ],
    "kk": [
        "{town}: белсенді {days} тәулікке қамалды",
        "{town}: жалғыз адамдық пикетке шыққан белсендіге айыппұл салынды",
        "Журналистті белсенді ісі бойынша сот отырысына кіргізбеді",
        "Прокурор айыпталушыға {years} жыл сұрады",
        "Апелляция белсендіге шығарылған үкімді өзгеріссіз қалдырды",
        "{town}: полиция әкімдік алдындағы акцияға қатысушыларды ұстады",
        "Құқық қорғаушылар белсенді ісін көрсеткіш сот деп атады",
        "Сот қорғаушының барлық өтінішін қабылдамады",
        "{town}: белсендінің үйі тінтіліп, ноутбугы тәркіленді",
    ],
    "en": [
        "{town}: activist jailed for {days} days",
        "{town} picketer fined {amount} tenge",
        "Journalist barred from activist's hearing",
        "Prosecutor seeks {years} years for activist",
        "Appeal court upholds activist's sentence",
        "{town}: police detain protesters outside akimat",
    ],
}

_NAV = {
    "ru": [
        "Главная",
        "Новости",
        "Политика",
        "Общество",
        "Суды",
        "Права человека",
        "Экономика",
        "Регионы",
        "Видео",
        "Мнения",
        "Спецпроекты",
        "Архив",
        "Контакты",
    ],
    "kk": [
        "Басты бет",
        "Жаңалықтар",
        "Саясат",
        "Қоғам",
        "Сот",
        "Құқық",
        "Экономика",
        "Өңірлер",
        "Видео",
        "Пікір",
        "Арнайы жоба",
        "Мұрағат",
        "Байланыс",
    ],
    "en": [
        "Home",
        "News",
        "Politics",
        "Society",
        "Courts",
        "Human rights",
        "Economy",
        "Regions",
        "Video",
        "Opinion",
        "Special projects",
        "Archive",
        "Contact",
    ],
}
_MENU_EXTRA = {
    "ru": [
        "Казахстан",
        "Мир",
        "Происшествия",
        "Бизнес",
        "Финансы",
        "Нефть и газ",
        "Сельское хозяйство",
        "Спорт",
        "Культура",
        "Здоровье",
        "Образование",
        "Технологии",
        "Интервью",
        "Пресс-релизы",
        "Фото",
        "Инфографика",
        "Курсы валют",
        "Погода",
        "Реклама",
        "О нас",
        "RSS",
    ],
    "kk": [
        "Қазақстан",
        "Әлем",
        "Оқиға",
        "Бизнес",
        "Қаржы",
        "Мұнай мен газ",
        "Ауыл шаруашылығы",
        "Спорт",
        "Мәдениет",
        "Денсаулық",
        "Білім",
        "Технология",
        "Сұхбат",
        "Баспасөз релизі",
        "Фото",
        "Инфографика",
        "Валюта бағамы",
        "Ауа райы",
        "Жарнама",
        "Біз туралы",
        "RSS",
    ],
    "en": [
        "Kazakhstan",
        "World",
        "Incidents",
        "Business",
        "Finance",
        "Oil and gas",
        "Agriculture",
        "Sport",
        "Culture",
        "Health",
        "Education",
        "Technology",
        "Interviews",
        "Press releases",
        "Photo",
        "Infographics",
        "Exchange rates",
        "Weather",
        "Advertising",
        "About us",
        "RSS",
    ],
}
_WORDS = {
    "latest": {"ru": "Последние новости", "kk": "Соңғы жаңалықтар", "en": "Latest news"},
    "recent": {"ru": "Последние записи", "kk": "Соңғы жазбалар", "en": "Recent posts"},
    "popular": {"ru": "Самое читаемое", "kk": "Ең көп оқылған", "en": "Most read"},
    "related": {"ru": "Читайте также", "kk": "Тақырыпқа қатысты", "en": "Related"},
    "feed": {"ru": "Лента новостей", "kk": "Жаңалықтар легі", "en": "News feed"},
    "comments": {"ru": "Комментарии", "kk": "Пікірлер", "en": "Comments"},
    "author": {"ru": "Автор", "kk": "Авторы", "en": "By"},
    "updated": {"ru": "Обновлено", "kk": "Жаңартылды", "en": "Updated"},
    "published": {"ru": "Опубликовано", "kk": "Жарияланды", "en": "Published"},
    "today": {"ru": "Сегодня", "kk": "Бүгін", "en": "Today"},
    "rights": {
        "ru": "Все права защищены. Перепечатка материалов разрешена со ссылкой на источник.",
        "kk": "Барлық құқықтар қорғалған. Материалдарды көшіріп басқанда сілтеме міндетті.",
        "en": "All rights reserved. Republishing is allowed with a link to the source.",
    },
    "legal": {
        "ru": "Мнение автора может не совпадать с позицией редакции. Материал подготовлен в "
        "рамках проекта мониторинга судебных процессов. Согласно закону о СМИ, редакция не "
        "несёт ответственности за содержание комментариев. 18+",
        "kk": "Автордың пікірі редакцияның ұстанымымен сәйкес келмеуі мүмкін. Материал сот "
        "процестерін бақылау жобасы аясында дайындалды. БАҚ туралы заңға сәйкес редакция "
        "пікірлердің мазмұнына жауап бермейді. 18+",
        "en": "The author's views may not reflect those of the editors. Prepared within a "
        "trial monitoring project. Under media law the editors are not responsible for "
        "the comments. 18+",
    },
}
_COMMENTERS = ["Болат", "Гость", "Сауле К.", "Наблюдатель", "Марат", "Айжан"]
_COMMENTS = {
    "ru": [
        "Позор такому суду.",
        "Держитесь, мы с вами!",
        "А что сказал адвокат?",
        "Спасибо за репортаж из зала.",
    ],
    "kk": ["Ұят-ай!", "Төзімділік тілеймін!", "Адвокат не деді?", "Рақмет, жақсы жазылған."],
    "en": ["Shameful.", "Stay strong!", "What did the lawyer say?", "Thanks for reporting."],
}

RU_MONTHS = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
KK_MONTHS = (
    "қаңтар",
    "ақпан",
    "наурыз",
    "сәуір",
    "мамыр",
    "маусым",
    "шілде",
    "тамыз",
    "қыркүйек",
    "қазан",
    "қараша",
    "желтоқсан",
)
KK_MONTHS_LOC = (
    "қаңтарда",
    "ақпанда",
    "наурызда",
    "сәуірде",
    "мамырда",
    "маусымда",
    "шілдеде",
    "тамызда",
    "қыркүйекте",
    "қазанда",
    "қарашада",
    "желтоқсанда",
)
EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_SLUG_WORDS = [
    "sud",
    "aktivist",
    "piket",
    "shtraf",
    "arest",
    "zhurnalist",
    "zaderzhanie",
    "prigovor",
    "apellyaciya",
    "obysk",
    "akimat",
    "zasedanie",
    "pravozashchitniki",
]

TZ = dt.timezone
ALMATY_OLD = TZ(dt.timedelta(hours=6))


def show_date(d: dt.date, lang: str, style: str = "long") -> str:
    """A day as a page writes it: long ("14 октября 2021"), long_g ("… 2021 года"),
    dot ("14.10.2021"), kk year ("2021 жылғы 14 қазан"), loc ("2021 жылғы 14 қазанда")."""
    if style == "dot":
        return f"{d.day:02d}.{d.month:02d}.{d.year}"
    if lang == "kk":
        if style == "year":
            return f"{d.year} жылғы {d.day} {KK_MONTHS[d.month - 1]}"
        if style == "loc":
            return f"{d.year} жылғы {d.day} {KK_MONTHS_LOC[d.month - 1]}"
        return f"{d.day} {KK_MONTHS[d.month - 1]} {d.year}"
    if lang == "en":
        return f"{EN_MONTHS[d.month - 1]} {d.day}, {d.year}"
    suffix = " года" if style == "long_g" else ""
    return f"{d.day} {RU_MONTHS[d.month - 1]} {d.year}{suffix}"


def _esc(s: str) -> str:
    return html_mod.escape(s, quote=False)


def _attr(s: str) -> str:
    return html_mod.escape(s, quote=True)


# ------------------------------------------------------------------------ articles


@dataclass
class Article:
    lang: str
    title: str
    paragraphs: list[str]
    author: str
    town: str

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


def _fill(template: str, slots: dict[str, str]) -> str:
    return template.format(**slots)


def _slots(rng: random.Random, lang: str) -> dict[str, str]:
    li = LANGS.index(lang)
    town = rng.choice(_TOWNS)[li]
    person, latin, female = rng.choice(_PEOPLE)
    lawyer, lawyer_latin, lawyer_f = rng.choice([p for p in _PEOPLE if p[0] != person])
    slots = {
        "town": town,
        "person": latin if lang == "en" else person,
        "lawyer": lawyer_latin if lang == "en" else lawyer,
        "la": "а" if lawyer_f else "",
        "pa": "а" if female else "",
        "went": "вышла" if female else "вышел",
        "paper": rng.choice(_PAPERS)[li],
        "org": rng.choice(_ORGS)[li],
        "days": str(rng.choice([5, 7, 10, 15, 20, 25])),
        "amount": f"{rng.choice([69, 138, 173, 207, 276, 345]) * 1000:,}".replace(",", " "),
        "years": str(rng.choice([5, 6, 7, 8])),
        "article": str(rng.choice([174, 274, 405, 380, 488])),
    }
    slots["court"] = rng.choice(_COURTS[lang]).format(town=town)
    return slots


def make_article(
    rng: random.Random,
    lang: str,
    *,
    sentences: tuple[int, int] = (9, 20),
    per_paragraph: tuple[int, int] = (2, 4),
) -> Article:
    slots = _slots(rng, lang)
    bank = _SENTENCES[lang]
    n = min(rng.randint(*sentences), len(bank))
    picked = [_fill(s, slots) for s in rng.sample(bank, n)]
    paragraphs = []
    while picked:
        k = rng.randint(*per_paragraph)
        paragraphs.append(" ".join(picked[:k]))
        picked = picked[k:]
    title = _fill(rng.choice(_TITLES[lang]), slots)
    author = rng.choice(_PEOPLE)[1 if lang == "en" else 0]
    return Article(lang, title, paragraphs, author, slots["town"])


def _headline(rng: random.Random, lang: str) -> str:
    return _fill(rng.choice(_TITLES[lang]), _slots(rng, lang))


def _slug(rng: random.Random) -> str:
    return "-".join(rng.sample(_SLUG_WORDS, 3)) + f"-{rng.randint(100, 9999)}"


def _moment(rng: random.Random, start: int = 2016, end: int = 2023) -> dt.datetime:
    """A daytime moment in Almaty's former +06:00 (away from midnight)."""
    day = dt.date(start, 1, 1) + dt.timedelta(days=rng.randrange((end - start + 1) * 365))
    return dt.datetime(
        day.year, day.month, day.day, rng.randint(8, 17), rng.randrange(60), tzinfo=ALMATY_OLD
    )


def _iso(moment: dt.datetime, z: bool = False) -> str:
    s = moment.isoformat()
    return s.replace("+00:00", "Z") if z else s


# ------------------------------------------------------------------------ templates


@dataclass
class Parts:
    """What a template lays out; the class builders decide which dates go where."""

    lang: str
    url: str
    site: str
    title: str
    body: str
    head: list[str] = field(default_factory=list)
    meta_charset: str = '<meta charset="utf-8">'
    above_h1: str = ""
    byline: str = ""
    prefix: str = ""
    after: str = ""
    latest: list[tuple[dt.datetime, str]] = field(default_factory=list)
    latest_heading: str = "latest"
    related: list[tuple[dt.date | None, str]] = field(default_factory=list)
    comments: list[tuple[str, dt.datetime | None, str]] = field(default_factory=list)
    footer: str = ""
    today: dt.date | None = None
    nav_in_header: bool = True
    body_class: str | None = None
    """The text container's class, when not the template's own (CSS-module names)."""


def _nav(p: Parts, cls: str = "menu", n: int = 10) -> str:
    items = "".join(
        f'<li class="{cls}__item"><a href="/{p.lang}/section/{i}">{_esc(w)}</a></li>'
        for i, w in enumerate(_NAV[p.lang][:n])
    )
    return f'<ul class="{cls}">{items}</ul>'


def _time(moment: dt.datetime, shown: str, cls: str = "date") -> str:
    return f'<time class="{cls}" datetime="{_iso(moment)}">{_esc(shown)}</time>'


def _latest(p: Parts, style: str = "list") -> str:
    if not p.latest:
        return ""
    rows = []
    for k, (moment, title) in enumerate(p.latest):
        shown = show_date(moment.date(), p.lang, "dot") + moment.strftime(" %H:%M")
        href = f"/{p.lang}/news/{moment:%Y%m%d}-{k}"
        if style == "wp":
            rows.append(
                f'<li><a href="{href}">{_esc(title)}</a> '
                f'<span class="post-date">{_time(moment, shown, "post-date")}</span></li>'
            )
        else:
            short = moment.strftime("%H:%M") if k % 3 else shown
            rows.append(
                f'<li class="news-item">{_time(moment, short)}'
                f'<a class="news-item__title" href="{href}">{_esc(title)}</a></li>'
            )
    return f'<ul class="news-list">{"".join(rows)}</ul>'


def _related(p: Parts) -> str:
    if not p.related:
        return ""
    rows = []
    for k, (day, title) in enumerate(p.related):
        when = f'<span class="teaser__date">{show_date(day, p.lang, "dot")}</span>' if day else ""
        rows.append(
            f'<li class="teaser"><a href="/{p.lang}/a/{3100000 + k * 7919}.html">'
            f"{_esc(title)}</a>{when}</li>"
        )
    return f'<ul class="teasers">{"".join(rows)}</ul>'


def _comments(p: Parts) -> str:
    rows = []
    for name, moment, text in p.comments:
        when = (
            _time(moment, show_date(moment.date(), p.lang, "dot") + moment.strftime(" %H:%M"))
            if moment
            else ""
        )
        rows.append(
            f'<li class="comment"><article class="comment-body"><footer class="comment-meta">'
            f'<b class="fn">{_esc(name)}</b><div class="comment-metadata">{when}</div></footer>'
            f'<div class="comment-content"><p>{_esc(text)}</p></div></article></li>'
        )
    return "".join(rows)


def _head(p: Parts) -> str:
    scripts = (
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
        "gtag('js',new Date());gtag('config','G-BENCH0000');</script>"
        '<script src="/static/js/app.min.js" defer></script>'
    )
    # a date-free application blob (ad slots, strings) as real pages carry: 2-16 KB
    size = 2000 + zlib.crc32(p.url.encode()) % 14000
    slots, k = [], 0
    while sum(map(len, slots)) < size:
        word = _NAV[p.lang][k % len(_NAV[p.lang])]
        slots.append(f'{{"slot":"div-gpt-ad-{k}","sizes":[[300,250],[728,90]],"label":"{word}"}}')
        k += 1
    scripts += f'<script>window.__APP__={{"ads":[{",".join(slots)}]}};</script>'
    return (
        f"<head>{p.meta_charset}<title>{_esc(p.title)} | {_esc(p.site)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="canonical" href="{_attr(p.url)}">'
        '<link rel="stylesheet" href="/static/css/main.css">'
        f'<meta property="og:title" content="{_attr(p.title)}">'
        '<meta property="og:type" content="article">'
        f"{''.join(p.head)}{scripts}</head>"
    )


def t_rferl(p: Parts) -> str:
    popular = (
        f'<aside class="most-popular"><h2>{_WORDS["popular"][p.lang]}</h2>{_latest(p)}</aside>'
    )
    related = (
        f'<section class="related"><h2>{_WORDS["related"][p.lang]}</h2>{_related(p)}</section>'
    )
    return (
        f'<!DOCTYPE html><html lang="{p.lang}" dir="ltr">{_head(p)}<body class="pg-article">'
        f'<header class="hdr"><div class="hdr__logo"><a href="/"><img alt="{_attr(p.site)}" '
        'src="/Content/img/logo.svg"></a></div>'
        f'<nav class="main-menu">{_nav(p, "main-menu__list", 12)}</nav>'
        '<div class="lang-switch"><a href="https://www.azattyq.org">Қазақша</a> '
        '<a href="https://rus.azattyq.org">Русский</a></div></header>'
        f'<main id="content"><div class="container"><div class="col-title">{p.above_h1}'
        f'<div class="category"><a href="/z/330">{_esc(_NAV[p.lang][5])}</a></div>'
        f'<h1 class="title pg-title">{_esc(p.title)}</h1></div>'
        f'<div class="col-publishing-details"><div class="authors"><a class="links__item" '
        f'href="/author/1">{_esc(p.title.split()[0])}</a></div>{p.byline}</div>'
        '<div class="col-multimedia"><figure class="media-pholder"><img src="/img/photo.jpg" '
        'alt=""><figcaption>Фото: архив</figcaption></figure></div>'
        f'<div class="body-container"><div id="article-content" class="{p.body_class or "wsw"}">'
        f"{p.prefix}{p.body}{p.after}</div></div>"
        '<div class="share"><a href="https://facebook.com/sharer">Facebook</a> '
        '<a href="https://t.me/share">Telegram</a></div></div>'
        f"{related}{popular}</main>"
        f'<footer class="ftr"><nav>{_nav(p, "ftr-menu", 8)}</nav><p>© 2025 RFE/RL, Inc. '
        f"{_WORDS['rights'][p.lang]}</p>{p.footer}</footer></body></html>"
    )


def t_wordpress(p: Parts) -> str:
    n = len(p.url) * 37 % 9000 + 1000
    comments = ""
    if p.comments:
        comments = (
            f'<div id="comments" class="comments-area"><h2 class="comments-title">'
            f'{_WORDS["comments"][p.lang]}: {len(p.comments)}</h2><ol class="comment-list">'
            f"{_comments(p)}</ol>"
        )
        comments += '<div id="respond"><form><textarea name="comment"></textarea>'
        comments += '<input type="submit" value="Отправить"></form></div></div>'
    archives = "".join(f'<li><a href="/{y}/">{y}</a></li>' for y in (2024, 2023, 2022, 2021))
    return (
        f'<!DOCTYPE html><html lang="{p.lang}">{_head(p)}<body class="post-template-default single '
        f'single-post"><div id="page" class="site"><header id="masthead" class="site-header">'
        f'<div class="site-branding"><p class="site-title"><a href="/">{_esc(p.site)}</a></p></div>'
        f'<nav id="site-navigation" class="main-navigation">{_nav(p, "menu", 8)}</nav></header>'
        '<div id="content" class="site-content"><div id="primary" class="content-area">'
        f'<main id="main" class="site-main"><article id="post-{n}" class="post-{n} post type-post '
        f'status-publish hentry"><header class="entry-header">{p.above_h1}'
        f'<h1 class="entry-title">{_esc(p.title)}</h1>'
        f'<div class="entry-meta">{p.byline}</div></header>'
        f'<div class="{p.body_class or "entry-content"}">{p.prefix}{p.body}{p.after}</div>'
        '<footer class="entry-footer"><span class="cat-links"><a href="/category/news/">'
        f"{_esc(_NAV[p.lang][1])}</a></span></footer></article>"
        '<nav class="navigation post-navigation"><div class="nav-previous"><a href="/prev/">'
        f"&larr; {_esc(p.related[0][1] if p.related else _NAV[p.lang][1])}</a></div></nav>"
        f"{comments}</main></div>"
        '<aside id="secondary" class="widget-area"><section class="widget widget_search">'
        '<form role="search"><input type="search" name="s"></form></section>'
        f'<section class="widget widget_recent_entries"><h2 class="widget-title">'
        f"{_WORDS['recent'][p.lang]}</h2>{_latest(p, 'wp')}</section>"
        '<section class="widget widget_archive"><h2 class="widget-title">Архив</h2>'
        f"<ul>{archives}</ul>"
        f'</section></aside></div><footer id="colophon" class="site-footer"><div class="site-info">'
        f"© {_esc(p.site)}. {_WORDS['rights'][p.lang]}</div>{p.footer}</footer></div></body></html>"
    )


def t_kaztag(p: Parts) -> str:
    nav = f'<nav class="top-nav">{_nav(p, "top-nav", 9)}</nav>' if p.nav_in_header else ""
    return (
        f'<!DOCTYPE html><html lang="{p.lang}">{_head(p)}<body><div class="wrapper">'
        '<header class="header"><div class="logo"><a href="/">KazTAG</a></div>'
        '<div class="header-top"><span>USD 470.12</span> <span>EUR 510.44</span></div>'
        f"{nav}"
        '</header><div class="content"><div class="main-column"><div class="news-detail">'
        f"{p.prefix}{p.above_h1}<h1>{_esc(p.title)}</h1>{p.byline}"
        f'<div class="{p.body_class or "news-detail__text"}">{p.body}{p.after}</div>'
        '<div class="tags"><a href="/tag/sud">#суд</a> <a href="/tag/piket">#пикет</a></div></div>'
        f'<div class="news-block"><h3>{_WORDS["latest"][p.lang]}</h3>{_latest(p)}</div></div>'
        f'<div class="sidebar"><div class="popular"><h3>{_WORDS["popular"][p.lang]}</h3>'
        f"{_related(p)}"
        f'</div></div></div><footer class="footer"><p>© KazTAG. {_WORDS["rights"][p.lang]}</p>'
        f"{p.footer}</footer></div></body></html>"
    )


def t_informburo(p: Parts) -> str:
    return (
        f'<!DOCTYPE html><html lang="{p.lang}">{_head(p)}<body><div class="page">'
        f'<header class="site-header"><a class="logo" href="/">{_esc(p.site)}</a>'
        f'<nav class="menu">{_nav(p, "menu", 11)}</nav><form class="search"><input name="q"></form>'
        '</header><div class="layout"><main class="article"><div class="article-header">'
        f'{p.above_h1}<h1 class="article-title">{_esc(p.title)}</h1>{p.byline}</div>'
        f'<div class="{p.body_class or "article-body"}">{p.prefix}{p.body}{p.after}</div>'
        '<div class="article-tags"><a href="/tags/sud">суд</a></div>'
        f'<div class="read-also"><h3>{_WORDS["related"][p.lang]}</h3>{_related(p)}</div></main>'
        f'<aside class="sidebar"><div class="news-feed"><h3>{_WORDS["feed"][p.lang]}</h3>'
        f"{_latest(p)}"
        f'</div></aside></div><footer class="site-footer"><p>© {_esc(p.site)}, 2014–2025. '
        f"{_WORDS['rights'][p.lang]}</p>{p.footer}</footer></div></body></html>"
    )


def t_kazakh(p: Parts) -> str:
    today = ""
    if p.today:
        shown = show_date(p.today, p.lang, "year")
        today = f'<span class="today">{_WORDS["today"][p.lang]}: {shown}</span>'
    return (
        f'<!DOCTYPE html><html lang="{p.lang}">{_head(p)}<body><div id="app">'
        f'<div class="topbar">{today}<span class="weather">+12°</span></div>'
        f'<header class="site-header"><div class="logo"><a href="/">{_esc(p.site)}</a></div>'
        f"<nav>{_nav(p, 'nav', 10)}</nav></header>"
        '<div class="container"><div class="row"><div class="col-8"><div class="post">'
        f'{p.above_h1}<h1 class="post-title">{_esc(p.title)}</h1><div class="post-info">{p.byline}'
        '<span class="views">1 204</span></div>'
        f'<div class="{p.body_class or "post-text"}">{p.prefix}{p.body}{p.after}</div>'
        '<div class="share">Facebook · Telegram · WhatsApp</div></div>'
        f'<div class="related-posts"><h3>{_WORDS["related"][p.lang]}</h3>{_related(p)}</div></div>'
        f'<div class="col-4"><div class="last-news"><h3>{_WORDS["latest"][p.lang]}</h3>{_latest(p)}'
        f"</div></div></div></div><footer><p>© 2014–2025 {_esc(p.site)}. {_WORDS['rights'][p.lang]}"
        f"</p>{p.footer}</footer></div></body></html>"
    )


def t_minimal(p: Parts) -> str:
    return (
        f'<html>{_head(p)}<body bgcolor="#ffffff"><table width="100%"><tr><td>'
        f'<a href="/">{_esc(p.site)}</a> | <a href="/news.html">{_esc(_NAV[p.lang][1])}</a> | '
        f'<a href="/contacts.html">{_esc(_NAV[p.lang][-1])}</a></td></tr></table><hr>'
        f"{p.above_h1}<h1>{_esc(p.title)}</h1>{p.byline}{p.prefix}{p.body}{p.after}"
        f"{_latest(p)}<hr><p><small>© {_esc(p.site)}</small></p>{p.footer}</body></html>"
    )


TEMPLATES: dict[str, Callable[[Parts], str]] = {
    "rferl": t_rferl,
    "wordpress": t_wordpress,
    "kaztag": t_kaztag,
    "informburo": t_informburo,
    "kazakh": t_kazakh,
    "minimal": t_minimal,
}
# which templates can carry which language
_TEMPLATE_LANGS = {
    "rferl": {"ru", "kk", "en"},
    "wordpress": {"ru", "kk", "en"},
    "kaztag": {"ru", "kk", "en"},
    "informburo": {"ru", "kk"},
    "kazakh": {"kk"},
    "minimal": {"ru", "kk", "en"},
}


def site_url(
    rng: random.Random, template: str, lang: str, day: dt.date | None = None
) -> tuple[str, str]:
    """(URL, site name) for a template; `day` puts /YYYY/MM/DD/ in the path."""
    slug = _slug(rng)
    dated = f"{day:%Y/%m/%d}/" if day else ""
    num = rng.randint(30000000, 33999999)
    if template == "rferl":
        host, name = {
            "ru": ("rus.azattyq.org", "Радио Азаттык"),
            "kk": ("www.azattyq.org", "Азаттық радиосы"),
            "en": ("www.rferl.org", "RFE/RL"),
        }[lang]
        path = f"/a/{dated}{slug}/{num}.html" if lang == "en" else f"/a/{dated}{num}.html"
        return f"https://{host}{path}", name
    if template == "wordpress":
        host = rng.choice(["tirek.info", "kuresker.org"])
        prefix = "" if lang == "ru" else f"{lang}/"
        return f"https://{host}/{prefix}{dated}{slug}/", host.split(".")[0].capitalize()
    if template == "kaztag":
        section = {"ru": "ru", "kk": "kz", "en": "en"}[lang]
        return f"https://kaztag.kz/{section}/news/{dated}{slug}", "KazTAG"
    if template == "informburo":
        if lang == "kk":
            return f"https://kaz.informburo.kz/zhanalyqtar/{dated}{slug}.html", "Informburo"
        if rng.random() < 0.5:
            return f"https://vlast.kz/obshestvo/{dated}{num % 90000}-{slug}.html", "Власть"
        return f"https://informburo.kz/novosti/{dated}{slug}.html", "Informburo"
    if template == "kazakh":
        return f"https://qazaqhabar.kz/kk/{dated}{slug}", "Qazaq Habar"
    return f"http://kuresker.org/static/{dated}{slug}.htm", "Kuresker"


def _pick_template(rng: random.Random, lang: str, allowed: tuple[str, ...]) -> str:
    options = [t for t in allowed if lang in _TEMPLATE_LANGS[t]]
    return rng.choice(options)


def _body_html(art: Article) -> str:
    return "".join(f"<p>{_esc(par)}</p>" for par in art.paragraphs)


def _news_ld(
    url: str,
    art: Article,
    site: str,
    published: str | None,
    modified: str | None = None,
    kind: str = "NewsArticle",
) -> str:
    obj: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": kind,
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "headline": art.title,
    }
    if published:
        obj["datePublished"] = published
        obj["dateModified"] = modified or published
    obj["author"] = {"@type": "Person", "name": art.author}
    obj["publisher"] = {
        "@type": "Organization",
        "name": site,
        "logo": {"@type": "ImageObject", "url": "https://static.example/logo.png"},
    }
    return _ld(obj)


def _ld(obj: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj, ensure_ascii=False)}</script>'


def _meta_time(prop: str, value: str) -> str:
    return f'<meta property="{prop}" content="{value}">'


def _later(
    rng: random.Random, base: dt.datetime, n: int, lang: str, days: tuple[int, int] = (1, 90)
) -> list[tuple[dt.datetime, str]]:
    """n newer moments (a latest-news list captured after the article), newest first."""
    start = base + dt.timedelta(days=rng.randint(*days))
    out = []
    for k in range(n):
        out.append((start - dt.timedelta(hours=3 * k + rng.randrange(3)), _headline(rng, lang)))
    return out


def _older(
    rng: random.Random, base: dt.datetime, n: int, lang: str
) -> list[tuple[dt.date | None, str]]:
    return [
        ((base - dt.timedelta(days=rng.randint(2, 400))).date(), _headline(rng, lang))
        for _ in range(n)
    ]


def _comments_for(
    rng: random.Random, base: dt.datetime, lang: str, n: int
) -> list[tuple[str, dt.datetime | None, str]]:
    return [
        (
            rng.choice(_COMMENTERS),
            base + dt.timedelta(hours=rng.randint(1, 300)),
            rng.choice(_COMMENTS[lang]),
        )
        for _ in range(n)
    ]


def _byline_time(moment: dt.datetime, lang: str, style: str = "dot") -> str:
    shown = show_date(moment.date(), lang, style) + moment.strftime(" %H:%M")
    return f'<span class="date">{_time(moment, shown, "published")}</span>'


def _encode(markup: str) -> bytes:
    return markup.encode("utf-8")


def _page(
    cls: str,
    i: int,
    template: str,
    p: Parts,
    art: Article,
    published: dt.date,
    *,
    variant: str = "",
    stamp: str | None = None,
    charset: str | None = "utf-8",
    html: bytes | None = None,
    text: str | None = None,
) -> Page:
    data = html if html is not None else _encode(TEMPLATES[template](p))
    return Page(
        id=f"{cls}-{i:03d}",
        url=p.url,
        html=data,
        charset=charset,
        published=published.isoformat(),
        text=text if text is not None else art.text,
        lang=art.lang,
        cls=cls,
        template=template,
        variant=variant,
        stamp=stamp,
    )


def _lang(i: int) -> str:
    return _LANG_CYCLE[i % len(_LANG_CYCLE)]


def _rng(cls: str, i: int) -> random.Random:
    return random.Random(f"{SEED}:{cls}:{i}")


# ------------------------------------------------------------------------ classes


def plain_page(i: int) -> Page:
    """Control group: a well-formed article with a correct JSON-LD and/or meta date."""
    rng, lang = _rng("plain", i), _lang(i)
    template = _pick_template(rng, lang, tuple(TEMPLATES))
    art = make_article(rng, lang)
    own = _moment(rng)
    url, site = site_url(rng, template, lang)
    head = [f'<meta name="description" content="{_attr(art.paragraphs[0][:150])}">']
    if i % 3 != 2:
        head.append(_news_ld(url, art, site, _iso(own), _iso(own + dt.timedelta(hours=2))))
    if i % 3 != 1:
        head.append(_meta_time("article:published_time", _iso(own)))
    p = Parts(
        lang,
        url,
        site,
        art.title,
        _body_html(art),
        head=head,
        byline=_byline_time(own, lang, rng.choice(["dot", "long"])),
        latest=_later(rng, own, rng.randint(5, 12), lang),
        related=_older(rng, own, 4, lang),
        comments=_comments_for(rng, own, lang, rng.randint(0, 3)),
    )
    return _page(
        "plain",
        i,
        template,
        p,
        art,
        own.date(),
        variant=template,
        stamp=_iso(own),
        charset=rng.choice(["utf-8", None]),
    )


# (offset label, offset hours, hours of the day that move the day in Asia/Almaty, years)
_TZ_FORMS = [
    ("+03:00", 3, range(21, 24), (2016, 2023)),
    ("Z", 0, range(18, 24), (2016, 2023)),
    ("+05:00", 5, range(23, 24), (2016, 2023)),
    ("+02:00", 2, range(20, 24), (2016, 2023)),
    ("-04:00", -4, range(18, 24), (2016, 2023)),
    ("+06:00", 6, range(0, 1), (2024, 2025)),  # Almaty is +05:00 from 2024-03-01
]


def tz_page(i: int) -> Page:
    """A timestamp whose offset puts it on another day in Asia/Almaty: the label is the
    day the page states in its own zone."""
    rng, lang = _rng("tz", i), _lang(i)
    label, hours, day_hours, years = _TZ_FORMS[i % len(_TZ_FORMS)]
    template = _pick_template(rng, lang, ("rferl", "wordpress", "kaztag", "kazakh", "informburo"))
    art = make_article(rng, lang)
    while True:
        base = _moment(rng, *years)
        if years[0] < 2024 or base.date() >= dt.date(2024, 3, 10):
            break
    own = dt.datetime(
        base.year,
        base.month,
        base.day,
        rng.choice(day_hours),
        rng.randrange(60),
        tzinfo=TZ(dt.timedelta(hours=hours)),
    )
    stamp = _iso(own, z=label == "Z")
    url, site = site_url(rng, template, lang)
    where = i // len(_TZ_FORMS) % 3  # which signals carry the stamp
    head = []
    if where in (0, 2):
        head.append(_news_ld(url, art, site, stamp))
    if where in (0, 1):
        head.append(_meta_time("article:published_time", stamp))
    shown = show_date(own.date(), lang, "dot") + own.strftime(" %H:%M")
    if where == 2:
        byline = f'<span class="date">{_esc(shown)}</span>'
    else:
        byline = f'<span class="date"><time datetime="{stamp}">{_esc(shown)}</time></span>'
    p = Parts(
        lang,
        url,
        site,
        art.title,
        _body_html(art),
        head=head,
        byline=byline,
        latest=_later(rng, own, rng.randint(4, 8), lang, (0, 2)),
        related=_older(rng, own, 3, lang),
    )
    return _page(
        "tz",
        i,
        template,
        p,
        art,
        own.date(),
        variant=label,
        stamp=stamp,
        charset=rng.choice(["utf-8", None]),
    )


def header_date_page(i: int) -> Page:
    """The only own date is in the header/byline region or above the h1, no JSON-LD or
    meta date, no date in the URL."""
    rng, lang = _rng("header_date", i), _lang(i)
    template = _pick_template(rng, lang, ("informburo", "kazakh", "wordpress", "minimal", "kaztag"))
    art = make_article(rng, lang)
    own = _moment(rng)
    url, site = site_url(rng, template, lang)
    kk_style = (
        rng.choice(["year", "long", "dot"]) if lang == "kk" else rng.choice(["long", "long", "dot"])
    )
    shown = show_date(own.date(), lang, kk_style)
    form = i % 3
    above, byline = "", ""
    if form == 0:  # informburo: <p class="date"> above the h1
        above = f'<p class="date">{_esc(shown)}</p>'
    elif form == 1:  # vlast: a byline div in the header region
        byline = (
            f'<div class="byline">{_WORDS["author"][lang]}: <a href="/author/7">'
            f"{_esc(art.author)}</a> · {_esc(shown)}, {own:%H:%M}</div>"
        )
    else:
        byline = f'<div class="article-date">{_WORDS["published"][lang]}: {_esc(shown)}</div>'
    org = _ld(
        {
            "@context": "https://schema.org",
            "@type": "Organization",
            "name": site,
            "url": url.split("/", 3)[0] + "//" + url.split("/")[2],
        }
    )
    noisy = i % 2 == 0
    p = Parts(
        lang,
        url,
        site,
        art.title,
        _body_html(art),
        head=[org],
        above_h1=above,
        byline=byline,
        latest=_later(rng, own, rng.randint(6, 14), lang) if noisy else [],
        related=[(None, _headline(rng, lang)) for _ in range(3)],
    )
    return _page(
        "header_date",
        i,
        template,
        p,
        art,
        own.date(),
        variant=("above-h1", "byline", "published-line")[form],
    )


def _lead_with_date(rng: random.Random, art: Article, day: dt.date) -> None:
    lang = art.lang
    if lang == "kk":
        shown = show_date(day, lang, rng.choice(["loc", "loc", "long"]))
        if shown[0].isdigit() and "жылғы" not in shown:
            shown += " күні"
        lead = (
            f"{shown} {art.town} қаласында бейбіт пикетке қатысушының ісі бойынша сот отырысы өтті."
        )
    elif lang == "en":
        lead = f"On {show_date(day, lang)}, a court in {art.town} heard a peaceful picketer's case."
    else:
        lead = (
            f"{show_date(day, lang, 'long_g')} в городе {art.town} прошло заседание по делу "
            "участника мирного пикета."
        )
        if rng.random() < 0.3:
            lead = f"В четверг, {lead[0].lower()}{lead[1:]}".replace(" года в", " года, в", 1)
    art.paragraphs[0] = f"{lead} {art.paragraphs[0]}"


def sidebar_page(i: int) -> Page:
    """The own date only in the text's lead; a latest-news list, teasers or the footer
    carry newer dates in <time datetime> elements."""
    rng, lang = _rng("sidebar", i), _lang(i)
    template = _pick_template(rng, lang, ("wordpress", "kazakh", "rferl", "kaztag", "informburo"))
    art = make_article(rng, lang)
    own = _moment(rng)
    _lead_with_date(rng, art, own.date())
    url, site = site_url(rng, template, lang)
    later = own + dt.timedelta(days=rng.randint(20, 900))
    footer = ""
    if i % 3 == 0:
        stamp = _time(later, show_date(later.date(), lang, "dot"))
        footer = f'<p class="updated">{_WORDS["updated"][lang]}: {stamp}</p>'
    p = Parts(
        lang,
        url,
        site,
        art.title,
        _body_html(art),
        head=[],
        byline=f'<span class="author">{_esc(art.author)}</span>',
        latest=_later(rng, later, rng.randint(10, 25), lang, (0, 1)),
        latest_heading="latest",
        related=[
            ((later - dt.timedelta(days=rng.randint(0, 5))).date(), _headline(rng, lang))
            for _ in range(4)
        ],
        comments=_comments_for(rng, later, lang, rng.randint(0, 2))
        if template == "wordpress"
        else [],
        footer=footer,
        today=later.date() if template == "kazakh" else None,
    )
    return _page("sidebar", i, template, p, art, own.date(), variant=template)


def disagree_page(i: int) -> Page:
    """URL (/2021/09/15/) and htmldate-visible signals agree on a day, JSON-LD says
    another: in even pages the JSON-LD is the page's own NewsArticle (right), in odd ones
    a WebPage/Organization/other item's date (wrong)."""
    rng, lang = _rng("disagree", i), _lang(i)
    template = _pick_template(rng, lang, ("wordpress", "kaztag", "kazakh", "informburo"))
    art = make_article(rng, lang)
    agreed = _moment(rng)
    url, site = site_url(rng, template, lang, agreed.date())
    if i % 2 == 0:  # JSON-LD right: the agreeing pair is the modified / listing date
        own = agreed - dt.timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 5))
        head = [
            _news_ld(url, art, site, _iso(own), _iso(agreed)),
            _meta_time("article:modified_time", _iso(agreed)),
        ]
        shown = show_date(agreed.date(), lang, "dot") + agreed.strftime(" %H:%M")
        when = _time(agreed, shown, "updated")
        byline = f'<span class="updated">{_WORDS["updated"][lang]}: {when}</span>'
        published, variant = own.date(), "jsonld-right"
    else:  # JSON-LD wrong: a WebPage's, an Organization's or another item's date
        other = agreed - dt.timedelta(days=rng.randint(30, 2000))
        kind = ("webpage", "organization", "other-item", "itemlist", "breadcrumb")[i // 2 % 5]
        home = "https://" + url.split("/")[2] + "/"
        if kind == "webpage":
            ld = _ld(
                {
                    "@context": "https://schema.org",
                    "@type": "WebPage",
                    "url": home,
                    "name": site,
                    "datePublished": _iso(other),
                    "dateModified": _iso(other),
                }
            )
        elif kind == "organization":
            ld = _ld(
                {
                    "@context": "https://schema.org",
                    "@type": "NewsMediaOrganization",
                    "name": site,
                    "url": home,
                    "foundingDate": other.date().isoformat(),
                }
            )
        elif kind == "other-item":
            teaser = Article(lang, _headline(rng, lang), [], art.author, art.town)
            ld = _news_ld(home + f"{other:%Y/%m/%d}/{_slug(rng)}/", teaser, site, _iso(other))
        elif kind == "itemlist":
            ld = _ld(
                {
                    "@context": "https://schema.org",
                    "@type": "ItemList",
                    "itemListElement": [
                        {
                            "@type": "ListItem",
                            "position": k + 1,
                            "item": {
                                "@type": "NewsArticle",
                                "headline": _headline(rng, lang),
                                "url": home + f"{_slug(rng)}/",
                                "datePublished": _iso(other - dt.timedelta(days=k)),
                            },
                        }
                        for k in range(3)
                    ],
                }
            )
        else:
            ld = _ld(
                {
                    "@context": "https://schema.org",
                    "@graph": [
                        {
                            "@type": "BreadcrumbList",
                            "itemListElement": [
                                {
                                    "@type": "ListItem",
                                    "position": 1,
                                    "name": _NAV[lang][0],
                                    "item": home,
                                }
                            ],
                        },
                        {
                            "@type": "WebSite",
                            "url": home,
                            "name": site,
                            "datePublished": _iso(other),
                        },
                    ],
                }
            )
        head = [ld, _meta_time("article:published_time", _iso(agreed))]
        byline = _byline_time(agreed, lang)
        published, variant = agreed.date(), f"jsonld-wrong:{kind}"
    p = Parts(
        lang,
        url,
        site,
        art.title,
        _body_html(art),
        head=head,
        byline=byline,
        latest=_later(rng, agreed, rng.randint(4, 10), lang),
        related=_older(rng, agreed, 3, lang),
    )
    return _page("disagree", i, template, p, art, published, variant=variant)


def _lost_body(rng: random.Random, art: Article, style: str) -> tuple[str, str]:
    """(body HTML, after HTML) in a form trafilatura's precise pass tends to drop."""
    pars = art.paragraphs
    if style == "spans":
        body = '<div class="txt">' + "".join(f"<span>{_esc(s)}</span>" for s in pars) + "</div>"
    elif style == "nested":
        body = (
            '<div class="c">'
            + "".join(
                f'<div><div><div class="row"><span>{_esc(s)}</span></div></div></div>' for s in pars
            )
            + "</div>"
        )
    elif style == "br":
        body = '<div class="article">' + "<br><br>".join(_esc(s) for s in pars) + "</div>"
    elif style == "br-single":
        body = '<div class="news-text">' + "<br>".join(_esc(s) for s in pars) + "<br></div>"
    elif style == "font":
        body = "<div>" + "".join(f'<font size="2">{_esc(s)}</font><br>' for s in pars) + "</div>"
    elif style == "legal":
        body = '<div class="txt">' + "".join(f"<div>{_esc(s)}</div>" for s in pars) + "</div>"
        return (
            body,
            f'<div class="legal-notice"><small>{_esc(_WORDS["legal"][art.lang])}</small></div>',
        )
    else:  # "links": every other phrase a link, in divs
        chunks = []
        for k, par in enumerate(pars):
            words = par.split(" ")
            linked = " ".join(
                f'<a href="/tag/{k}-{j}">{_esc(w)}</a>' if j % 2 == 0 else _esc(w)
                for j, w in enumerate(words)
            )
            chunks.append(f'<div class="line">{linked}</div>')
        body = '<div class="text">' + "".join(chunks) + "</div>"
    return body, ""


_LOST_STYLES = ("spans", "nested", "br", "br-single", "font", "legal", "links")


def precise_text(html: bytes | str, url: str | None = None) -> str:
    """What trafilatura's precise pass finds (as the project's first pass runs it)."""
    from trafilatura import bare_extraction

    doc = bare_extraction(html, url=url, fast=True, favor_precision=True, with_metadata=False)
    return (getattr(doc, "text", None) or "").strip() if doc is not None else ""


def default_text(html: bytes | str, url: str | None = None) -> str:
    import trafilatura

    return (trafilatura.extract(html, url=url) or "").strip()


def lost_candidate(i: int) -> Page:
    rng, lang = _rng("lost", i), _lang(i)
    style = _LOST_STYLES[i % len(_LOST_STYLES)]
    template = _pick_template(rng, lang, ("wordpress", "kaztag", "minimal", "rferl", "kazakh"))
    art = make_article(rng, lang, sentences=(4, 8), per_paragraph=(1, 2))
    own = _moment(rng)
    url, site = site_url(rng, template, lang)
    body, after = _lost_body(rng, art, style)
    head = (
        [_news_ld(url, art, site, _iso(own))]
        if i % 2
        else [_meta_time("article:published_time", _iso(own))]
    )
    p = Parts(
        lang,
        url,
        site,
        art.title,
        body,
        head=head,
        after=after,
        byline=_byline_time(own, lang),
        latest=_later(rng, own, rng.randint(3, 8), lang),
        related=_older(rng, own, 3, lang),
    )
    markup = TEMPLATES[template](p)
    if i % 4:  # a CSS-in-JS build: every class name opaque
        markup = _opaque_classes(markup, f"{SEED}:{i}")
    return _page("lost", i, template, p, art, own.date(), variant=style, html=_encode(markup))


_CLASS_ATTR = re.compile(r'class="([^"]*)"')


def _opaque_classes(markup: str, salt: str) -> str:
    """Every class name replaced by a hash of itself ("css-1k9x2a"), as CSS modules do."""

    def opaque(m: re.Match[str]) -> str:
        names = " ".join(
            "css-" + hashlib.blake2s(f"{salt}:{n}".encode(), digest_size=4).hexdigest()
            for n in m.group(1).split()
        )
        return f'class="{names}"'

    return _CLASS_ATTR.sub(opaque, markup)


def is_lost(page: Page) -> bool:
    """Precise mode finds < 50 characters, plain trafilatura >= 50."""
    return (
        len(precise_text(page.html, page.url)) < MIN_CHARS <= len(default_text(page.html, page.url))
    )


_MENU_FORMS = ("links", "list", "pipes")


def menu_page(i: int) -> Page:
    """kaztag-like: the article's container begins with a long menu bar of links."""
    rng, lang = _rng("menu", i), _lang(i)
    art = make_article(rng, lang)
    own = _moment(rng)
    url, site = site_url(rng, "kaztag", lang)
    words = _NAV[lang] + _MENU_EXTRA[lang]
    form = _MENU_FORMS[i % 3]
    links = [f'<a href="/{lang}/rubric/{k}">{_esc(w)}</a>' for k, w in enumerate(words)]
    if form == "links":
        menu = f'<div class="menu-bar">{"".join(links)}</div>'
    elif form == "list":
        menu = '<ul class="rubrics">' + "".join(f"<li>{a}</li>" for a in links) + "</ul>"
    else:
        menu = f'<p class="nav-line">{" | ".join(links)}</p>'
    shown = show_date(own.date(), lang, "dot") + own.strftime(", %H:%M")
    head = [_meta_time("article:published_time", _iso(own))] if i % 2 == 0 else []
    p = Parts(
        lang,
        url,
        site,
        art.title,
        _body_html(art),
        head=head,
        prefix=menu,
        above_h1=f'<div class="news-detail__date">{_esc(shown)}</div>',
        latest=_later(rng, own, rng.randint(5, 10), lang),
        related=_older(rng, own, 4, lang),
        nav_in_header=False,
    )
    return _page("menu", i, "kaztag", p, art, own.date(), variant=form)


_DECODING_FORMS = (
    "badbyte-declared",
    "badbyte-undeclared",
    "cp1251-header",
    "cp1251-meta",
    "cut",
    "nfd",
    "nul",
)
_BAD_BYTES = (b"\xff", b"\x98", b"\xc0", b"\xa0", b"\xfe")


def decoding_page(i: int) -> Page:
    rng = _rng("decoding", i)
    form = _DECODING_FORMS[i % len(_DECODING_FORMS)]
    lang = "ru" if form.startswith("cp1251") else _lang(i // len(_DECODING_FORMS) * 3 + i)
    if form in ("cut", "nfd") and lang == "en":  # both need letters outside ASCII
        lang = "kk"
    template = _pick_template(rng, lang, tuple(TEMPLATES))
    art = make_article(rng, lang)
    own = _moment(rng)
    url, site = site_url(rng, template, lang)
    head = [_news_ld(url, art, site, _iso(own)), _meta_time("article:published_time", _iso(own))]
    p = Parts(
        lang,
        url,
        site,
        art.title,
        _body_html(art),
        head=head,
        byline=_byline_time(own, lang),
        latest=_later(rng, own, rng.randint(3, 8), lang),
        related=_older(rng, own, 3, lang),
    )
    text, charset = art.text, "utf-8"
    render = TEMPLATES[template]
    if form.startswith("badbyte"):
        if form == "badbyte-undeclared":
            p.meta_charset, charset = "", None
        data = render(p).encode("utf-8")
        middle = art.paragraphs[len(art.paragraphs) // 2]
        cut = middle.find(". ") + 1
        anchor = _esc(middle[:cut]).encode("utf-8")
        at = data.rfind(anchor) + len(anchor) if i % 2 == 0 else data.find(b"<title>")
        data = data[:at] + rng.choice(_BAD_BYTES) + data[at:]
    elif form == "cp1251-header":
        p.meta_charset, charset = "", "windows-1251"
        data = render(p).encode("windows-1251")
    elif form == "cp1251-meta":
        p.meta_charset = rng.choice(
            [
                '<meta charset="windows-1251">',
                '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">',
            ]
        )
        charset = None
        data = render(p).encode("windows-1251")
    elif form == "cut":
        markup = render(p)
        last = art.paragraphs[-1]
        start = markup.rfind(_esc(last))
        k = next(
            j
            for j in range(len(last) * 3 // 5, len(last))
            if len(last[j].encode()) > 1 and last[j].isalpha()
        )
        cut = len(markup[: start + k].encode("utf-8")) + 1  # inside the k-th letter
        data = markup.encode("utf-8")[:cut]
        text = "\n".join([*art.paragraphs[:-1], last[:k].rstrip()])
        charset = rng.choice(["utf-8", None])
    elif form == "nfd":
        p.title = unicodedata.normalize("NFD", p.title)
        p.body = unicodedata.normalize("NFD", p.body)
        data = render(p).encode("utf-8")
        charset = rng.choice(["utf-8", None])
    else:  # nul
        markup = render(p)
        middle = _esc(art.paragraphs[len(art.paragraphs) // 2])
        at = markup.rfind(middle) + middle.find(". ") + 1
        data = (markup[:at] + "\x00" + markup[at:]).encode("utf-8")
    return _page(
        "decoding",
        i,
        template,
        p,
        art,
        own.date(),
        variant=form,
        charset=charset,
        html=data,
        text=unicodedata.normalize("NFC", text),
    )


# ------------------------------------------------------------------------ the set


@lru_cache(maxsize=1)
def build_pages() -> tuple[Page, ...]:
    """Every labelled page, in class order (deterministic)."""
    pages: list[Page] = []
    builders = {
        "plain": plain_page,
        "tz": tz_page,
        "header_date": header_date_page,
        "sidebar": sidebar_page,
        "disagree": disagree_page,
        "menu": menu_page,
        "decoding": decoding_page,
    }
    for cls in CLASSES:
        if cls == "lost":
            kept = 0
            for i in range(COUNTS["lost"] * 4):
                page = lost_candidate(i)
                if is_lost(page):
                    pages.append(page)
                    kept += 1
                    if kept == COUNTS["lost"]:
                        break
            continue
        pages.extend(builders[cls](i) for i in range(COUNTS[cls]))
    return tuple(pages)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="write the labelled extraction pages")
    parser.add_argument(
        "--out", type=Path, required=True, help="directory for <id>.html + labels.jsonl"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "labels.jsonl").open("w", encoding="utf-8") as labels:
        for page in build_pages():
            (args.out / f"{page.id}.html").write_bytes(page.html)
            labels.write(json.dumps(page.meta(), ensure_ascii=False) + "\n")
    print(f"{len(build_pages())} pages in {args.out}")


if __name__ == "__main__":
    main()
