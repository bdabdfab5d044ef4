"""`sourcevault run` itself (the README's first command), through the fixture web."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtureweb import FixtureWeb, route_through
from worker.cli import app
from worker.runtime import close_runtime

pytestmark = pytest.mark.integration

DIGEST = Path(__file__).resolve().parents[2] / "examples" / "2021-09-kazakhstan.txt"


def test_run_writes_the_sealed_report_byte_for_byte_and_a_summary(
    fixture_web_session: FixtureWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    route_through(monkeypatch, fixture_web_session, embedded=True)
    data, out = tmp_path / "data", tmp_path / "out"
    try:
        result = CliRunner().invoke(
            app, ["run", str(DIGEST), "--data-dir", str(data), "--out", str(out)]
        )
    finally:
        close_runtime()
    assert result.exit_code == 0, result.output
    sealed = list((data / "reports").glob("*/report.json"))
    assert len(sealed) == 1  # the report finalize wrote, and the custody log hashed
    for name in ("report.json", "report.csv"):
        assert (out / name).read_bytes() == (sealed[0].parent / name).read_bytes()
    assert "<html" in (out / "report.html").read_text(encoding="utf-8").lower()
    said = " ".join(result.output.split())  # rich wraps at the terminal's width
    assert "captured 46 sources" in said, said  # the wp-admin link is never fetched
    assert f"wrote {out / 'report.json'}" in result.output.replace("\n", "")
