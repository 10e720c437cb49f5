"""The language switcher every page carries: a form that records the choice and comes back."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from app.web.deps import ServicesDep
from app.web.guard import Anyone
from app.web.language import LANGUAGE_COOKIE, LANGUAGES, choose

router = APIRouter()

YEAR_S = 365 * 86_400


def _local(path: str) -> str:
    """Only a path of this site: never another host (`//host`, `/\\host`) or a scheme."""
    if path.startswith("/") and not path.startswith(("//", "/\\")) and len(path) <= 500:
        return path
    return "/"


@router.post("/language")
async def choose_language(
    who: Anyone,
    services: ServicesDep,
    language: Annotated[str, Form(max_length=8)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """A signed-in person's choice is theirs on every device (Person.language); someone not
    signed in keeps it in a cookie until they are."""
    if language not in LANGUAGES:
        return RedirectResponse(_local(next), status_code=303)
    if who is not None:
        await asyncio.to_thread(choose, services.engine, who.person_id, language)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=YEAR_S,
        httponly=True,
        samesite="lax",
        secure=services.settings.cookie_secure,
    )
    return response
