"""Bad input over real sockets: Hypothesis generates over 10,000 messages (random bytes, text that
is not JSON, wrong types, huge and deeply nested values, other meetings' ids, unknown fields,
valid commands from the wrong role, and valid commands) and sends them in batches, without
waiting for each reply, to a real uvicorn server, from a facilitator and a member of one meeting.

After each batch (one Hypothesis example) the server must still be up and must have answered
every message once (an `ack`, an `error` or a `pong`), and the meeting's event log may only
have grown by the events of acknowledged commands: each new event is the system's own (presence,
a timer running out) or lies in the run of events that ends at an `ack`'s sequence and was sent
by that ack's sender. Another meeting, whose ids the messages use, must not change at all.

The server closing a socket for a policy reason (1008: over the rate limit; 1009:
over the size limit; 1013: try again) is allowed: the client opens a new socket and sends the
rest of the batch through it; the messages the server did not answer before closing count as
refused (the log check covers them too). A message over the size limit is followed at once by
a ping, so that a 1009 close is seen before the next message goes. The server runs with a
per-socket message rate far above the fuzz's pace (SERVER_ENV), so that the generated messages
reach the message handler rather than only the throttle.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic.fields import FieldInfo
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.db import eventlog
from app.db.database import make_engine
from app.domain import commands as c
from app.domain import events as e
from app.domain.model import PhaseKind, ReportStatus, Role, Stage
from app.domain.templates import DEFAULT_TEMPLATE, phases_from
from tests.harness import RoomClient, SeededSet, Server, seed_set, session_cookie

T = TypeVar("T")

BATCHES = 105
PER_SOCKET = 50
"""Messages per socket per batch: two sockets, so 100 a batch and over 10,000 in all."""
POLICY_CLOSES = {1008, 1009, 1013}
"""Closes the server may make on purpose (rate limit, size limit, busy); anything else (1011,
an internal error) fails the test."""
SIZE_LIMIT = 16 * 1024
"""The server's message size limit (Settings.max_message_bytes)."""
SERVER_ENV = {"SETROOM_WS_MESSAGE_RATE": "100000/10 seconds"}
"""The throttle's own tests are elsewhere; settings the app does not know are ignored."""

# --- What to send ------------------------------------------------------------------------------

AUTO = object()
"""Stands for a fresh request id, filled in at send time so every reply can be matched."""

PHASES = [p.id for p in phases_from(DEFAULT_TEMPLATE)]


@dataclass(frozen=True)
class Ids:
    """Ids a message may name: this meeting's, the other meeting's, and made-up ones."""

    ours: list[str]
    theirs: list[str]

    def strategy(self) -> st.SearchStrategy[str]:
        made_up = [*PHASES, "q1", "q5", "q12", "c1", "nobody", "", " ", "p99", "system"]
        return st.sampled_from([*self.ours, *self.theirs, *made_up]) | st.text(max_size=70)


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: Python's json reads them
    | st.text(max_size=40)
)
json_value = st.recursive(
    json_leaf,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4)
    ),
    max_leaves=12,
)
huge_text = st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(300, 9000))
"""A few KiB to over the 16 KiB message limit, cheaply."""
nested_json = st.builds(
    lambda depth, pair: pair[0] * depth + "null" + pair[1] * depth,
    st.integers(50, 100_000),
    st.sampled_from([("[", "]"), ('{"a":', "}")]),
)
"""Deeper than the JSON parser's recursion limit, and wider than the size limit."""
deep_command = st.integers(50, 5_000).map(
    lambda d: '{"op":"command","command":{"type":"ask_question","text":' + "[" * d + "]" * d + "}}"
)
huge_number = st.integers(100, 6_000).map(
    lambda digits: (
        '{"op":"command","expect_seq":' + "9" * digits + ',"command":{"type":"call_next"}}'
    )
)


