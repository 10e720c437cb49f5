"""The facilitation craft over real WebSockets against a real uvicorn: questions not advice, a
novice facilitator's prompts and the experienced one watching, airtime, a set of facilitators
(supervision), presenters' private notes kept from everyone else."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlmodel import Session

from app.db.database import make_engine
from app.db.meetings import create_meeting
from app.db.tables import Membership
from app.domain.model import GrowStage, MeetingStatus, Role, Stage
from tests.harness import (
    CommandRefused,
    RoomClient,
    SeededSet,
    Server,
    now_ms,
    seed_set,
    session_cookie,
    sign_in,
)
from tests.integration.test_matrix import app_routes

NOTE = "PRIVATE-NOTE-c4f1 what I fear is the budget"


def _member(server: Server, s: SeededSet, pid: str) -> RoomClient:
    return RoomClient(server, s.meeting_id, session_cookie(server, s.tokens[pid]))


def _facilitator(server: Server, s: SeededSet) -> RoomClient:
    return RoomClient(server, s.meeting_id, sign_in(server, s.emails[s.facilitator]))


async def _to_questions(fac: RoomClient, presenter: str) -> None:
    """Start, pass check-in and report-back, allot `presenter` and open their questions."""
    await fac.command("start_meeting")
    await fac.command("next_phase")
    await fac.command("next_phase")
    await fac.command("allot", member=presenter, minutes=10)
    await fac.command("next_phase")
    await fac.command("next_stage")


class Tap:
    """A raw socket that keeps every message it receives, as sent."""

    def __init__(self, url: str, cookie: str) -> None:
        self.url, self.cookie = url, cookie
        self.messages: list[str] = []
        self._socket: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Tap:
        self._socket = await websockets.connect(
            self.url, additional_headers={"Cookie": f"setroom_session={self.cookie}"}
        )
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._socket:
                self.messages.append(raw if isinstance(raw, str) else raw.decode())

    async def send(self, fields: dict[str, Any]) -> None:
        await self._socket.send(json.dumps({**fields, "HEADERS": {}}))

    async def until(self, text: str) -> str:
        async def seen() -> str:
            while True:
                for message in self.messages:
                    if text in message:
                        return message
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(seen(), 10)

    async def __aexit__(self, *exc: object) -> None:
        await self._socket.close()
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def _taps(
    server: Server, s: SeededSet, cookies: dict[str, str]
) -> AsyncIterator[dict[str, Tap]]:
    """A JSON and an HTML socket for each person in `cookies`."""
    base = f"{server.ws_base}/meetings/{s.meeting_id}/ws"
    async with contextlib.AsyncExitStack() as stack:
        taps: dict[str, Tap] = {}
        for pid, cookie in cookies.items():
            taps[f"{pid}/json"] = await stack.enter_async_context(Tap(f"{base}?mode=json", cookie))
            taps[f"{pid}/html"] = await stack.enter_async_context(Tap(base, cookie))
        yield taps


# --- 1. Questions, not advice ------------------------------------------------------------------


def test_advice_gets_a_gentle_prompt_and_questions_are_tagged_with_grow(
    server: Server, seeded: SeededSet
) -> None:
    presenter, asker, other = seeded.members[2], seeded.members[3], seeded.members[4]

    async def scenario() -> None:
        fac = await _facilitator(server, seeded).connect()
        m = {pid: await _member(server, seeded, pid).connect() for pid in (asker, other)}
        await _to_questions(fac, presenter)
        with pytest.raises(CommandRefused) as refused:
            await m[asker].command("ask_question", text="You should talk to HR")
        assert refused.value.code == "not_a_question"
        assert "advice" in str(refused.value)
        await m[asker].command("ask_question", text="You should talk to HR", confirmed=True)
        await m[asker].command("ask_question", text="What do you want from it?", grow="goal")
        await m[other].command("ask_question", text="What is happening now?", anonymous=True)
        anonymous = fac.state.questions[-1]  # type: ignore[union-attr]
        # The asker tags their anonymous question; others do not learn who tagged it.
        await m[other].command("tag_question", question_id=anonymous.id, grow="reality")
        with pytest.raises(CommandRefused) as refused:
            await m[asker].command("tag_question", question_id=anonymous.id, grow="will")
        assert refused.value.code == "forbidden"
        await fac.wait_for(lambda s: s.questions[-1].grow is GrowStage.REALITY)
        tagged = fac.events[-1]
        assert tagged.event.type == "question_tagged" and tagged.actor is None
        grows = [q.grow for q in fac.state.questions]  # type: ignore[union-attr]
        assert grows == [None, GrowStage.GOAL, GrowStage.REALITY]
        for client in (fac, *m.values()):
            await client.close()

        # In the browser's room, the same refusal is a prompt with "Send as it is".
        async with Tap(
            f"{server.ws_base}/meetings/{seeded.meeting_id}/ws",
            session_cookie(server, seeded.tokens[asker]),
        ) as html:
            await html.until('id="room-questions"')
            await html.send({"type": "ask_question", "text": "I would resign", "grow": ""})
            prompt = await html.until('id="room-error"')
            assert "Send as it is" in prompt and "I would resign" in prompt
            assert 'name="confirmed" value="true"' in prompt
            await html.send({"type": "ask_question", "text": "I would resign", "confirmed": "true"})
            covered = await html.until("I would resign</p>")
            assert "grow__stage--covered" in covered

    asyncio.run(scenario())


# --- 3. Prompts for a novice facilitator; the facilitator watches ------------------------------


def test_a_member_given_the_controls_is_prompted_and_the_facilitator_watches(
    server: Server, seeded: SeededSet
) -> None:
    novice, presenter = seeded.members[0], seeded.members[2]

    async def scenario() -> None:
        fac = await _facilitator(server, seeded).connect()
        await fac.command("hand_over", member=novice, watch=True)
        cookies = {
            "fac": sign_in(server, seeded.emails[seeded.facilitator]),
            "novice": session_cookie(server, seeded.tokens[novice]),
        }
        async with _taps(server, seeded, cookies) as taps:
            first = await taps["novice/html"].until('id="room-coach"')
            assert "When everyone is here, start the meeting." in first
            watching = await taps["fac/html"].until('id="room-controls"')
            assert "you are watching without them" in watching
            assert 'value="start_meeting"' not in watching
            you = _member(server, seeded, novice)
            await you.connect()
            # The novice runs the meeting to the presenter's questions by the suggested steps.
            await you.command("start_meeting")
            await you.command("next_phase")
            await you.command("next_phase")
            await you.command("allot", member=presenter, minutes=10)
            await you.command("next_phase")
            await you.command("next_stage", from_stage="0:present")
            await you.command("timer_start", seconds=1)
            await you.wait_for(lambda s: s.timer.elapsed)
            prompt = await taps["novice/html"].until("Time is up: invite the presenter to reflect.")
            coach = prompt[prompt.index('id="room-coach"') :]
            assert 'value="next_stage"' in coach[: coach.index("</section>")]
            # The facilitator never sees the novice's script, and takes the controls back.
            assert not any("What to do now" in m for m in taps["fac/html"].messages)
            await fac.command("take_back")
            back = await taps["fac/html"].until('value="hand_over"')  # the controls are back
            assert "What to do now" not in back
            await fac.wait_for(lambda s: s.delegate is None and not s.watching)
            with pytest.raises(CommandRefused) as refused:
                await you.command("next_stage")
            assert refused.value.code == "forbidden"
            await you.close()
        await fac.close()

    asyncio.run(scenario())


# --- 4. Airtime --------------------------------------------------------------------------------


def test_airtime_is_shown_to_the_facilitator_and_in_the_summary(
    server: Server, seeded: SeededSet
) -> None:
    async def scenario() -> None:
        fac = await _facilitator(server, seeded).connect()
        member = await _member(server, seeded, seeded.members[0]).connect()
        await fac.command("start_meeting")  # check-in: the first member speaks
        await asyncio.sleep(0.3)
        await fac.command("next_speaker")
        await asyncio.sleep(0.1)
        await fac.command("close_meeting")
        for client in (fac, member):
            state = await client.wait_for(lambda s: s.status is MeetingStatus.CLOSED)
            assert state.airtime[seeded.members[0]] >= 300
            assert state.airtime[seeded.members[1]] >= 100
        await fac.close()
        await member.close()

    asyncio.run(scenario())
    cookie = session_cookie(server, seeded.tokens[seeded.members[3]])
    page = httpx.get(
        f"{server.base}/meetings/{seeded.meeting_id}/summary",
        cookies={"setroom_session": cookie},
    )
    assert page.status_code == 200
    section = page.text[page.text.index('id="airtime-h"') :]
    assert "Member 1" in section and "Member 2" in section and "00:0" in section


def test_airtime_shows_in_the_facilitators_room_alone(server: Server, seeded: SeededSet) -> None:
    async def scenario() -> None:
        fac = await _facilitator(server, seeded).connect()
        await fac.command("start_meeting")
        cookies = {
            "fac": sign_in(server, seeded.emails[seeded.facilitator]),
            "m": session_cookie(server, seeded.tokens[seeded.members[1]]),
        }
        async with _taps(server, seeded, cookies) as taps:
            airtime = await taps["fac/html"].until('id="room-airtime" class="card airtime" aria')
            assert "Member 1" in airtime[airtime.index('id="room-airtime"') :]
            member = await taps["m/html"].until('id="room-airtime"')
            assert 'id="room-airtime" class="card airtime" hidden' in member
        await fac.close()

    asyncio.run(scenario())


# --- 5. Supervision: a set whose members facilitate other sets ---------------------------------


def test_a_set_of_facilitators_runs_with_the_same_mechanics(db_url: str, tmp_path: Path) -> None:
    """Supervision: the facilitators of two other sets are members of a third, with their own
    supervisor; in it they bid, present, ask and commit like any member, while keeping the
    controls of their own sets."""
    a = seed_set(db_url, members=3, set_id="set-a", prefix="a")
    b = seed_set(db_url, members=3, set_id="set-b", prefix="b")
    sup = seed_set(db_url, members=1, set_id="set-sup", prefix="s")
    engine = make_engine(db_url)
    with Session(engine) as session:
        for facilitator in (a.facilitator, b.facilitator):
            session.add(
                Membership(
                    set_id=sup.set_id, person_id=facilitator, role="member", rules_accepted_at=1
                )
            )
        session.commit()
    engine.dispose()
    engine = make_engine(db_url)
    meeting_id = create_meeting(engine, set_id=sup.set_id, now=now_ms())
    engine.dispose()

    with Server(db_url, log_path=tmp_path / "server.log") as server:

        async def scenario() -> None:
            supervisor = await RoomClient(
                server, meeting_id, sign_in(server, sup.emails[sup.facilitator])
            ).connect()
            fa = await RoomClient(
                server, meeting_id, sign_in(server, a.emails[a.facilitator])
            ).connect()
            fb = await RoomClient(
                server, meeting_id, sign_in(server, b.emails[b.facilitator])
            ).connect()
            assert fa.you["role"] == Role.MEMBER.value and fb.you["role"] == Role.MEMBER.value
            # A member here, though a facilitator elsewhere: no controls in this set.
            with pytest.raises(CommandRefused) as refused:
                await fa.command("start_meeting")
            assert refused.value.code == "forbidden"
            await supervisor.command("start_meeting")
            await supervisor.command("next_phase")
            await supervisor.command("next_phase")
            await fa.command("place_bid", minutes=15, title="A set that will not talk")
            await supervisor.command("allot", member=a.facilitator)
            await supervisor.command("next_phase")
            assert supervisor.state.presenter == a.facilitator  # type: ignore[union-attr]
            await fa.command("save_note", text=NOTE)
            await supervisor.command("next_stage")
            await fb.command("raise_hand")
            await fb.command("ask_question", text="What does the silence tell you?", grow="reality")
            await supervisor.command("next_stage")
            await fa.command("save_commitment", what="Name the silence at the next meeting")
            await supervisor.command("hand_over", member=fb.you["id"])
            await fb.command("next_stage")
            state = await supervisor.wait_for(lambda s: s.stage is Stage.COMMITMENT)
            assert state.commitments[0].owner == a.facilitator
            assert state.notes == () and fb.state.notes == ()  # type: ignore[union-attr]
            assert fa.state.notes[0].text == NOTE  # type: ignore[union-attr]
            for client in (supervisor, fa, fb):
                await client.close()

            # Meanwhile, each still runs their own set's meeting.
            own = await RoomClient(
                server, a.meeting_id, sign_in(server, a.emails[a.facilitator])
            ).connect()
            assert own.you["role"] == Role.FACILITATOR.value
            await own.command("start_meeting")
            await own.close()

        asyncio.run(scenario())
        home = httpx.get(
            f"{server.base}/home",
            cookies={"setroom_session": sign_in(server, a.emails[a.facilitator])},
        )
        assert home.status_code == 200
        assert "Set set-a" in home.text and "Set set-sup" in home.text


# --- 2. Presenters' private notes --------------------------------------------------------------


@pytest.mark.confidentiality
def test_a_presenters_notes_reach_no_one_else(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    presenter = seeded.members[2]
    others = [seeded.members[0], seeded.members[1], seeded.members[3]]

    async def scenario() -> dict[str, list[str]]:
        fac = await _facilitator(server, seeded).connect()
        cookies = {"fac": sign_in(server, seeded.emails[seeded.facilitator])}
        cookies.update(
            {pid: session_cookie(server, seeded.tokens[pid]) for pid in [presenter, *others]}
        )
        async with _taps(server, seeded, cookies) as taps:
            me = await _member(server, seeded, presenter).connect()
            await _to_questions(fac, presenter)
            await me.command("save_note", text=NOTE)
            await me.command("save_note", note_id=me.state.notes[0].id, text=NOTE + " (edited)")  # type: ignore[union-attr]
            await taps[f"{presenter}/html"].until("(edited)")
            await fac.command("next_stage")
            await me.command("save_commitment", what="Talk to finance")
            await fac.command("close_meeting")
            await fac.wait_for(lambda s: s.status is MeetingStatus.CLOSED)
            for name, tap in taps.items():
                await tap.until("The meeting has closed" if name.endswith("html") else "closed_at")
            # Coming back: a fresh snapshot and a replay from the start.
            late = await _member(server, seeded, others[0]).connect(since=0)
            again = await _facilitator(server, seeded).connect()
            seen = {name: tap.messages for name, tap in taps.items()}
            seen["late"] = [e.model_dump_json() for e in late.events] + [
                late.state.model_dump_json()
            ]  # type: ignore[union-attr]
            seen["fac/snapshot"] = [again.state.model_dump_json()]  # type: ignore[union-attr]
            assert me.state.notes[0].text == NOTE + " (edited)"  # type: ignore[union-attr]
            for client in (fac, me, late, again):
                await client.close()
        return seen

    seen = asyncio.run(scenario())
    assert any(NOTE in m for m in seen[f"{presenter}/html"])
    assert any(NOTE in m for m in seen[f"{presenter}/json"])
    leaks = [
        name
        for name, messages in seen.items()
        if not name.startswith(presenter) and any("PRIVATE-NOTE" in m for m in messages)
    ]
    assert not leaks, leaks

    # Every page anyone else may open, the facilitator's included.
    routes = sorted({path for method, path, _ in app_routes(db_url) if method == "GET"})
    values = {
        "meeting_id": seeded.meeting_id,
        "set_id": seeded.set_id,
        "programme_id": seeded.programme_id,
        "person_id": presenter,
    }
    pages = [
        re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), "x"), path)
        for path in routes
        if set(re.findall(r"{(\w+)}", path)) <= set(values)
    ]
    people = {
        "facilitator": sign_in(server, seeded.emails[seeded.facilitator]),
        "lead": sign_in(server, seeded.emails[seeded.lead]),
        **{pid: session_cookie(server, seeded.tokens[pid]) for pid in others},
    }
    opened = 0
    for who, cookie in people.items():
        with httpx.Client(base_url=server.base, cookies={"setroom_session": cookie}) as client:
            for page in pages:
                response = client.get(page)
                assert response.status_code < 500, page
                opened += response.status_code == 200
                assert "PRIVATE-NOTE" not in response.text, (who, page)
    assert opened > 10
