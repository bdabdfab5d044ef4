"""The database engine: SQLite (WAL, pragmas) or PostgreSQL, migrated on open.

Apart from the models (worker.store.models) because it runs the migrations, whose
environment imports the models: models ← migrations ← engine, one way.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from worker.store.migrations import upgrade

__all__ = ["make_engine", "make_session_factory"]


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    # WAL lets the report reader run while worker threads write; the busy timeout turns
    # brief lock contention into a wait instead of "database is locked".
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    # The schema comes from the Alembic migrations (worker/migrations), never create_all:
    # a deployment's database must end exactly where a fresh one does.
    upgrade(engine)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
