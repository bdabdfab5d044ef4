"""The extraction bench's labelled pages and its report are well-formed (no timing, and no
assertion on anyone's accuracy: those figures move as the extractor improves)."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench import extraction
from bench.extraction_pages import CLASSES, LANGS, Page, build_pages
from bench.extraction_pages.generate import MIN_CHARS, default_text, precise_text

ALMATY = ZoneInfo("Asia/Almaty")
URL_DAY = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/")


def of(cls: str) -> list[Page]:
    return [p for p in build_pages() if p.cls == cls]


def test_every_class_is_there_with_well_formed_labels() -> None:
    pages = build_pages()
    counts = Counter(p.cls for p in pages)
    assert len(pages) >= 240
    assert set(counts) == set(CLASSES) and min(counts.values()) >= 15, counts
    assert sum(p.lang == "kk" for p in pages) >= len(pages) / 4
    assert Counter(p.lang for p in pages).most_common(1)[0][0] == "ru"
    assert len({p.id for p in pages}) == len(pages)
    for p in pages:
        assert dt.date.fromisoformat(p.published).isoformat() == p.published, p.id
        assert p.text.strip() and unicodedata.is_normalized("NFC", p.text), p.id
        assert p.lang in LANGS and p.cls in CLASSES and p.labels["class"] == p.cls
        assert p.url.startswith(("http://", "https://")) and p.html


def test_pages_are_deterministic() -> None:
    again = build_pages.__wrapped__()  # type: ignore[attr-defined]
    assert [(p.id, p.html, p.published, p.text) for p in again] == [
        (p.id, p.html, p.published, p.text) for p in build_pages()
    ]


def test_tz_pages_state_a_day_that_asia_almaty_would_change() -> None:
    for p in of("tz"):
        assert p.stamp is not None and p.stamp.encode() in p.html, p.id
        stamp = dt.datetime.fromisoformat(p.stamp)
        assert stamp.utcoffset() is not None
        assert stamp.date().isoformat() == p.published, p.id
        assert stamp.astimezone(ALMATY).date().isoformat() != p.published, (p.id, p.stamp)


def test_lost_pages_are_lost_by_the_precise_pass_and_found_by_plain_trafilatura() -> None:
    for p in of("lost"):
        assert len(precise_text(p.html, p.url)) < MIN_CHARS, p.id
        assert len(default_text(p.html, p.url)) >= MIN_CHARS, p.id


def test_disagree_pages_split_between_a_right_and_a_wrong_json_ld() -> None:
    pages = of("disagree")
    right = [p for p in pages if p.variant == "jsonld-right"]
    assert len(right) >= 7 and len(pages) - len(right) >= 7
    for p in pages:
        m = URL_DAY.search(p.url)
        assert m, p.url
        url_day = "-".join(m.groups())
        json_ld = p.html.split(b'type="application/ld+json">', 1)[1].split(b"</script>", 1)[0]
        days = set(re.findall(rb"\d{4}-\d{2}-\d{2}", json_ld))
        assert days - {url_day.encode()}, p.id  # the JSON-LD says another day
        assert (p.published != url_day) == (p in right), p.id


def test_decoding_pages_carry_their_fault() -> None:
    forms = {p.variant: p for p in of("decoding")}
    assert set(forms) >= {"badbyte-declared", "badbyte-undeclared", "cp1251-header",
                          "cp1251-meta", "cut", "nfd", "nul"}  # fmt: skip
    for p in of("decoding"):
        if p.variant.startswith(("badbyte", "cp1251")):
            with pytest.raises(UnicodeDecodeError):
                p.html.decode("utf-8")
        if p.variant.startswith("cp1251"):
            assert p.html.decode("windows-1251")
            assert (p.charset == "windows-1251") == (p.variant == "cp1251-header")
            assert (b"windows-1251" in p.html) == (p.variant == "cp1251-meta")
        elif p.variant == "cut":
            with pytest.raises(UnicodeDecodeError):
                p.html.decode("utf-8")
            p.html[:-1].decode("utf-8")  # only the last letter is cut
        elif p.variant == "nfd":
            body = p.html.decode("utf-8")
            assert not unicodedata.is_normalized("NFC", body)
        elif p.variant == "nul":
            assert p.html.count(b"\x00") == 1


def test_token_f1_counts_nfc_lowercased_words() -> None:
    assert extraction.token_f1("Суд, СУД!", "суд суд") == 1.0
    assert extraction.token_f1(unicodedata.normalize("NFD", "Ерёмин йод"), "ерёмин йод") == 1.0
    assert extraction.token_f1("", "суд") == 0.0
    assert extraction.token_f1("суд пикет", "суд") == pytest.approx(2 / 3)


def test_report_has_every_figure_for_every_contender(tmp_path: Path) -> None:
    out = tmp_path / "extraction.json"
    report = extraction.main(["--limit", "16", "--json", str(out)])
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["summary"] == report["summary"]
    rows = written["pages"]
    assert len(rows) == 16 and Counter(r["class"] for r in rows) == dict.fromkeys(CLASSES, 2)
    summary = written["summary"]
    assert set(summary) == set(extraction.CONTENDERS)
    for name in extraction.CONTENDERS:
        assert set(summary[name]) == {*CLASSES, "all"}
        for cls, figures in summary[name].items():
            assert set(figures) == {"pages", *extraction.FIGURES}, (name, cls)
            assert 0 <= figures["day_accuracy"] <= 1 and 0 <= figures["text_f1"] <= 1
            assert 0 <= figures["lost"] <= figures["pages"] and figures["cpu_ms_median"] >= 0
        assert summary[name]["all"]["pages"] == 16
    for r in rows:
        assert set(r["contenders"]) == set(extraction.CONTENDERS)
        for answer in r["contenders"].values():
            assert {"published", "day_ok", "chars", "f1", "lost", "ms"} <= set(answer)
