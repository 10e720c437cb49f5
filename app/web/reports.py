"""Attendance and the programme report.

A set's facilitator corrects a meeting's attendance (SetFacilitator): every member with what
presence recorded and a correction. A programme's lead reads the programme report and its CSV
(ProgrammeLead): counts and rates per set and per meeting, drawn as SVG charts with their
tables beside them. Nothing here reads what members said (app/db/reports.py)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from app.db import reports
from app.db.reports import AttendanceError, ProgrammeReport, SetFigures
from app.web import charts
from app.web.deps import ServicesDep, now_ms
from app.web.forms import page, said
from app.web.guard import ProgrammeLead, SetFacilitator
from app.web.language import N_, NP_, current, gettext, translate

router = APIRouter()

STATUS_LABELS = {
    "present": NP_("attendance", "Present"),
    "late": NP_("attendance", "Late"),
    "apologies": NP_("attendance", "Apologies"),
    "absent": NP_("attendance", "Absent"),
}
REPORT_LABELS = (N_("Done"), N_("Partly"), N_("Not done"), N_("Changed"), N_("Not yet reported"))
ZONE = ZoneInfo("Europe/London")
FIELD = re.compile(r"status_([A-Za-z0-9_.:-]{1,64})")


# Attendance


@router.get("/meetings/{meeting_id}/attendance", response_class=HTMLResponse)
def attendance_page(
    meeting_id: str, _: SetFacilitator, services: ServicesDep, saved: str = ""
) -> Response:
    notice = N_("Attendance saved.") if saved else ""
    return _attendance_page(services, meeting_id, notice=notice)


@router.post("/meetings/{meeting_id}/attendance", response_class=HTMLResponse)
async def correct_attendance(
    meeting_id: str, who: SetFacilitator, services: ServicesDep, request: Request
) -> Response:
    form = await request.form(max_fields=100, max_files=0)
    corrections: dict[str, str] = {}
    posted: dict[str, str] = {}
    try:
        for key, value in form.multi_items():
            if not isinstance(value, str):
                raise AttendanceError(N_("The form sends choices only."))
            match = FIELD.fullmatch(key)
            if match is None:
                continue
            if match.group(1) in corrections:
                raise AttendanceError(N_("Choose one status for each member."))
            corrections[match.group(1)] = value
            posted[match.group(1)] = value
        if not corrections:
            raise AttendanceError(N_("Choose a status for at least one member."))
        await asyncio.to_thread(
            reports.correct_attendance,
            services.engine,
            meeting_id=meeting_id,
            corrections=corrections,
            by=who.person_id,
            now=now_ms(),
        )
    except AttendanceError as error:
        return _attendance_page(services, meeting_id, 400, error=said(error), posted=posted)
    return RedirectResponse(f"/meetings/{meeting_id}/attendance?saved=1", status_code=303)


def _attendance_page(
    services: ServicesDep,
    meeting_id: str,
    status: int = 200,
    *,
    notice: str = "",
    error: str = "",
    posted: dict[str, str] | None = None,
) -> HTMLResponse:
    data = reports.meeting_attendance(services.engine, meeting_id=meeting_id)
    chosen = {r.person_id: r.correction or "" for r in data.rows} | {
        k: v for k, v in (posted or {}).items() if v in reports.STATUSES or v == ""
    }
    return page(
        services,
        "attendance.html",
        status,
        a=data,
        chosen=chosen,
        labels=STATUS_LABELS,
        statuses=reports.STATUSES,
        clock=_clock,
        day=_day,
        notice=notice,
        error=error,
    )


def _clock(ms: int) -> Markup:
    at = datetime.fromtimestamp(ms / 1000, tz=ZONE)
    return Markup('<time datetime="{}">{}</time>').format(
        at.isoformat(), f"{at:%H:%M} {at.tzname()}"
    )


def _day(ms: int | None) -> str:
    if ms is None:
        return ""
    at = datetime.fromtimestamp(ms / 1000, tz=ZONE)
    return format_date(at.date(), "d MMM y", locale=current())  # "5 Mar 2026", "5 Maw 2026"


# The programme report


@router.get("/programmes/{programme_id}/report", response_class=HTMLResponse)
def report_page(programme_id: str, _: ProgrammeLead, services: ServicesDep) -> Response:
    report = reports.programme_report(services.engine, programme_id=programme_id)
    return page(
        services,
        "programme_report.html",
        r=report,
        charts=_charts(report),
        set_charts={s.set_id: _set_chart(report, s) for s in report.sets},
        pct=reports.percent,
        avg=reports.two_places,
        day=_day,
        report_labels=REPORT_LABELS,
        min_feedback=reports.MIN_FEEDBACK,
    )


def _charts(report: ProgrammeReport) -> dict[str, Markup]:
    target = report.target_rate
    by_set = [
        charts.Bar(s.name, s.attendance.rate, _pct_text(s.attendance.rate)) for s in report.sets
    ]
    spread = [
        charts.Bar(
            s.name,
            reports.rate(s.presented, s.members),
            translate("{count} of {total}", count=s.presented, total=s.members),
        )
        for s in report.sets
    ]
    over_time = report.over_time
    labels = [translate("M{number}", number=n.number) for n in over_time]
    return {
        "attendance": charts.bar_chart(
            translate("Attendance rate by set against the {target}% target", target=report.target),
            by_set,
            target=target,
        ),
        "attendance_over_time": charts.column_chart(
            translate(
                "Attendance rate by meeting number across the sets, against the {target}% target",
                target=report.target,
            ),
            [
                charts.Bar(label, n.attendance.rate, "")
                for label, n in zip(labels, over_time, strict=True)
            ],
            target=target,
        ),
        "feedback": charts.line_chart(
            gettext("Feedback scores by meeting number, average of 1 to 5"),
            labels,
            [
                charts.Series(gettext("Usefulness"), [n.feedback.usefulness for n in over_time]),
                charts.Series(gettext("Safety"), [n.feedback.safety for n in over_time]),
                charts.Series(gettext("Challenge"), [n.feedback.challenge for n in over_time]),
            ],
        ),
        "commitments": charts.stacked_chart(
            gettext("Commitments made in each set, by how they were reported back"),
            [
                charts.Stack(
                    s.name,
                    [
                        s.commitments.done,
                        s.commitments.partly,
                        s.commitments.not_done,
                        s.commitments.changed,
                        s.commitments.open,
                    ],
                )
                for s in report.sets
            ],
            [gettext(label) for label in REPORT_LABELS],
        ),
        "spread": charts.bar_chart(
            gettext("Members who have presented at least once, by set"), spread
        ),
    }


def _set_chart(report: ProgrammeReport, s: SetFigures) -> Markup:
    return charts.column_chart(
        translate(
            "{name}: attendance rate at each meeting against the {target}% target",
            name=s.name,
            target=report.target,
        ),
        [
            charts.Bar(translate("M{number}", number=m.number), m.attendance.rate, "")
            for m in s.meetings
        ],
        target=report.target_rate,
        height=150,
    )


def _pct_text(value: Fraction | None) -> str:
    text = reports.percent(value)
    return f"{text}%" if text else ""


def _cell(text: str) -> str:
    """A name as a spreadsheet shows it, never as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = (
    "level",
    "set",
    "meeting",
    "member",
    "members",
    "member_meetings",
    "attended",
    "present",
    "late",
    "apologies",
    "absent",
    "attendance_rate",
    "attendance_target",
    "meets_target",
    "commitments_made",
    "done",
    "partly",
    "not_done",
    "changed",
    "not_yet_reported",
    "feedback_responses",
    "usefulness",
    "safety",
    "challenge",
    "members_presented",
    "presentations",
)


