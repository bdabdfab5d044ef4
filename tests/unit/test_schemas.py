"""The public surface of schemas/ and its committed JSON Schema files."""

from __future__ import annotations

import inspect

import pydantic
import pytest

import schemas
from schemas import Problem, ProblemCode, Report, SourceStatus, Verdict
from schemas.export import JSON_DIR, render


def test_all_lists_every_public_model() -> None:
    public = {
        name
        for name, obj in vars(schemas).items()
        if not name.startswith("_") and inspect.isclass(obj)
    }
    assert public == set(schemas.__all__)


def test_committed_json_schemas_are_current() -> None:
    for name, text in render().items():
        assert (JSON_DIR / name).read_text("utf-8") == text, (
            f"run python -m schemas.export ({name})"
        )


def test_status_words_are_the_design_contract_plus_not_captured_and_censored() -> None:
    # DESIGN.md's ten words, kept; plus not_captured, which says *we* failed (storage, an
    # interrupted run) so that no such source is ever reported as a fact about its link,
    # and censored: it answers through another vantage, not from here (#18 §1)
    assert {s.value for s in SourceStatus} - {"not_captured", "censored"} == {
        "ok",
        "dead",
        "soft_404",
        "redirected_away",
        "login_wall",
        "blocked",
        "unreachable",
        "not_public",
        "invalid",
        "refused",
    }
    assert {v.value for v in Verdict} == {"verified", "needs_review", "broken", "unsourced"}


def test_problem_codes_include_the_digest_contract() -> None:
    contract = {
        "missing_footnote",
        "orphan_footnote",
        "unsourced_incident",
        "duplicate_url",
        "not_public_url",
        "invalid_url",
        "unparsed_line",
        "undated_incident",
    }
    assert contract <= {c.value for c in ProblemCode}


def test_models_reject_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        Problem.model_validate({"code": "invalid_url", "message": "x", "colour": "red"})


def test_report_requires_a_digest_summary() -> None:
    with pytest.raises(pydantic.ValidationError):
        Report.model_validate({"incidents": []})
