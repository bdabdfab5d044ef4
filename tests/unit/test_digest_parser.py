"""worker.digest.parse: the September digest's facts, other layouts, bad input, speed.

The whole parse of the September digest is pinned as a golden file whose input is
pinned by sha256. To accept a deliberate change to the parse, regenerate it with

    SOURCEVAULT_UPDATE_GOLDEN=1 uv run pytest tests/unit/test_digest_parser.py

and review the diff of tests/unit/golden/ before committing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import ProblemCode
from schemas.digest import Digest
from schemas.source import SourceStatus
from worker.digest.parse import MAX_YEAR, MIN_YEAR, parse_digest
from worker.digest.read import DigestInputError, read_digest_file

ROOT = Path(__file__).resolve().parents[2]
SEPTEMBER = ROOT / "examples" / "2021-09-kazakhstan.txt"
SEPTEMBER_SHA256 = "a7362cb9e1f320aae93f4797da989a5f1118aa94422e515d19ccf7f586dfc1be"
GOLDEN = Path(__file__).parent / "golden" / "2021-09-kazakhstan.parse.json"
UPDATE_GOLDEN = os.environ.get("SOURCEVAULT_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def september() -> Digest:
    return parse_digest(read_digest_file(SEPTEMBER), name="2021-09-kazakhstan")


def _problems(digest: Digest, code: ProblemCode) -> list[tuple[int | None, int | None]]:
    return [(p.line, p.footnote) for p in digest.problems if p.code == code]


# ---------------------------------------------------------------------------
# the golden parse


def test_september_input_is_the_pinned_one() -> None:
    assert hashlib.sha256(SEPTEMBER.read_bytes()).hexdigest() == SEPTEMBER_SHA256


def test_september_parse_matches_golden(september: Digest) -> None:
    actual = {
        "input": "examples/2021-09-kazakhstan.txt",
        "input_sha256": SEPTEMBER_SHA256,
        "parse": september.model_dump(mode="json"),
    }
    if UPDATE_GOLDEN:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", "utf-8")
        pytest.skip(f"golden file rewritten: {GOLDEN}; review its diff")
    if not GOLDEN.exists():
        pytest.fail(f"no golden file {GOLDEN}: create it with SOURCEVAULT_UPDATE_GOLDEN=1")
    expected = json.loads(GOLDEN.read_text("utf-8"))
    assert expected["input_sha256"] == SEPTEMBER_SHA256
    assert actual == expected


# ---------------------------------------------------------------------------
# the September digest's facts


def test_september_identity(september: Digest) -> None:
    assert september.id == "2021-09-kazakhstan-a7362cb9"  # slug + sha256 of the text
    assert september.title == "2021-09 Kazakhstan"
    assert september.year == 2021


def test_september_has_58_incidents_all_in_september_2021(september: Digest) -> None:
    assert len(september.incidents) == 58
    assert [i.id for i in september.incidents] == list(range(1, 59))
    assert [i.line for i in september.incidents] == list(range(1, 59))
    assert all(
        i.date is not None and (i.date.year, i.date.month) == (2021, 9) for i in september.incidents
    )


@pytest.mark.parametrize(
    ("incident", "day"),
    [
        (1, 1),  # "September 1, Aktobe region"
        (4, 3),  # "On September 3, in the village"
        (12, 8),  # "On 8 September" (not in date order: after 7 and before 9, 8)
        (13, 9),
        (14, 8),
        (36, 20),  # "20 September, WKO"
        (58, 30),
    ],
)
def test_september_incident_dates(september: Digest, incident: int, day: int) -> None:
    assert september.incidents[incident - 1].date == dt.date(2021, 9, day)


def test_september_incidents_are_kept_in_digest_order(september: Digest) -> None:
    dates = [i.date for i in september.incidents]
    assert dates != sorted(dates)  # the digest is not sorted, and neither is the parse


def test_september_year_comes_from_the_text() -> None:
    digest = parse_digest(SEPTEMBER.read_text("utf-8"), name="digest")
    assert digest.year == 2021
    assert digest.incidents[0].date == dt.date(2021, 9, 1)


def test_year_argument_wins() -> None:
    digest = parse_digest(SEPTEMBER.read_text("utf-8"), name="digest", year=2020)
    assert digest.year == 2020
    assert digest.incidents[0].date == dt.date(2020, 9, 1)
    # a date that carries its own year keeps it
    assert dt.date(2021, 8, 30) in digest.incidents[31].dates_mentioned


@pytest.mark.parametrize(
    ("incident", "mentioned"),
    [
        (8, [dt.date(2021, 9, 7), dt.date(2021, 6, 25)]),  # "on 7 September", "on 25 June"
        (12, [dt.date(2021, 9, 7)]),  # "on September 7, 2021"
        (29, [dt.date(2021, 7, 18)]),  # "on July 18"
        (32, [dt.date(2021, 8, 30)]),  # "on August 30, 2021"
        (33, [dt.date(2021, 8, 16)]),
        (35, [dt.date(2021, 9, 1)]),  # "from September 01 to September 20, 2021"
        (53, [dt.date(2021, 9, 29)]),  # "the night of September 28th to 29th"
        (54, [dt.date(2021, 9, 21), dt.date(2021, 9, 27)]),
        (1, []),
        (39, []),  # "in September 2020" has no day
    ],
)
def test_september_dates_mentioned(
    september: Digest, incident: int, mentioned: list[dt.date]
) -> None:
    assert september.incidents[incident - 1].dates_mentioned == mentioned


def test_september_markers(september: Digest) -> None:
    cited = sorted(n for i in september.incidents for n in i.footnotes)
    assert cited == list(range(1, 50))
    assert september.incidents[35].footnotes == [28, 29]  # "[28][29]"
    assert september.incidents[0].footnotes == [1]  # "a. m.[1]."


def test_september_footnotes(september: Digest) -> None:
    numbers = [f.number for f in september.footnotes]
    assert len(numbers) == 47
    assert numbers == [n for n in range(1, 49) if n != 6]
    by_number = {f.number: f for f in september.footnotes}
    assert [u.url for u in by_number[15].urls] == [
        "https://www.facebook.com/toregozhina",
        "https://www.facebook.com/groups/ActivistsNotExtremists/posts/3078283439157585/",
    ]
    assert [u.line for u in by_number[15].urls] == [72, 73]
    assert [u.url for u in by_number[43].urls] == [
        "https://rus.azattyq.org/a/31483289.html",
        "https://rus.azattyq.org/a/31484228.html",
    ]
    assert all(len(f.urls) == 1 for f in september.footnotes if f.number not in (15, 43))


def test_september_problems(september: Digest) -> None:
    assert _problems(september, ProblemCode.MISSING_FOOTNOTE) == [(6, 6), (58, 49)]
    assert _problems(september, ProblemCode.UNSOURCED_INCIDENT) == [
        (line, None) for line in (9, 12, 18, 19, 31, 32, 33, 34, 40, 45)
    ]
    assert _problems(september, ProblemCode.UNPARSED_LINE) == [(108, None)]
    assert _problems(september, ProblemCode.NOT_PUBLIC_URL) == [(78, 20)]
    assert _problems(september, ProblemCode.DUPLICATE_URL) == [(68, 11), (105, 46)]
    other_codes = {p.code for p in september.problems} - {
        ProblemCode.MISSING_FOOTNOTE,
        ProblemCode.UNSOURCED_INCIDENT,
        ProblemCode.UNPARSED_LINE,
        ProblemCode.NOT_PUBLIC_URL,
        ProblemCode.DUPLICATE_URL,
    }
    assert other_codes == set()
    lines = [p.line or 0 for p in september.problems]
    assert lines == sorted(lines)


def test_september_incident_problems(september: Digest) -> None:
    sixth = september.incidents[5]
    assert [(p.code, p.footnote, p.line) for p in sixth.problems] == [
        (ProblemCode.MISSING_FOOTNOTE, 6, 6)
    ]
    assert [p.code for p in september.incidents[8].problems] == [ProblemCode.UNSOURCED_INCIDENT]
    assert september.incidents[0].problems == []


def test_september_trailing_comment_is_not_an_incident(september: Digest) -> None:
    assert all("Для отправки" not in i.text for i in september.incidents)
    (problem,) = [p for p in september.problems if p.code == ProblemCode.UNPARSED_LINE]
    assert "Для отправки комментария" in problem.message


def test_september_sources(september: Digest) -> None:
    sources = september.sources
    assert len(sources) == 47  # 49 footnote URLs, two of them repeats
    assert [s.id for s in sources] == list(range(1, 48))
    assert len({s.canonical_url for s in sources}) == 47
    first_lines = [s.lines[0] for s in sources]
    assert first_lines == sorted(first_lines)
    assert sources[1].url == (
        "https://rus.azattyq.org/a/31438644.html?fbclid="
        "IwAR2t2UsJYEBkkJJ_EJRlT5wZXHL5Yxz-zYWD1WJ48hrSrgDzYpS93WVrWG4"
    )
    assert sources[1].canonical_url == "https://rus.azattyq.org/a/31438644.html"
    assert sources[1].footnotes == [2]


def test_september_duplicate_sources(september: Digest) -> None:
    repeated = september.source_for("https://rus.azattyq.org/a/31447973.html")
    assert repeated is not None
    assert repeated.footnotes == [8, 11]
    assert repeated.lines == [65, 68]
    assert repeated.url.endswith(
        "?fbclid=IwAR2OCriWMy9_0FE6-qyy4fZpBhxdDBGZtCIeX093WaH5whW1osWchTqu8Ac"
    )
    assert [p.code for p in repeated.problems] == [ProblemCode.DUPLICATE_URL]
    second = september.source_for("https://rus.azattyq.org/a/31484228.html")
    assert second is not None
    assert second.footnotes == [43, 46]
    assert second.lines == [102, 105]


def test_september_not_public_source(september: Digest) -> None:
    admin = [s for s in september.sources if s.status is not None]
    assert len(admin) == 1
    assert admin[0].status is SourceStatus.NOT_PUBLIC
    assert admin[0].footnotes == [20]
    assert admin[0].url == "https://tirek.info/wp-admin/post.php?post=14658&action=edit"
    assert not admin[0].fetchable
    assert admin[0].problems[0].code == ProblemCode.NOT_PUBLIC_URL


def test_september_facebook_permalinks_keep_their_parameters(september: Digest) -> None:
    assert september.source_for(
        "https://www.facebook.com/permalink.php?story_fbid=1293504337771295&id=100013352235450"
    )


# People: the exact lists for a broad sample, and nothing for incidents naming no one.
SEPTEMBER_PEOPLE = {
    1: ["Reichert Roman"],
    2: ["Batyrbekov Amangeldy", "Aidos Sultanov", "Talgat Ongarbaev", "Burkit Baidullaev"],
    3: ["Askar Kayirbek"],
    4: ["Nikolai Katchiyev"],
    5: ["Berik Dyusembinov", "Aron Atabekai"],
    6: [
        "Kapanov Serik",
        "Soyunov Zhenis",
        "Makhmutov Berik",
        "Nurbolganov Bazargali",
        "Samarov Muratbek",
        "Dzharylgaev Batyrzhan",
    ],
    8: ["Muhamedzhanov Murat", "Ermakhanov Nursultan"],
    9: [],
    10: ["Toregozhina Bakhytzhan"],
    11: [],
    14: ["Nurzhan Altayev"],
    22: [],
    24: ["Bakhytzhan Toregozhina", "Aron Atabek", "Kassym-Zhomart Tokayev"],
    26: ["Islambek Dastan", "Daniyar Alimkul"],
    28: ["Sanavar Zakirova", "Askar Mamin", "Herman Gref"],
    29: ["Toktasyn Yrysbek"],
    30: ["Zh. Mamay"],
    31: [
        "Nagimetulliev Temirtas",
        "Dostiyarov Dauren",
        "Dostiyarov Abzal",
        "Gulnar Mirmambetova",
        "Aruzhan Dyisebaeva",
    ],
    36: ["Murat Sapiyev"],
    37: ["Dostiyarov Abzal", "Zhanbolat Mamay"],
    38: ["Kuandyk E.", "Kenzin I.", "Filimonova N."],
    39: ["Umbetova Alima", "Mukhtar Ablyazov"],
    40: ["Zhanat Zhamaliev", "Yerbol Yeskhozhin"],
    42: ["Abdirova Alima", "Olga Klimonova"],
    43: ["Nasyrkhanov Burkutbay"],
    44: ["António Guterres"],
    45: [
        "Akytkhan Kalida",
        "Maken Zhamilya",
        "Omirali Gulbaran",
        "Kazybek Gulpyam",
        "Yermekbai Nurzat",
        "Myrzan Almakhan",
        "Kosdaulet Gulnur",
        "Kunbolat Baybolat",
        "Kaliola Akikat",
        "Kurmanalieva Gauhar",
    ],
    48: ["Kenzhebek Abishev"],  # "K. Abishev" is the same person
    49: ["Bakhytzhan Toregozhina", "Elvira Azimova"],
    51: ["Askhat Zheksebayev", "Kairat Klyshev", "Rakhimzhanov Noyan", "Abai Begimbetov"],
    55: ["Sergali Praliyev", "Diusen Dzhumashev", "Kakharman Zholdybekov", "Abdurrahim Beisen"],
    57: ["Murat Sapiyev"],  # "Mr. Murat Sapiyev"
    58: [],
}


@pytest.mark.parametrize(("incident", "people"), sorted(SEPTEMBER_PEOPLE.items()))
def test_september_people(september: Digest, incident: int, people: list[str]) -> None:
    assert september.incidents[incident - 1].people == people


def test_september_people_exclude_places_parties_and_laws(september: Digest) -> None:
    everyone = {name for i in september.incidents for name in i.people}
    for word in ("Nur-Sultan", "Almaty", "Criminal", "Code", "Tiregi", "Koshe", "Party", "Article"):
        assert not any(word in name for name in everyone), word


# ---------------------------------------------------------------------------
# other digests: other layouts, numbering and dates


OTHER_LAYOUT = (
    "1. 12 October 2021, Almaty, Ivan Petrov was detained [1].\r\n"
    "\r\n"
    "October 4–5, Shymkent, a rally took place [2][3].\r\n"
    "4-5 October, Taraz, Asel Nurova was fined [3, 4].\r\n"
    "Almaty, 7 October: Marat Zhylanbayev was detained and\r\n"
    "later released [5].\r\n"
    "\r\n"
    "[1] https://rus.azattyq.org/a/1.html?utm_source=fb — Radio Azattyq, 2 Oct\r\n"
    "2. https://tirek.info/a/ https://kaztag.kz/b?fbclid=x\r\n"
    "\r\n"
    "(3) https://www.facebook.com/permalink.php?story_fbid=1&id=2\r\n"
    "4) https://kuresker.org/archives/1\r\n"
    "5 https://l.facebook.com/l.php?u=https%3A%2F%2Frus.azattyq.org%2Fa%2F1.html&h=x\r\n"
)


@pytest.fixture(scope="module")
def other() -> Digest:
    return parse_digest(OTHER_LAYOUT, name="october")


def test_other_layout_incidents_and_dates(other: Digest) -> None:
    assert [(i.line, i.date) for i in other.incidents] == [
        (1, dt.date(2021, 10, 12)),
        (3, dt.date(2021, 10, 4)),
        (4, dt.date(2021, 10, 4)),
        (5, dt.date(2021, 10, 7)),
    ]
    # ranges: the first day is the date, the second is mentioned
    assert other.incidents[1].dates_mentioned == [dt.date(2021, 10, 5)]
    assert other.incidents[2].dates_mentioned == [dt.date(2021, 10, 5)]


def test_other_layout_markers_and_wrapped_lines(other: Digest) -> None:
    assert [i.footnotes for i in other.incidents] == [[1], [2, 3], [3, 4], [5]]
    assert other.incidents[3].text.endswith("detained and later released [5].")
    assert other.incidents[3].people == ["Marat Zhylanbayev"]


def test_other_layout_footnote_forms(other: Digest) -> None:
    assert [(f.number, f.line) for f in other.footnotes] == [
        (1, 8),
        (2, 9),
        (3, 11),
        (4, 12),
        (5, 13),
    ]
    urls = {f.number: [u.url for u in f.urls] for f in other.footnotes}
    assert urls[1] == ["https://rus.azattyq.org/a/1.html?utm_source=fb"]  # text after it ignored
    assert urls[2] == ["https://tirek.info/a/", "https://kaztag.kz/b?fbclid=x"]  # two on a line


def test_other_layout_wrapper_is_a_duplicate(other: Digest) -> None:
    azattyq = other.source_for("https://rus.azattyq.org/a/1.html")
    assert azattyq is not None
    assert azattyq.footnotes == [1, 5]
    assert _problems(other, ProblemCode.DUPLICATE_URL) == [(13, 5)]
    assert [p.code for p in other.problems] == [ProblemCode.DUPLICATE_URL]


@pytest.mark.parametrize(
    ("line", "date", "mentioned"),
    [
        ("12 October 2021, Almaty [1]", dt.date(2021, 10, 12), []),
        ("On 12 October, Almaty [1]", dt.date(2021, 10, 12), []),
        ("October 12, 2021 Almaty [1]", dt.date(2021, 10, 12), []),
        ("Oct. 3rd, Almaty [1]", dt.date(2021, 10, 3), []),
        ("October 4–5, Almaty [1]", dt.date(2021, 10, 4), [dt.date(2021, 10, 5)]),
        ("4-5 October, Almaty [1]", dt.date(2021, 10, 4), [dt.date(2021, 10, 5)]),
        ("• In Almaty, on 6 October, a picket [1]", dt.date(2021, 10, 6), []),
        ("2021-10-09 Aktau [1]", dt.date(2021, 10, 9), []),
        ("09.10.2021, Aktau [1]", dt.date(2021, 10, 9), []),
        ("3 сентября 2021 г., Алматы [1]", dt.date(2021, 9, 3), []),
        # "December" in a January digest is December of the year before
        (
            "January 10, fined for a post of 25 December [1]",
            dt.date(2021, 1, 10),
            [dt.date(2020, 12, 25)],
        ),
        # a hearing set for later in the year stays in the year
        ("October 1, trial set for 25 December [1]", dt.date(2021, 10, 1), [dt.date(2021, 12, 25)]),
        # "to 15 days" is a sentence, not a range
        ("October 1 to 15 days of arrest [1]", dt.date(2021, 10, 1), []),
    ],
)
def test_date_forms(line: str, date: dt.date, mentioned: list[dt.date]) -> None:
    digest = parse_digest(line + "\n[1] https://ex.kz/1\n", year=2021)
    (incident,) = digest.incidents
    assert incident.date == date
    assert incident.dates_mentioned == mentioned


def test_undated_incident_with_markers() -> None:
    digest = parse_digest("September 3, Almaty, a picket [1].\nA picket in Taraz [2].\n", year=2021)
    assert [i.date for i in digest.incidents] == [dt.date(2021, 9, 3), None]
    assert _problems(digest, ProblemCode.UNDATED_INCIDENT) == [(2, None)]


def test_impossible_date_is_undated() -> None:
    digest = parse_digest("September 31, Almaty [1]\n[1] https://ex.kz/\n", year=2021)
    assert digest.incidents[0].date is None
    assert "not a real date" in digest.incidents[0].problems[0].message


def test_no_year_anywhere_is_undated() -> None:
    digest = parse_digest("September 3, Almaty [1]\n[1] https://ex.kz/\n", name="digest")
    assert digest.year is None
    assert digest.incidents[0].date is None
    assert _problems(digest, ProblemCode.UNDATED_INCIDENT) == [(1, None)]


def test_year_from_name() -> None:
    digest = parse_digest("September 3, Almaty [1]\n[1] https://ex.kz/\n", name="kz-2019-09")
    assert digest.year == 2019
    assert digest.incidents[0].date == dt.date(2019, 9, 3)


def test_footnotes_without_incidents_are_all_orphans() -> None:
    digest = parse_digest("[1] https://a.kz/1\n[2] https://b.kz/2\nhttps://c.kz/3\n")
    assert digest.incidents == []
    assert _problems(digest, ProblemCode.ORPHAN_FOOTNOTE) == [(1, 1), (2, 2)]
    assert [s.footnotes for s in digest.sources] == [[1], [2], [2]]


def test_incidents_without_footnotes() -> None:
    digest = parse_digest(
        "September 3, Almaty, a picket [1].\nSeptember 4, Taraz [2].\n", year=2021
    )
    assert len(digest.incidents) == 2
    assert _problems(digest, ProblemCode.NO_FOOTNOTES) == [(None, None)]
    assert _problems(digest, ProblemCode.MISSING_FOOTNOTE) == [(1, 1), (2, 2)]
    assert digest.footnotes == [] and digest.sources == []


def test_empty_digest() -> None:
    for text in ("", "  \n\n \r\n"):
        digest = parse_digest(text)
        assert digest.incidents == []
        assert [p.code for p in digest.problems] == [ProblemCode.EMPTY_DIGEST]


def test_invalid_and_marker_only_footnotes() -> None:
    text = "September 3, x [1][2][3]\n[1] ftp://files.kz/a\n[2]\n[3] https://exa mple.kz/\n"
    digest = parse_digest(text, year=2021)
    assert _problems(digest, ProblemCode.INVALID_URL) == [(2, 1), (4, 3)]
    assert _problems(digest, ProblemCode.MISSING_FOOTNOTE) == [(1, 2)]
    invalid = digest.footnotes[0].urls[0]
    assert invalid.canonical_url is None
    assert digest.sources[0].status is SourceStatus.INVALID


def test_url_line_outside_a_footnote_is_unparsed() -> None:
    digest = parse_digest("September 3, x [1].\nhttps://stray.kz/\n[1] https://a.kz/\n", year=2021)
    assert _problems(digest, ProblemCode.UNPARSED_LINE) == [(2, None)]
    assert digest.problems[0].url == "https://stray.kz/"
    assert [s.canonical_url for s in digest.sources] == ["https://a.kz/"]


def test_numbered_incident_with_a_url_is_not_a_footnote() -> None:
    digest = parse_digest(
        "3. September 3, Almaty, see https://a.kz/ [1]\n[1] https://b.kz/\n", year=2021
    )
    assert len(digest.incidents) == 1
    assert [f.number for f in digest.footnotes] == [1]


def test_repeated_footnote_number_is_merged_and_reported() -> None:
    digest = parse_digest("September 3, x [1].\n[1] https://a.kz/\n[1] https://b.kz/\n", year=2021)
    assert [[u.url for u in f.urls] for f in digest.footnotes] == [
        ["https://a.kz/", "https://b.kz/"]
    ]
    assert _problems(digest, ProblemCode.UNPARSED_LINE) == [(3, 1)]


def test_id_is_deterministic_and_depends_on_text() -> None:
    a = parse_digest("September 3, x [1]\n", name="Kazakhstan Sept 2021")
    b = parse_digest("September 3, x [1]\n", name="Kazakhstan Sept 2021")
    c = parse_digest("September 4, x [1]\n", name="Kazakhstan Sept 2021")
    assert a.id == b.id != c.id
    assert a.id.startswith("kazakhstan-sept-2021-")
    assert a.title == "Kazakhstan Sept 2021"


def test_windows_newlines_give_the_same_parse() -> None:
    unix = SEPTEMBER.read_text("utf-8")
    windows = parse_digest(unix.replace("\n", "\r\n"), name="x")
    assert windows.model_dump() == parse_digest(unix, name="x").model_dump()


# ---------------------------------------------------------------------------
# scale and robustness


def _huge_digest(incidents: int) -> str:
    lines = [
        f"On September {i % 30 + 1}, in Almaty, Askar Kayirbek{i} was detained under Article 405 "
        f"of the Criminal Code, as reported on 25 June [{i}]."
        for i in range(1, incidents + 1)
    ]
    lines += [
        f"[{i}] https://rus.azattyq.org/a/{i}.html?fbclid=IwAR{i}" for i in range(1, incidents + 1)
    ]
    return "\n".join(lines)


def test_ten_thousand_incidents_parse_completely() -> None:
    # speed is measured by bench/, not asserted here: tests must not fail on a slow machine
    digest = parse_digest(_huge_digest(10_000), year=2021)
    assert len(digest.incidents) == 10_000
    assert len(digest.sources) == 10_000
    assert digest.problems == []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises_on_arbitrary_text(text: str) -> None:
    digest = parse_digest(text)
    assert Digest.model_validate(digest.model_dump()) == digest


_DIGESTISH = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "September 1, Almaty, Reichert Roman [1].",
                "On 8 September, Nur-Sultan [2][3]",
                "October 4–5 [4]",
                "[1]https://rus.azattyq.org/a/1.html?fbclid=x",
                "2. https://tirek.info/wp-admin/post.php?action=edit",
                "https://www.facebook.com/permalink.php?story_fbid=1&id=2",
                "[3] https://exa mple.kz",
                "Для отправки комментария необходимо войти на сайт.",
                "",
                "[99999]",
                "31 September 2021 [1]",
            ]
        ),
        st.text(max_size=80),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(_DIGESTISH, st.one_of(st.none(), st.integers(min_value=MIN_YEAR, max_value=MAX_YEAR)))
def test_parse_never_raises_on_digest_like_text(lines: list[str], year: int | None) -> None:
    digest = parse_digest("\n".join(lines), year=year)
    assert Digest.model_validate(digest.model_dump()) == digest
    ids = [s.id for s in digest.sources]
    assert ids == list(range(1, len(ids) + 1))


# ---------------------------------------------------------------------------
# reading files


def test_read_utf8_with_bom_and_windows_newlines(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_bytes("\ufeffSeptember 1, Алматы [1]\r\n[1] https://a.kz/\r\n".encode())
    assert read_digest_file(path) == "September 1, Алматы [1]\n[1] https://a.kz/\n"


def test_read_windows_1251(tmp_path: Path) -> None:
    text = (
        "3 сентября 2021 г., Алматы, Роман Райхерт задержан [1].\n"
        "[1] https://rus.azattyq.org/a/1.html\n"
        "Для отправки комментария необходимо войти на сайт.\n"
    )
    path = tmp_path / "d.txt"
    path.write_bytes(text.encode("cp1251"))
    assert read_digest_file(path) == text


def test_read_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_bytes("September 1, Almaty [1]\r\n".encode("utf-16"))
    assert read_digest_file(path) == "September 1, Almaty [1]\n"


def test_read_september_file_unchanged() -> None:
    assert read_digest_file(SEPTEMBER) == SEPTEMBER.read_text("utf-8")


@pytest.mark.parametrize(
    ("data", "max_bytes", "message"),
    [
        (b"", 100, "empty"),
        (b" \n\t\r\n", 100, "empty"),
        (b"line one\nline two\x00\x01\x02", 100, "binary"),
        (bytes(range(1, 32)) * 20, 10_000, "binary"),
        (b"x" * 101, 100, "too large"),
    ],
)
def test_read_rejects_bad_input(tmp_path: Path, data: bytes, max_bytes: int, message: str) -> None:
    path = tmp_path / "d.txt"
    path.write_bytes(data)
    with pytest.raises(DigestInputError, match=message):
        read_digest_file(path, max_bytes=max_bytes)


def test_read_names_the_line_of_a_nul_byte(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_bytes(b"one\ntwo\nth\x00ree\n")
    with pytest.raises(DigestInputError) as caught:
        read_digest_file(path)
    assert caught.value.line == 3
    assert "line 3" in str(caught.value)


# ---------------------------------------------------------------------------
# layout details


def test_url_line_after_a_blank_line_still_belongs_to_its_footnote() -> None:
    text = "September 3, x [1].\n\n[1] https://a.kz/\n\nhttps://b.kz/\n"
    digest = parse_digest(text, year=2021)
    assert [u.url for u in digest.footnotes[0].urls] == ["https://a.kz/", "https://b.kz/"]
    assert digest.problems == []


def test_bulleted_incidents_and_a_header_line() -> None:
    text = "Digest of violations, September 2021\n- September 3, x [1].\n• 4 September, y [1].\n"
    digest = parse_digest(text + "[1] https://a.kz/\n", year=2021)
    assert [i.date for i in digest.incidents] == [dt.date(2021, 9, 3), dt.date(2021, 9, 4)]
    assert _problems(digest, ProblemCode.UNPARSED_LINE) == [(1, None)]


# ---------------------------------------------------------------------------
# people (worker.digest.people, through the parser's incidents)


@pytest.mark.parametrize(
    ("text", "people"),
    [
        ("Prime Minister of Kazakhstan Askar Mamin spoke", ["Askar Mamin"]),
        ("the West Oil Software LLP sued Kapanov Serik", ["Kapanov Serik"]),
        ("K. Abishev, then Kenzhebek Abishev", ["Kenzhebek Abishev"]),
        ("Kuandyk E., Kenzin I. and Zh. Mamay", ["Kuandyk E.", "Kenzin I.", "Zh. Mamay"]),
        ("the Almaty City Court and the Democratic Party of Kazakhstan", []),
        ("in Nur-Sultan, East Kazakhstan region and West-Kazakhstan", []),
        ("“Freedom to Yerbol Yeskhozhin” and “B.Baibekke sadakha”", ["Yerbol Yeskhozhin"]),
        ("Abdirova, Klimonova and Kalasova were arrested", []),  # surnames alone: skipped
    ],
)
def test_people_heuristic(text: str, people: list[str]) -> None:
    digest = parse_digest(f"September 3, {text} [1].\n[1] https://a.kz/\n", year=2021)
    assert digest.incidents[0].people == people


# ---------------------------------------------------------------------------
# growth: one incident's markers, one URL's footnotes (issue #15.8). Operation counts
# and sizes, not times: bench/parse_growth.py measures the times.


class _CountingInt(int):
    """An int that counts the equality tests made on it: a list's `in` makes one per
    element it scans, a dict or set lookup about one per hit."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        _CountingInt.comparisons += 1
        return int.__eq__(self, other)  # type: ignore[no-any-return]

    __hash__ = int.__hash__


