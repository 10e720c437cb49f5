"""`Guard(rule)`: the dependency every route and socket declares. It finds the session, the
person and the target the path names, and refuses before the endpoint runs: 401 for nobody,
403 for the wrong person, 404 for a target that does not exist. A refused WebSocket is closed
before it is accepted (the browser sees HTTP 403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, WebSocketException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from app.auth.principal import Principal, Target, load_principal, resolve_target
from app.auth.rules import Access, allows
from app.web.deps import COOKIE, ServicesDep
from app.web.language import N_

CLOSE_POLICY = 1008

_REFUSALS = {
    401: N_("Please sign in, or open your personal join link."),
    403: N_("This is not open to you."),
    404: N_("Not found."),
}


class Guard:
    def __init__(self, rule: Access) -> None:
        self.rule = rule

    def __repr__(self) -> str:
        return f"Guard({self.rule.value})"

    def __call__(self, connection: HTTPConnection, services: ServicesDep) -> Principal | None:
        web_session = services.session_of(connection.cookies.get(COOKIE))
        who = load_principal(services.engine, web_session) if web_session else None
        target = resolve_target(services.engine, dict(connection.path_params))
        if target is None:
            _refuse(connection, 404)
        if allows(self.rule, who, target or Target()):
            return who
        _refuse(connection, 401 if who is None else 403)
        return None  # unreachable: _refuse raises


def _refuse(connection: HTTPConnection, status: int) -> None:
    if isinstance(connection, WebSocket):
        raise WebSocketException(code=CLOSE_POLICY, reason=_REFUSALS[status])
    raise HTTPException(status_code=status, detail=_REFUSALS[status])


Anyone = Annotated[Principal | None, Depends(Guard(Access.PUBLIC))]
# Every rule but PUBLIC refuses a missing principal, so these are never None.
AccountHolder = Annotated[Principal, Depends(Guard(Access.ACCOUNT))]
SetParticipant = Annotated[Principal, Depends(Guard(Access.SET_PARTICIPANT))]
SetFacilitator = Annotated[Principal, Depends(Guard(Access.SET_FACILITATOR))]
SetAdmin = Annotated[Principal, Depends(Guard(Access.SET_ADMIN))]
ProgrammeLead = Annotated[Principal, Depends(Guard(Access.PROGRAMME_LEAD))]
