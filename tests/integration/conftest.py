from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import SeededSet, Server, seed_set


@pytest.fixture
def seeded(db_url: str) -> SeededSet:
    return seed_set(db_url, members=8, prior_for=(1, 2))


@pytest.fixture
def server(db_url: str, seeded: SeededSet, tmp_path: Path) -> Iterator[Server]:
    with Server(db_url, log_path=tmp_path / "server.log") as running:
        yield running