@router.get(
    "/programmes/{programme_id}/report.csv",
    response_class=Response,
    responses={200: {"description": "CSV", "content": {"text/csv": {}}}},
)
def report_csv(programme_id: str, _: ProgrammeLead, services: ServicesDep) -> Response:
    report = reports.programme_report(services.engine, programme_id=programme_id)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(csv_rows(report))
    filename = re.sub(r"[^A-Za-z0-9]+", "-", report.name).strip("-").lower() or "programme"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}-report.csv"',
            "Cache-Control": "private, no-store",
        },
    )


def csv_rows(report: ProgrammeReport) -> Iterator[dict[str, object]]:
    """Rows of counts and rates: the programme, each meeting number across the sets, each set,
    each set's meetings, and each member's attendance. Rates are percentages with one
    decimal; feedback averages have two (blank under the minimum of answers)."""

    def attendance(t: reports.Tally) -> dict[str, object]:
        return {
            "member_meetings": t.possible,
            "attended": t.attended,
            "present": t.present,
            "late": t.late,
            "apologies": t.apologies,
            "absent": t.absent,
            "attendance_rate": reports.percent(t.rate),
            "attendance_target": report.target,
            "meets_target": (
                "" if t.rate is None else "yes" if report.meets_target(t.rate) else "no"
            ),
        }

    def commitments(c: reports.Commitments) -> dict[str, object]:
        return {
            "commitments_made": c.made,
            "done": c.done,
            "partly": c.partly,
            "not_done": c.not_done,
            "changed": c.changed,
            "not_yet_reported": c.open,
        }

    def feedback(f: reports.Scores) -> dict[str, object]:
        return {
            "feedback_responses": f.responses,
            "usefulness": reports.two_places(f.usefulness),
            "safety": reports.two_places(f.safety),
            "challenge": reports.two_places(f.challenge),
        }

    yield {
        "level": "programme",
        "members": report.members,
        "members_presented": report.presented,
        "presentations": report.presentations,
        **attendance(report.attendance),
        **commitments(report.commitments),
    }
    for n in report.over_time:
        yield {
            "level": "programme meeting",
            "meeting": n.number,
            "presentations": n.presentations,
            **attendance(n.attendance),
            **feedback(n.feedback),
        }
    for s in report.sets:
        yield {
            "level": "set",
            "set": _cell(s.name),
            "members": s.members,
            "members_presented": s.presented,
            "presentations": s.presentations,
            **attendance(s.attendance),
            **commitments(s.commitments),
        }
        for m in s.meetings:
            yield {
                "level": "set meeting",
                "set": _cell(s.name),
                "meeting": m.number,
                "members": m.attendance.possible,
                "presentations": m.presentations,
                **attendance(m.attendance),
                **commitments(m.commitments),
                **feedback(m.feedback),
            }
        for member in s.member_attendance:
            yield {
                "level": "member",
                "set": _cell(s.name),
                "member": _cell(member.name),
                **attendance(member.attendance),
            }
