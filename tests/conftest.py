"""The database under test: SQLite in the test's tmp_path, or with SETROOM_TEST_DATABASE=postgres
a fresh database per test on the server SETROOM_TEST_PG_DSN names (scripts/with-postgres)."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, pool, text

ON_POSTGRES = os.environ.get("SETROOM_TEST_DATABASE") == "postgres"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="PostgreSQL only: make test runs it under scripts/with-postgres")
    for item in items:
        if not ON_POSTGRES and item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'setroom.db'}"
        return
    server = make_url(os.environ["SETROOM_TEST_PG_DSN"])
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()
