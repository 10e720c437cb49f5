"""Database tables. The meeting event log is the source of truth; the other meeting tables are
projections written in the same transaction as the events they come from. Times are epoch
milliseconds in BIGINT columns: PostgreSQL's INTEGER ends in January 1970."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Organisation(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)


class Programme(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    meetings_planned: int = Field(default=6, sa_column_kwargs={"server_default": "6"})
    cadence_weeks: int = Field(default=4, sa_column_kwargs={"server_default": "4"})
    template: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    """The default phase template as JSON (app.domain.templates); empty means the default."""
    attendance_target: int = Field(default=90, sa_column_kwargs={"server_default": "90"})
    """Percent; the programme report measures attendance against it."""


class ProgrammeOrganisation(SQLModel, table=True):
    __tablename__ = "programme_organisation"
    programme_id: str = Field(primary_key=True, foreign_key="programme.id")
    organisation_id: str = Field(primary_key=True, foreign_key="organisation.id")


class ProgrammeLead(SQLModel, table=True):
    __tablename__ = "programme_lead"
    programme_id: str = Field(primary_key=True, foreign_key="programme.id")
    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True)


class LearningSet(SQLModel, table=True):
    __tablename__ = "learning_set"
    id: str = Field(primary_key=True, max_length=32)
    programme_id: str | None = Field(default=None, foreign_key="programme.id", index=True)
    name: str = Field(max_length=200)
    video_link: str = Field(default="", max_length=500)
    anonymous_questions: bool = True
    questions_to_set: bool = True
    late_after_minutes: int = 10
    turn_record: str = Field(
        default="commitment_only",
        max_length=32,
        sa_column_kwargs={"server_default": "commitment_only"},
    )
    """What of a presenter's turn the set sees later (app.domain.model.TurnRecord)."""
    ground_rules: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    template: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    """The set's own phase template as JSON, applied from its next meeting; empty means the
    programme's."""


class Person(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    organisation_id: str | None = Field(default=None, foreign_key="organisation.id")
    language: str | None = Field(default=None, max_length=8)
    """The language this person chose (app.web.language.LANGUAGES); None: their browser's."""


class Membership(SQLModel, table=True):
    set_id: str = Field(primary_key=True, foreign_key="learning_set.id")
    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True)
    role: str = Field(max_length=16)
    """'facilitator' or 'member' (app.domain.model.Role)."""
    rules_accepted_at: int | None = Field(default=None, sa_type=BigInteger)
    """When the member accepted the set's ground rules (before their first meeting)."""


class Account(SQLModel, table=True):
    """A facilitator's or programme lead's login. Members have none: they use their links."""

    person_id: str = Field(primary_key=True, foreign_key="person.id")
    email: str = Field(unique=True, max_length=320)
    """Stored lower-cased."""
    password_hash: str = Field(max_length=255)
    created_at: int = Field(sa_type=BigInteger)


class PasswordReset(SQLModel, table=True):
    __tablename__ = "password_reset"
    token_hash: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(foreign_key="person.id", index=True)
    created_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    used_at: int | None = Field(default=None, sa_type=BigInteger)


class JoinLink(SQLModel, table=True):
    __tablename__ = "join_link"
    id: str = Field(primary_key=True, max_length=32)
    token_hash: str = Field(unique=True, max_length=64)
    person_id: str = Field(foreign_key="person.id", index=True)
    set_id: str = Field(foreign_key="learning_set.id")
    created_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"
    id_hash: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(foreign_key="person.id", index=True)
    set_id: str | None = Field(default=None, foreign_key="learning_set.id")
    """The one set a join-link session opens; None for an account's session."""
    link_id: str | None = Field(default=None, max_length=32)
    """The join link it came from: revoking the link ends the session."""
    created_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)


class Meeting(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=32)
    set_id: str = Field(foreign_key="learning_set.id", index=True)
    number: int
    title: str = Field(max_length=200)
    scheduled_at: int | None = Field(default=None, sa_type=BigInteger)
    duration_minutes: int = Field(default=180, sa_column_kwargs={"server_default": "180"})
    status: str = Field(default="not_started", max_length=16)
    created_at: int = Field(sa_type=BigInteger)
    rota_person_id: str | None = Field(default=None, foreign_key="person.id")
    """The member who facilitates this meeting (a self-facilitating set's rota)."""
    purged_at: int | None = Field(default=None, sa_type=BigInteger)
    """When the retention purge removed this meeting's content (app.db.retention)."""


