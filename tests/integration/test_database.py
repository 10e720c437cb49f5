"""The engine and the migrations, on the database under test (SQLite, or PostgreSQL under
scripts/with-postgres)."""

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool, text
from sqlmodel import Session, SQLModel, select

import app.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.db.database import alembic_config, make_engine, migrate
from app.db.tables import Meeting
from tests.harness import ROOT, seed_set


def test_migrations_build_the_schema_the_models_declare(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_workers_starting_together_take_turns_to_migrate(db_url: str) -> None:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", f"from app.db.database import migrate; migrate({db_url!r})"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    errors = [w.communicate(timeout=60)[1].decode() for w in workers]
    assert [
        (w.returncode, error) for w, error in zip(workers, errors, strict=True) if w.returncode
    ] == []
    seed_set(db_url, members=2)


def test_a_url_with_an_escaped_password_reaches_alembic_unchanged() -> None:
    url = "postgresql+psycopg://setroom:p%40ss%25word@db:5432/setroom"
    assert alembic_config(url).get_main_option("sqlalchemy.url") == url


@pytest.mark.postgres
def test_connections_the_server_dropped_are_replaced(db_url: str) -> None:
    seeded = seed_set(db_url, members=2)
    engine = make_engine(db_url)
    with Session(engine) as session:
        assert session.exec(select(Meeting.id)).all() == [seeded.meeting_id]
    admin = create_engine(db_url, poolclass=pool.NullPool)
    with admin.connect() as connection:
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    assert dropped >= 1
    with Session(engine) as session:
        assert session.exec(select(Meeting.id)).all() == [seeded.meeting_id]
    engine.dispose()
