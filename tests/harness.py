"""Real servers and real clients for integration and end-to-end tests.

`seed_set` writes a set, its people and a meeting straight into a database; `Server` runs the app
under a real uvicorn in its own process on that database; `RoomClient` speaks the JSON protocol
of docs/protocol.md over a real WebSocket and folds what it receives with the engine's own
`apply`, so its `state` is what that participant may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from random import uniform
from typing import Any

import httpx
import websockets
from sqlmodel import Session, select

from app.auth import accounts
from app.db import access
from app.db.database import make_engine, migrate
from app.db.meetings import create_meeting
from app.db.tables import (
    Account,
    CommitmentRecord,
    LearningSet,
    Meeting,
    Membership,
    Organisation,
    Person,
    Programme,
    ProgrammeLead,
)
from app.domain import events as e
from app.domain.engine import apply
from app.domain.model import MeetingState
from app.web import csrf

ROOT = Path(__file__).resolve().parents[1]
ORGS = ("Northfield Health Trust", "Riverside Borough Council", "Brightwater Care")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class SeededSet:
    set_id: str
    meeting_id: str
    facilitator: str
    members: list[str]
    names: dict[str, str]
    tokens: dict[str, str]
    """person id -> personal join link token"""
    programme_id: str = "prog"
    lead: str = "lead"
    """A lead of the programme, with an account (`emails`, PASSWORD); not in the set."""
    emails: dict[str, str] = field(default_factory=dict)
    """person id -> account email, for the facilitator and the lead."""


def seed_set(
    db_url: str,
    *,
    members: int = 8,
    set_id: str = "set-a",
    prefix: str = "",
    questions_to_set: bool = True,
    anonymous_questions: bool = True,
    prior_for: tuple[int, ...] = (),
    programme_id: str = "prog",
    rules_accepted: bool = True,
) -> SeededSet:
    """A set with one facilitator and `members` members from three organisations, a meeting
    ready to start, and a join link for everyone. `prior_for` names members (by number) who
    made a commitment at an earlier, closed meeting, to report back on in this one. Members
    have accepted the set's ground rules unless `rules_accepted` is False."""
    migrate(db_url)
    engine = make_engine(db_url)
    names: dict[str, str] = {}
    with Session(engine) as session:
        if session.get(Organisation, "org0") is None:
            for i, org in enumerate(ORGS):
                session.add(Organisation(id=f"org{i}", name=org))
            session.flush()
        if session.get(Programme, programme_id) is None:
            session.add(Programme(id=programme_id, name=f"Programme {programme_id}"))
            session.flush()
        session.add(
            LearningSet(
                id=set_id,
                programme_id=programme_id,
                name=f"Set {set_id}",
                questions_to_set=questions_to_set,
                anonymous_questions=anonymous_questions,
            )
        )
        session.flush()
        people = [(f"{prefix}f", "Fran Facilitator", "facilitator")] + [
            (f"{prefix}m{i}", f"Member {i}", "member") for i in range(1, members + 1)
        ]
        for n, (pid, name, role) in enumerate(people):
            session.add(Person(id=pid, name=name, organisation_id=f"org{n % 3}"))
            session.flush()
            accepted = now_ms() if rules_accepted and role == "member" else None
            session.add(
                Membership(set_id=set_id, person_id=pid, role=role, rules_accepted_at=accepted)
            )
            names[pid] = name
        session.commit()
    now = now_ms()
    if prior_for:
        earlier = create_meeting(engine, set_id=set_id, now=now - 30 * 86_400_000)
        with Session(engine) as session:
            meeting = session.get(Meeting, earlier)
            assert meeting is not None
            meeting.status = "closed"
            session.add(meeting)
            for n in prior_for:
                session.add(
                    CommitmentRecord(
                        id=f"{earlier}.c{n}",
                        meeting_id=earlier,
                        owner_id=f"{prefix}m{n}",
                        what=f"Commitment of member {n}",
                        by_when="next month",
                        created_at=now,
                        updated_at=now,
                    )
                )
            session.commit()
    emails = {
        f"{prefix}f": f"{prefix}fran@example.org",
        f"{prefix}lead": f"{prefix}lead@example.org",
    }
    accounts.create_account(
        engine,
        name="Fran Facilitator",
        email=emails[f"{prefix}f"],
        now=now,
        password=PASSWORD,
        person_id=f"{prefix}f",
    )
    accounts.create_account(
        engine,
        name=f"Lee Lead {prefix}",
        email=emails[f"{prefix}lead"],
        now=now,
        password=PASSWORD,
        person_id=None,
    )
    with Session(engine) as session:
        lead = session.exec(select(Account).where(Account.email == emails[f"{prefix}lead"])).one()
        lead_id = lead.person_id
        session.add(ProgrammeLead(programme_id=programme_id, person_id=lead_id))
        session.commit()
    emails[lead_id] = emails.pop(f"{prefix}lead")
    meeting_id = create_meeting(engine, set_id=set_id, now=now)
    tokens = {
        pid: access.issue_link(engine, person_id=pid, set_id=set_id, now=now, days=30)
        for pid in names
    }
    engine.dispose()
    ids = list(names)
    return SeededSet(
        set_id=set_id,
        meeting_id=meeting_id,
        facilitator=ids[0],
        members=ids[1:],
        names=names,
        tokens=tokens,
        programme_id=programme_id,
        lead=lead_id,
        emails=emails,
    )


