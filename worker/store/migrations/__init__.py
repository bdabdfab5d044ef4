"""Schema migrations (Alembic): `upgrade(engine)` brings any database to the models' schema.

`worker.store.models.make_engine` calls `upgrade` for SQLite and PostgreSQL alike, so a fresh
database, an old one and a deployment's shared one all end at `head`. Several processes
may start at once (three workers on one PostgreSQL): the upgrade runs under a lock (a
PostgreSQL advisory lock; for SQLite a file lock beside the database), and a database
already at head costs one small query.

The tooling for writing migrations is `python -m worker.store.migrations` (see README.md here).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

__all__ = [
    "MIGRATIONS_DIR",
    "MigrationError",
    "alembic_config",
    "head_revisions",
    "schema_diff",
    "upgrade",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
# Any constant will do; it only has to be the same in every process of a deployment.
_PG_LOCK_KEY = 0x5F0C_7A11


class MigrationError(RuntimeError):
    """The database cannot be brought to the models' schema automatically."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for this package (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser interpolation: a literal % (in a password) must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def schema_diff(connection: Connection, metadata: MetaData | None = None) -> list[object]:
    """What differs between the database and the models (empty: identical)."""
    if metadata is None:
        from worker.store.models import Base  # lazily: the models need not load for upgrade

        metadata = Base.metadata
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(ctx, metadata))


def upgrade(engine: Engine) -> None:
    """Run `alembic upgrade head` on the engine's database, once, under a lock."""
    with _sqlite_file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Held to the end of this transaction; PostgreSQL's DDL is transactional, so a
            # second process waits here and then finds the database at head.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = set(MigrationContext.configure(conn).get_current_heads())
        if current == set(head_revisions()):
            return
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        if not current and "runs" in inspect(conn).get_table_names():
            _adopt_unversioned(conn, cfg)
            return
        log.info("migrating database %s from %s to head", _safe_url(engine), sorted(current))
        command.upgrade(cfg, "head")


def _adopt_unversioned(conn: Connection, cfg: Config) -> None:
    # A database made by create_all before migrations existed: stamp it when it already
    # matches the models, rather than failing on "table already exists".
    diff = schema_diff(conn)
    if diff:
        shown = "; ".join(str(d) for d in diff[:5])
        raise MigrationError(
            "the database has tables but no alembic_version, and differs from the models "
            f"({len(diff)} differences: {shown}). Migrate it by hand, then "
            "`python -m worker.store.migrations stamp head`, or start from an empty database."
        )
    log.warning("database without alembic_version matches the models: stamping head")
    command.stamp(cfg, "head")


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