def field_values(name: str, info: FieldInfo, ids: Ids) -> st.SearchStrategy[Any]:
    """Plausible values for a command's field (so that some commands are accepted), now and
    then a value of the wrong type or out of range."""
    id_ = ids.strategy()
    seconds = st.integers(-5, 600) | st.sampled_from([0, 4 * 3600 + 1, 2**63, -(2**63)])
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "kind": st.sampled_from([k.value for k in PhaseKind]),
        "status": st.sampled_from([s.value for s in ReportStatus]),
        "order": st.lists(id_, max_size=10),
        "slots": st.lists(
            st.fixed_dictionaries(
                {"member": id_, "minutes": st.integers(-1, 250), "title": st.text(max_size=30)}
            ),
            max_size=5,
        ),
        "from_stage": st.builds(
            lambda i, s: f"{i}:{s}", st.integers(-1, 9), st.sampled_from([s.value for s in Stage])
        ),
        "seconds": seconds,
        "minutes": st.integers(-1, 250),
        "to_index": st.integers(-3, 12),
        "at_index": st.integers(-3, 12),
        "roster": st.lists(json_value, max_size=3),
    }
    if name in plausible:
        good = plausible[name]
    elif info.annotation is bool:
        good = st.booleans()
    elif name in ("title", "text", "what", "by_when", "how_know", "support", "learned"):
        good = st.text(max_size=60) | huge_text.map(lambda s: s[:1200])
    elif name == "next_step":
        good = st.text(max_size=60)
    else:
        good = id_
    return st.one_of(good, good, good, json_value)


def command_body(type_: str, model: type[c.Command], ids: Ids) -> st.SearchStrategy[dict[str, Any]]:
    fields = {k: v for k, v in model.model_fields.items() if k != "type"}
    required = {k: field_values(k, v, ids) for k, v in fields.items() if v.is_required()}
    optional = {k: field_values(k, v, ids) for k, v in fields.items() if not v.is_required()}
    body = st.fixed_dictionaries({"type": st.just(type_), **required}, optional=optional)

    def spoil(command: dict[str, Any], how: int, key: str, value: Any) -> dict[str, Any]:
        if how == 1:  # an unknown field
            return {**command, key or "extra": value}
        if how == 2 and len(command) > 1:  # a missing field
            return dict(list(command.items())[:-1])
        return command

    return st.builds(spoil, body, st.integers(0, 6), st.text(max_size=10), json_value)


