"""Cyrillic (Russian and Kazakh) to Latin, and a spelling-folded "skeleton" for name matching.

The digest spells people in English transliteration ("Kayirbek Askar", "Toregozhina
Bakhytzhan"); sources spell them in Russian or Kazakh Cyrillic ("Асқар Қайырбек",
"Торегожиной"). No single transliteration standard covers both sides, so we compare
*skeletons*: both spellings are lowered to Latin and then folded so that the usual
variants collapse to one form:

    kh/h → h, ch/tch → h (German "Reichert" writes Х as "ch"), zh/dzh/j → j, ts/tz → c,
    y → i (й, ы, и and English y/i/iy), word-initial ye/yo → e/o, vowel+ye → vowel+e
    ("Altayev"/"Алтаев"), q → k, w → v,
    double letters → single, diacritics dropped (ä, ö, ü, ş, ğ …).

A skeleton is lossy on purpose; it is only ever compared with another skeleton.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata

__all__ = ["cyrillic_to_latin", "skeleton", "word_spans", "words"]

logger = logging.getLogger(__name__)

# Russian letters, then the nine Kazakh letters (ә ғ қ ң ө ұ ү һ і), then a few Ukrainian
# ones that appear in regional media. Lower case only: we lower before mapping.
_CYR: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h",
    "і": "i",
    "є": "ye", "ї": "yi", "ґ": "g", "ў": "u",
}  # fmt: skip
_CYR_TABLE = str.maketrans(_CYR)

# Latin letters that NFKD does not fold the way names are read (Kazakh Latin 2021, Turkish).
_LATIN_PRE = str.maketrans({"ş": "sh", "ç": "ch", "ı": "i", "ğ": "g", "ñ": "n", "ß": "ss"})

# Multi-letter folds, longest first; applied left to right on a lower-case a-z string.
_FOLDS: tuple[tuple[str, str], ...] = (
    ("shch", "sh"),
    ("tch", "h"),
    ("dzh", "j"),
    ("dj", "j"),
    ("zh", "j"),
    ("kh", "h"),
    ("ch", "h"),
    ("gh", "g"),
    ("ph", "f"),
    ("ts", "c"),
    ("tz", "c"),
    ("ck", "k"),
    ("q", "k"),
    ("w", "v"),
    ("x", "ks"),
    ("y", "i"),
)
_INITIAL_IE = re.compile(r"^i(?=[eo])")  # "Yerbol"/"Ербол", "Yoldas"/"Ёлдас": drop the glide
_VOWEL_IE = re.compile(r"(?<=[aeou])i(?=e)")  # "Altayev"/"Алтаев", "Tokayev"/"Токаев"
_DOUBLE = re.compile(r"(.)\1+")
_NON_AZ = re.compile(r"[^a-z]+")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def cyrillic_to_latin(text: str) -> str:
    """Lower-case Latin transliteration of Russian/Kazakh Cyrillic; other letters pass through."""
    return text.lower().translate(_CYR_TABLE)


@functools.lru_cache(maxsize=65536)
def skeleton(word: str) -> str:
    """The folded a-z form of one word, Cyrillic or Latin, for fuzzy comparison.

    Cached: a page's words repeat, and a report checks each page once per citation."""
    s = cyrillic_to_latin(word).translate(_LATIN_PRE)
    s = unicodedata.normalize("NFKD", s)
    s = _NON_AZ.sub("", s)
    for old, new in _FOLDS:
        s = s.replace(old, new)
    s = _INITIAL_IE.sub("", s)
    s = _VOWEL_IE.sub("", s)
    return _DOUBLE.sub(r"\1", s)


def words(text: str) -> list[str]:
    """Letter-only words of `text` (hyphenated parts split)."""
    return _TOKEN.findall(text)


def word_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each of `words(text)`, in the same order (a separate pass:
    only pages where a name is found need them)."""
    return [m.span() for m in _TOKEN.finditer(text)]
