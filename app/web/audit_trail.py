"""Writes the audit log's row for each administrative route that succeeded.

One table (`AUDITED`: method and route path to action) instead of a call in every route: a route
added to it is audited without touching its module, and tests/integration/test_audit.py checks
that every route a facilitator or lead uses to change something is in it (or in `NOT_AUDITED`,
with the reason). The row is written when the route answered below 400, before the response's
last body part is sent: by the time the person sees their action done, it is in the log. It is
not the same transaction as the action itself (that is the route's own); a crash in between, or
a failed write (logged as an error), loses the row, never the reverse (no row for an action that
did not happen).
"""

from __future__ import annotations

import asyncio
import logging
import re

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.principal import load_principal, resolve_target
from app.db import audit
from app.db.audit import Action
from app.web.deps import COOKIE, now_ms, services_of

AUDITED: dict[tuple[str, str], Action] = {
    ("POST", "/programmes"): Action.PROGRAMME_CREATED,
    ("POST", "/programmes/{programme_id}"): Action.PROGRAMME_SAVED,
    ("POST", "/programmes/{programme_id}/organisations"): Action.ORGANISATION_ADDED,
    ("POST", "/programmes/{programme_id}/leads"): Action.LEAD_ADDED,
    ("POST", "/programmes/{programme_id}/sets"): Action.SET_CREATED,
    ("GET", "/programmes/{programme_id}/report.csv"): Action.REPORT_EXPORTED,
    ("POST", "/sets/{set_id}/settings"): Action.SET_SETTINGS_SAVED,
    ("POST", "/sets/{set_id}/members"): Action.MEMBER_ADDED,
    ("POST", "/sets/{set_id}/facilitators"): Action.FACILITATOR_ADDED,
    ("POST", "/sets/{set_id}/people/{person_id}/link"): Action.LINK_ISSUED,
    ("POST", "/sets/{set_id}/links"): Action.LINKS_ISSUED,
    ("POST", "/sets/{set_id}/people/{person_id}/revoke"): Action.LINK_REVOKED,
    ("POST", "/sets/{set_id}/people/{person_id}/remove"): Action.PERSON_REMOVED,
    ("POST", "/sets/{set_id}/import"): Action.MEMBERS_IMPORTED,
    ("POST", "/sets/{set_id}/meetings"): Action.MEETING_PLANNED,
    ("POST", "/sets/{set_id}/template"): Action.TEMPLATE_SAVED,
    ("POST", "/sets/{set_id}/ground-rules"): Action.GROUND_RULES_SAVED,
    ("POST", "/meetings/{meeting_id}/schedule"): Action.MEETING_SCHEDULED,
    ("POST", "/meetings/{meeting_id}/rota"): Action.ROTA_SET,
    ("POST", "/meetings/{meeting_id}/attendance"): Action.ATTENDANCE_CORRECTED,
    ("GET", "/sets/{set_id}/people/{person_id}/export"): Action.DATA_EXPORTED,
    ("GET", "/sets/{set_id}/my-data"): Action.DATA_EXPORTED,
}

NOT_AUDITED: dict[tuple[str, str], str] = {
    ("POST", "/sets/{set_id}/people/{person_id}/erase"): "written in the erasure's transaction",
    ("POST", "/sets/{set_id}/ground-rules/accept"): "a member's own step",
    ("POST", "/sets/{set_id}/commitments"): "a member's own content",
    ("POST", "/sets/{set_id}/log"): "a member's own content",
    ("POST", "/meetings/{meeting_id}/feedback"): "a member's own content",
    ("POST", "/login"): "signing in is not an action on a set",
    ("POST", "/logout"): "signing out is not an action on a set",
    ("POST", "/password/forgot"): "an account's own step",
    ("POST", "/password/reset/{token}"): "an account's own step",
    ("POST", "/language"): "a person's own preference, not an action on a set",
}
"""Routes that change something and are not in AUDITED, and why."""

log = logging.getLogger(__name__)

_CREATED = re.compile(r"^/(programmes|sets)/([A-Za-z0-9_-]+)")


class AuditTrail:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        location = ""

        async def watch(message: Message) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"location":
                        location = value.decode("latin-1")
            elif (
                message["type"] == "http.response.body"
                and not message.get("more_body")
                and status < 400
            ):
                await self._record(scope, location)
            await send(message)

        await self.app(scope, receive, watch)

    async def _record(self, scope: Scope, location: str) -> None:
        action = AUDITED.get((scope["method"], getattr(scope.get("route"), "path", "")))
        if action is None:
            return
        cookie = _cookie(scope)
        try:
            await asyncio.to_thread(_write, scope, action, cookie, location)
        except Exception:
            # The action itself has happened: its response still goes out, and the missing
            # row is in the error log for the operator.
            log.exception("the audit log's row could not be written", extra={"action": action})


def _cookie(scope: Scope) -> str | None:
    return HTTPConnection(scope).cookies.get(COOKIE)


def _write(scope: Scope, action: Action, cookie: str | None, location: str) -> None:
    services = services_of(scope["app"])
    web_session = services.session_of(cookie)
    if web_session is None:
        return  # guarded routes refuse nobody with a status >= 400: not reached
    engine = services.engine
    who = load_principal(engine, web_session)
    params: dict[str, str] = dict(scope.get("path_params", {}))
    created = _CREATED.match(location)
    if created is not None:  # a new programme or set: its id is in the redirect
        key = "programme_id" if created.group(1) == "programmes" else "set_id"
        params.setdefault(key, created.group(2))
    target = resolve_target(engine, params)
    set_id = target.set_id if target else None
    programme_id = target.programme_id if target else None
    if set_id is not None and set_id in who.facilitates:
        role = "facilitator"
    elif programme_id is not None and programme_id in who.leads:
        role = "lead"
    else:
        role = "account" if who.account else "member"
    audit.record_now(
        engine,
        at=now_ms(),
        action=action,
        actor_id=who.person_id,
        actor_role=role,
        programme_id=programme_id,
        set_id=set_id,
        meeting_id=params.get("meeting_id"),
        # A member's own export (no person in the path) is about themself.
        subject_id=params.get("person_id")
        or (who.person_id if action is Action.DATA_EXPORTED else None),
    )
