"""Airtime: how long each participant has held the floor, to help keep a set fair.

A participant's time counts while they are the room's speaker (a round's turn, a presenter's
present, reflection and commitment stages, a hand called in questions), the meeting is live and
the timer is not paused: a pause stops the room, so it stops the count too. The engine has no
clock, so `engine.apply` counts from the time the log stamped on each event; a replay of the
same log counts the same.
"""

from __future__ import annotations

from app.domain.model import MeetingState, MeetingStatus, Participant


def counting(state: MeetingState) -> bool:
    """Whether the speaker's time counts in this state."""
    paused = not state.timer.running and state.timer.remaining_ms > 0
    return state.status is MeetingStatus.LIVE and state.speaker is not None and not paused


def count_airtime(before: MeetingState, after: MeetingState, at: int) -> MeetingState:
    """`after` with the airtime of an event stamped `at` that took `before` to it."""
    if before.airtime_since is not None and before.speaker is not None:
        if counting(after) and after.speaker == before.speaker:
            return after
        spent = max(0, at - before.airtime_since)
        airtime = {**after.airtime, before.speaker: after.airtime.get(before.speaker, 0) + spent}
        since = at if counting(after) else None
        return after.model_copy(update={"airtime": airtime, "airtime_since": since})
    if counting(after):
        return after.model_copy(update={"airtime_since": at})
    return after


def airtime_at(state: MeetingState, now: int) -> dict[str, int]:
    """Each participant's airtime up to `now`, the current speaker's running time included."""
    airtime = dict(state.airtime)
    if state.airtime_since is not None and state.speaker is not None:
        airtime[state.speaker] = airtime.get(state.speaker, 0) + max(0, now - state.airtime_since)
    return airtime


def shares(state: MeetingState, now: int) -> tuple[tuple[Participant, int, int], ...]:
    """(person, milliseconds, percent of all airtime) for everyone on the roster, most first;
    percents are whole numbers (0 when nobody has spoken)."""
    airtime = airtime_at(state, now)
    total = sum(airtime.values())
    rows = [
        (p, airtime.get(p.id, 0), round(100 * airtime.get(p.id, 0) / total) if total else 0)
        for p in state.roster
        if p.active or p.id in airtime
    ]
    return tuple(sorted(rows, key=lambda row: -row[1]))
