"""What the admin pages share: rendering a page that is never cached, reading numbers and
yes/no answers from plain HTML forms, the short notices a redirect-after-post carries, and the
data layer's refusals said in the reader's language (`said`, `row_reason`)."""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from app.db.member_csv import RowError
from app.db.programmes import AdminError
from app.db.refusal import Refusal, Term
from app.web.deps import Services
from app.web.language import gettext, translate
from app.web.refusals import refusal_text

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def page(services: Services, template: str, status: int = 200, **context: object) -> HTMLResponse:
    defaults: dict[str, object] = {"signed_in": True, "notice": "", "errors": {}}
    return HTMLResponse(
        services.renderer.render(template, **(defaults | context)),
        status_code=status,
        headers=NO_STORE,
    )


def whole_number(raw: str, *, what: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise AdminError(translate("{what} must be a whole number.", what=gettext(what)))
    return int(text)


def yes_no(raw: str, *, what: str) -> bool:
    if raw == "yes":
        return True
    if raw == "no":
        return False
    raise AdminError(translate("Choose yes or no for {what}.", what=gettext(what)))


def said(error: Exception) -> str:
    """A refusal of the data layer in the reader's language: its template translated, its
    marked words (`Term`) too; any other error as it says itself."""
    if not isinstance(error, Refusal):
        return str(error)
    params = {
        name: gettext(value) if isinstance(value, Term) else value
        for name, value in error.params.items()
    }
    return refusal_text(error.template, params)


def row_reason(error: RowError) -> str:
    """A members CSV's problems with a row (or the file) in the reader's language."""
    if not error.reasons:
        return error.reason
    return "; ".join(refusal_text(r.template, r.params) for r in error.reasons)
