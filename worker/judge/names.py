"""Does the page name the people the incident names? → `schemas.NamesCheck`.

The digest writes names in English transliteration, surname first or last ("Kayirbek
Askar" / "Askar Kayirbek", "K. Abishev"); the page writes them in Russian or Kazakh
Cyrillic, inflected ("Аскару Кайырбеку", "Торегожиной", "Қайырбектің"), often by surname
alone. Both sides are folded to `translit.skeleton`s and compared with rapidfuzz.

Matching one name part against one page word (both as skeletons):
- the word equals the part, or the word is the part plus a Russian/Kazakh case ending
  (`TAILS`: -а -у -ом -ым -ой -ого -ему …, -ға -ке -ның -дың -мен …); a feminine part in
  -a may also drop it before a feminine ending (Торегожина → Торегожиной, Торегожину);
- fuzzy: rapidfuzz `ratio` ≥ `FUZZY_MIN` (85) between the part (or that feminine stem) and
  the word minus its ending, but only for parts of ≥ 6 letters; shorter parts must match
  exactly. A derived surname is not a case ending: "Askar" does not match "Аскаров";
  a feminine surname never matches the masculine form ("Торегожин", "Торегожиным").

When is a person found? We cannot know which token the digest meant as the surname, so:
1. every part of the name matches somewhere in the page → found (score = mean); or
2. a *surname candidate* matches → found on the surname alone (score = that part's).
   Surname candidates are the parts that are not a common given name (`GIVEN_NAMES`:
   "Roman", "Askar", "Bakhytzhan" …); a name of one part (after dropping initials and
   "Mr.") is its own surname. If every part is a given name, any part counts.
So "Roman" alone never stands for "Reichert Roman" (the word роман is a novel), and
"Аскар Мамин" does not support "Askar Kayirbek".

Verdict: supports (all found) · partial (some) · absent (none) · not_checked (no names,
or no page text: a missing text is "could not check", not "absent").
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from schemas.evidence import NameMatch, NamesCheck, NamesVerdict
from worker.judge.translit import skeleton, word_spans, words

__all__ = [
    "FUZZY_MIN",
    "GIVEN_NAMES",
    "TAILS",
    "check_names",
    "check_names_args",
    "has_text",
    "matches_key",
    "name_matches",
    "name_matches_args",
    "name_parts",
    "named",
    "names_check_from",
]

logger = logging.getLogger(__name__)

FUZZY_MIN = 85.0
"""rapidfuzz ratio (0-100) for a fuzzy hit; one substitution in 7+ letters passes."""
_FUZZY_MIN_LEN = 6  # shorter parts match exactly: too many short words look alike
_MIN_STEM = 3
_WINDOW = 3  # tokens between parts of one mention ("Аскару Кайырбеку", "Кайырбек Асқар")
_PASSAGE_CHARS = 200

# Case endings as skeletons (y→i, ю→iu). Russian nouns and surnames, then Kazakh suffixes.
_RU_TAILS = ("a", "u", "e", "i", "om", "em", "im", "oi", "ei", "ogo", "ego", "omu", "emu",
             "ih", "imi", "ami", "oiu", "eiu", "iu", "ia")  # fmt: skip
_KK_TAILS = ("ga", "ge", "ka", "ke", "na", "ne", "ni", "di", "ti", "n", "nin", "din", "tin",
             "da", "de", "ta", "te", "nda", "nde", "dan", "den", "tan", "ten", "nan", "nen",
             "men", "ben", "pen")  # fmt: skip
TAILS: frozenset[str] = frozenset(_RU_TAILS + _KK_TAILS)
# Feminine surnames in -a (Торегожина, Лесбаева) decline by replacing the -a.
_TAILS_BY_LENGTH: tuple[tuple[int, frozenset[str]], ...] = tuple(
    (n, frozenset(t for t in TAILS if len(t) == n)) for n in sorted({len(t) for t in TAILS})
)
_FEM_TAILS = frozenset({"oi", "ou", "oiu", "u", "e", "i"})

# Common given names (Kazakh, Russian) in digest spelling; folded to skeletons below.
_GIVEN = """
Abai Abay Abzal Aidos Aigerim Aizhan Akmaral Alexander Alexandr Alexei Alexey Ali Alibek
Alima Aliya Almat Alnur Altyn Aman Amangeldy Amangeldi Anatoly Andrei Andrey Anna Anton
Arman Aron Aruzhan Askar Askhat Aslan Asylkhan Asylbek Aydar Aidar Azamat Bakhyt
Bakhytzhan Bakytzhan Batyrzhan Bauyrzhan Baurzhan Bazargali Berik Bolat Bulat Burkit Dana
Daniyar Darkhan Daulet Dauren Denis Dias Dinara Dmitry Dmitriy Elena Elvira Erlan Ermek
Evgeny Gaziz Gulmira Gulnar Gulnara Igor Ilya Irina Islam Islambek Ivan Kairat Kakharman
Kanat Kassym Kelbet Kenzhebek Kirill Lyazzat Madina Makhabbat Marat Maria Maxim Mikhail
Mukhtar Murat Muratbek Nikita Nikolai Nikolay Nurlan Nursultan Nurzhan Noyan Oleg Olga
Pavel Roman Ruslan Rysbek Saule Sanavar Sergali Sergei Sergey Serik Svetlana Talgat
Tatiana Temirtas Timur Toktasyn Venera Viktor Vladimir Yerbol Yerlan Yerzhan Yuri Zhanat
Zhanbolat Zhandos Zhenis Zhomart Herman Antonio Bagdat Baybolat Burkutbay Muratbai Perdebai
Zhanbyr Bagtykaly Abdurahim Abdurakhim Abdurrahim Gulnur Gauhar Zhamilya Kalida Gulbaran
Gulpyam Nurzat Almakhan Akikat Kuandyk Kanat Asel Ainur Zhanna Akmaral Saltanat Yerkebulan
"""
GIVEN_NAMES: frozenset[str] = frozenset(skeleton(w) for w in _GIVEN.split())

_HONORIFICS = frozenset({"mr", "mrs", "ms", "dr", "mister", "miss"})
_SPLIT = re.compile(r"[\s.\-‐–]+")  # "Kassym-Zhomart" is two parts, as the page tokens are


@dataclass(frozen=True)
class _Part:
    word: str  # as the digest wrote it
    skel: str
    surname_candidate: bool


@dataclass(frozen=True)
class _Hit:
    token: int  # index into the page's token list
    score: float  # 0-100


class _PageIndex:
    """The page's words as skeletons, plus every (word minus case ending) variant."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = words(text)
        self.by_skel: dict[str, list[int]] = {}
        for i, word in enumerate(self.words):
            sk = skeleton(word)
            if len(sk) >= 2:
                self.by_skel.setdefault(sk, []).append(i)
        # candidate strings for rapidfuzz, each tied to (page skeleton, removed tail)
        self.cands: list[str] = []
        self.cand_of: list[tuple[str, str]] = []
        for sk in self.by_skel:
            self._add(sk, sk, "")
            for size, tails in _TAILS_BY_LENGTH:  # one set lookup per length, not per tail
                tail = sk[-size:]
                if tail in tails and len(sk) - size >= _MIN_STEM:
                    self._add(sk[:-size], sk, tail)

    @functools.cached_property
    def spans(self) -> list[tuple[int, int]]:
        # only pages where a name is found need them: computed then, in the same order
        return word_spans(self.text)

    def _add(self, cand: str, sk: str, tail: str) -> None:
        self.cands.append(cand)
        self.cand_of.append((sk, tail))

    def find(self, part: str) -> list[_Hit]:
        """Every page word that is `part` (a skeleton), inflected or slightly misspelt."""
        stems = [(part, TAILS | {""})]
        if part.endswith("a") and len(part) >= 5:
            stems.append((part[:-1], _FEM_TAILS))
        best: dict[str, float] = {}
        for stem, allowed in stems:
            cutoff = FUZZY_MIN if len(stem) >= _FUZZY_MIN_LEN else 100.0
            for _cand, score, idx in process.extract(
                stem, self.cands, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None
            ):
                sk, tail = self.cand_of[idx]
                if _masculine_form(part, sk):
                    continue
                if tail in allowed and score > best.get(sk, -1.0):
                    best[sk] = float(score)
        return [_Hit(i, score) for sk, score in best.items() for i in self.by_skel[sk]]


