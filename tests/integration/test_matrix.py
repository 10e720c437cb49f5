"""The role matrix: every route and every socket command against docs/security.md, for each
kind of person. Built from the app's own routes and the engine's commands, so a new route or
command without a rule in the document fails here."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute
from sqlmodel import Session

from app.db.access import open_session
from app.db.database import make_engine
from app.domain.commands import COMMAND_TYPES
from app.main import create_app
from app.settings import Settings
from app.web.guard import Guard
from tests.harness import CSRF, ROOT, SeededSet, Server, now_ms, seed_set

pytestmark = pytest.mark.matrix

PEOPLE = (
    "anonymous",
    "member of this set",
    "member of another set",
    "facilitator of this set",
    "facilitator of another set",
    "lead of this programme",
    "lead of another programme",
)


def _tables() -> list[list[list[str]]]:
    """The markdown tables of docs/security.md, as rows of cells (header first)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in (ROOT / "docs" / "security.md").read_text().splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not all(re.fullmatch(r"-+", cell) for cell in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _table(first_column: str) -> list[list[str]]:
    for table in _tables():
        if table[0][0] == first_column:
            return table
    raise AssertionError(f"docs/security.md has no table starting with {first_column!r}")


RULES: dict[str, dict[str, bool]] = {
    row[0]: dict(zip(_table("rule")[0][1:], (cell == "yes" for cell in row[1:]), strict=True))
    for row in _table("rule")[1:]
}
DOCUMENTED_ROUTES = {(m, p, r) for m, p, r in _table("method")[1:]}
DOCUMENTED_COMMANDS = dict(_table("command")[1:])


def _walk(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _walk(inner.routes) if inner is not None else [route]


def _guards(dependant: Any) -> list[str]:
    found = []
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Guard):
            found.append(dependency.call.rule.value)
        found += _guards(dependency)
    return found


def app_routes(db_url: str) -> set[tuple[str, str, str]]:
    app = create_app(Settings(database_url=db_url))
    found = set()
    for route in _walk(app.routes):
        if isinstance(route, (APIRoute, APIWebSocketRoute)):
            rules = _guards(route.dependant)
            assert len(rules) == 1, f"{route.path} declares {rules or 'no'} access rule"
            for method in sorted(getattr(route, "methods", None) or ["WS"]):
                found.add((method, route.path, rules[0]))
    return found


def test_the_rules_table_names_every_kind_of_person() -> None:
    assert all(tuple(columns) == PEOPLE for columns in RULES.values())


def test_every_route_declares_the_rule_security_md_gives(db_url: str) -> None:
    assert app_routes(db_url) == DOCUMENTED_ROUTES


def test_every_command_is_in_security_md() -> None:
    assert set(DOCUMENTED_COMMANDS) == set(COMMAND_TYPES)


@pytest.fixture
def world(db_url: str, seeded: SeededSet) -> dict[str, Any]:
    other = seed_set(db_url, members=6, set_id="set-b", prefix="b-", programme_id="prog2")
    return {"this": seeded, "other": other}


def _cookies(db_url: str, world: dict[str, Any]) -> dict[str, str | None]:
    """A fresh session for each kind of person (fresh, so a sign-out costs nothing)."""
    this, other = world["this"], world["other"]
    sessions = {
        "member of this set": (this.members[0], this.set_id),
        "member of another set": (other.members[0], other.set_id),
        "facilitator of this set": (this.facilitator, None),
        "facilitator of another set": (other.facilitator, None),
        "lead of this programme": (this.lead, None),
        "lead of another programme": (other.lead, None),
    }
    engine = make_engine(db_url)
    with Session(engine) as session:
        cookies: dict[str, str | None] = {"anonymous": None}
        for who, (person, set_id) in sessions.items():
            cookies[who] = open_session(
                session, person_id=person, set_id=set_id, now=now_ms(), days=1
            )
        session.commit()
    engine.dispose()
    return cookies


def _path(path: str, this: SeededSet) -> str:
    values = {
        "meeting_id": this.meeting_id,
        "set_id": this.set_id,
        "programme_id": this.programme_id,
        "person_id": "nobody",
        "token": "t" * 43,
        "name": "htmx.min.js",
    }
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)


def _socket_answer(server: Server, path: str, cookie: str | None) -> int:
    async def attempt() -> int:
        headers = {"Cookie": f"setroom_session={cookie}"} if cookie else {}
        try:
            async with websockets.connect(
                server.ws_base + path + "?mode=json", additional_headers=headers
            ):
                return 101
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(attempt())


