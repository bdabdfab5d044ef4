"""The `sourcevault` command line (typer). Thin: every command calls plain functions.

The commands live in `digests` (one digest's life) and `ops` (the long-running parts and
the operator's tools); importing them registers them on `app`.
"""

from __future__ import annotations

from worker.cli import digests, ops
from worker.cli.common import app, printable

__all__ = ["app", "digests", "main", "ops", "printable"]


def main() -> None:
    app()
