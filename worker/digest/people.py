"""Find the people an incident names: a high-precision heuristic, not NER.

Digests write names as two or three capitalised words ("Reichert Roman",
"Kassym-Zhomart Tokayev"), sometimes with initials ("Zh. Mamay", "Kuandyk E.").
We take every run of capitalised words on one line, then:

1. drop the whole run when it contains an organisation word ("Criminal Code",
   "Democratic Party", "Almaty City Court", "West Oil Software LLP"), because the
   capitalised words next to such a word belong to the organisation's name;
2. split the run at words that are capitalised but never part of a name here:
   places, months, titles, function words at a sentence start ("President of
   Kazakhstan Kassym-Zhomart Tokayev" leaves "Kassym-Zhomart Tokayev");
3. keep the pieces of two or three words with at least one full word.

A single word ("Klimonova") is never taken: alone it is as likely a place or a
brand as a person. A short form ("K. Abishev") is dropped when the same incident
also gives the full name ("Kenzhebek Abishev").

The word lists are tuned on Kazakhstan digests; they favour precision: a missed
name costs a weaker names check, a false name costs a false "absent" finding.
"""

from __future__ import annotations

import re

__all__ = ["extract_people"]

_UP = "A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁӘҒҚҢӨҰҮҺІ"
_LO = "a-zß-öø-ÿĀ-ſа-яёәғқңөұүһі"
_WORD = rf"[{_UP}][{_LO}]+(?:-[{_UP}][{_LO}]+)*(?![\w-])"
_INITIAL = rf"[{_UP}][{_LO}]?\.(?=[\s,;:)]|$)"
_TOKEN = rf"(?:{_INITIAL}|{_WORD})"
# Two or more capitalised tokens separated only by spaces on one line.
_RUN_RE = re.compile(rf"(?<![\w.-]){_TOKEN}(?:[^\S\n]+{_TOKEN})+")

_MAX_NAME_WORDS = 3


def _words(text: str) -> frozenset[str]:
    return frozenset(text.lower().split())


# A run containing one of these is an organisation, a law or an address.
_ORG_WORDS = _words(
    """
    party partiyasy movement code court courts committee commission council reform
    office department directorate fund foundation chamber ministry agency act law
    center centre group companies company government embassy consulate republic
    parliament parliamentary majilis mazhilis senate cases service services union
    association bureau channel technology technologies software oil gas monument
    square street avenue prospect district region oblast village city town akimat
    university school college institute academy police prosecutor procuracy
    administration administrative network media news bank corporation llp ltd inc
    jsc international rights watch memorandum cooperation legislation judicial legal
    criminal civil offences offenses article articles part paragraph compensation
    station airport plant factory mine hospital prison colony detention facility
    nations organization organisation federation assembly supreme constitutional
    appeals board cabinet presidential security guard army forces militia project
    initiative coalition alliance front bloc society club team daily times post press
    radio tv television magazine journal newspaper platform messenger campaign
    festival conference forum summit award prize program programme affairs
    """
)

