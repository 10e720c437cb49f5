"""The password-reset email speaks the account holder's own language (Person.language), else
English, whoever asked for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.auth import accounts
from app.db.database import make_engine, migrate
from app.db.tables import Person
from app.web.auth_routes import reset_mail
from app.web.language import speaking

NOW = 1_800_000_000_000
LINK = "https://setroom.example/password/reset/abc"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(db_url)
    made = make_engine(db_url)
    yield made
    made.dispose()


def _token(engine: Engine, email: str, language: str | None) -> str:
    person_id = accounts.create_account(engine, name="Nia", email=email, now=NOW)
    with Session(engine) as session:
        person = session.get(Person, person_id)
        assert person is not None
        person.language = language
        session.add(person)
        session.commit()
    token = accounts.issue_reset(engine, email, now=NOW)
    assert token is not None
    return token


def test_a_welsh_speaker_gets_the_reset_email_in_welsh(engine: Engine) -> None:
    token = _token(engine, "nia@example.org", "cy")
    with speaking("en"):  # whoever asked reads English pages: the email follows its recipient
        subject, body = reset_mail(engine, token, LINK)
    assert subject == "Ailosodwch eich cyfrinair Setroom"
    assert f"Dewiswch un newydd yma o fewn awr: {LINK}" in body
    assert "Someone" not in body and "ignore this message" not in body


def test_someone_who_chose_no_language_gets_english(engine: Engine) -> None:
    token = _token(engine, "pat@example.org", None)
    with speaking("cy"):
        subject, body = reset_mail(engine, token, LINK)
    assert subject == "Reset your Setroom password"
    assert f"Choose a new one here within an hour: {LINK}" in body
    assert "your password stays as it is" in body
