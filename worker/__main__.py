"""The `sourcevault` command: `python -m worker`, and the console script (pyproject).

The command line's imports (typer, pydantic, SQLAlchemy, the report stack) load with the
collector paused and are frozen after (worker.collector.loading)."""

from __future__ import annotations


def main() -> None:
    from worker.collector import loading

    with loading():
        from worker.cli import main as command_line
    command_line()


if __name__ == "__main__":
    main()