def _masculine_form(part: str, page_word: str) -> bool:
    """A feminine surname never matches the masculine form of its stem: "Торегожин",
    "Торегожиным" are her brother, not a misspelling of "Toregozhina"."""
    if not part.endswith("a") or len(part) < 5:
        return False
    stem = part[:-1]
    if not page_word.startswith(stem) or page_word.startswith(part):
        return False
    return page_word[len(stem) :] not in _FEM_TAILS


def name_parts(name: str) -> list[tuple[str, str]]:
    """(word, skeleton) of each part of a name, without initials and honorifics."""
    parts: list[tuple[str, str]] = []
    for raw in _SPLIT.split(name.strip()):
        sk = skeleton(raw)
        if not sk or raw.lower() in _HONORIFICS:
            continue
        # "K.", "Zh.", "Ж." are initials: after the split they are one or two letters
        if len(raw) <= 2 or len(sk) < 2:
            continue
        parts.append((raw, sk))
    return parts


def _parts(name: str) -> list[_Part]:
    raw = name_parts(name)
    if len(raw) == 1:
        return [_Part(raw[0][0], raw[0][1], True)]
    given = [sk in GIVEN_NAMES for _w, sk in raw]
    if all(given):
        return [_Part(w, sk, True) for w, sk in raw]
    return [_Part(w, sk, not g) for (w, sk), g in zip(raw, given, strict=True)]


def check_names(names: list[str], text: str | None, *, title: str | None = None) -> NamesCheck:
    """Which of `names` (digest spelling) the page text (and title) mentions."""
    return names_check_from(names, name_matches(names, text, title=title), has_text(text))


