"""A few threads that run the event log's writes for the event loop.

What `loop.run_in_executor` does, with less machinery per call: the default executor wraps each
call in a concurrent.futures.Future (a Condition and its lock), a work item and a semaphore
check, and asyncio chains that future to its own; here a call is one tuple on a SimpleQueue and
one `call_soon_threadsafe` back. At hundreds of commands a second that hand-off cost as much CPU
as the SQLite write itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class Writer:
    def __init__(self, threads: int | None = None) -> None:
        # As many as the default executor would use: PostgreSQL writes of several meetings go on
        # side by side; SQLite serialises them itself.
        self._size = threads or min(32, (os.cpu_count() or 1) + 4)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def run(self, call: Callable[[], T]) -> T:
        """Run `call` on one of the threads and return (or raise) what it did. Cancelling the
        caller does not stop a call already started, as with run_in_executor."""
        if len(self._threads) < self._size:
            self._start_thread()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, call))
        return await future

    def close(self) -> None:
        """Let the threads finish what is queued, then end."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join(timeout=5)

    def _start_thread(self) -> None:
        with self._lock:
            if len(self._threads) >= self._size:
                return
            thread = threading.Thread(
                target=self._work, name=f"setroom-writer-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, call = job
            try:
                result = call()
            except BaseException as error:  # handed to the caller, as an executor would
                _answer(loop, _fail, future, error)
            else:
                _answer(loop, _succeed, future, result)
            del job, future, call


def _answer(
    loop: asyncio.AbstractEventLoop,
    settle: Callable[[asyncio.Future[Any], Any], None],
    future: asyncio.Future[Any],
    value: Any,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
        loop.call_soon_threadsafe(settle, future, value)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
