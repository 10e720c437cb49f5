"""The translation catalogs keep "English and Welsh ship complete" true: every message the code
and templates mark has a Welsh translation, and the catalog is up to date with the code. After
changing a marked string: `python -m app.web.catalogs update`, then translate what is new."""

from __future__ import annotations

import re

from babel.messages.catalog import Catalog

from app.domain.templates import DEFAULT_TEMPLATE
from app.web import language
from app.web.catalogs import extract, read


def _ids(catalog: Catalog) -> set[tuple[str | None, str]]:
    """Each message with its context ("Present" at a meeting is not the presenting stage)."""
    return {(m.context, str(m.id if isinstance(m.id, str) else m.id[0])) for m in catalog if m.id}


def test_the_welsh_catalog_has_every_message_the_code_marks_and_no_other() -> None:
    code = _ids(extract())
    welsh = _ids(read("cy"))
    assert not code - welsh, f"run `python -m app.web.catalogs update`: missing {code - welsh}"
    assert not welsh - code, f"run `python -m app.web.catalogs update`: stale {welsh - code}"


def test_every_welsh_message_is_translated_and_not_fuzzy() -> None:
    untranslated = [
        m.id
        for m in read("cy")
        if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]
    assert untranslated == []


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\(\w+\)s|\{\w+\}", text))


def test_welsh_messages_keep_their_placeholders() -> None:
    """A translation that drops or renames `%(name)s` or `{name}` would fail when shown."""
    for message in read("cy"):
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert _placeholders(string) == _placeholders(source), (source, string)


def test_default_phase_titles_are_shown_in_welsh() -> None:
    with language.speaking("cy"):
        for spec in DEFAULT_TEMPLATE:
            assert language.gettext(spec.title) != spec.title, spec.title


def test_english_is_the_default_and_a_browser_asking_for_welsh_gets_it() -> None:
    assert language.current() == "en"
    assert language.negotiate("cy-GB,cy;q=0.9,en;q=0.8") == "cy"
    assert language.negotiate("fr-FR, en;q=0.5") == "en"
    assert language.negotiate("fr-FR") is None
    assert language.negotiate("") is None
