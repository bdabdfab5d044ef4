"""What every command pays at start-up (heavy libraries a later step needs stay out) and exit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_the_cli_does_not_import_scipy_datasketch_or_the_extractors_at_start() -> None:
    # datasketch's package imports scipy (~0.85 s); only a report with two texts needs it;
    # trafilatura and htmldate (~0.2 s) run in the extraction processes or a capture
    code = (
        "import json, sys, worker.cli; "
        "heavy = {'scipy', 'datasketch', 'trafilatura', 'htmldate'}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_command_line_freezes_its_objects_before_the_interpreter_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from worker.cli import main

    monkeypatch.setattr(sys, "argv", ["sourcevault", "--help"])
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit):
            main()
        assert gc.get_freeze_count() > 0  # the exit's collections will skip them
    finally:
        gc.unfreeze()
