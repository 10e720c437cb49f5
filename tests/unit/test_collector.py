"""The collector freeze keeps pauses short, and still reclaims what closed sockets left behind."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.collector import Freezer


class Node:
    """Stands for a socket's objects: a cycle, which only the collector can free."""

    def __init__(self) -> None:
        self.me = self


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world() -> Iterator[dict[str, int]]:
    """What the hub would tell the freezer: sockets closed so far, and open now."""
    yield {"closed": 0, "open": 10}
    gc.unfreeze()


def freezer(world: dict[str, int], clock: Clock, *, churn_thaw_s: float = 60) -> Freezer:
    return Freezer(
        every_s=1,
        thaw_minutes=30,
        churn_thaw_s=churn_thaw_s,
        closed=lambda: world["closed"],
        open_now=lambda: world["open"],
        clock=clock,
    )


def frozen_garbage(f: Freezer) -> weakref.ref[Node]:
    """A cycle frozen while in use, then dropped: its socket closed."""
    node = Node()
    f.tick()
    gone = weakref.ref(node)
    del node
    gc.collect()
    return gone


def test_without_departures_nothing_is_thawed(world: dict[str, int]) -> None:
    clock = Clock()
    f = freezer(world, clock)
    gone = frozen_garbage(f)
    clock.now += 29 * 60  # a measured run: sockets stay open, no full collection
    assert f.tick() is False
    gc.collect()
    assert gone() is not None


def test_garbage_frozen_with_a_closed_socket_is_reclaimed_within_the_churn_interval(
    world: dict[str, int],
) -> None:
    clock = Clock()
    f = freezer(world, clock)
    gone = frozen_garbage(f)
    world["closed"] += 1
    clock.now += 30
    assert f.tick() is False  # not yet: at most one full collection a minute
    assert gone() is not None
    clock.now += 30
    assert f.tick() is True
    assert gone() is None
    clock.now += 60
    assert f.tick() is False  # nobody left since


def test_when_the_last_socket_closes_the_garbage_goes_at_once(world: dict[str, int]) -> None:
    clock = Clock()
    f = freezer(world, clock)
    gone = frozen_garbage(f)
    world["closed"], world["open"] = 10, 0
    clock.now += 1
    assert f.tick() is True
    assert gone() is None


def test_the_churn_thaw_can_be_turned_off(world: dict[str, int]) -> None:
    clock = Clock()
    f = freezer(world, clock, churn_thaw_s=0)
    gone = frozen_garbage(f)
    world["closed"], world["open"] = 10, 0
    clock.now += 29 * 60
    assert f.tick() is False
    assert gone() is not None
    clock.now += 60  # the periodic thaw still comes
    assert f.tick() is True
    assert gone() is None
