"""Debian's headless Chromium driven by Playwright (its own browser download is not used)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.harness import SeededSet, Server, seed_set

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


# Module scope: Playwright's sync API runs an event loop in this thread while it is open, and
# the integration tests need the thread's loop free for asyncio.run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / str(request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def seeded(db_url: str) -> tuple[str, SeededSet]:
    return db_url, seed_set(db_url, members=8, prior_for=(1,))


@pytest.fixture
def server(seeded: tuple[str, SeededSet], tmp_path: Path) -> Iterator[Server]:
    with Server(seeded[0], log_path=tmp_path / "server.log") as running:
        yield running