class MeetingEvent(SQLModel, table=True):
    """The append-only log: one row per event, unique on (meeting, seq)."""

    __tablename__ = "meeting_event"
    __table_args__ = (UniqueConstraint("meeting_id", "seq", name="uq_meeting_event_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: str = Field(foreign_key="meeting.id", max_length=32)
    seq: int
    type: str = Field(max_length=40)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    actor: str | None = Field(default=None, max_length=64)
    actor_role: str = Field(max_length=16)
    at: int = Field(sa_type=BigInteger)


class CommitmentRecord(SQLModel, table=True):
    """A presenter's commitment; its report-back at a later meeting updates the same row."""

    __tablename__ = "commitment"
    id: str = Field(primary_key=True, max_length=80)
    meeting_id: str = Field(foreign_key="meeting.id", index=True)
    owner_id: str = Field(foreign_key="person.id", index=True)
    what: str = Field(sa_column=Column(Text, nullable=False))
    by_when: str = Field(default="", max_length=200)
    how_know: str = Field(default="", sa_column=Column(Text, nullable=False))
    support: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
    report_status: str | None = Field(default=None, max_length=16)
    reported_meeting_id: str | None = Field(default=None, max_length=32)
    learned: str = Field(default="", sa_column=Column(Text, nullable=False))
    next_step: str = Field(default="", sa_column=Column(Text, nullable=False))


class QuestionRecord(SQLModel, table=True):
    __tablename__ = "question"
    id: str = Field(primary_key=True, max_length=80)
    meeting_id: str = Field(foreign_key="meeting.id", index=True)
    presenter_id: str = Field(foreign_key="person.id")
    author_id: str | None = Field(default=None, foreign_key="person.id")
    anonymous: bool = False
    text: str = Field(sa_column=Column(Text, nullable=False))
    advice: bool = False
    starred: bool = False
    at: int = Field(sa_type=BigInteger)


class Attendance(SQLModel, table=True):
    """Taken from presence; `status` is set by a facilitator's correction (later)."""

    meeting_id: str = Field(primary_key=True, foreign_key="meeting.id")
    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True)
    first_joined_at: int = Field(sa_type=BigInteger)
    last_left_at: int | None = Field(default=None, sa_type=BigInteger)
    late: bool = False
    status: str | None = Field(default=None, max_length=16)
    corrected_by: str | None = Field(default=None, foreign_key="person.id")
    corrected_at: int | None = Field(default=None, sa_type=BigInteger)


class Feedback(SQLModel, table=True):
    """The one-minute form after a meeting: one per member and meeting."""

    meeting_id: str = Field(primary_key=True, foreign_key="meeting.id")
    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True)
    usefulness: int
    safety: int
    challenge: int
    """Each 1 to 5."""
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    """Free text: content, seen by the set's facilitators, never by a lead."""
    created_at: int = Field(sa_type=BigInteger)


class LearningLogEntry(SQLModel, table=True):
    """A member's private note: seen by its author alone."""

    __tablename__ = "learning_log_entry"
    id: str = Field(primary_key=True, max_length=32)
    person_id: str = Field(foreign_key="person.id", index=True)
    set_id: str = Field(foreign_key="learning_set.id")
    meeting_id: str | None = Field(default=None, foreign_key="meeting.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)


class CommitmentUpdate(SQLModel, table=True):
    """A member's short update on a commitment between meetings."""

    __tablename__ = "commitment_update"
    id: str = Field(primary_key=True, max_length=32)
    commitment_id: str = Field(foreign_key="commitment.id", index=True)
    person_id: str = Field(foreign_key="person.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_type=BigInteger)


class ReminderSent(SQLModel, table=True):
    """So that the reminder command, run by cron, sends each member one reminder a meeting."""

    __tablename__ = "reminder_sent"
    meeting_id: str = Field(primary_key=True, foreign_key="meeting.id")
    person_id: str = Field(primary_key=True, foreign_key="person.id")
    sent_at: int = Field(sa_type=BigInteger)


class AuditEntry(SQLModel, table=True):
    """Who did what to which set, and when: never what anyone said (app.db.audit). Rows are
    only ever inserted; the database refuses UPDATE and DELETE (migration 0005)."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: int = Field(sa_type=BigInteger)
    actor_id: str | None = Field(default=None, max_length=64)
    """A person id (no foreign key: the row outlives nothing, and an id names nobody once the
    person is erased); None for the server."""
    actor_role: str = Field(max_length=16)
    action: str = Field(max_length=40)
    programme_id: str | None = Field(default=None, max_length=32, index=True)
    set_id: str | None = Field(default=None, max_length=32, index=True)
    meeting_id: str | None = Field(default=None, max_length=32)
    subject_id: str | None = Field(default=None, max_length=64)
    """The person the action was about (a member removed, a link re-issued, data exported)."""