def _one_incident(markers: int, footnotes: int = 1) -> str:
    cited = "".join(f"[{i}]" for i in range(1, markers + 1))
    listed = "\n".join(f"[{i}] https://a.kz/{i}" for i in range(1, footnotes + 1))
    return f"September 3, Almaty, an incident {cited}.\n{listed}\n"


def test_marker_deduplication_does_not_rescan_earlier_markers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import worker.digest.parse as digest_parser

    counts = []
    for markers in (2_000, 4_000):
        monkeypatch.setattr(digest_parser, "int", _CountingInt, raising=False)
        _CountingInt.comparisons = 0
        digest = parse_digest(_one_incident(markers), year=2021)
        monkeypatch.undo()
        assert digest.incidents[0].footnotes == list(range(1, markers + 1))
        counts.append(_CountingInt.comparisons)
    # linear: a few comparisons per marker, and twice the markers cost about twice as many
    # (a scan of the numbers seen so far made 2,000,000 and then 8,000,000)
    assert counts[0] < 5 * 2_000
    assert counts[1] < 2.5 * counts[0] + 100


def test_a_hundred_thousand_markers_in_one_incident_parse() -> None:
    # quadratic before: 159 s on the machine; no time asserted here (bench/ has it)
    digest = parse_digest(_one_incident(100_000), year=2021)
    (incident,) = digest.incidents
    assert len(incident.footnotes) == 100_000
    assert incident.footnotes[-1] == 100_000
    missing = [p for p in digest.problems if p.code == ProblemCode.MISSING_FOOTNOTE]
    assert len(missing) == 99_999


