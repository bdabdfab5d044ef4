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


_COUNT_FULL_COLLECTIONS = """
import atexit, gc, sys
full = []
gc.callbacks.append(lambda phase, info: phase == "start" and info["generation"] == 2
                    and full.append(1))
atexit.register(lambda: print("full collections:", len(full)))
sys.argv = ["sourcevault", "--help"]
{load}
"""


@pytest.mark.parametrize(
    ("load", "paused"),
    [
        ("from worker.__main__ import main; main()", True),  # the `sourcevault` command
        ("from worker.cli import main; main()", False),  # the CLI imported bare
    ],
)
def test_the_command_loads_its_code_without_a_full_collection(load: str, paused: bool) -> None:
    # each full collection walks everything loaded so far: `run` made four before its
    # worker was up; the command's own imports are loaded with the collector paused
    code = _COUNT_FULL_COLLECTIONS.format(load=load)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    count = int(out.stdout.rsplit("full collections:", 1)[1])
    assert (count == 0) is paused, out.stdout[-200:]
