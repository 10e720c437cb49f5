"""The language a page or room socket speaks, and its translations (gettext catalogs via Babel).

Which language: the person's own choice (Person.language), else the choice made before signing
in (a cookie), else the browser's Accept-Language, else English. `LanguageChoice` (an ASGI
middleware) decides once per request or socket handshake and holds it in a context variable for
everything that renders during it: `gettext` reads it. The room's fan-out renders for many
viewers in one task, so it says each viewer's language explicitly (`speaking`).

The catalogs are app/locale/<lang>/LC_MESSAGES/messages.po. They are compiled in memory when
first used: no .mo file is built, committed or shipped. docs/languages.md has the why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import pathlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db.access import session_person
from app.db.tables import Person

LOCALE_DIR = pathlib.Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
LANGUAGES: dict[str, str] = {"en": "English", "cy": "Cymraeg"}
"""The languages Setroom ships, each named in itself (what the switcher shows)."""
LANGUAGE_COOKIE = "setroom_lang"
"""The choice of someone not signed in (the sign-in page, a welcome page)."""

_current: ContextVar[str] = ContextVar("setroom_language", default=DEFAULT)
_path: ContextVar[str] = ContextVar("setroom_path", default="/")


def N_(message: str) -> str:
    """Marks a string for the catalogs where it is defined; it is translated where it is shown."""
    return message


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog of `language` (English, the source language, needs none)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT or not po.is_file():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def current() -> str:
    return _current.get()


def current_path() -> str:
    """The path of the page being rendered: the language switcher comes back to it."""
    return _path.get()


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Render in `language` within the block (the room renders each viewer in their own)."""
    token = _current.set(language if language in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def NP_(context: str, message: str) -> str:
    """Marks a string whose translation depends on `context` ("Present" at a meeting is not
    the presenter's stage); shown with `pgettext(context, message)`."""
    return message


def pgettext(context: str, message: str) -> str:
    return str(translations(_current.get()).pgettext(context, message))


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def translate(message: str, **params: Any) -> str:
    """A marked message in the current language, its `{name}` placeholders filled."""
    text = gettext(message)
    return text.format(**params) if params else text


def negotiate(accept_language: str) -> str | None:
    """The best of LANGUAGES for an Accept-Language header, or None."""
    wanted: list[tuple[float, str]] = []
    for part in accept_language.split(",")[:20]:
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        if tag:
            wanted.append((weight, tag.strip()))
    for weight, tag in sorted(wanted, key=lambda w: -w[0]):
        if weight <= 0:
            continue
        try:
            language = Locale.parse(tag, sep="-").language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LANGUAGES:
            return language
    return None


def chosen(engine: Engine, person_id: str) -> str | None:
    with Session(engine) as session:
        person = session.get(Person, person_id)
        return person.language if person is not None else None


def choose(engine: Engine, person_id: str, language: str | None) -> None:
    """Record a person's choice (None: follow their browser)."""
    with Session(engine) as session:
        person = session.get(Person, person_id)
        if person is not None:
            person.language = language
            session.add(person)
            session.commit()


def resolve(connection: HTTPConnection, engine: Engine, *, session_cookie: str, now: int) -> str:
    """The language for a request or socket: the person's choice, the cookie, the browser's."""
    secret = connection.cookies.get(session_cookie)
    if secret:
        web_session = session_person(engine, secret, now=now)
        if web_session is not None:
            own = chosen(engine, web_session.person_id)
            if own in LANGUAGES:
                return own
    cookie = connection.cookies.get(LANGUAGE_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    return negotiate(connection.headers.get("accept-language", "")) or DEFAULT


class LanguageChoice:
    """Decides the language of each request and socket before anything renders (see above)."""

    def __init__(self, app: ASGIApp, *, session_cookie: str) -> None:
        self.app = app
        self.session_cookie = session_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        from app.web.deps import now_ms, services_of  # deps imports the renderer, which imports us

        connection = HTTPConnection(scope)
        services = services_of(scope["app"])
        language = await asyncio.to_thread(
            resolve, connection, services.engine, session_cookie=self.session_cookie, now=now_ms()
        )
        scope.setdefault("state", {})["language"] = language
        token = _current.set(language)
        path = _path.set(scope["path"] if scope.get("method") == "GET" else "/")
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
            _path.reset(path)