def good_commands(ids: Ids) -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed commands with plausible values, so that a share of the traffic is accepted
    (or refused by the engine for the phase or the role, not by the parser)."""
    ours = st.sampled_from(ids.ours)
    title = st.text(min_size=1, max_size=40)
    return st.one_of(
        st.sampled_from(
            [
                {"type": t}
                for t in (
                    "next_phase",
                    "next_speaker",
                    "next_stage",
                    "timer_pause",
                    "timer_resume",
                    "raise_hand",
                    "lower_hand",
                    "call_next",
                    "take_back",
                    "withdraw_bid",
                )
            ]
        ),
        st.fixed_dictionaries({"type": st.just("timer_start"), "seconds": st.integers(1, 900)}),
        st.fixed_dictionaries({"type": st.just("timer_add"), "seconds": st.integers(1, 120)}),
        st.fixed_dictionaries({"type": st.just("goto_phase"), "phase_id": st.sampled_from(PHASES)}),
        st.fixed_dictionaries({"type": st.just("set_speaker"), "participant": ours}),
        st.fixed_dictionaries(
            {"type": st.just("set_order"), "order": st.permutations(ids.ours).map(lambda p: p[1:])}
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("add_phase"),
                "kind": st.just("custom"),
                "title": title,
                "minutes": st.integers(1, 30),
            }
        ),
        st.fixed_dictionaries(
            {"type": st.just("ask_question"), "text": title, "anonymous": st.booleans()}
        ),
        st.fixed_dictionaries(
            {"type": st.just("allot"), "member": ours, "minutes": st.integers(1, 30)}
        ),
        st.fixed_dictionaries(
            {"type": st.just("place_bid"), "minutes": st.integers(1, 30), "title": title}
        ),
        st.fixed_dictionaries({"type": st.just("lock_meeting"), "locked": st.just(False)}),
    )


def messages(ids: Ids, *, exclude: frozenset[str]) -> st.SearchStrategy[Any]:
    """One message: bytes (a binary frame), str (a text frame as is) or a JSON-able object."""
    models = {m.model_fields["type"].default: m for m in _command_models()}
    commands = st.one_of([command_body(t, m, ids) for t, m in models.items() if t not in exclude])
    envelope = st.fixed_dictionaries(
        {"op": st.just("command"), "id": st.just(AUTO), "command": commands},
        optional={"expect_seq": st.integers(-1, 400) | json_value},
    )
    odd_envelope = st.fixed_dictionaries(
        {},
        optional={
            "op": st.sampled_from(["command", "ping", "pong", "welcome", "event", ""]) | json_value,
            "id": json_value | st.text(min_size=60, max_size=80),
            "command": commands | json_value,
            "expect_seq": json_value,
        },
    )
    good = st.fixed_dictionaries(
        {"op": st.just("command"), "id": st.just(AUTO), "command": good_commands(ids)}
    )
    ping = st.fixed_dictionaries({"op": st.just("ping"), "id": st.just(AUTO)})
    return st.one_of(
        envelope,
        envelope,
        envelope,
        envelope,
        good,
        good,
        good,
        good,
        odd_envelope,
        ping,
        json_value,
        st.binary(max_size=64),
        st.text(max_size=64),
        huge_text,
        huge_text.map(lambda s: json.dumps({"op": "command", "command": {"type": "x", "t": s}})),
        nested_json,
        deep_command,
        huge_number,
    )


def _command_models() -> list[type[c.Command]]:
    from typing import get_args

    return list(get_args(get_args(c.AnyCommand)[0]))


# --- A socket that counts its replies --------------------------------------------------------


@dataclass(eq=False)
class FuzzSocket:
    url: str
    cookie: str
    participant: str
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    replies: int = 0
    unanswered: int = 0
    """Messages the server closed the socket on before answering (so far)."""
    acks: list[int] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    closes: list[int | None] = field(default_factory=list)
    pongs: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=itertools.count)

    async def open(self) -> None:
        self.ws = await connect(
            self.url,
            additional_headers={"Cookie": f"setroom_session={self.cookie}"},
            compression=None,
            max_size=None,
            # Keepalive pings draw from `random` on the socket's thread, which Hypothesis takes
            # for a strategy using `random` while it generates the next batch.
            ping_interval=None,
        )
        first = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert first["op"] in ("welcome", "lobby"), first
        self.reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                op = message["op"]
                if op in ("ack", "error", "pong"):
                    self.replies += 1
                if op == "ack":
                    self.acks.append(int(message["seq"]))
                elif op == "error":
                    self.codes[message["code"]] = self.codes.get(message["code"], 0) + 1
                elif op == "pong":
                    waiter = self.pongs.pop(str(message.get("id")), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
        except ConnectionClosed:
            pass
        finally:
            self.closes.append(ws.close_code)
            for waiter in self.pongs.values():
                if not waiter.done():
                    waiter.set_result(None)

    def encode(self, message: Any) -> str | bytes:
        if isinstance(message, bytes | str):
            return message
        if isinstance(message, dict) and message.get("id") is AUTO:
            message = {**message, "id": f"{self.participant}-{next(self.ids)}"}
        return json.dumps(message)

    async def send_batch(self, batch: list[Any]) -> tuple[int, int]:
        """Send everything without waiting for replies, then a ping, and wait for its pong (it
        follows every earlier reply). A message over the size limit is followed by a ping at
        once: the server may close the socket for it (1009), and the rest of the batch then
        goes through a new one. Returns (messages sent, messages answered)."""
        sent = answered = unsettled = 0
        for message in batch:
            raw = self.encode(message)
            try:
                assert self.ws is not None
                await self.ws.send(raw)
            except ConnectionClosed:  # closed under a message already sent: settle, resend
                answered += await self._settle(unsettled)
                unsettled = 0
                assert self.ws is not None
                await self.ws.send(raw)
            sent += 1
            unsettled += 1
            size = len(raw) if isinstance(raw, bytes) else len(raw.encode(errors="replace"))
            if size > SIZE_LIMIT:
                answered += await self._settle(unsettled)
                unsettled = 0
        answered += await self._settle(unsettled)
        return sent, answered

    async def _settle(self, unsettled: int) -> int:
        """Wait until the server has answered the last `unsettled` messages (then each got
        exactly one reply), or has closed the socket for a policy reason (then it is opened
        again). Returns how many of them were answered."""
        before = self.replies
        if self.reader is not None and not self.reader.done():
            assert self.ws is not None
            barrier = f"barrier-{next(self.ids)}"
            pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.pongs[barrier] = pong
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(json.dumps({"op": "ping", "id": barrier}))
            await asyncio.wait_for(pong, 30)
        answered = self.replies - before
        if self.reader is not None and self.reader.done():  # closed by the server: come back
            await self.open()  # first, so that the next batch has a socket
            assert self.closes[-1] in POLICY_CLOSES, f"closed with {self.closes[-1]}"
            self.unanswered += unsettled - answered
            return answered
        answered -= 1  # the barrier's pong
        assert answered == unsettled, f"{unsettled} sent, {answered} answered"
        return answered

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.reader


class Loop:
    """An event loop in a thread, so that Hypothesis' (synchronous) examples drive async
    sockets that live across examples."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # or it would go on beside the next example's
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


