"""Pages: the join link exchange and the room page."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.db import access, schedule
from app.db.meetings import current_meeting
from app.web import set_meetings
from app.web.deps import COOKIE, ServicesDep, now_ms
from app.web.guard import Anyone, SetParticipant
from app.web.language import N_

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(who: Anyone, services: ServicesDep) -> Response:
    if who is not None and who.account:
        return RedirectResponse("/home", status_code=303)
    if who is not None and len(who.participates) == 1:
        (set_id,) = who.participates
        meeting = current_meeting(services.engine, set_id)
        if meeting is not None:
            return RedirectResponse(f"/meetings/{meeting.id}", status_code=303)
    return HTMLResponse(services.renderer.welcome_page())


@router.get("/j/{token}")
def join(token: str, _: Anyone, services: ServicesDep) -> Response:
    """Exchange a personal link for a session cookie, then leave the token out of the address
    bar, the history and any Referer by redirecting to a clean URL."""
    redeemed = access.redeem_link(
        services.engine, token, now=now_ms(), session_days=services.settings.session_days
    )
    if redeemed is None:
        raise HTTPException(
            status_code=404,
            detail=N_(
                "This link is not valid: it may have expired or been replaced. "
                "Ask your facilitator for a new one."
            ),
        )
    secret, link = redeemed
    meeting = current_meeting(services.engine, link.set_id)
    target = f"/meetings/{meeting.id}" if meeting is not None else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        httponly=True,
        samesite="lax",
        secure=services.settings.cookie_secure,
        max_age=services.settings.session_days * 86_400,
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
async def room_page(meeting_id: str, who: SetParticipant, services: ServicesDep) -> Response:
    rules = await asyncio.to_thread(
        schedule.rules_to_accept, services.engine, meeting_id=meeting_id, person_id=who.person_id
    )
    if rules is not None:  # a member accepts the set's ground rules before their first meeting
        html = set_meetings.ground_rules_page(services, rules, meeting_id)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})
    try:
        async with services.hub.hold(meeting_id) as room:
            person = room.state.person(who.person_id)
            if person is None or not person.active:
                raise HTTPException(
                    status_code=403,
                    detail=N_(
                        "You joined this set after this meeting was planned; "
                        "you will be in its next one."
                    ),
                )
            ws_url = f"/meetings/{meeting_id}/ws"
            if room.state.may_enter(who.person_id):
                html = services.renderer.page(
                    room.state, who.person_id, ws_url=ws_url, now_ms=now_ms()
                )
            else:  # a locked meeting: nothing of the room until let in
                html = services.renderer.lobby_page(ws_url=ws_url)
    except LookupError:
        raise HTTPException(status_code=404, detail=N_("No such meeting.")) from None
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
