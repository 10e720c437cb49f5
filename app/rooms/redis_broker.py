"""The broker for several workers or hosts: Redis pub/sub, one channel per meeting.

A message is only the sequence a meeting has reached; the hub reads the events themselves from
the log. So the subscriber may lose messages (Redis restarts, the network drops, a connection goes
silent) at no cost but delay: after each (re)subscription the hub catches every live room up from
the log, and anything published after it arrives as usual.

One supervisor task owns the subscriber connection. It connects, subscribes every channel in one
command, then runs a reader and a pinger side by side; when either fails (an error, a closed
socket, a ping unanswered in time) it drops the connection and starts again after a capped,
jittered backoff.

Publishing never waits for Redis and never raises: by the time a command publishes, its events
are committed and this worker's own clients have them, so a Redis that is down or silent must
not hold the command (or the room's write lock) up. `publish` notes the newest sequence per
meeting; one publisher task sends what is noted, several meetings in one pipeline, and keeps
what failed to send it again once Redis answers.

How soon a silent Redis is noticed (a black hole: a partition or a dead NAT entry, no FIN, no
error). The subscriber pings every `ping_interval` seconds after the last pong and gives up when
a ping goes unanswered for `ping_timeout`; so the silence is noticed at most `ping_interval +
ping_timeout` after the last pong, and /readyz turns unready at the same moment (`healthy` wants
a pong that recent). With the defaults (settings broker_ping_interval 5 s, broker_ping_timeout
3 s) that is 8 s, well inside the 30 s we promise. Reconnecting then takes at most
`command_timeout` per attempt (connect and handshake; a black hole that still accepts
connections makes the handshake time out) plus a backoff capped at `backoff_cap`. Publishing
uses the same `command_timeout` as the socket timeout of its pooled connections, so a publish
into a black hole fails after 2 s and is kept for later. redis-py's own health_check_interval
is not used: it only checks a pooled connection when it is next taken, never an idle subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.rooms.broker import OnMessage, OnResync

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "setroom:meeting:"
WORKERS_KEY = "setroom:workers"
"""A set of the workers that have started and not yet been swept (see app.rooms.presence)."""
ALIVE_PREFIX = "setroom:worker:"
"""One key per live worker, its heartbeat: it expires when the worker stops beating."""


class SilentConnection(Exception):
    """The subscriber's ping went unanswered: the connection is dead without saying so."""


def detection_bound(ping_interval: float, ping_timeout: float) -> float:
    """The longest a silent Redis link goes unnoticed (see the module's docstring)."""
    return ping_interval + ping_timeout