def test_many_footnotes_citing_one_url_give_messages_of_bounded_size() -> None:
    n = 3_000
    text = "September 3, x " + "".join(f"[{i}]" for i in range(1, n + 1)) + ".\n"
    text += "\n".join(f"[{i}] https://a.kz/same" for i in range(1, n + 1)) + "\n"
    digest = parse_digest(text, year=2021)
    (source,) = digest.sources
    assert source.footnotes == list(range(1, n + 1))
    duplicates = [p for p in digest.problems if p.code == ProblemCode.DUPLICATE_URL]
    assert len(duplicates) == n - 1
    # each names the first few earlier footnotes and counts the rest: linear in total
    # (listing every earlier footnote made n²/2 names, 40 MB of messages for 3,000)
    assert max(len(p.message) for p in duplicates) < 120
    assert duplicates[-1].message.startswith(
        "footnote [3000] cites the same source as [1], [2], [3] and 2,996 more"
    )


def test_many_wrapped_lines_join_into_one_incident() -> None:
    text = "September 3, Almaty, a long incident\n" + "and more of it\n" * 5_000 + "end [1].\n"
    digest = parse_digest(text + "[1] https://a.kz/\n", year=2021)
    (incident,) = digest.incidents
    assert incident.text.count("and more of it") == 5_000
    assert incident.text.endswith("and more of it end [1].")


