"""Creating meetings, on the database under test (SQLite, or PostgreSQL under
scripts/with-postgres)."""

from sqlmodel import Session

from app.db.database import make_engine
from app.db.meetings import create_meeting
from app.db.tables import LearningSet, Meeting
from tests.harness import now_ms, seed_set


def test_a_set_with_the_longest_name_allowed_gets_meetings_titled_within_bounds(
    db_url: str,
) -> None:
    seeded = seed_set(db_url, members=2)
    engine = make_engine(db_url)
    name = "A cross-organisation learning set " + "x" * 166
    with Session(engine) as session:
        learning_set = session.get(LearningSet, seeded.set_id)
        assert learning_set is not None
        learning_set.name = name
        session.add(learning_set)
        session.commit()
    assert len(name) == 200
    meeting_id = create_meeting(engine, set_id=seeded.set_id, now=now_ms())
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        assert len(meeting.title) <= 200
        assert meeting.title.startswith("A cross-organisation learning set x")
        assert meeting.title.endswith(": meeting 2")
    engine.dispose()
