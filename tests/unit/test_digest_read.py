"""One reader for digest files: the command line reads a .docx or .html as an upload does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docx import Document
from typer.testing import CliRunner

from worker.cli import app
from worker.digest.read import DigestInputError, read_digest_file

LINES = [
    "September 1, Almaty, Askar Kayirbek was detained at a picket.[1]",
    "September 3, Aktobe, Asylkhan Zhaubatyrov was fined.[2]",
    "[1] https://rus.azattyq.org/a/31438644.html",
    "[2] https://tirek.info/zhaubatyrov-oshtrafovan/",
]


def _docx(path: Path) -> Path:
    doc = Document()
    for line in LINES:
        doc.add_paragraph(line)
    doc.save(str(path))
    return path


def _html(path: Path) -> Path:
    body = "".join(f"<p>{line}</p>" for line in LINES[:2])
    notes = (
        '<ol><li>[1] <a href="https://rus.azattyq.org/a/31438644.html">Azattyq</a></li>'
        '<li>[2] <a href="https://tirek.info/zhaubatyrov-oshtrafovan/">Tirek</a></li></ol>'
    )
    path.write_text(f"<html><body>{body}{notes}</body></html>", "utf-8")
    return path


@pytest.mark.parametrize("make", [_docx, _html], ids=["docx", "html"])
def test_parse_reads_word_and_html_digests(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path / f"digest.{'docx' if make is _docx else 'html'}")
    result = CliRunner().invoke(app, ["parse", str(path), "--year", "2021", "--json"])
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.output)
    assert len(parsed["incidents"]) == 2
    assert [s["canonical_url"] for s in parsed["sources"]] == [
        "https://rus.azattyq.org/a/31438644.html",
        "https://tirek.info/zhaubatyrov-oshtrafovan/",
    ]


def test_a_file_type_it_cannot_read_is_named(tmp_path: Path) -> None:
    path = tmp_path / "digest.odt"
    path.write_bytes(b"PK\x03\x04 not a digest")
    with pytest.raises(DigestInputError, match=r"\.odt files are not digests"):
        read_digest_file(path)
    result = CliRunner().invoke(app, ["parse", str(path)])
    assert result.exit_code != 0 and "digest.odt" in result.output
