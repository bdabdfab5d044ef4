"""The Alembic migrations produce exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from worker.store import migrations
from worker.store.engine import make_engine
from worker.store.migrations.__main__ import main as migrations_main
from worker.store.models import Base


def _current(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def test_a_fresh_database_migrates_to_exactly_the_models_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = migrations.schema_diff(conn)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert set(Base.metadata.tables) | {"alembic_version"} == tables
    assert _current(database_url) == set(migrations.head_revisions())


def test_downgrade_to_base_then_upgrade_again(database_url: str) -> None:
    make_engine(database_url).dispose()
    cfg = migrations.alembic_config(database_url)
    command.downgrade(cfg, "base")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert migrations.schema_diff(conn) == []
    engine.dispose()


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    # three workers booting against one empty database: the lock serializes the upgrade
    def boot(_: int) -> None:
        make_engine(database_url).dispose()

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(boot, range(3)))
    assert _current(database_url) == set(migrations.head_revisions())


def test_an_unversioned_database_matching_the_models_is_stamped(database_url: str) -> None:
    # a data dir made by create_all before migrations existed
    engine = create_engine(database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    assert _current(database_url) == set()
    make_engine(database_url).dispose()
    assert _current(database_url) == set(migrations.head_revisions())


def test_an_unversioned_database_that_differs_is_refused_with_the_difference(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    Base.metadata.tables["runs"].create(engine)
    engine.dispose()
    with pytest.raises(migrations.MigrationError, match="no alembic_version"):
        make_engine(database_url)


def test_the_check_command_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert migrations_main(["check"]) == 0
    assert "match" in capsys.readouterr().out
