"""The live room as HTML: one Jinja2 template serves the whole page and each live region alone.

Every region is a `{% block %}` of `room.html` holding one element with a stable id, so the page
and the fragments sent over the WebSocket come from the same source and cannot drift apart.
What a viewer sees is always rendered from `views.view(state, viewer)`, never from the raw state,
so that question text and authors a viewer may not know never reach their HTML.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import jinja2
from babel.dates import format_datetime
from markupsafe import Markup

from app.domain import commands as c
from app.domain.airtime import shares
from app.domain.coaching import Said, coach
from app.domain.model import (
    ROUND_KINDS,
    STAGE_ORDER,
    GrowStage,
    MeetingState,
    MeetingStatus,
    Phase,
    PhaseKind,
    PhaseStatus,
    PriorCommitment,
    ReportStatus,
    Role,
    Stage,
    Timer,
)
from app.domain.questions import GROW_LABELS
from app.domain.templates import DEFAULT_TEMPLATE
from app.domain.views import summary, view
from app.web.csrf import TEMPLATE_GLOBALS
from app.web.language import (
    LANGUAGES,
    N_,
    current,
    current_path,
    gettext,
    ngettext,
    pgettext,
    speaking,
    translate,
)

ROOM_TEMPLATE = "room.html"

REGIONS: tuple[str, ...] = (
    "room-status",
    "room-phase",
    "room-speaker",
    "room-timer",
    "room-coach",
    "room-airtime",
    "room-hands",
    "room-report-back",
    "room-bids",
    "room-questions",
    "room-notes",
    "room-commitments",
    "room-summary",
    "room-order",
    "room-presence",
    "room-controls",
    "room-announcer",
    "room-clock",
)
"""The ids of the regions `regions()` sends, in page order. `room-error` is not among them: it
belongs to one sender and stays until their next command (room.js clears it), rather than being
wiped by whatever the room broadcasts next."""

STAGE_LABELS: dict[Stage, str] = {
    Stage.PRESENT: N_("Present"),
    Stage.QUESTIONS: N_("Questions"),
    Stage.REFLECTION: N_("Reflection"),
    Stage.COMMITMENT: N_("Commitment"),
}
"""Labels, guidance and the other strings below are marked (N_) here and translated where they
are shown (`_()` in the templates), in the viewer's language."""

REPORT_LABELS: dict[ReportStatus, str] = {
    ReportStatus.DONE: N_("Done"),
    ReportStatus.PARTLY: N_("Partly done"),
    ReportStatus.NOT_DONE: N_("Not done"),
    ReportStatus.CHANGED: N_("Changed"),
}

PHASE_GUIDANCE: dict[PhaseKind, str] = {
    PhaseKind.CHECK_IN: N_("Each member in turn: how are you arriving today?"),
    PhaseKind.REPORT_BACK: N_(
        "Each member reports on last meeting's commitments: what happened, and what they learned."
    ),
    PhaseKind.BIDDING: N_("Bid for time to present: how many minutes, and your issue in one line."),
    PhaseKind.PROCESS_REVIEW: N_("Each member in turn: how did we work as a set today?"),
    PhaseKind.CHECK_OUT: N_("Each member in turn: one thought to leave with."),
    PhaseKind.CUSTOM: "",
    PhaseKind.CLOSE: N_(
        "The meeting is closing. The facilitator will end it and share the summary."
    ),
}

STAGE_GUIDANCE: dict[Stage, str] = {
    Stage.PRESENT: N_("{name} presents their issue. Everyone else listens."),
    Stage.QUESTIONS: N_("Questions only, no advice. Raise your hand, or type a question."),
    Stage.REFLECTION: N_("{name} reflects on what they heard. Others speak only if invited."),
    Stage.COMMITMENT: N_("{name} commits to an action, and the set helps shape it."),
}

TIMER_CHOICES: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 20, 30)
"""Minutes offered by the facilitator's timer (sent as seconds)."""

