"""worker.judge.names: English digest names against Russian/Kazakh page text."""

from __future__ import annotations

import pytest

from schemas.evidence import NamesVerdict
from worker.judge.names import (
    check_names,
    has_text,
    matches_key,
    name_matches,
    name_parts,
    names_check_from,
)

KAYIRBEK_RU = (
    "НУР-СУЛТАН. Апелляционная коллегия по уголовным делам городского суда удовлетворила "
    "протест прокуратуры: Аскару Кайырбеку увеличили срок заключения с полутора до 2,2 года. "
    "Ранее прокуратура сочла приговор слишком мягким."
)


@pytest.mark.parametrize("name", ["Askar Kayirbek", "Kayirbek Askar"])
def test_either_order_matches_inflected_russian(name: str) -> None:
    result = check_names([name], KAYIRBEK_RU)
    assert result.verdict is NamesVerdict.SUPPORTS
    match = result.matches[0]
    assert match.found
    assert match.matched == "Аскару Кайырбеку"
    assert match.score == 1.0
    assert match.passage is not None and "Кайырбеку" in match.passage
    assert len(match.passage) <= 230


def test_kazakh_cyrillic_spelling() -> None:
    text = "Белсенді Асқар Қайырбек сот үкімімен келіспейтінін айтты."
    assert check_names(["Askar Kayirbek"], text).verdict is NamesVerdict.SUPPORTS


def test_feminine_surname_inflected() -> None:
    text = "Суд отказал правозащитнице Торегожиной в удовлетворении иска к омбудсмену."
    result = check_names(["Bakhytzhan Toregozhina"], text)
    assert result.verdict is NamesVerdict.SUPPORTS
    assert result.matches[0].matched == "Торегожиной"


def test_full_feminine_name_nominative() -> None:
    text = "Правозащитница Бахытжан Торегожина начала сбор подписей за освобождение Арона Атабека."
    result = check_names(["Toregozhina Bakhytzhan", "Aron Atabek"], text)
    assert result.verdict is NamesVerdict.SUPPORTS
    assert result.matches[0].matched == "Бахытжан Торегожина"
    assert result.matches[1].matched == "Арона Атабека"


def test_dative_first_and_surname() -> None:
    text = "Полицейские пришли к Николаю Катчиеву и изъяли оргтехнику и документы."
    result = check_names(["Nikolai Katchiyev"], text)
    assert result.verdict is NamesVerdict.SUPPORTS
    assert result.matches[0].matched == "Николаю Катчиеву"


def test_genitive_surname_alone() -> None:
    text = "Экоактивисты потребовали прекратить уголовное преследование Катчиева."
    result = check_names(["Nikolai Katchiyev"], text)
    assert result.verdict is NamesVerdict.SUPPORTS
    assert result.matches[0].matched == "Катчиева"


def test_surname_first_in_page_and_digest() -> None:
    text = "Апелляционный суд оставил в силе приговор: Рейхерт Роман остаётся под надзором."
    assert check_names(["Reichert Roman"], text).verdict is NamesVerdict.SUPPORTS


def test_batyrbekov_amangeldy() -> None:
    text = "Журналиста Амангельды Батырбекова обвиняют в клевете на судей."
    result = check_names(["Batyrbekov Amangeldy"], text)
    assert result.verdict is NamesVerdict.SUPPORTS
    assert result.matches[0].matched == "Амангельды Батырбекова"


def test_kazakh_name_with_kazakh_case_suffix() -> None:
    text = "Митингіге Жанболат Мамай қатысты. Мамайдың айтуынша, партия тіркелмеген."
    result = check_names(["Zhanbolat Mamay"], text)
    assert result.verdict is NamesVerdict.SUPPORTS
    assert result.matches[0].matched == "Жанболат Мамай"
    only_suffixed = check_names(["Zh. Mamay"], "Мамайдың айтуынша, партия тіркелмеген.")
    assert only_suffixed.matches[0].matched == "Мамайдың"


def test_initial_then_surname() -> None:
    assert name_parts("K. Abishev") == [("Abishev", "abishev")]
    assert name_parts("Mr. Murat Sapiyev") == [("Murat", "murat"), ("Sapiyev", "sapiev")]
    text = "Политзаключённого Кенжебека Абишева освободили по замене наказания."
    assert check_names(["K. Abishev"], text).verdict is NamesVerdict.SUPPORTS


def test_hyphenated_given_name_and_digest_typo() -> None:
    text = (
        "Бахытжан Торегожина попросила президента Касым-Жомарта Токаева помиловать "
        "поэта Арона Атабека."
    )
    result = check_names(["Kassym-Zhomart Tokayev", "Aron Atabekai"], text)
    assert result.verdict is NamesVerdict.SUPPORTS
    assert result.matches[0].matched == "Касым-Жомарта Токаева"
    assert result.matches[1].matched == "Арона Атабека"  # "Atabekai" is a digest typo
    assert result.matches[1].score is not None and result.matches[1].score < 1.0


