"""`sourcevault users add|token|list`: manage the web app's logins and API tokens."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from archive.web.auth import AuthError, Role, UserStore
from archive.web.config import WebConfig

users_app = typer.Typer(no_args_is_help=True, help="Web app users (roles editor / auditor).")


def _store(data_dir: Path | None) -> UserStore:
    config = WebConfig()
    if config.users_file:
        return UserStore(config.users_file)
    base = data_dir or Path(os.environ.get("SOURCEVAULT_DATA_DIR", "./sourcevault-data"))
    return UserStore(base.expanduser().resolve() / "web" / "users.json")


DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="data dir [env SOURCEVAULT_DATA_DIR]")
]


@users_app.command("add")
def add(
    name: str,
    role: Annotated[Role, typer.Option("--role", help="editor (queues) or auditor (reads)")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="API tokens only, no login")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Add a user, or change a user's role or password."""
    if no_password:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user = _store(data_dir).add(name, role, password)
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{user.name}: {user.role}", err=True)


@users_app.command("token")
def token(name: str, data_dir: DataDir = None) -> None:
    """Issue an API token (printed once; only its hash is stored)."""
    try:
        value = _store(data_dir).issue_token(name)
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    sys.stdout.write(value + "\n")


@users_app.command("list")
def list_users(data_dir: DataDir = None) -> None:
    """Every user and role."""
    for user in _store(data_dir).list():
        sys.stdout.write(f"{user.name}\t{user.role}\n")