def name_matches(
    names: Sequence[str], text: str | None, *, title: str | None = None
) -> dict[str, NameMatch]:
    """Each name's match in the page, by name: one person's finding never depends on the
    others', so the matches of every person a source's incidents name, found once (at
    capture), give each incident's check (`names_check_from`)."""
    wanted = list(dict.fromkeys(named(names)))
    if not wanted or not has_text(text):
        return {n: NameMatch(name=n, found=False) for n in wanted}
    assert text is not None
    page = _page_index(f"{title}\n\n{text}" if title else text)
    return {n: _match_person(n, page) for n in wanted}


def names_check_from(
    names: Sequence[str], matches: Mapping[str, NameMatch], text_found: bool
) -> NamesCheck:
    """An incident's check from the matches of its people (`name_matches` of a page
    whose text `text_found` says there was: no text is "could not check")."""
    names = named(names)
    if not names:
        return NamesCheck(verdict=NamesVerdict.NOT_CHECKED, names=[])
    found_matches = [matches[n] for n in names]
    if not text_found:
        return NamesCheck(verdict=NamesVerdict.NOT_CHECKED, names=names, matches=found_matches)
    found = [m.name for m in found_matches if m.found]
    if len(found) == len(names):
        verdict = NamesVerdict.SUPPORTS
    elif found:
        verdict = NamesVerdict.PARTIAL
    else:
        verdict = NamesVerdict.ABSENT
    logger.debug("names %s: %s found of %d", verdict, len(found), len(names))
    return NamesCheck(verdict=verdict, names=names, found=found, matches=found_matches)


def named(names: Sequence[str]) -> list[str]:
    """The names a check looks for, in order: blank ones name nobody."""
    return [n for n in names if n and n.strip()]


def has_text(text: str | None) -> bool:
    """A page text to look in: without one a check is "could not check", not "absent"."""
    return bool(text and text.strip())


def matches_key(text: str | None, title: str | None) -> str:
    """What name matches were found in: the digest of the title and text they read, so
    matches stored at capture are used only for that same text."""
    body = f"{title or ''}\x00{text or ''}".encode()
    return hashlib.sha256(body).hexdigest()


def name_matches_args(args: tuple[list[str], str | None, str | None]) -> dict[str, NameMatch]:
    """name_matches of one (names, text, title): the form a process pool calls."""
    names, text, title = args
    return name_matches(names, text, title=title)


def check_names_args(args: tuple[list[str], str | None, str | None]) -> NamesCheck:
    """check_names of one (names, text, title): the form a process pool maps over."""
    names, text, title = args
    return check_names(names, text, title=title)


@functools.lru_cache(maxsize=64)
def _page_index(text: str) -> _PageIndex:
    """One index per page text: a source cited by several incidents is indexed once."""
    return _PageIndex(text)


def _match_person(name: str, page: _PageIndex) -> NameMatch:
    parts = _parts(name)
    if not parts:
        return NameMatch(name=name, found=False)
    hits = [page.find(p.skel) for p in parts]
    matched = [i for i, h in enumerate(hits) if h]
    if len(matched) == len(parts):
        deciding = matched
    else:
        deciding = [i for i in matched if parts[i].surname_candidate]
        if not deciding:
            return NameMatch(name=name, found=False)
    anchor, cluster = _best_mention(hits, deciding)
    spans = page.spans
    start = min(spans[h.token][0] for h in cluster)
    end = max(spans[h.token][1] for h in cluster)
    score = sum(max(h.score for h in hits[i]) for i in deciding) / len(deciding)
    return NameMatch(
        name=name,
        found=True,
        matched=page.text[start:end] if end - start <= 80 else page.words[anchor.token],
        passage=_passage(page.text, start, end),
        score=round(score / 100.0, 3),
    )


def _best_mention(hits: list[list[_Hit]], deciding: list[int]) -> tuple[_Hit, list[_Hit]]:
    """The occurrence of a deciding part with the most other parts close by."""
    best: tuple[int, float, int] | None = None
    result: tuple[_Hit, list[_Hit]] | None = None
    for i in deciding:
        for anchor in hits[i]:
            cluster = [anchor]
            for j, others in enumerate(hits):
                if j == i:
                    continue
                near = [h for h in others if abs(h.token - anchor.token) <= _WINDOW]
                if near:
                    cluster.append(min(near, key=lambda h: abs(h.token - anchor.token)))
            # most parts together, then the best score, then the earliest mention
            key = (len(cluster), anchor.score, -anchor.token)
            if best is None or key > best:
                best, result = key, (anchor, cluster)
    assert result is not None  # deciding parts all have hits
    return result


def _passage(text: str, start: int, end: int) -> str:
    """About `_PASSAGE_CHARS` of text around [start, end), cut at spaces, one line."""
    pad = max(0, (_PASSAGE_CHARS - (end - start)) // 2)
    lo, hi = max(0, start - pad), min(len(text), end + pad)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    snippet = " ".join(text[lo:hi].split())
    return ("…" if lo > 0 else "") + snippet + ("…" if hi < len(text) else "")