# ---------------------------------------------------------------------------
# footnote numbers of six and more digits (issue #15.10)


def test_six_to_nine_digit_footnote_numbers_are_read() -> None:
    text = "September 3, x [123456] and [987654321].\n[123456] https://a.kz/1\n[987654321] https://a.kz/2\n"
    digest = parse_digest(text, year=2021)
    assert digest.incidents[0].footnotes == [123456, 987654321]
    assert [f.number for f in digest.footnotes] == [123456, 987654321]
    assert digest.problems == []


def test_a_longer_footnote_number_is_a_problem_naming_its_line() -> None:
    text = (
        "September 3, x [1] and [12345678901].\n[1] https://a.kz/1\n[12345678901] https://a.kz/2\n"
    )
    digest = parse_digest(text, year=2021)
    assert digest.incidents[0].footnotes == [1]
    long = [p for p in digest.problems if "more than 9 digits" in p.message]
    assert [(p.code, p.line) for p in long] == [
        (ProblemCode.UNPARSED_LINE, 1),
        (ProblemCode.UNPARSED_LINE, 3),
    ]
    assert "[12345678901]" in long[0].message


# ---------------------------------------------------------------------------
# bidirectional controls (issue #15.13)


def test_bidi_controls_in_a_footnote_url_are_flagged_and_removed() -> None:
    text = "September 3, x [1].\n[1] https://a.kz/news/\u202egpj.exe\n"
    digest = parse_digest(text, year=2021)
    assert digest.footnotes[0].urls[0].url == "https://a.kz/news/gpj.exe"
    assert digest.sources[0].canonical_url == "https://a.kz/news/gpj.exe"
    (problem,) = digest.problems
    assert problem.code == ProblemCode.BIDI_CONTROL
    assert (problem.line, problem.footnote) == (2, 1)
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in problem.message


