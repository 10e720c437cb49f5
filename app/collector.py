"""Short garbage-collector pauses under load, without keeping closed sockets' garbage.

A worker with thousands of sockets holds hundreds of thousands of long-lived container objects
(connections, their queues and tasks, rooms' states). CPython's full (oldest generation)
collection walks all of them while holding the GIL: 300-500 ms at 2,000 connections, during
which no socket is served, and it comes back every few seconds under load. gc.freeze() moves
every object tracked so far into a permanent generation that no collection visits, so each
collection only walks what was allocated since the last freeze: a few milliseconds at most.

The price: a frozen object that later becomes part of an unreachable cycle is not reclaimed
while frozen (reference counting still frees everything that is not in a cycle). Sockets that
close leave such cycles (uvicorn's protocol object of each handshake with its parser, transport
and flow control; the traceback of a write that lost a race, with its frames and database
session), frozen while they were in use; with a thaw only every half hour, a soak with people
reconnecting all the time grew by ~2 MiB a minute a worker (docs/benchmarks.md, "Soak").

So the frozen objects go back to the collector for one full collection (`thaw`):
- when sockets have closed since the last thaw, at most every `churn_thaw_s` seconds, or at once
  when this worker holds no socket any more (no socket waits on its pause then);
- at the latest every `thaw_minutes` (garbage from elsewhere: pages, the broker's reconnects).
A worker whose sockets stay open (the benchmark's measured steps) never thaws for departures;
one with departures pays one full collection (~300-400 ms at ~180 sockets in the soak) every
`churn_thaw_s` instead of one every few seconds. 5 minutes by default: at one a minute the
soak's p99 went from 17 to 136 ms; the kept garbage is what that interval's departures leave.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable


class Freezer:
    def __init__(
        self,
        *,
        every_s: float,
        thaw_minutes: float,
        churn_thaw_s: float,
        closed: Callable[[], int],
        open_now: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`closed`: how many sockets have closed so far; `open_now`: how many are open."""
        self._every = every_s
        self._thaw_s = thaw_minutes * 60
        self._churn_s = churn_thaw_s
        self._closed = closed
        self._open_now = open_now
        self._clock = clock
        self._thawed_at = clock()
        self._closed_at_thaw = closed()

    async def run(self) -> None:
        gc.freeze()  # modules, templates, the engine: everything start-up built
        try:
            while True:
                await asyncio.sleep(self._every)
                self.tick()
        finally:  # stopped (the app shuts down): the collector sees everything again
            gc.unfreeze()

    def tick(self) -> bool:
        """Freeze what survived since the last tick, after a thaw when one is due. True when
        it thawed."""
        now = self._clock()
        since = now - self._thawed_at
        closed = self._closed()
        churned = (
            self._churn_s > 0
            and closed != self._closed_at_thaw
            and (since >= self._churn_s or self._open_now() == 0)
        )
        due = self._thaw_s > 0 and since >= self._thaw_s
        if churned or due:
            self._thawed_at, self._closed_at_thaw = now, closed
            gc.unfreeze()
            gc.collect()
        gc.freeze()
        return churned or due