PASSWORD = "a long test password"


class Csrf(httpx.Auth):
    """Sends the CSRF token with every POST, as a browser submitting one of our pages' forms
    does (docs/security.md, "Forms and requests"): the token of the session cookie the request
    carries, or else of a pre-session cookie it adds (one per `Csrf`, as one browser that has
    loaded our sign-in page holds). Pass `auth=CSRF` to an httpx client or call; a request
    that already names a token keeps it."""

    def __init__(self) -> None:
        self.pre_session = secrets.token_urlsafe(32)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.method not in csrf.SAFE_METHODS and csrf.HEADER not in request.headers:
            pairs = (p.strip().partition("=") for p in request.headers.get("cookie", "").split(";"))
            cookies = {name: value for name, _, value in pairs if name}
            secret = cookies.get("setroom_session") or cookies.get(csrf.PRE_SESSION_COOKIE)
            if not secret:
                secret = self.pre_session
                before = request.headers.get("cookie")
                added = f"{csrf.PRE_SESSION_COOKIE}={secret}"
                request.headers["cookie"] = f"{before}; {added}" if before else added
            request.headers[csrf.HEADER] = csrf.token_for(secret)
        yield request


CSRF = Csrf()


def csrf_from_page(html: str) -> str:
    """The token a page's forms carry (its hidden `csrf_token` field)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(server: Server, email: str, password: str = PASSWORD) -> str:
    """Sign in with an account as a browser would; the session cookie."""
    response = httpx.post(
        f"{server.base}/login", data={"email": email, "password": password}, auth=CSRF
    )
    assert response.status_code == 303, response.text
    return response.cookies["setroom_session"]


class Server:
    """The app under a real uvicorn in a child process."""

    def __init__(
        self,
        db_url: str,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.db_url = db_url
        self.port = port or free_port()
        self.env = env or {}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {**os.environ, "SETROOM_DATABASE_URL": self.db_url, **self.env}
        out: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = out = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ws-per-message-deflate",
                "false",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"server exited with {self.process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def session_cookie(server: Server, token: str) -> str:
    """Open a join link as a browser would and keep the session cookie it sets."""
    response = httpx.get(f"{server.base}/j/{token}", follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.cookies["setroom_session"]


def backoff_delay(attempt: int, *, base: float = 0.25, cap: float = 2.0) -> float:
    """Seconds to wait before reconnection attempt `attempt` (from 0): doubling from `base`,
    capped at `cap`, drawn at random from the upper half so that a room's clients do not come
    back in step (docs/protocol.md, "Reconnecting"; app/static/room.js does the same)."""
    return min(cap, base * 2**attempt) * uniform(0.5, 1.0)


class CommandRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class RoomClient:
    """A participant's JSON connection to a meeting room."""

    server: Server
    meeting_id: str
    cookie: str
    state: MeetingState | None = None
    you: dict[str, Any] = field(default_factory=dict)
    events: list[e.Stamped] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    snapshots: int = 0
    in_lobby: bool = False
    """Waiting to be let into a locked meeting (the server sent "lobby" and nothing else)."""
    _ws: Any = None
    _reader: asyncio.Task[None] | None = None
    _replies: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _next_id: int = 0
    _failure: BaseException | None = None

    @property
    def seq(self) -> int:
        return self.state.seq if self.state else 0

    async def connect(self, *, since: int | None = None) -> RoomClient:
        url = f"{self.server.ws_base}/meetings/{self.meeting_id}/ws?mode=json"
        if since is not None:
            url += f"&since={since}"
        self._ws = await websockets.connect(
            url, additional_headers={"Cookie": f"setroom_session={self.cookie}"}
        )
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._until(lambda: self.state is not None or self.in_lobby), 10)
        return self

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            self._raise_failure()
            self._changed.clear()
            await self._changed.wait()

    async def reconnect(self) -> RoomClient:
        """Come back after a drop, naming the last sequence seen, as the protocol asks."""
        return await self.connect(since=self.seq)

    async def reconnect_with_backoff(self, *, give_up_after: float = 60) -> RoomClient:
        """Come back after the connection was lost, as docs/protocol.md asks of a client: wait,
        try, and wait longer after each failure (`backoff_delay`), naming the last sequence."""
        give_up_at = time.monotonic() + give_up_after
        attempt = 0
        while True:
            await asyncio.sleep(backoff_delay(attempt))
            try:
                return await self.reconnect()
            except (OSError, TimeoutError, websockets.WebSocketException):
                if time.monotonic() > give_up_at:
                    raise
            attempt += 1

    async def wait_closed(self) -> int | None:
        """Until this client's socket closes, by the server or cut; its close code (1006 when
        the connection was cut without a closing handshake)."""
        assert self._reader is not None and self._ws is not None
        await asyncio.wait({self._reader})
        if not self._reader.cancelled():
            self._reader.exception()  # a closed connection is what we wait for, not a failure
        self._raise_failure()
        code: int | None = self._ws.close_code
        return code

    @property
    def close_reason(self) -> str | None:
        return None if self._ws is None else self._ws.close_reason

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await self._reader
        self._ws = None
        self._raise_failure()

    def _raise_failure(self) -> None:
        """A gap or a duplicate seen by the reader fails the test that waits, not silently."""
        if self._failure is not None:
            raise AssertionError("the client's reader failed") from self._failure

    async def barrier(self) -> None:
        """Wait until the server has answered everything sent before (a ping's pong)."""
        self._next_id += 1
        request_id = f"p{self._next_id}"
        pong: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = pong
        await self._ws.send(json.dumps({"op": "ping", "id": request_id}))
        await asyncio.wait_for(pong, 10)

    async def _read(self) -> None:
        try:
            await self._read_messages()
        except BaseException as error:
            if not isinstance(error, (asyncio.CancelledError, websockets.ConnectionClosed)):
                self._failure = error
            self._changed.set()
            raise

    async def _read_messages(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            op = message["op"]
            if op == "resume":
                self.you = message["you"]
                if self.state is None:
                    self.state = MeetingState(meeting_id=self.meeting_id)
            if op == "lobby":
                self.in_lobby = True
            if op == "welcome":
                self.in_lobby = False
                self.state = MeetingState.model_validate(message["state"])
                self.you = message["you"]
                self.snapshots += 1
            elif op == "event":
                stamped = e.Stamped.model_validate({k: v for k, v in message.items() if k != "op"})
                assert self.state is not None
                assert stamped.seq == self.state.seq + 1, (stamped.seq, self.state.seq)
                self.state = apply(self.state, stamped)
                self.events.append(stamped)
            elif op in ("ack", "error", "pong"):
                if op == "error":
                    self.errors.append(message)
                reply = self._replies.pop(str(message.get("id")), None)
                if reply is not None and not reply.done():
                    reply.set_result(message)
            self._changed.set()

    async def send_raw(self, raw: str | bytes) -> None:
        await self._ws.send(raw)

    async def command(self, type_: str, *, expect_seq: int | None = None, **fields: Any) -> int:
        """Send a command; return the sequence it reached, or raise CommandRefused."""
        self._next_id += 1
        request_id = f"r{self._next_id}"
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        message: dict[str, Any] = {
            "op": "command",
            "id": request_id,
            "command": {"type": type_, **fields},
        }
        if expect_seq is not None:
            message["expect_seq"] = expect_seq
        await self._ws.send(json.dumps(message))
        answer = await asyncio.wait_for(reply, 10)
        if answer["op"] == "error":
            raise CommandRefused(answer["code"], answer["message"])
        seq = int(answer["seq"])
        await self.wait_for(lambda s: s.seq >= seq)
        return seq

    async def wait_for(
        self, predicate: Callable[[MeetingState], bool], timeout: float = 10
    ) -> MeetingState:
        async def until() -> MeetingState:
            while self.state is None or not predicate(self.state):
                self._raise_failure()
                self._changed.clear()
                await self._changed.wait()
            return self.state

        return await asyncio.wait_for(until(), timeout)
