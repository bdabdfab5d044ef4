"""`sourcevault parse`: digest text never reaches the terminal as control sequences, and
`--year` is bounded (issue #15.10, #15.13)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from worker.cli import app, printable

HOSTILE = (
    "September 3, Almaty, \x1b[2J\x1b]0;pwned\x07Reichert Roman \u202eevil\u202c [1].\n"
    "[1] https://a.kz/\x1b[31mred\n"
    "\x9b31m a C1 CSI line\n"
)


def test_parse_prints_escape_sequences_escaped(tmp_path: Path) -> None:
    digest = tmp_path / "hostile.txt"
    digest.write_text(HOSTILE, "utf-8")
    r = CliRunner().invoke(app, ["parse", str(digest), "--year", "2021"])
    assert r.exit_code == 0, r.output
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\u202c"):
        assert raw not in r.output
    assert "\\x1b[2J" in r.output
    assert "\\u202e" in r.output
    assert "\\x9b31m" in r.output
    assert "bidi_control" in r.output


def test_printable_escapes_only_controls() -> None:
    assert printable("Алматы [1] “ok”").plain == "Алматы [1] “ok”"
    assert printable("a\tb\x00c\u2066d").plain == "a\\tb\\x00c\\u2066d"


@pytest.mark.parametrize("year", ["9999", "1989", "2101", "99999999999999999999999", "-1"])
def test_an_out_of_range_year_is_a_clear_error_not_a_traceback(tmp_path: Path, year: str) -> None:
    digest = tmp_path / "d.txt"
    digest.write_text("December 30, x [1].\n[1] https://a.kz/\n", "utf-8")
    for command in ("parse", "run"):
        r = CliRunner().invoke(app, [command, str(digest), "--year", year])
        assert r.exit_code == 2, r.output
        assert isinstance(r.exception, SystemExit)  # click's usage error, no traceback
        assert "Traceback" not in r.output
        flat = " ".join(r.output.replace("│", " ").split())
        assert "--year" in flat and ("1990" in flat or "2100" in flat), flat