def test_title_is_searched_too() -> None:
    result = check_names(
        ["Askar Kayirbek"], "Суд удовлетворил протест прокуратуры.", title="Срок Кайырбеку увеличен"
    )
    assert result.verdict is NamesVerdict.SUPPORTS


def test_partial_and_absent() -> None:
    names = ["Askar Kayirbek", "Nikolai Katchiyev"]
    partial = check_names(names, KAYIRBEK_RU)
    assert partial.verdict is NamesVerdict.PARTIAL
    assert partial.found == ["Askar Kayirbek"]
    assert [m.found for m in partial.matches] == [True, False]
    absent = check_names(["Nikolai Katchiyev"], KAYIRBEK_RU)
    assert absent.verdict is NamesVerdict.ABSENT
    assert absent.matches[0].matched is None


def test_not_checked_without_names_or_text() -> None:
    assert check_names([], KAYIRBEK_RU).verdict is NamesVerdict.NOT_CHECKED
    no_text = check_names(["Askar Kayirbek"], None)
    assert no_text.verdict is NamesVerdict.NOT_CHECKED
    assert no_text.names == ["Askar Kayirbek"]
    assert check_names(["Askar Kayirbek"], "   ").verdict is NamesVerdict.NOT_CHECKED


# ---- negatives: common words, first names alone, derived surnames


def test_first_name_that_is_a_common_word_does_not_match() -> None:
    # "роман" is a novel; the surname Reichert must be present
    text = "Писатель представил новый роман о жизни в Актюбинской области."
    assert check_names(["Reichert Roman"], text).verdict is NamesVerdict.ABSENT


def test_same_first_name_other_person_does_not_match() -> None:
    text = "Премьер-министр Аскар Мамин подписал меморандум о цифровой трансформации."
    assert check_names(["Askar Kayirbek"], text).verdict is NamesVerdict.ABSENT


def test_given_name_does_not_match_derived_surname() -> None:
    # "Аскаров" is a different family name, not a case form of "Askar"
    text = "Депутат Ерлан Аскаров выступил в мажилисе."
    assert check_names(["Askar"], text).verdict is NamesVerdict.ABSENT
    assert check_names(["Askar Kayirbek"], text).verdict is NamesVerdict.ABSENT


def test_male_surname_does_not_stand_for_feminine_one() -> None:
    text = "Её брат Ерлан Торегожин в суде не присутствовал, с Торегожиным связаться не удалось."
    assert check_names(["Bakhytzhan Toregozhina"], text).verdict is NamesVerdict.ABSENT


def test_short_names_need_exact_skeletons() -> None:
    assert check_names(["Zh. Mamay"], "Мамин заявил о реформе.").verdict is NamesVerdict.ABSENT


def test_fuzzy_misspelling_of_long_surname() -> None:
    # one letter off in a long surname still matches, with a score below 1
    text = "Активист Нурболганов Базаргали участвовал в забастовке."
    result = check_names(["Nurbolganov Bazargali"], text)
    assert result.verdict is NamesVerdict.SUPPORTS
    misspelt = check_names(["Nurbolgonov"], text)
    assert misspelt.verdict is NamesVerdict.SUPPORTS
    assert misspelt.matches[0].score is not None and 0.85 <= misspelt.matches[0].score < 1.0


# ---- matched once for every person a source is cited for, composed per incident


@pytest.mark.parametrize(
    "people",
    [
        ["Askar Kayirbek"],
        ["Nikolai Katchiyev", "Askar Kayirbek"],
        ["Nikolai Katchiyev"],
        [],
        ["", "  "],
        ["Askar Kayirbek", "Askar Kayirbek"],
    ],
)
@pytest.mark.parametrize("text", [KAYIRBEK_RU, None, "   "])
def test_an_incidents_check_from_all_the_sources_matches_is_its_own_check(
    people: list[str], text: str | None
) -> None:
    # the capture matches everyone the source's incidents name, in one pass
    everyone = ["Bakhytzhan Toregozhina", *people, "Nikolai Katchiyev"]
    found = name_matches(everyone, text, title="Суд")
    assert set(found) == {n for n in everyone if n.strip()}
    composed = names_check_from(people, found, has_text(text))
    assert composed == check_names(people, text, title="Суд")


def test_matches_key_tells_one_title_and_text_from_another() -> None:
    key = matches_key(KAYIRBEK_RU, "Суд")
    assert key == matches_key(KAYIRBEK_RU, "Суд")
    assert key not in {matches_key(KAYIRBEK_RU, None), matches_key(KAYIRBEK_RU + " ", "Суд")}
    assert matches_key("a", "bc") != matches_key("ab", "c")  # where one ends is kept