class RedisBroker:
    """Redis pub/sub behind the Broker protocol. Times are in seconds."""

    def __init__(
        self,
        url: str,
        *,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        backoff_base: float = 0.1,
        backoff_cap: float = 2.0,
        command_timeout: float = 2.0,
        heartbeat_interval: float = 3.0,
        lapse_after: float = 15.0,
        prefix: str = CHANNEL_PREFIX,
    ) -> None:
        self.worker_id = secrets.token_hex(4)
        """This worker's name among the others; its connections' ids start with it."""
        self._url = url
        self._heartbeat_interval = heartbeat_interval
        self._lapse_after = lapse_after
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._command_timeout = command_timeout
        self._prefix = prefix
        self._client: Redis | None = None
        self._on_message: OnMessage | None = None
        self._on_resync: OnResync | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._channels: set[str] = set()
        """Every channel this worker wants, whether or not it is connected now."""
        self._conn: AbstractConnection | None = None
        """The live subscriber connection, while a session runs."""
        self._ready = False
        """True once the session's subscriptions are confirmed (its first pong came back)."""
        self._last_pong = 0.0
        self._up_since = 0.0
        """When this session's first pong came back (monotonic)."""
        self._ping_sent: float | None = None
        self._pending: dict[str, int] = {}
        """SUBSCRIBE commands sent per channel and not yet confirmed."""
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._unsent: dict[str, int] = {}
        """Meetings with a sequence to announce: noted by publish, or kept after a failure."""
        self._wake = asyncio.Event()
        """Set when there is something for the publisher to send."""
        self._publisher: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        """Wall-clock time the subscriber lost Redis (or started without it); None while up."""
        self._why = ""
        """What went wrong last, for /readyz."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.resubscribed = 0
        """Sessions established so far (the first connection counts)."""

    # The Broker protocol

    async def start(self, on_message: OnMessage, on_resync: OnResync | None = None) -> None:
        """Start the supervisor and wait a moment for the first subscription; a Redis that is
        down at start is not fatal: the worker serves and catches up once it is back."""
        self._on_message, self._on_resync = on_message, on_resync
        # No retries inside redis-py: the supervisor retries the subscriber, and a failed
        # publish is remembered and sent again after the next resubscription.
        self._client = Redis.from_url(
            self._url,
            socket_timeout=self._command_timeout,
            socket_connect_timeout=self._command_timeout,
            retry=Retry(NoBackoff(), 0),
            protocol=2,  # RESP2: pub/sub messages are plain replies the reader sees in order
        )
        self._down(time.time(), "not connected yet")
        self._supervisor = asyncio.create_task(self._supervise(), name="redis-broker")
        self._publisher = asyncio.create_task(self._publish_noted(), name="redis-publisher")
        self._heart = asyncio.create_task(self._beat(), name="redis-heartbeat")
        deadline = time.monotonic() + self._command_timeout
        while not self._ready and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for task in (self._supervisor, self._publisher, self._heart):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._supervisor = self._publisher = self._heart = None
        if self._client is not None:
            # Stopped beating: the others sweep whatever connections this worker left behind.
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(
                    self._client.delete(ALIVE_PREFIX + self.worker_id), self._command_timeout
                )
        if self._unsent and self._client is not None:
            # Last words: other workers learn of this worker's final writes now, not at the
            # next event in those meetings.
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(self._send(self._unsent), self._command_timeout)
            self._unsent = {}
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._channels.clear()
        self._on_message = self._on_resync = None

    async def publish(self, meeting_id: str, seq: int) -> None:
        """Announce that `meeting_id` has events up to `seq`, soon: the publisher task sends
        it. Never waits for Redis and never raises; what fails to send is sent again once Redis
        answers (and other workers catch up from the log when they resubscribe anyway)."""
        if self._client is None:
            return
        if seq > self._unsent.get(meeting_id, 0):
            self._unsent[meeting_id] = seq
        self._wake.set()

    async def subscribe(self, meeting_id: str) -> None:
        """Subscribe and wait until Redis confirms it, so that a room loaded from the log
        afterwards misses nothing published later. Never raises: if Redis is away, the next
        session subscribes the channel and catches the room up."""
        channel = self._channel(meeting_id)
        self._channels.add(channel)
        conn = self._conn
        if conn is None:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        self._pending[channel] = self._pending.get(channel, 0) + 1
        try:
            async with asyncio.timeout(self._ping_timeout):  # a silent Redis holds no one up
                await conn.send_command("SUBSCRIBE", channel)
                await asyncio.shield(waiter)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning(
                "broker subscribe not confirmed",
                extra={"meeting_id": meeting_id, "error": type(error).__name__},
            )
        finally:
            if conn is not self._conn:
                # The session ended meanwhile; never leave a connection behind that nobody reads.
                await conn.disconnect(nowait=True)

    async def unsubscribe(self, meeting_id: str) -> None:
        channel = self._channel(meeting_id)
        self._channels.discard(channel)
        conn = self._conn
        if conn is None:
            return
        try:
            await conn.send_command("UNSUBSCRIBE", channel)
        except (RedisError, OSError) as error:
            log.warning(
                "broker unsubscribe failed",
                extra={"meeting_id": meeting_id, "error": type(error).__name__},
            )

    @property
    def healthy(self) -> bool:
        """Subscribed, and Redis answered a ping within the last interval and timeout."""
        fresh = time.monotonic() - self._last_pong < self._ping_interval + self._ping_timeout
        return self._ready and fresh

    def problem(self) -> str | None:
        """What is wrong with the link to Redis, in a sentence for /readyz; None if nothing."""
        if self.healthy:
            return None
        if self._down_since is None:  # still subscribed, but the last pong is overdue
            silent = time.time() - (time.monotonic() - self._last_pong)
            return f"silent since {_iso(silent)} (a ping is overdue)"
        return f"unreachable since {_iso(self._down_since)} ({self._why})"

    # Workers' heartbeats

    async def lapsed_workers(self) -> set[str]:
        """Other workers that started and whose heartbeat has lapsed (crashed, stopped, or cut
        off from Redis for `lapse_after` seconds). Empty while this worker cannot tell: when
        Redis is away, and until it has been back long enough for every worker that can reach
        it to have beaten again (after an outage every heartbeat has lapsed)."""
        client = self._client
        settled = time.monotonic() - self._up_since >= self._lapse_after + self._heartbeat_interval
        if client is None or not self.healthy or not settled:
            return set()
        try:
            members = await client.smembers(WORKERS_KEY)
            names = {m.decode() if isinstance(m, bytes) else m for m in members}
            others = sorted(names - {self.worker_id})
            if not others:
                return set()
            async with client.pipeline(transaction=False) as pipe:
                for worker in others:
                    pipe.exists(ALIVE_PREFIX + worker)
                alive = await pipe.execute()
        except (RedisError, OSError, TimeoutError):
            return set()
        return {worker for worker, beating in zip(others, alive, strict=True) if not beating}

    async def forget_workers(self, workers: set[str]) -> None:
        """Drop swept workers from the register. Never raises: they are swept again later."""
        if self._client is None or not workers:
            return
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self._client.srem(WORKERS_KEY, *workers)

    async def _beat(self) -> None:
        assert self._client is not None
        while True:
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.sadd(WORKERS_KEY, self.worker_id)
                    pipe.set(ALIVE_PREFIX + self.worker_id, "1", px=int(self._lapse_after * 1000))
                    await pipe.execute()
            except (RedisError, OSError, TimeoutError) as error:
                log.info("broker heartbeat failed", extra={"error": type(error).__name__})
            await asyncio.sleep(self._heartbeat_interval)

    # The publisher

    async def _publish_noted(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            noted, self._unsent = self._unsent, {}
            if not noted:
                continue
            try:
                await self._send(noted)
            except asyncio.CancelledError:
                self._keep(noted)  # stopping: `stop` sends what is still unsent as last words
                raise
            except (RedisError, OSError, TimeoutError) as error:
                self._keep(noted)
                # Loud once per outage; quiet while retrying.
                (log.info if failures else log.warning)(
                    "broker publish failed",
                    extra={"meetings": len(self._unsent), "error": type(error).__name__},
                )
                failures += 1
                await asyncio.sleep(self._backoff(failures))
                self._wake.set()
            else:
                failures = 0

    def _keep(self, noted: dict[str, int]) -> None:
        """Put back announcements that were not sent, unless newer ones were noted meanwhile."""
        for meeting_id, seq in noted.items():
            if seq > self._unsent.get(meeting_id, 0):
                self._unsent[meeting_id] = seq

    async def _send(self, noted: dict[str, int]) -> None:
        assert self._client is not None
        async with self._client.pipeline(transaction=False) as pipe:
            for meeting_id, seq in noted.items():
                pipe.publish(self._channel(meeting_id), str(seq))
            await pipe.execute()

    # The supervisor

    def _channel(self, meeting_id: str) -> str:
        return f"{self._prefix}{meeting_id}"

    async def _supervise(self) -> None:
        failures = 0
        while True:
            sessions = self.resubscribed
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                subscribed = self.resubscribed != sessions
                self._down(time.time(), _explain(error, self._ping_timeout))
                # Loud when a working subscription is lost; quiet while retrying.
                (log.warning if subscribed else log.info)(
                    "broker subscriber lost" if subscribed else "broker reconnect failed",
                    extra={
                        "error": type(error).__name__,
                        "detail": str(error)[:200],
                        "channels": len(self._channels),
                    },
                )
            # A session that got subscribed resets the backoff; each one that did not grows it.
            failures = 0 if self.resubscribed != sessions else failures + 1
            await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        delay = min(self._backoff_cap, self._backoff_base * 2**failures)
        return random.uniform(delay / 2, delay)

    def _down(self, at: float, why: str) -> None:
        if self._down_since is None:
            self._down_since = at
        self._why = why

    async def _session(self) -> None:
        assert self._client is not None
        # A connection of our own, outside the pool: it is never handed to anyone else.
        pool = self._client.connection_pool
        conn: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.connect()  # type: ignore[no-untyped-call]
            self._conn = conn
            channels = sorted(self._channels)  # taken with _conn set: later ones send their own
            for channel in channels:
                self._pending[channel] = self._pending.get(channel, 0) + 1
            if channels:
                await conn.send_command("SUBSCRIBE", *channels)
            # Redis answers in order: the first pong means every subscription above is in place.
            await self._ping(conn)
            # Reader and pinger side by side: when either ends, the session ends.
            tasks = (
                asyncio.create_task(self._read(conn)),
                asyncio.create_task(self._keep_pinging(conn)),
            )
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome
            raise ConnectionError("subscriber stopped")
        finally:
            self._conn, self._ready, self._ping_sent = None, False, None
            self._pending.clear()
            # Waiters need not wait for a dead session: the next one catches their rooms up.
            for waiters in self._waiters.values():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
            self._waiters.clear()
            # No waiting for a goodbye from a peer that may be gone; one turn of the loop lets
            # the transport close.
            await conn.disconnect(nowait=True)
            await asyncio.sleep(0)

    async def _ping(self, conn: AbstractConnection) -> None:
        self._ping_sent = time.monotonic()
        await conn.send_command("PING")

    async def _keep_pinging(self, conn: AbstractConnection) -> None:
        while True:
            sent = self._ping_sent
            now = time.monotonic()
            if sent is not None:
                if now - sent > self._ping_timeout:
                    raise SilentConnection()
                await asyncio.sleep(sent + self._ping_timeout - now + 0.001)
            elif now - self._last_pong >= self._ping_interval:
                await self._ping(conn)
            else:
                await asyncio.sleep(self._last_pong + self._ping_interval - now)

    async def _read(self, conn: AbstractConnection) -> None:
        while True:
            response: Any = await conn.read_response(timeout=float("inf"))
            if response == b"PONG" or (isinstance(response, list) and response[0] == b"pong"):
                self._pong()
            elif isinstance(response, list) and len(response) == 3:
                kind, channel, data = response
                if kind == b"message":
                    self._message(channel.decode(), data)
                elif kind == b"subscribe":
                    self._confirmed(channel.decode())

    def _pong(self) -> None:
        self._last_pong, self._ping_sent = time.monotonic(), None
        if self._ready:
            return
        self._ready = True
        self._down_since = None
        self._up_since = self._last_pong
        self.resubscribed += 1
        log.info(
            "broker subscribed",
            extra={"channels": len(self._channels), "sessions": self.resubscribed},
        )
        self._spawn(self._resync())

    def _message(self, channel: str, data: bytes) -> None:
        if not channel.startswith(self._prefix) or self._on_message is None:
            return
        try:
            seq = int(data)
        except ValueError:
            log.warning("broker message ignored: not a sequence number")
            return
        # Each in its own task: the reader must keep reading (pongs included) while the hub
        # reads the log.
        self._spawn(self._on_message(channel.removeprefix(self._prefix), seq))

    def _confirmed(self, channel: str) -> None:
        left = self._pending.get(channel, 0) - 1
        if left > 0:
            self._pending[channel] = left
            return
        self._pending.pop(channel, None)
        for waiter in self._waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_result(None)

    async def _resync(self) -> None:
        """After a (re)subscription: announce what failed to publish, then catch every live
        room up from the log, which covers whatever other workers published meanwhile."""
        self._wake.set()
        if self._on_resync is not None:
            await self._on_resync()

    def _spawn(self, job: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("broker notification failed", exc_info=task.exception())


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _explain(error: Exception, ping_timeout: float) -> str:
    if isinstance(error, SilentConnection):
        return f"no answer to a ping within {ping_timeout:g} s"
    # The error's text names Redis's host and port; /readyz is public, so it gets the kind of
    # error only (the log has the rest).
    return type(error).__name__
