"""The `sourcevault` command line (typer). Thin: every command calls plain functions.

The commands live in `digests` (one digest's life) and `ops` (the long-running parts and
the operator's tools); importing them registers them on `app`.
"""

from __future__ import annotations

import gc

from worker.cli import digests, ops
from worker.cli.common import app, printable

__all__ = ["app", "digests", "main", "ops", "printable"]


def main() -> None:
    try:
        app()
    finally:
        # At exit the interpreter's last collections walk every object `run` left
        # (~1 s after a 300-source run); frozen, they are skipped. Nothing else changes:
        # atexit handlers still run, files are still flushed and closed.
        gc.freeze()