ADDABLE_KINDS: tuple[tuple[PhaseKind, str], ...] = (
    (PhaseKind.CUSTOM, N_("Open discussion (one timer)")),
    (PhaseKind.CHECK_IN, N_("Round: check-in")),
    (PhaseKind.PROCESS_REVIEW, N_("Round: process review")),
    (PhaseKind.CHECK_OUT, N_("Round: check-out")),
)

DEFAULT_TITLES: tuple[str, ...] = (
    N_("Check-in"),
    N_("Report-back"),
    N_("Bidding for time"),
    N_("Presenter turns"),
    N_("Process review"),
    N_("Check-out"),
    N_("Close"),
)
"""The default template's phase titles (app.domain.templates), marked for the catalogs. A
meeting stores its phase titles as set data, in the language its plan was written in; a title
still as the default template has it is shown in the viewer's language (`phase_title`), and one
a facilitator wrote is shown as written."""

SCRIPT_TEXT: tuple[str, ...] = (
    N_("Time's up"),
    N_("Under a minute left"),
    N_("of {duration}"),
    N_("One minute left"),
    N_("Connecting…"),
    N_("Connected"),
    N_("Reconnecting…"),
    N_("Disconnected: reload to rejoin"),
    N_("Connection lost. Reconnecting…"),
    N_("Disconnected. Reload the page to rejoin."),
    N_("This room is open in other windows, so this one stopped. Reload the page to use it here."),
    N_("Reconnected"),
)
"""What app/static/room.js writes into the page itself; base.html hands it the translations."""


def said(sentence: Said) -> str:
    """A coaching sentence in the current language; a default phase title inside it too."""
    params = {
        key: gettext(value) if key == "phase" and value in _DEFAULT_TITLES else value
        for key, value in sentence.params.items()
    }
    return translate(sentence.template, **params) if sentence.template else ""


def script_text() -> dict[str, str]:
    return {text: gettext(text) for text in SCRIPT_TEXT}


_DEFAULT_TITLES = frozenset(spec.title for spec in DEFAULT_TEMPLATE)


def phase_title(phase: Phase) -> str:
    return gettext(phase.title) if phase.title in _DEFAULT_TITLES else phase.title


TimerState = Literal["idle", "running", "paused", "elapsed"]
Presence = Literal["online", "dropped", "absent"]


@dataclass(frozen=True)
class TimerView:
    """The timer as the page shows it at render time; room.js takes over from the data."""

    state: TimerState
    left_ms: int
    duration_ms: int
    deadline_ms: int | None
    remaining_ms: int

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def warn(self) -> bool:
        return self.state == "running" and self.left_ms <= 60_000

    @property
    def clock(self) -> str:
        if self.state == "idle":
            return "--:--"
        return mm_ss(self.left_ms)

    @property
    def label(self) -> str:
        if self.state == "elapsed":
            return gettext("Time's up")
        if self.state == "paused":
            return gettext("Paused")
        if self.state == "idle":
            return gettext("No timer running")
        if self.warn:
            return gettext("Under a minute left")
        return translate("of {duration}", duration=mm_ss(self.duration_ms))


@dataclass(frozen=True)
class PlanFit:
    """Whether the allotted presenter slots fit the meeting's remaining planned time."""

    slot_minutes: int
    left_minutes: int
    reserved_minutes: int

    @property
    def available_minutes(self) -> int:
        return max(0, self.left_minutes - self.reserved_minutes)

    @property
    def fits(self) -> bool:
        return self.slot_minutes <= self.available_minutes

    @property
    def margin(self) -> int:
        return abs(self.available_minutes - self.slot_minutes)


@dataclass(frozen=True)
class PhaseRow:
    phase: Phase
    index: int
    editable: bool
    can_move_up: bool
    can_move_down: bool


