"""The event log on the database under test (SQLite, or PostgreSQL under scripts/with-postgres):
two writers racing for one sequence number cannot both win."""

import threading
from concurrent.futures import ThreadPoolExecutor, wait

from sqlalchemy import text

from app.db import eventlog
from app.db.database import make_engine
from app.domain import events as e
from app.domain.model import Role
from tests.harness import now_ms, seed_set


def _hand(member: str, seq: int) -> e.Stamped:
    return e.Stamped(
        seq=seq,
        at=now_ms(),
        actor=member,
        actor_role=Role.MEMBER,
        event=e.HandRaised(member=member),
    )


def test_two_racing_appends_one_wins(db_url: str) -> None:
    seeded = seed_set(db_url, members=2)
    engine = make_engine(db_url)
    start = threading.Barrier(2)

    def append(member: str) -> str:
        start.wait()
        try:
            eventlog.append(engine, seeded.meeting_id, 1, [_hand(member, 2)])
        except eventlog.SequenceConflict:
            return "lost"
        return "won"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(append, seeded.members))
    assert sorted(outcomes) == ["lost", "won"]
    log = eventlog.load(engine, seeded.meeting_id)
    winner = seeded.members[outcomes.index("won")]
    assert [(s.seq, s.actor) for s in log] == [(1, None), (2, winner)]
    engine.dispose()


def test_an_append_waits_for_an_uncommitted_rival_and_loses_when_it_commits(db_url: str) -> None:
    seeded = seed_set(db_url, members=2)
    engine, rival_engine = make_engine(db_url), make_engine(db_url)
    rival = eventlog.to_row(seeded.meeting_id, _hand(seeded.members[0], 2))
    with rival_engine.connect() as rival_connection:
        rival_connection.execute(
            text(
                "INSERT INTO meeting_event (meeting_id, seq, type, payload, actor, actor_role, at)"
                " VALUES (:meeting_id, :seq, :type, :payload, :actor, :actor_role, :at)"
            ),
            rival.model_dump(exclude={"id"}),
        )
        with ThreadPoolExecutor(1) as pool:
            attempt = pool.submit(
                eventlog.append, engine, seeded.meeting_id, 1, [_hand(seeded.members[1], 2)]
            )
            # The rival holds sequence 2 without committing: the append must wait, not win.
            assert not wait([attempt], timeout=0.5).done
            rival_connection.commit()
            assert isinstance(attempt.exception(timeout=10), eventlog.SequenceConflict)
    assert [s.actor for s in eventlog.load(engine, seeded.meeting_id)] == [None, seeded.members[0]]
    engine.dispose()
    rival_engine.dispose()