@pytest.mark.parametrize("char", ["\u202a", "\u202d", "\u2066", "\u2069", "\u200e", "\u200f"])
def test_bidi_controls_in_incident_text_are_flagged(char: str) -> None:
    text = f"September 3, Almaty, activist {char}Reichert Roman{char} [1].\n[1] https://a.kz/\n"
    digest = parse_digest(text, year=2021)
    assert [(p.code, p.line, p.footnote) for p in digest.problems] == [
        (ProblemCode.BIDI_CONTROL, 1, None)
    ]
    assert f"U+{ord(char):04X}" in digest.problems[0].message


@pytest.mark.parametrize("year", [MIN_YEAR - 1, MAX_YEAR + 1, 9999, 10**30, -5, 0])
def test_a_year_out_of_range_is_refused_not_overflowed(year: int) -> None:
    # 9999 with a December incident overflowed date arithmetic (+30 days) downstream
    with pytest.raises(ValueError, match=f"between {MIN_YEAR} and {MAX_YEAR}"):
        parse_digest("December 20, x [1].\n[1] https://a.kz/\n", year=year)


def test_the_edge_years_parse() -> None:
    for year in (MIN_YEAR, MAX_YEAR):
        digest = parse_digest("December 31, x [1].\n[1] https://a.kz/\n", year=year)
        assert digest.incidents[0].date == dt.date(year, 12, 31)


