"""A meeting's close summary for its members and facilitators (never a programme lead: it holds
what was said): a printable page and a CSV export."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from app.db.summaries import MeetingSummary, meeting_summary, summary_csv
from app.web.deps import ServicesDep
from app.web.guard import SetParticipant
from app.web.language import N_, NP_
from app.web.render import REPORT_LABELS

router = APIRouter()

PRIVATE = {"Cache-Control": "no-store"}

ATTENDANCE_LABELS = {
    "present": NP_("attendance", "Present"),
    "late": NP_("attendance", "Late"),
    "apologies": NP_("attendance", "Apologies"),
    "absent": NP_("attendance", "Absent"),
}


async def _load(services: ServicesDep, meeting_id: str, viewer: str) -> MeetingSummary:
    data = await asyncio.to_thread(meeting_summary, services.engine, meeting_id, viewer)
    if data is None:
        raise HTTPException(status_code=404, detail=N_("No such meeting."))
    return data


@router.get("/meetings/{meeting_id}/summary", response_class=HTMLResponse)
async def summary_page(meeting_id: str, who: SetParticipant, services: ServicesDep) -> Response:
    data = await _load(services, meeting_id, who.person_id)
    html = services.renderer.render(
        "meeting_summary.html",
        signed_in=who.account,
        m=data,
        viewer=who.person_id,
        attendance_labels=ATTENDANCE_LABELS,
        report_labels=REPORT_LABELS,
    )
    return HTMLResponse(html, headers=PRIVATE)


@router.get(
    "/meetings/{meeting_id}/summary.csv",
    response_class=Response,
    responses={200: {"description": "CSV", "content": {"text/csv": {}}}},
)
async def summary_export(meeting_id: str, who: SetParticipant, services: ServicesDep) -> Response:
    data = await _load(services, meeting_id, who.person_id)
    filename = f"meeting-{data.number}-summary.csv"
    return Response(
        summary_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
