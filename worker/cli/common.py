"""What every command shares: the typer app, options, settings, errors."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from schemas import Digest
from worker.digest.parse import MAX_YEAR, MIN_YEAR, parse_digest
from worker.digest.read import DigestInputError, read_digest_file
from worker.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Archive and verify the sources of a human-rights monitoring digest.",
)
console = Console(stderr=True)
log = logging.getLogger("sourcevault")

DigestArg = Annotated[Path, typer.Argument(help="the digest text file", show_default=False)]
YearOpt = Annotated[
    int | None,
    typer.Option(
        "--year",
        min=MIN_YEAR,
        max=MAX_YEAR,
        help=f"year for dates written without one ({MIN_YEAR}..{MAX_YEAR})",
    ),
]
# C0 and C1 controls (ESC starts ANSI sequences), DEL, and bidirectional controls: shown
# escaped, never sent to the terminal (digest text is untrusted input)
_UNPRINTABLE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> Text:
    """`text` as a rich Text (no markup) with every control character escaped (`\\x1b`)."""
    return Text(_UNPRINTABLE_RE.sub(lambda m: repr(m.group())[1:-1], text))


DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="WARCs and database [env SOURCEVAULT_DATA_DIR]")
]
BrokerOpt = Annotated[
    str | None,
    typer.Option("--broker-url", help="Celery broker [env SOURCEVAULT_BROKER_URL]"),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def cli_settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise fail(str(exc)) from exc


def load_digest(path: Path, year: int | None) -> Digest:
    try:
        text = read_digest_file(path)
    except FileNotFoundError as exc:
        raise fail(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise fail(f"{path}: is a directory, not a digest file") from exc
    except DigestInputError as exc:
        raise fail(f"{path}: {exc}") from exc
    return parse_digest(text, name=path.stem, year=year)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