# Capitalised words that separate names: places, demonyms, months, titles, roles,
# platforms, parties, and function words that start a sentence.
_SPLIT_WORDS = _words(
    """
    kazakhstan qazaqstan almaty alma-ata astana nur-sultan shymkent aktobe aqtobe
    aktau atyrau karaganda karagandy kostanay kostanai kyzylorda pavlodar
    petropavlovsk petropavl semey semipalatinsk taldykorgan taraz turkestan turkistan
    uralsk oral oskemen ust-kamenogorsk kokshetau zhezkazgan ekibastuz temirtau
    zhanaozen kapshagay konaev qonaev satpayev satbayev aksay aksai issyk esik talgar
    kaskelen stepnogorsk balkhash baikonur kentau ridder rudny zhitikara arys
    saryagash zhanatas kordai akmola aqmola zhambyl jambyl mangistau mangystau
    zhetysu ulytau bestobe martuk karakiya otrar maktaaral bayet karashik wko eko
    xinjiang china russia moscow kyrgyzstan bishkek uzbekistan tashkent ukraine kyiv
    kiev belarus minsk europe geneva brussels washington america
    baiterek merey maly taldykol yesil esil tauelsizdik shanyrak zavodskoy medeu
    east west north south central eastern western northern southern
    kazakh kazakhstani russian chinese uyghur uighur kyrgyz uzbek dungan soviet
    january february march april may june july august september october november
    december jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday
    mr mrs ms dr prof sir madam president prime minister deputy deputies ombudsman
    akim judge judges general secretary secretary-general chairman chairwoman chair
    head leader director mayor senator colonel major captain lieutenant sergeant
    officer officers inspector investigator lawyer lawyers advocate attorney
    journalist journalists activist activists blogger poet artist dissident citizen
    citizens resident residents representatives physicians doctors correspondent
    reporter editor founder member members spokesman spokesperson
    facebook instagram whatsapp telegram youtube twitter tiktok zoom skype google
    internet kuresker azattyq tirek kaztag vlast orda tengrinews turaninfo avaaz
    el tiregi koshe democratic ata zhurt otan amanat nur ak zhol auyl respublica alga
    the a an on in at by for from to of and or but with without as after before
    during since until also according however then thus this that these those there
    their they he she his her him it its we our who which when where while why how
    what all some many several both each other another later earlier today
    yesterday here not no yes despite against about among under over within between
    near via per around amid following meanwhile moreover because if unless
    although though whereas release freedom free stop justice
    """
)


def extract_people(text: str) -> list[str]:
    """The people `text` names, in order of first mention, each once."""
    names: dict[str, None] = {}  # ordered, and linear: a list's `in` rescans every name
    for run in _RUN_RE.finditer(text):
        for name in _names_in_run(run.group().split()):
            names.setdefault(name)
    return _drop_short_forms(list(names))


def _names_in_run(tokens: list[str]) -> list[str]:
    """Split one run of capitalised tokens into the names it holds."""
    if any(_bare(t) in _ORG_WORDS for t in tokens):
        return []
    names: list[str] = []
    piece: list[str] = []
    for token in [*tokens, ""]:  # "" flushes the last piece
        if token and not _is_separator(token):
            piece.append(token)
            continue
        if _looks_like_name(piece):
            names.append(" ".join(piece))
        piece = []
    return names


def _bare(token: str) -> str:
    return token.rstrip(".").lower()


def _is_separator(token: str) -> bool:
    bare = _bare(token)
    # "West-Kazakhstan" is a place because one of its parts is.
    return bare in _SPLIT_WORDS or any(part in _SPLIT_WORDS for part in bare.split("-"))


def _is_initial(token: str) -> bool:
    return token.endswith(".")


def _looks_like_name(piece: list[str]) -> bool:
    if not 2 <= len(piece) <= _MAX_NAME_WORDS:
        return False
    full_words = [t for t in piece if not _is_initial(t)]
    return bool(full_words) and len(full_words) >= len(piece) - 2


def _drop_short_forms(names: list[str]) -> list[str]:
    """Drop "K. Abishev" when "Kenzhebek Abishev" is also named."""
    # full names by each of their words: a short form is compared only with the full
    # names that share a word with it, not with every name of the incident
    full_by_word: dict[str, list[set[str]]] = {}
    for n in names:
        if not any(_is_initial(t) for t in n.split()):
            words = set(n.split())
            for word in words:
                full_by_word.setdefault(word, []).append(words)
    kept: list[str] = []
    for name in names:
        words = {t for t in name.split() if not _is_initial(t)}
        is_short = len(words) < len(name.split())
        if is_short and words:
            candidates = full_by_word.get(next(iter(words)), [])
            if any(words <= f for f in candidates):
                continue
        kept.append(name)
    return kept