def test_every_route_answers_each_person_as_security_md_says(
    server: Server, world: dict[str, Any], db_url: str
) -> None:
    this = world["this"]
    wrong = []
    # One client (httpx builds its TLS context once, not per call); each request names its cookie.
    with httpx.Client(base_url=server.base, follow_redirects=False, auth=CSRF) as http:
        for method, template, rule in sorted(DOCUMENTED_ROUTES):
            path = _path(template, this)
            for who, cookie in _cookies(db_url, world).items():
                if method == "WS":
                    status = _socket_answer(server, path, cookie)
                else:
                    http.cookies.clear()
                    headers = {"Cookie": f"setroom_session={cookie}"} if cookie else {}
                    status = http.request(method, path, headers=headers).status_code
                allowed = RULES[rule][who]
                # A socket can only be refused with 403: the handshake has no 401.
                refusal = 401 if who == "anonymous" and method != "WS" else 403
                if (allowed and status in (401, 403)) or (not allowed and status != refusal):
                    wrong.append(f"{method} {template} for {who}: {status} ({rule})")
    assert not wrong, "\n".join(wrong)


# A valid instance of every command a client may send, to see who is refused.
SAMPLES: dict[str, dict[str, Any]] = {
    "next_phase": {},
    "goto_phase": {"phase_id": "p2"},
    "skip_phase": {"phase_id": "p5"},
    "restore_phase": {"phase_id": "p5"},
    "move_phase": {"phase_id": "p5", "to_index": 4},
    "add_phase": {"title": "Tea"},
    "set_order": {"order": ["m1"]},
    "next_speaker": {},
    "set_speaker": {"participant": "m1"},
    "next_stage": {},
    "set_slots": {"slots": [{"member": "m1", "minutes": 10}]},
    "allot": {"member": "m1"},
    "unallot": {"member": "m1"},
    "timer_start": {"seconds": 60},
    "timer_pause": {},
    "timer_resume": {},
    "timer_add": {"seconds": 60},
    "call_next": {},
    "flag_advice": {"question_id": "q1"},
    "close_meeting": {},
    "lock_meeting": {},
    "admit": {"member": "m2"},
    "hand_over": {"member": "m2"},
    "take_back": {},
    "raise_hand": {},
    "lower_hand": {},
    "ask_question": {"text": "Why?"},
    "tag_question": {"question_id": "q1", "grow": "goal"},
    "save_note": {"text": "A note"},
    "place_bid": {"minutes": 10, "title": "An issue"},
    "withdraw_bid": {},
    "report_back": {"commitment_id": "c1", "status": "done"},
    "save_commitment": {"what": "Act"},
    "star_question": {"question_id": "q1"},
    "start_meeting": {},
    "join": {"connection": "x", "participant": "m1"},
    "leave": {"connection": "x"},
    "timer_elapsed": {"deadline_ms": 1},
    "knock": {"participant": "m1"},
    "leave_lobby": {"participant": "m1"},
    "revoke_access": {"participant": "m1"},
    "set_roster": {"roster": []},
    "reschedule": {},
}


def test_every_command_answers_each_person_as_security_md_says(
    server: Server, world: dict[str, Any], db_url: str
) -> None:
    """People outside the set cannot open the socket at all (the route matrix above); inside,
    a member is refused what only controllers or facilitators may do, and nobody may send
    the server's own commands."""
    assert set(SAMPLES) == set(COMMAND_TYPES)
    this = world["this"]
    cookies = _cookies(db_url, world)
    path = f"{server.ws_base}/meetings/{this.meeting_id}/ws?mode=json"

    async def answers(cookie: str | None) -> dict[str, str]:
        found = {}
        async with websockets.connect(
            path, additional_headers={"Cookie": f"setroom_session={cookie}"}
        ) as socket:
            assert json.loads(await socket.recv())["op"] == "welcome"
            # Close nothing down: commands that end or lock the meeting go last, one by one.
            for kind in sorted(SAMPLES, key=lambda k: k in ("close_meeting", "lock_meeting")):
                await socket.send(
                    json.dumps(
                        {"op": "command", "id": kind, "command": {"type": kind, **SAMPLES[kind]}}
                    )
                )
                while True:
                    reply = json.loads(await socket.recv())
                    if reply.get("id") == kind:
                        found[kind] = reply.get("code", "accepted")
                        break
        return found

    member = asyncio.run(answers(cookies["member of this set"]))
    facilitator = asyncio.run(answers(cookies["facilitator of this set"]))
    wrong = []
    for kind, who in DOCUMENTED_COMMANDS.items():
        if who == "server":
            expected = {"member": "invalid", "facilitator": "invalid"}
        elif who in ("controller", "facilitator"):
            expected = {"member": "forbidden"}
        else:
            expected = {}
        for person, got in (("member", member[kind]), ("facilitator", facilitator[kind])):
            if person in expected:
                if got != expected[person]:
                    wrong.append(f"{kind} by the {person}: {got}, not {expected[person]}")
            elif got in ("forbidden", "invalid") and not (
                who in ("presenter", "owner") and got == "forbidden"
            ):
                wrong.append(f"{kind} by the {person}: {got}")
    assert not wrong, "\n".join(wrong)
