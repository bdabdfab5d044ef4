"""Near-duplicate texts (worker.judge.syndication): reprints found, other stories not."""

from __future__ import annotations

from tests.fixtureweb.pages import SEPTEMBER_PAGES, paragraphs_of
from tests.fixtureweb.reprints import ORIGINAL, UNRELATED_TEXT
from worker.extract.shingles import MIN_SHINGLES, shingles, signature
from worker.judge.syndication import confirmed, nominated, same_texts

ALTAYEV = "\n".join(paragraphs_of(next(p for p in SEPTEMBER_PAGES if p.url == ORIGINAL)))
OTHER_AZ = next(p for p in SEPTEMBER_PAGES if p.kind == "azattyq")


def test_a_reprint_with_its_own_headline_and_source_line_is_the_same_text() -> None:
    reprint = "К экс-депутату Нуржану Алтаеву пришла полиция\n" + ALTAYEV + "\nИсточник: КазТАГ"
    (pair,) = same_texts({"kaztag": ALTAYEV, "vlast": reprint})
    assert {pair.first, pair.second} == {"kaztag", "vlast"}
    assert 0.85 <= pair.similarity < 1.0


def test_another_story_is_not_the_same_text_even_in_the_same_words_of_a_genre() -> None:
    other = "\n".join(paragraphs_of(OTHER_AZ))
    texts = {"kaztag": ALTAYEV, "azattyq": other, "bridge": "\n".join(UNRELATED_TEXT * 3)}
    assert same_texts(texts) == []


def test_a_partial_copy_is_found_at_a_lower_bar_only() -> None:
    paragraphs = ALTAYEV.split("\n")
    half = "\n".join(paragraphs[: len(paragraphs) // 2]) + "\n" + "\n".join(UNRELATED_TEXT)
    assert same_texts({"a": ALTAYEV, "b": half}, threshold=0.9) == []
    (pair,) = same_texts({"a": ALTAYEV, "b": half}, threshold=0.2)
    assert 0.2 <= pair.similarity < 0.9


def test_spelling_variants_are_read_as_one() -> None:
    assert shingles("Её задержали в Алматы вчера вечером") == shingles(
        "ЕЕ ЗАДЕРЖАЛИ в алматы вчера вечером"
    )
    kazakh = "Белсенді Алматыдағы әкімдік ғимаратының алдында жалғыз адамдық пикетке шықты"
    assert "алматыдағы әкімдік ғимаратының алдында жалғыз" in shingles(kazakh)


def test_a_text_too_short_to_copy_is_never_paired() -> None:
    short = " ".join(["Суд назначил штраф."] * 3)
    assert len(shingles(short)) < MIN_SHINGLES
    assert same_texts({"a": short, "b": short}) == []


def test_signatures_made_elsewhere_find_what_the_texts_alone_find() -> None:
    import pickle

    reprint = "К экс-депутату Нуржану Алтаеву пришла полиция\n" + ALTAYEV
    other = "\n".join(paragraphs_of(OTHER_AZ))
    texts = {"kaztag": ALTAYEV, "azattyq": other, "vlast": reprint, "short": "Коротко."}
    # as a pool process would send them back: through pickle
    signatures = pickle.loads(pickle.dumps([signature(t) for t in texts.values()]))
    assert signatures[3] is None  # too short to be a copy of anything
    assert same_texts(texts, signatures=signatures) == same_texts(texts)
    (pair,) = same_texts(texts, signatures=signatures)
    assert {pair.first, pair.second} == {"kaztag", "vlast"}


def test_the_pool_nominates_from_signatures_alone_and_the_texts_confirm() -> None:
    # a report sends the pool only the signatures: candidates come back as positions
    reprint = "Источник: КазТАГ\n" + ALTAYEV
    other = "\n".join(paragraphs_of(OTHER_AZ))
    texts = {"short": "слишком коротко", "kaztag": ALTAYEV, "azattyq": other, "vlast": reprint}
    signatures = [signature(t) for t in texts.values()]
    assert signatures[0] is None  # too short to sign: never a candidate
    assert nominated(signatures) == [(1, 3)]
    (pair,) = confirmed(texts, nominated(signatures))
    assert (pair.first, pair.second) == ("kaztag", "vlast")
    assert confirmed(texts, [(1, 2)]) == []  # nominated or not, another story is not kept
