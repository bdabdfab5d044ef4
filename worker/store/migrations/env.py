"""Alembic environment: the models' metadata (worker.store.models.Base) and the URL from Settings.

Run programmatically by `worker.store.migrations.upgrade` (which hands over its connection in
`config.attributes["connection"]`), or by `python -m worker.store.migrations` (URL from
`sqlalchemy.url`, else SOURCEVAULT_DATABASE_URL / the data dir's SQLite file).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from worker.settings import load_settings
from worker.store.models import Base

config = context.config


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_settings().effective_database_url


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = create_engine(_url())
        try:
            with engine.begin() as connection:
                _run(connection)
        finally:
            engine.dispose()
