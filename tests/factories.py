"""Builders shared by the test suites: rosters, the opening event, and a tiny in-memory log.

Every builder is keyword-only and pure; `Log` is the one object with state, standing in for the
event store: it decides, stamps, applies and keeps what was accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.domain import commands as c
from app.domain import events as e
from app.domain.engine import apply, decide
from app.domain.model import (
    Actor,
    MeetingInfo,
    MeetingState,
    Participant,
    PriorCommitment,
    Role,
    Settings,
)
from app.domain.templates import DEFAULT_TEMPLATE, PhaseSpec, phases_from

ORGS: tuple[str, ...] = ("Northshire NHS Trust", "Westgate Council", "Civil Service Academy")
START_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z: the clock every `Log` starts from unless told otherwise."""
STEP_MS = 1_000
"""How far a `Log`'s clock moves on each command when no `now` is given."""


def roster(*, members: int = 8, facilitators: int = 1) -> tuple[Participant, ...]:
    """Facilitators "f", "f2", ... then members "m1".."mN", spread over three organisations."""
    people = [
        Participant(
            id="f" if i == 1 else f"f{i}",
            name="Fran Facilitator" if i == 1 else f"Facilitator {i}",
            role=Role.FACILITATOR,
        )
        for i in range(1, facilitators + 1)
    ]
    people += [
        Participant(id=f"m{i}", name=f"Member {i}", org=ORGS[(i - 1) % len(ORGS)])
        for i in range(1, members + 1)
    ]
    return tuple(people)


def prior_commitment(
    *, owner: str, id: str | None = None, what: str = "", by_when: str = "next meeting"
) -> PriorCommitment:
    """A commitment made at an earlier meeting, to be reported back on."""
    return PriorCommitment(
        id=id or f"pc-{owner}",
        owner=owner,
        what=what or f"{owner} will try one new thing",
        by_when=by_when,
    )


def opened(
    *,
    people: Sequence[Participant] | None = None,
    settings: Settings | None = None,
    prior: Sequence[PriorCommitment] = (),
    info: MeetingInfo | None = None,
    template: tuple[PhaseSpec, ...] = DEFAULT_TEMPLATE,
) -> e.MeetingOpened:
    """The first event of a meeting: the default template unless another is given."""
    return e.MeetingOpened(
        info=info or MeetingInfo(title="Meeting 2", set_name="Set A", video_link="https://x.test"),
        settings=settings or Settings(),
        roster=tuple(people) if people is not None else roster(),
        phases=phases_from(template),
        prior=tuple(prior),
    )


def stamp(
    event: e.AnyEvent,
    *,
    seq: int,
    at: int = START_MS,
    actor: str | None = None,
    actor_role: Role = Role.SYSTEM,
) -> e.Stamped:
    return e.Stamped(seq=seq, at=at, actor=actor, actor_role=actor_role, event=event)


def actor_for(state: MeetingState, who: Actor | str | None) -> Actor:
    """`None` is the server; a roster id acts in its roster role; any other id is a stranger
    claiming to be a member."""
    if isinstance(who, Actor):
        return who
    if who is None:
        return Actor.system()
    person = state.person(who)
    return Actor(participant=who, role=person.role if person else Role.MEMBER)


class Log:
    """A meeting's state and its accepted events, as the event store would hold them."""

    def __init__(
        self,
        first: e.MeetingOpened | None = None,
        *,
        meeting_id: str = "meeting-1",
        start_ms: int = START_MS,
    ) -> None:
        self.meeting_id = meeting_id
        self.now = start_ms
        self.state = MeetingState(meeting_id=meeting_id)
        self.events: list[e.Stamped] = []
        self.append([first or opened()], Actor.system(), start_ms)

    def actor(self, who: Actor | str | None) -> Actor:
        return actor_for(self.state, who)

    def append(self, events: Sequence[e.AnyEvent], actor: Actor, now: int) -> list[e.Stamped]:
        """Stamp and apply events (seq = state.seq + 1 each), as storage would after a decide."""
        stamped = []
        for event in events:
            s = stamp(
                event,
                seq=self.state.seq + 1,
                at=now,
                actor=actor.participant,
                actor_role=actor.role,
            )
            self.state = apply(self.state, s)
            self.events.append(s)
            stamped.append(s)
        return stamped

    def do(
        self,
        command: c.AnyCommand | Mapping[str, object],
        actor: Actor | str | None,
        now: int | None = None,
        *,
        expect_seq: int | None = None,
    ) -> list[e.AnyEvent]:
        """Decide `command` by `actor` at `now` (default: one step after the last), then stamp and
        apply what it produced. A refusal raises the DomainError and changes nothing."""
        cmd = c.parse_command(command) if isinstance(command, Mapping) else command
        at = self.now + STEP_MS if now is None else now
        who = self.actor(actor)
        events = decide(self.state, cmd, who, at, expect_seq=expect_seq)
        self.now = max(self.now, at)
        self.append(events, who, at)
        return events

    def fork(self) -> Log:
        """An independent copy: the same state and events, free to diverge."""
        twin = Log.__new__(Log)
        twin.meeting_id, twin.now, twin.state = self.meeting_id, self.now, self.state
        twin.events = list(self.events)
        return twin