def mm_ss(ms: int) -> str:
    seconds = max(0, (ms + 999) // 1000)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def timer_view(timer: Timer, now_ms: int) -> TimerView:
    left = timer.left_ms(now_ms)
    state: TimerState
    if timer.elapsed or (timer.running and left <= 0):
        state = "elapsed"
    elif timer.running:
        state = "running"
    elif timer.remaining_ms > 0:
        state = "paused"
    else:
        state = "idle"
    return TimerView(
        state=state,
        left_ms=0 if state == "elapsed" else left,
        duration_ms=timer.duration_ms,
        deadline_ms=timer.deadline_ms if timer.running else None,
        remaining_ms=timer.remaining_ms,
    )


def plan_fit(state: MeetingState, now_ms: int) -> PlanFit:
    """Slot minutes against the planned time left, less what the phases still to come need."""
    elapsed = 0 if state.started_at is None else max(0, now_ms - state.started_at) // 60_000
    left = max(0, state.info.planned_minutes - elapsed)
    members = len(state.members())
    reporters = len({p.owner for p in state.prior})
    reserved = 0
    for phase in state.phases[state.phase_index + 1 :]:
        if phase.status is not PhaseStatus.PENDING or phase.kind in (
            PhaseKind.TURNS,
            PhaseKind.CLOSE,
        ):
            continue
        if phase.kind is PhaseKind.REPORT_BACK:
            reserved += phase.minutes * reporters
        elif phase.kind in ROUND_KINDS:
            reserved += phase.minutes * members
        else:
            reserved += phase.minutes
    return PlanFit(
        slot_minutes=sum(s.minutes for s in state.slots),
        left_minutes=left,
        reserved_minutes=reserved,
    )


def presence(state: MeetingState, participant: str) -> Presence:
    if participant in state.online:
        return "online"
    if participant in state.first_seen:
        return "dropped"
    return "absent"


def when(ms: int | None) -> Markup:
    """A timestamp as a `<time>` element (UTC: the server does not know the viewer's zone)."""
    if ms is None:
        return Markup("")
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = format_datetime(at, "EEE d MMM y, HH:mm", tzinfo=UTC, locale=current()) + " UTC"
    return Markup('<time datetime="{}">{}</time>').format(at.isoformat(), text)


def _phase_rows(state: MeetingState) -> tuple[PhaseRow, ...]:
    last = len(state.phases) - 1
    rows = []
    for i, phase in enumerate(state.phases):
        editable = (
            i > state.phase_index
            and phase.kind is not PhaseKind.CLOSE
            and phase.status in (PhaseStatus.PENDING, PhaseStatus.SKIPPED)
        )
        rows.append(
            PhaseRow(
                phase=phase,
                index=i,
                editable=editable,
                can_move_up=editable and i - 1 > state.phase_index,
                can_move_down=editable and i + 1 < last,
            )
        )
    return tuple(rows)


def _grouped(prior: tuple[PriorCommitment, ...]) -> list[tuple[str, list[PriorCommitment]]]:
    groups: dict[str, list[PriorCommitment]] = {}
    for item in prior:
        groups.setdefault(item.owner, []).append(item)
    return list(groups.items())


def _next_pending(state: MeetingState) -> Phase | None:
    for phase in state.phases[state.phase_index + 1 :]:
        if phase.status is PhaseStatus.PENDING:
            return phase
    return None


def _safe_link(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


class RoomRenderer:
    """Renders the room page and its live regions for one viewer at a time."""

    def __init__(self, templates_dir: pathlib.Path) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # `_()` and `{% trans %}` in the templates: the current language (app.web.language).
        self._env.policies["ext.i18n.trimmed"] = True
        self._env.install_gettext_callables(  # type: ignore[attr-defined]
            gettext, ngettext, newstyle=True, pgettext=pgettext
        )
        # `| t`: a message made in Python (a notice, a form's error) in the current language
        # when the catalogs have it (marked with N_ where it is written), else as it is.
        self._env.filters["t"] = lambda text: gettext(text) if text else text
        self._env.filters["tp"] = lambda text, context: pgettext(context, text) if text else text
        self._env.globals.update(
            LANGUAGES=LANGUAGES,
            language=current,
            here=current_path,
            phase_title=phase_title,
            script_text=script_text,
            said=said,
            mm_ss=mm_ss,
            when=when,
            STAGE_LABELS=STAGE_LABELS,
            REPORT_LABELS=REPORT_LABELS,
            ReportStatus=ReportStatus,
            TIMER_CHOICES=TIMER_CHOICES,
            ADDABLE_KINDS=ADDABLE_KINDS,
            GrowStage=GrowStage,
            GROW_LABELS=GROW_LABELS,
        )
        self._env.globals.update(TEMPLATE_GLOBALS)  # csrf_input(), csrf_token()
        self._env.globals["ui"] = self._env.get_template("_macros.html").module

    # The contract the web layer calls.

    def page(self, state: MeetingState, viewer: str, *, ws_url: str, now_ms: int) -> str:
        """The whole room page for `viewer` (a participant id on state.roster)."""
        template = self._env.get_template(ROOM_TEMPLATE)
        return template.render(self._context(state, viewer, now_ms=now_ms, ws_url=ws_url))

    def regions(
        self,
        state: MeetingState,
        viewer: str,
        *,
        now_ms: int,
        announce: str = "",
        language: str | None = None,
    ) -> str:
        """Every live region of the room for `viewer`, each a top-level element with a stable id,
        to be sent over the WebSocket; htmx's ws extension swaps each by id (out-of-band). In
        `language` (the viewer's; the hub renders many viewers in one go), else the current."""
        with speaking(language or current()):
            context = self._context(state, viewer, now_ms=now_ms, announce=announce, fragment=True)
            return "\n".join(self._block(_block_name(region), context) for region in REGIONS)

    def welcome_page(self) -> str:
        """The page for someone who arrives without a join link."""
        return self._env.get_template("welcome.html").render()

    def lobby_page(self, *, ws_url: str) -> str:
        """The page of someone waiting to be let into a locked meeting: no room content."""
        return self._env.get_template("lobby.html").render(ws_url=ws_url)

    @staticmethod
    def lobby_page_region() -> str:
        text = gettext(
            "The facilitator has locked this meeting. "
            "They can see you are here and will let you in shortly."
        )
        region = Markup('<div id="room-lobby" role="status" aria-live="polite"><p>{}</p></div>')
        return region.format(text)

    @staticmethod
    def admitted() -> str:
        """The lobby region once let in: room.js then loads the room."""
        return Markup(
            '<div id="room-lobby" role="status" aria-live="polite" data-admitted="true">'
            "<p>{}</p></div>"
        ).format(gettext("You are in: opening the room…"))

    def render(self, template: str, **context: Any) -> str:
        """A page outside the room (sign-in, home, programmes, sets)."""
        return self._env.get_template(template).render(**context)

    def notice_page(self, title: str, message: str) -> str:
        """A plain page that explains a refusal (a bad link, no session, no such meeting). The
        title and message are translated when the catalog has them (marked where raised)."""
        return self._env.get_template("notice.html").render(
            title=gettext(title), message=gettext(message)
        )

    def error(self, message: str, *, code: str = "", command: c.AnyCommand | None = None) -> str:
        """The #room-error region holding a message for the sender alone (role=alert). A
        contribution refused as `not_a_question` comes back as a gentle prompt: the sender can
        send it as it is, or edit it."""
        prompt = (
            command if code == "not_a_question" and isinstance(command, c.AskQuestion) else None
        )
        return self._block("room_error", {"error": message, "prompt": prompt, "fragment": True})

    def announcement(
        self, before: MeetingState | None, after: MeetingState, *, language: str | None = None
    ) -> str:
        """A short sentence for screen readers when the phase, speaker, stage or timer state
        changed ("Phase: Questions. Speaker: Ana Silva."; "Timer paused"; "Time's up"), else "",
        in `language`, else the current one."""
        with speaking(language or current()):
            return announcement(before, after)

    # Helpers.

    def _block(self, name: str, context: dict[str, Any]) -> str:
        template = self._env.get_template(ROOM_TEMPLATE)
        render = template.blocks[name]
        return "".join(render(template.new_context(context))).strip()

    def _context(
        self,
        state: MeetingState,
        viewer: str,
        *,
        now_ms: int,
        ws_url: str = "",
        announce: str = "",
        fragment: bool = False,
    ) -> dict[str, Any]:
        v = view(state, viewer)
        me = v.person(viewer)
        names = {p.id: p.name for p in v.roster}
        presenter = v.presenter
        phase = v.phase
        kind = phase.kind if phase else None
        live = v.status is MeetingStatus.LIVE
        slot = v.slots[v.presenter_index] if presenter is not None else None

        def name(pid: str | None) -> str:
            return names.get(pid or "", gettext("Someone"))

        up_next: str | None = None
        if kind in ROUND_KINDS and 0 <= v.turn_index + 1 < len(v.order):
            up_next = v.order[v.turn_index + 1]

        next_stage_label = ""
        if kind is PhaseKind.TURNS:
            if v.stage is None:
                if v.slots and v.presenter_index < len(v.slots):
                    first = v.slots[max(v.presenter_index, 0)].member
                    next_stage_label = translate("Start turn: {name}", name=name(first))
            elif v.stage is Stage.COMMITMENT:
                following = v.presenter_index + 1
                next_stage_label = (
                    translate("Next presenter: {name}", name=name(v.slots[following].member))
                    if following < len(v.slots)
                    else gettext("Finish the turns")
                )
            else:
                stage = STAGE_ORDER[STAGE_ORDER.index(v.stage) + 1]
                next_stage_label = translate(
                    "Next stage: {stage}", stage=gettext(STAGE_LABELS[stage])
                )

        guidance = PHASE_GUIDANCE.get(kind, "") if kind else ""
        guidance = gettext(guidance) if guidance else ""
        if kind is PhaseKind.TURNS:
            guidance = (
                translate(STAGE_GUIDANCE[v.stage], name=name(presenter))
                if v.stage is not None
                else gettext("Between turns: the next presenter will start soon.")
            )

        is_facilitator = me is not None and me.role is Role.FACILITATOR
        is_controller = v.is_controller(viewer)
        turn_questions = [q for q in v.questions if presenter and q.presenter == presenter]
        # A member holding the controls gets the script and next step of each moment.
        coaching = coach(v) if is_controller and not is_facilitator else None
        coach_fields = (
            {k: val for k, val in coaching.command.items() if k != "type"}
            if coaching is not None and coaching.command is not None
            else {}
        )
        return {
            "v": v,
            "viewer": viewer,
            "me": me,
            "is_controller": is_controller,
            "is_facilitator": is_facilitator,
            "watching": is_facilitator and v.watching and v.delegate is not None,
            "coaching": coaching,
            "coach_fields": coach_fields,
            "airtime": shares(v, now_ms) if is_facilitator and v.started_at is not None else (),
            "grow_covered": {q.grow for q in turn_questions if q.grow is not None},
            "is_member": me is not None and me.role is Role.MEMBER,
            "name": name,
            "now_ms": now_ms,
            "ws_url": ws_url,
            "announce": announce,
            "fragment": fragment,
            "error": "",
            "prompt": None,
            "live": live,
            "not_started": v.status is MeetingStatus.NOT_STARTED,
            "closed": v.status is MeetingStatus.CLOSED,
            "phase": phase,
            "kind": kind,
            "PhaseKind": PhaseKind,
            "PhaseStatus": PhaseStatus,
            "Stage": Stage,
            "STAGE_ORDER": STAGE_ORDER,
            "is_round": kind in ROUND_KINDS,
            "presenter": presenter,
            "slot": slot,
            "stage_key": f"{v.presenter_index}:{v.stage.value if v.stage else ''}",
            "timer": timer_view(v.timer, now_ms),
            "up_next": up_next,
            "next_phase": _next_pending(v),
            "next_stage_label": next_stage_label,
            "guidance": guidance,
            "turn_questions": turn_questions,
            "my_bid": next((b for b in v.bids if b.member == viewer), None),
            "slotted": {s.member for s in v.slots},
            "not_presented": v.not_presented(),
            "carried": {x.carried_from for x in v.commitments if x.carried_from},
            "plan": plan_fit(v, now_ms),
            "phase_rows": _phase_rows(v),
            "prior_groups": _grouped(v.prior),
            "presence": lambda pid: presence(v, pid),
            "online_count": len(v.online & {p.id for p in v.roster}),
            "summary": summary(v) if v.status is MeetingStatus.CLOSED else None,
            "video_link": _safe_link(v.info.video_link),
            "timer_default": (
                phase.minutes * 60 if phase is not None and phase.minutes in TIMER_CHOICES else 300
            ),
        }


def _block_name(region: str) -> str:
    return region.replace("-", "_")


def _speaker_sentence(state: MeetingState) -> str:
    person = state.person(state.speaker)
    if person is not None:
        return translate("Speaker: {name}.", name=person.name)
    if state.stage is Stage.QUESTIONS:
        return gettext("Open for questions.")
    phase = state.phase
    if phase is not None and phase.kind in ROUND_KINDS and state.order:
        return gettext("Round complete.")
    return ""


def announcement(before: MeetingState | None, after: MeetingState) -> str:
    """What changed for a listener: phase, presenter and stage, speaker, else the timer."""
    if after.status is MeetingStatus.CLOSED:
        closed_before = before is not None and before.status is MeetingStatus.CLOSED
        return "" if closed_before else gettext("The meeting has closed.")
    if after.status is not MeetingStatus.LIVE:
        return ""
    parts: list[str] = []
    if before is not None and before.status is not MeetingStatus.LIVE:
        parts.append(gettext("The meeting has started."))
    phase = after.phase
    phase_changed = before is None or before.phase_index != after.phase_index
    turn_changed = before is None or (before.presenter_index, before.stage) != (
        after.presenter_index,
        after.stage,
    )
    speaker_changed = before is None or before.speaker != after.speaker
    if phase_changed and phase is not None:
        parts.append(translate("Phase: {title}.", title=phase_title(phase)))
    if (phase_changed or turn_changed) and after.stage is not None:
        presenter = after.person(after.presenter)
        if presenter is not None and (
            phase_changed or before is None or before.presenter != after.presenter
        ):
            parts.append(translate("Presenter: {name}.", name=presenter.name))
        parts.append(translate("Stage: {stage}.", stage=gettext(STAGE_LABELS[after.stage])))
    if phase_changed or turn_changed or speaker_changed:
        parts.append(_speaker_sentence(after))
        return " ".join(p for p in parts if p)
    if before is not None:
        parts.append(_timer_sentence(before.timer, after.timer))
    return " ".join(p for p in parts if p)


def _minutes(ms: int) -> str:
    minutes = round(ms / 60_000)
    if minutes >= 1:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes) % {"num": minutes}
    seconds = round(ms / 1000)
    return ngettext("%(num)d second", "%(num)d seconds", seconds) % {"num": seconds}


def _timer_sentence(before: Timer, after: Timer) -> str:
    if before == after:
        return ""
    if after.elapsed and not before.elapsed:
        return gettext("Time's up")
    if before.running and not after.running and after.remaining_ms > 0:
        return gettext("Timer paused")
    added = after.duration_ms - before.duration_ms
    if added > 0:
        # An extension moves the deadline (or the time left) by exactly what it adds.
        if before.deadline_ms is not None and after.deadline_ms is not None:
            if after.running and after.deadline_ms - before.deadline_ms == added:
                return translate("{time} added", time=_minutes(added))
        elif not after.running and after.remaining_ms - before.remaining_ms == added:
            return translate("{time} added", time=_minutes(added))
    if after.running and not before.running and before.remaining_ms > 0 and added == 0:
        return gettext("Timer resumed")
    if after.running and before.deadline_ms != after.deadline_ms:
        return translate("Timer started: {time}", time=_minutes(after.duration_ms))
    return ""
