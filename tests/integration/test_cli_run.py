"""`sourcevault run` itself (the README's first command), through the fixture web."""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document
from lxml import html as lxml_html
from typer.testing import CliRunner

from schemas import Report
from tests.fixtureweb import FixtureWeb, route_through
from worker.cli import app
from worker.runtime import close_runtime

pytestmark = pytest.mark.integration

DIGEST = Path(__file__).resolve().parents[2] / "examples" / "2021-09-kazakhstan.txt"


def test_run_writes_the_sealed_report_byte_for_byte_and_a_summary(
    fixture_web_session: FixtureWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    route_through(monkeypatch, fixture_web_session, embedded=True)
    # the RFE/RL CDN's ~270 photos, styles and fonts take two minutes at the default 0.5 s
    # between requests; politeness has its own tests
    monkeypatch.setenv("SOURCEVAULT_PER_HOST_DELAY", "0")
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
    run_id = sealed[0].parent.name

    # one report: `report` serves the sealed file's facts, not a second build
    shown = CliRunner().invoke(app, ["report", run_id, "--data-dir", str(data)])
    assert shown.exit_code == 0, shown.output
    assert Report.model_validate_json(shown.output) == Report.model_validate_json(
        sealed[0].read_text("utf-8")
    )

    # the digest written back: every archived source's footnote carries its copy
    page = CliRunner().invoke(app, ["robustify", run_id, "--data-dir", str(data)])
    assert page.exit_code == 0, page.output
    tree = lxml_html.fromstring(page.output)
    robust = tree.xpath("//a[@data-originalurl]")
    report = Report.model_validate_json(sealed[0].read_text("utf-8"))
    archived = {s.url for s in report.sources if s.capture and s.capture.replay_url}
    with_copy = {a.get("data-originalurl") for a in robust if a.get("data-versionurl")}
    assert archived and archived <= with_copy
    docx = tmp_path / "digest.docx"
    made = CliRunner().invoke(
        app, ["robustify", run_id, "--format", "docx", "--out", str(docx), "--data-dir", str(data)]
    )
    assert made.exit_code == 0, made.output
    text = "\n".join(p.text for p in Document(str(docx)).paragraphs)
    assert text.count("archived copy: ") >= len(archived)