# --- The test ----------------------------------------------------------------------------------


@pytest.fixture
def two_sets(db_url: str) -> tuple[SeededSet, SeededSet]:
    ours = seed_set(db_url, members=4, prior_for=(1,))
    theirs = seed_set(db_url, members=3, set_id="set-b", prefix="b")
    return ours, theirs


# Hypothesis warns that the repr of the message strategy (every command's fields) is large.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_generated_bad_input_changes_nothing(
    db_url: str, two_sets: tuple[SeededSet, SeededSet], tmp_path: Path
) -> None:
    ours, theirs = two_sets
    log_path = tmp_path / "server.log"
    engine = make_engine(db_url)
    theirs_before = eventlog.load(engine, theirs.meeting_id)
    ids = Ids(ours=[ours.facilitator, *ours.members], theirs=[theirs.facilitator, *theirs.members])
    member = ours.members[0]
    loop = Loop()
    with Server(db_url, env=SERVER_ENV, log_path=log_path) as server:
        url = f"{server.ws_base}/meetings/{ours.meeting_id}/ws?mode=json"
        cookies = {
            pid: session_cookie(server, ours.tokens[pid]) for pid in (ours.facilitator, member)
        }
        loop.run(_start(server, ours.meeting_id, cookies[ours.facilitator]))
        sockets = {pid: FuzzSocket(url, cookie, pid) for pid, cookie in cookies.items()}
        for sock in sockets.values():
            loop.run(sock.open())
        totals = {"sent": 0, "answered": 0, "acks": 0, "examples": 0}
        seen = eventlog.last_seq(engine, ours.meeting_id)

        # The facilitator never closes the meeting or hands the controls over, so the member's
        # controller commands stay the wrong role's and the room stays open throughout.
        fac_messages = messages(ids, exclude=frozenset({"close_meeting", "hand_over"}))
        member_messages = messages(ids, exclude=frozenset())

        @settings(
            max_examples=BATCHES,
            deadline=None,
            database=None,
            # No shrinking: each attempt is a whole batch against the live server, hundreds of
            # them; a failure is reported as generated (its batch holds the culprit).
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(
            st.lists(fac_messages, min_size=PER_SOCKET, max_size=PER_SOCKET),
            st.lists(member_messages, min_size=PER_SOCKET, max_size=PER_SOCKET),
        )
        def batch(fac_batch: list[Any], member_batch: list[Any]) -> None:
            nonlocal seen
            acks_before = {pid: len(s.acks) for pid, s in sockets.items()}
            unanswered_before = {pid: s.unanswered for pid, s in sockets.items()}
            results = loop.run(
                _send_all(sockets, {ours.facilitator: fac_batch, member: member_batch})
            )
            assert server.process is not None and server.process.poll() is None, "server died"
            for sent, answered in results:
                totals["sent"] += sent
                totals["answered"] += answered
            totals["examples"] += 1
            acks = sorted(
                (seq, pid) for pid, s in sockets.items() for seq in s.acks[acks_before[pid] :]
            )
            totals["acks"] += len(acks)
            new = eventlog.load(engine, ours.meeting_id, after=seen)
            unanswered = {pid: s.unanswered - unanswered_before[pid] for pid, s in sockets.items()}
            _only_acknowledged_changes(new, acks, unanswered)
            if new:
                seen = new[-1].seq

        batch()

        assert totals["sent"] >= 10_000, totals
        assert httpx.get(f"{server.base}/healthz").status_code == 200
        # Generated input reached the handler, not only the throttle: both kinds of reply came.
        assert totals["acks"] > 0, totals
        codes = {code for s in sockets.values() for code in s.codes}
        assert {"invalid", "forbidden"} <= codes, codes
        loop.run(_handshakes(server, ours, theirs, cookies[member]))
        for sock in sockets.values():
            loop.run(sock.close())
    loop.stop()
    assert eventlog.load(engine, theirs.meeting_id) == theirs_before
    engine.dispose()
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


async def _start(server: Server, meeting_id: str, cookie: str) -> None:
    fac = await RoomClient(server, meeting_id, cookie).connect()
    await fac.command("start_meeting")
    await fac.close()


async def _send_all(
    sockets: dict[str, FuzzSocket], batches: dict[str, list[Any]]
) -> list[tuple[int, int]]:
    return list(
        await asyncio.gather(*(sockets[pid].send_batch(batch) for pid, batch in batches.items()))
    )


def _only_acknowledged_changes(
    new: list[e.Stamped], acks: list[tuple[int, str]], unanswered: dict[str, int]
) -> None:
    """Every new event is the system's, or one of an acknowledged command's run of events (a
    command's events are consecutive, and its ack names the last one's sequence). A run with no
    ack is allowed only for a command whose socket the server closed before answering it: at
    most `unanswered[sender]` such runs."""
    by_seq = {stamped.seq: stamped for stamped in new}
    acked = set(acks)
    for ack_seq, sender in acks:
        assert ack_seq in by_seq, f"ack at {ack_seq} but the log has no such event"
        assert by_seq[ack_seq].actor == sender, (ack_seq, by_seq[ack_seq], sender)
    unacked: dict[str, list[e.Stamped]] = {}
    run: list[e.Stamped] = []
    for stamped in [*new, None]:
        ends_run = stamped is None or stamped.actor_role is Role.SYSTEM
        if run and (ends_run or stamped is None or stamped.actor != run[-1].actor):
            unacked.setdefault(str(run[-1].actor), []).append(run[-1])
            run = []
        if stamped is None or stamped.actor_role is Role.SYSTEM:
            continue
        run.append(stamped)
        if (stamped.seq, stamped.actor) in acked:
            run = []
    for sender, runs in unacked.items():
        assert len(runs) <= unanswered.get(sender, 0), f"unacknowledged change: {runs[0]}"


async def _handshakes(server: Server, ours: SeededSet, theirs: SeededSet, cookie: str) -> None:
    """Other meetings' ids and odd paths at the handshake: refused (403/404), never a 5xx."""
    odd = [theirs.meeting_id, "x", "../" + ours.meeting_id, "%00", "a" * 300, "ü", "' OR 1=1 --"]
    for meeting_id in odd:
        url = f"{server.ws_base}/meetings/{quote(meeting_id, safe='')}/ws?mode=json"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers={"Cookie": f"setroom_session={cookie}"}):
                pass
        assert refused.value.response.status_code in (403, 404), meeting_id
    for since in ("-1", "abc", "9" * 40, "1e9", ""):
        url = f"{server.ws_base}/meetings/{ours.meeting_id}/ws?mode=json&since={since}"
        async with connect(url, additional_headers={"Cookie": f"setroom_session={cookie}"}) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert first["op"] in ("welcome", "resume"), (since, first)
