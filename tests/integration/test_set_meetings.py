"""A set's meetings over time, on a real server: the schedule and its calendar, the template
applied from the next meeting, the rota's controls and the ground rules before the room."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import icalendar
import pytest
import websockets
from sqlmodel import Session, col, select

from app.db import eventlog
from app.db.database import make_engine
from app.db.tables import Meeting
from app.domain.engine import replay
from app.domain.model import MeetingState, PhaseKind
from tests.harness import (
    CSRF,
    CommandRefused,
    RoomClient,
    SeededSet,
    Server,
    seed_set,
    session_cookie,
    sign_in,
)

HTML = {"accept": "text/html"}


@pytest.fixture
def seeded(db_url: str) -> SeededSet:
    """One set of five members and its first meeting, not yet dated."""
    return seed_set(db_url, members=5)


def _facilitator(server: Server, seeded: SeededSet) -> httpx.Client:
    cookie = sign_in(server, seeded.emails[seeded.facilitator])
    return httpx.Client(
        auth=CSRF, base_url=server.base, cookies={"setroom_session": cookie}, headers=HTML
    )


def _member(server: Server, token: str) -> httpx.Client:
    cookie = session_cookie(server, token)
    return httpx.Client(
        auth=CSRF, base_url=server.base, cookies={"setroom_session": cookie}, headers=HTML
    )


def _meetings(db_url: str, set_id: str) -> list[Meeting]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = list(
            session.exec(
                select(Meeting).where(Meeting.set_id == set_id).order_by(col(Meeting.number))
            ).all()
        )
    engine.dispose()
    return rows


def _state(db_url: str, meeting_id: str) -> MeetingState:
    engine = make_engine(db_url)
    try:
        return replay(meeting_id, eventlog.load(engine, meeting_id))
    finally:
        engine.dispose()


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_the_facilitator_schedules_a_meeting_and_members_download_the_calendar(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    with _facilitator(server, seeded) as fac:
        page = fac.get(f"/sets/{seeded.set_id}/meetings")
        assert page.status_code == 200 and "Schedule meeting 2" in page.text
        dated = fac.post(
            f"/meetings/{seeded.meeting_id}/schedule",
            data={"day": "2031-01-14", "start": "09:30", "duration": "180", "zone": "UTC"},
        )
        assert dated.status_code == 303
        # London in summer is UTC+1: 14:00 there is 13:00 UTC.
        scheduled = fac.post(
            f"/sets/{seeded.set_id}/meetings",
            data={
                "day": "2031-06-10",
                "start": "14:00",
                "duration": "150",
                "zone": "Europe/London",
            },
        )
        assert scheduled.status_code == 303
        for bad, reason in (
            ({"day": "2031-02-30", "start": "10:00", "duration": "120"}, "YYYY-MM-DD"),
            ({"day": "2031-07-01", "start": "25:00", "duration": "120"}, "HH:MM"),
            ({"day": "2031-07-01", "start": "10:00", "duration": "5"}, "15 to 720"),
            ({"day": "2031-07-01", "start": "10:00", "duration": "120", "zone": "Mars"}, "zone"),
            ({"day": "2031-07-01", "start": "10:00", "duration": "120", "rota": "f"}, "member"),
        ):
            refused = fac.post(f"/sets/{seeded.set_id}/meetings", data=bad)
            assert refused.status_code == 400, bad
            assert 'role="alert"' in refused.text and reason in refused.text
        assert len(_meetings(db_url, seeded.set_id)) == 2, "a refused form creates nothing"
        # The meeting's log holds its dates: the room shows them, the summary its next date.
        info = _state(db_url, seeded.meeting_id).info
        assert info.scheduled_at == _ms("2031-01-14T09:30:00+00:00")
        assert info.next_meeting_at == _ms("2031-06-10T13:00:00+00:00")
        assert _state(db_url, _meetings(db_url, seeded.set_id)[1].id).info.planned_minutes == 150
        calendar = fac.get(f"/sets/{seeded.set_id}/calendar.ics")
        again = fac.get(f"/sets/{seeded.set_id}/calendar.ics")

    assert calendar.status_code == 200
    assert calendar.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(calendar.content)
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    assert len(events) == 2
    first, second = events
    assert first.decoded("dtstart") == datetime(2031, 1, 14, 9, 30, tzinfo=UTC)
    assert first.decoded("dtend") == datetime(2031, 1, 14, 12, 30, tzinfo=UTC)
    assert second.decoded("dtstart") == datetime(2031, 6, 10, 13, 0, tzinfo=UTC)
    assert second.decoded("dtend") == datetime(2031, 6, 10, 15, 30, tzinfo=UTC)
    assert str(second["summary"]) == f"Set {seeded.set_id}: meeting 2"
    assert "http://127.0.0.1:8000/" in str(second["description"])
    uids = [str(e["uid"]) for e in events]
    again_uids = [str(c["uid"]) for c in icalendar.Calendar.from_ical(again.content).walk("VEVENT")]
    assert uids == again_uids and len(set(uids)) == 2
    text = calendar.text
    assert not any(token in text for token in seeded.tokens.values())
    assert "/j/" not in text

    # A member's link session downloads it too, from the room's header as from the set.
    with _member(server, seeded.tokens[seeded.members[0]]) as member:
        room = member.get(f"/meetings/{seeded.meeting_id}")
        assert f"/meetings/{seeded.meeting_id}/calendar.ics" in room.text
        assert "Planned for" in room.text and "14 Jan 2031, 09:30 UTC" in room.text
        mine = member.get(f"/meetings/{seeded.meeting_id}/calendar.ics")
        assert mine.status_code == 200 and mine.content.count(b"BEGIN:VEVENT") == 2
        assert member.get(f"/sets/{seeded.set_id}/calendar.ics").status_code == 200
        assert member.get(f"/sets/{seeded.set_id}/meetings").status_code == 403
    other = seed_set(db_url, members=2, set_id="set-b", prefix="b-")
    with _member(server, other.tokens[other.members[0]]) as stranger:
        assert stranger.get(f"/sets/{seeded.set_id}/calendar.ics").status_code == 403
        assert stranger.get(f"/meetings/{seeded.meeting_id}/calendar.ics").status_code == 403
    assert httpx.get(f"{server.base}/sets/{seeded.set_id}/calendar.ics").status_code == 401


def test_the_template_applies_from_the_next_meeting(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    before = _state(db_url, seeded.meeting_id).phases
    with _facilitator(server, seeded) as fac:
        page = fac.get(f"/sets/{seeded.set_id}/template")
        assert page.status_code == 200 and "default template" in page.text
        rows = {
            "kind_0": "check_in",
            "title_0": "Arrivals",
            "minutes_0": "3",
            "kind_1": "bidding",
            "title_1": "Bidding for time",
            "minutes_1": "5",
            "kind_2": "turns",
            "title_2": "Presenter turns",
            "minutes_2": "0",
        }
        for bad, reason in (
            ({**rows, "minutes_0": "241", "action": "save"}, "0 to 240"),
            ({**rows, "title_0": " ", "action": "save"}, "title"),
            ({**rows, "action": "up:2"}, "Bidding for time comes before"),
            ({**rows, "kind_0": "close", "action": "save"}, "Phase 1"),
            ({"action": "save"}, "1 to 20 phases"),
        ):
            refused = fac.post(f"/sets/{seeded.set_id}/template", data=bad)
            assert refused.status_code == 400, bad
            assert 'role="alert"' in refused.text and reason in refused.text, bad
        saved = fac.post(
            f"/sets/{seeded.set_id}/template",
            data={
                **rows,
                "action": "add",
                "new_kind": "custom",
                "new_title": "Theme discussion",
                "new_minutes": "20",
            },
        )
        assert saved.status_code == 303
        moved = fac.post(
            f"/sets/{seeded.set_id}/template",
            data={
                **rows,
                "kind_3": "custom",
                "title_3": "Theme discussion",
                "minutes_3": "20",
                "action": "up:3",
            },
        )
        assert moved.status_code == 303
        assert "Theme discussion" in fac.get(f"/sets/{seeded.set_id}/template").text
        scheduled = fac.post(
            f"/sets/{seeded.set_id}/meetings",
            data={"day": "2031-03-01", "start": "10:00", "duration": "120", "zone": "UTC"},
        )
        assert scheduled.status_code == 303

    assert _state(db_url, seeded.meeting_id).phases == before, "meeting 1 keeps its plan"
    second = _meetings(db_url, seeded.set_id)[1]
    plan = [(p.kind, p.title, p.minutes) for p in _state(db_url, second.id).phases]
    assert plan == [
        (PhaseKind.CHECK_IN, "Arrivals", 3),
        (PhaseKind.BIDDING, "Bidding for time", 5),
        (PhaseKind.CUSTOM, "Theme discussion", 20),
        (PhaseKind.TURNS, "Presenter turns", 0),
        (PhaseKind.CLOSE, "Close", 0),
    ]
    assert _state(db_url, second.id).info.planned_minutes == 120


def test_the_member_on_the_rota_holds_the_controls(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    rota, other = seeded.members[1], seeded.members[2]
    with _facilitator(server, seeded) as fac:
        created = fac.post(
            f"/sets/{seeded.set_id}/meetings",
            data={
                "day": "2031-04-01",
                "start": "10:00",
                "duration": "120",
                "zone": "UTC",
                "rota": rota,
            },
        )
        assert created.status_code == 303
        second = _meetings(db_url, seeded.set_id)[1]
        assert second.rota_person_id == rota
        # Meeting 1 already exists: its rota is handed over in its log.
        handed = fac.post(f"/meetings/{seeded.meeting_id}/rota", data={"rota": other})
        assert handed.status_code == 303
        page = fac.get(f"/sets/{seeded.set_id}/meetings")
        assert "Facilitates: Member 3" in page.text and "Facilitates: Member 2" in page.text
        assert fac.post(f"/meetings/{second.id}/rota", data={"rota": "nobody"}).status_code == 400
    lead_cookie = sign_in(server, seeded.emails[seeded.lead])
    lead = httpx.post(
        f"{server.base}/meetings/{second.id}/rota",
        data={"rota": other},
        cookies={"setroom_session": lead_cookie},
        auth=CSRF,
    )
    assert lead.status_code == 403, "a lead runs the schedule, not who holds the controls"
    schedule_page = httpx.get(
        f"{server.base}/sets/{seeded.set_id}/meetings", cookies={"setroom_session": lead_cookie}
    )
    assert schedule_page.status_code == 200 and "Schedule meeting 3" in schedule_page.text
    assert f'href="/meetings/{second.id}"' not in schedule_page.text, "no room for a lead"
    assert 'name="rota"' not in schedule_page.text
    assert _state(db_url, seeded.meeting_id).delegate == other

    async def scenario() -> None:
        def client(pid: str, meeting_id: str) -> RoomClient:
            return RoomClient(server, meeting_id, session_cookie(server, seeded.tokens[pid]))

        on_rota = await client(rota, second.id).connect()
        not_on_rota = await client(other, second.id).connect()
        with pytest.raises(CommandRefused) as refused:
            await not_on_rota.command("start_meeting")
        assert refused.value.code == "forbidden"
        await on_rota.command("start_meeting")
        await on_rota.command("next_phase")
        with pytest.raises(CommandRefused):
            await not_on_rota.command("next_phase")
        first_rota = await client(other, seeded.meeting_id).connect()
        await first_rota.command("start_meeting")
        for c in (on_rota, not_on_rota, first_rota):
            await c.close()

    asyncio.run(scenario())
    with _facilitator(server, seeded) as fac:
        late = fac.post(f"/meetings/{second.id}/rota", data={"rota": ""})
        assert late.status_code == 400 and "already started" in late.text


def test_a_member_accepts_the_ground_rules_before_entering(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    newcomers = seed_set(db_url, members=3, set_id="set-n", prefix="n-", rules_accepted=False)
    member = newcomers.members[0]
    with _member(server, newcomers.tokens[member]) as browser:
        gate = browser.get(f"/meetings/{newcomers.meeting_id}")
        assert gate.status_code == 200
        assert "Confidentiality" in gate.text and "I accept the ground rules" in gate.text
        assert 'id="room"' not in gate.text and "Member 2" not in gate.text
        cookie = browser.cookies["setroom_session"]

        async def refused() -> None:
            with pytest.raises(websockets.InvalidStatus) as closed:
                await RoomClient(server, newcomers.meeting_id, cookie).connect()
            assert closed.value.response.status_code == 403

        asyncio.run(refused())
        accepted = browser.post(
            f"/sets/{newcomers.set_id}/ground-rules/accept",
            data={"meeting": newcomers.meeting_id},
            follow_redirects=False,
        )
        assert accepted.status_code == 303
        assert accepted.headers["location"] == f"/meetings/{newcomers.meeting_id}"
        room = browser.get(f"/meetings/{newcomers.meeting_id}")
        assert 'id="room"' in room.text and "I accept" not in room.text

        async def enters() -> None:
            client = await RoomClient(server, newcomers.meeting_id, cookie).connect()
            assert client.you["id"] == member
            await client.close()

        asyncio.run(enters())
        # Someone else's set: accepting there is refused.
        elsewhere = browser.post(f"/sets/{seeded.set_id}/ground-rules/accept")
        assert elsewhere.status_code == 403

    facilitator = newcomers.facilitator
    cookie = sign_in(server, newcomers.emails[facilitator])
    with httpx.Client(auth=CSRF, base_url=server.base, cookies={"setroom_session": cookie}) as fac:
        page = fac.get(f"/sets/{newcomers.set_id}/meetings").text
        assert "1 of 3 have" in page
        assert page.count("Accepted <time") == 1 and page.count("Not yet") == 2
        # The facilitator's own room never asks.
        assert 'id="room"' in fac.get(f"/meetings/{newcomers.meeting_id}").text
        rewritten = fac.post(
            f"/sets/{newcomers.set_id}/ground-rules",
            data={"rules": "We keep it here.\nWe ask, we do not tell.", "ask_again": "1"},
        )
        assert rewritten.status_code == 303
        assert "0 of 3 have" in fac.get(f"/sets/{newcomers.set_id}/meetings").text
    with _member(server, newcomers.tokens[member]) as browser:
        gate = browser.get(f"/meetings/{newcomers.meeting_id}")
        assert "We ask, we do not tell." in gate.text and "Confidentiality" not in gate.text
