"""The migrations: pytest-alembic's standard tests (one head, upgrade from empty, every step down
and up again, the models match what the migrations build), and no step of the history loses a
record of a populated database. On SQLite, and on PostgreSQL when the suite runs there.

The migrations run through the app's own Alembic config (app.db.database.alembic_config, what
`migrate` uses at start-up) on a plain engine like the one migrations/env.py makes for `migrate`:
not the app's, whose SQLite connections enforce foreign keys, which SQLite's way of altering a
table (copy it, drop the old one, rename the copy) cannot run under once rows point at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from pytest_alembic import MigrationContext, runner
from pytest_alembic.config import Config as RunnerConfig
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

from app.db import database

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]

ROWS_PER_TABLE = 2


@pytest.fixture
def alembic_config(db_url: str) -> Config:
    return database.alembic_config(db_url)


@pytest.fixture
def alembic_engine(db_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def alembic_runner(alembic_config: Config, alembic_engine: sa.Engine) -> Iterator[MigrationContext]:
    """pytest-alembic's runner, built here: its plugin is off (see pyproject.toml)."""
    with runner(config=RunnerConfig.from_raw_config(alembic_config), engine=alembic_engine) as it:
        yield it


def _steps() -> list[tuple[str, str]]:
    """Each migration as (the revision before it, its own), oldest first."""
    script = ScriptDirectory(str(database.MIGRATIONS))
    steps = [
        (rev.down_revision, rev.revision)
        for rev in script.walk_revisions()
        if isinstance(rev.down_revision, str)
    ]
    return list(reversed(steps))


@pytest.mark.parametrize(("before", "after"), _steps(), ids=lambda rev: str(rev))
def test_a_migration_keeps_every_record(
    alembic_runner: MigrationContext, alembic_engine: sa.Engine, before: str, after: str
) -> None:
    """Fill every table at `before` (a few rows each, every column set, foreign keys pointing
    at real rows), upgrade one step, and find every row again with the same values in every
    column that still exists. The newest step is the one that matters for a release: the test
    for it is `[<head-1>-<head>]`."""
    alembic_runner.migrate_up_to(before)
    written = _populate(alembic_engine)
    assert written, "nothing to populate"
    alembic_runner.migrate_up_to(after)

    after_schema = _reflect(alembic_engine)
    with alembic_engine.connect() as connection:
        for name, rows in written.items():
            table = after_schema.tables.get(name)
            assert table is not None, f"{after} dropped the table {name}"
            kept = [c for c in rows[0] if c in table.c]
            found = [
                {c: row[c] for c in kept} for row in connection.execute(sa.select(table)).mappings()
            ]
            assert len(found) == len(rows), f"{name}: {len(found)} rows after {after}"
            for row in rows:
                assert {c: row[c] for c in kept} in found, f"{name}: lost or changed {row}"


def _reflect(engine: sa.Engine) -> sa.MetaData:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    return metadata


def _populate(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """Insert ROWS_PER_TABLE rows in every table (parents first); returns what was written."""
    written: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as connection:
        for table in _reflect(engine).sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = [_row(table, n, written) for n in range(ROWS_PER_TABLE)]
            connection.execute(table.insert(), rows)
            written[table.name] = rows
    return written


def _row(table: sa.Table, n: int, written: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Row `n` of `table`: a foreign key names row `n` of its parent, other values say where
    they belong and differ between rows (so primary and unique keys hold)."""
    row: dict[str, Any] = {}
    for column in table.columns:
        parents = [fk.column for fk in column.foreign_keys]
        if parents:
            parent = parents[0]
            row[column.name] = written[parent.table.name][n][parent.name]
        else:
            row[column.name] = _value(column, n)
    return row


def _value(column: sa.Column[Any], n: int) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return n % 2 == 0
    if isinstance(kind, sa.Integer):
        return 1_700_000_000_000 + n if isinstance(kind, sa.BigInteger) else 10 + n
    if isinstance(kind, sa.String):  # Text and VARCHAR alike
        text = f"{n}-{column.table.name}.{column.name}"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"no sample value for {column.table.name}.{column.name}: {kind!r}")