# ---- garbled footnote URLs and one article under two schemes (#14.8, #14.9)

GARBLED = """September 1, Almaty, a picket.[1]
September 2, Almaty, a fine.[2]
September 3, Almaty, a detention.[3]
September 4, Almaty, a search.[4]
September 5, Almaty, an arrest.[5][6]
[1] htps//rus.azattyq.org/a/31000001.html
[2] https//tirek.info/post-2/
[3] ttps://kaztag.kz/ru/news/3
[4] rus.azattyq.org/a/31000004.html
[5] http://rus.azattyq.org/a/31000005.html
[6] https://rus.azattyq.org/a/31000005.html
"""


def test_a_garbled_url_is_the_footnotes_url_with_a_problem_saying_so() -> None:
    digest = parse_digest(GARBLED, name="garbled", year=2021)
    urls = {f.number: [u.canonical_url for u in f.urls] for f in digest.footnotes}
    assert urls[1] == ["https://rus.azattyq.org/a/31000001.html"]
    assert urls[2] == ["https://tirek.info/post-2/"]
    assert urls[3] == ["https://kaztag.kz/ru/news/3"]
    assert urls[4] == ["http://rus.azattyq.org/a/31000004.html"]
    codes = {(p.code, p.footnote) for p in digest.problems}
    assert not any(code == "missing_footnote" for code, _ in codes)
    repaired = [p for p in digest.problems if p.code == "invalid_url"]
    assert {p.footnote for p in repaired} == {1, 2, 3, 4}
    assert all("read as" in p.message and p.line for p in repaired)


def test_http_and_https_of_one_page_are_one_source() -> None:
    digest = parse_digest(GARBLED, name="garbled", year=2021)
    (source,) = [s for s in digest.sources if "31000005" in s.canonical_url]
    assert source.footnotes == [5, 6]
    dup = [p for p in digest.problems if p.code == "duplicate_url"]
    assert [(p.footnote, "[5]" in p.message) for p in dup] == [(6, True)]
