"""The calendar (.ics) speaks the language of the request (the person's own choice first):
its summary and description, never a join link."""

from __future__ import annotations

import icalendar

from app.db.schedule import MeetingRow, SetSchedule
from app.web.language import speaking
from app.web.set_meetings import build_calendar

SCHEDULE = SetSchedule(
    set_id="s",
    name="Set y Gogledd",
    programme_name="Rhaglen",
    video_link="https://call.example/room",
    cadence_weeks=4,
    meetings_planned=6,
    meetings=[MeetingRow("m", 2, 1_900_000_000_000, 150, "not_started", None)],
    people=[],
    ground_rules="",
)


def _event(language: str) -> icalendar.cal.Component:
    with speaking(language):
        body = build_calendar(SCHEDULE, public_url="https://setroom.example", now=0)
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_the_calendar_is_in_welsh_for_a_welsh_speaker() -> None:
    event = _event("cy")
    assert str(event["summary"]) == "Set y Gogledd: cyfarfod 2"
    description = str(event["description"])
    assert "Cyfarfod 2 o’r Set Dysgu Gweithredol Set y Gogledd." in description
    assert "https://setroom.example/" in description
    assert "Llais a fideo: https://call.example/room" in description


def test_english_stays_the_default() -> None:
    event = _event("en")
    assert str(event["summary"]) == "Set y Gogledd: meeting 2"
    assert "Action learning set meeting 2 of Set y Gogledd." in str(event["description"])
    assert "Voice and video: https://call.example/room" in str(event["description"])
