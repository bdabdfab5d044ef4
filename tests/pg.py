"""A private PostgreSQL cluster for tests (Debian's package: initdb + pg_ctl on 127.0.0.1).

`postgres_cluster(...)` runs initdb in a fresh temp dir, starts the server on 127.0.0.1
and a free port (its socket in the same dir), and stops it afterwards. initdb refuses to
run as root, so as root the cluster runs as the `postgres` OS user (Debian's package
creates it) via `runuser`, in a temp dir that user owns.

Fixtures (re-exported by tests/conftest.py): `pg_cluster` (session), `database_url`
(function: a fresh database per test, parametrized over sqlite and postgresql).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.servers import free_port

__all__ = ["PgCluster", "database_url", "pg_bin_dir", "pg_cluster", "postgres_cluster"]

_counter = itertools.count(1)


def pg_bin_dir() -> Path:
    """Where initdb and pg_ctl live: $SOURCEVAULT_TEST_PG_BIN, PATH, or Debian's newest."""
    if env := os.environ.get("SOURCEVAULT_TEST_PG_BIN"):
        return Path(env)
    if found := shutil.which("initdb"):
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise RuntimeError(
            "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin): "
            "run `bash .ci/test`, which installs Debian's postgresql"
        )
    return Path(candidates[-1]).parent


@dataclass(frozen=True)
class PgCluster:
    host: str
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for a database of this cluster."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """Create a new empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)


def _as_cluster_owner() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) to run the server as a non-root user."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(
            "running as root, and there is no `postgres` OS user to run initdb as "
            "(Debian's postgresql package creates it)"
        ) from exc
    return ["runuser", "-u", "postgres", "--"], owner.pw_uid, owner.pw_gid


@contextmanager
def postgres_cluster() -> Iterator[PgCluster]:
    bindir = pg_bin_dir()
    prefix, uid, gid = _as_cluster_owner()
    # Not under pytest's tmp dir: that is private to root and the postgres user can't enter.
    workdir = Path(tempfile.mkdtemp(prefix="sv-pg-"))
    if uid is not None and gid is not None:
        os.chown(workdir, uid, gid)
    data = workdir / "data"
    port = free_port()
    log = workdir / "server.log"

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, cwd=workdir)
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {proc.stdout}{proc.stderr}{tail}")

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
    # Throwaway data: durability off (fast), room for three workers' connection pools.
    options = (
        f"-k {workdir} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=300"
    )
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start")
    try:
        yield PgCluster("127.0.0.1", port)
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            cwd=workdir,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL server on 127.0.0.1 for the session (one per xdist worker)."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database per test: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database()
