"""Reading a list of members from CSV (`name,email,organisation`), pure: text in, rows or errors
out. Every row is checked before anything is imported, so one bad row stops the whole file and
the facilitator sees each bad row with its reason.

Rows are numbered as a spreadsheet numbers them: the header is row 1, and blank lines keep their
number (so "row 7" is the row the facilitator sees as 7) without counting as members.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.domain.text import N_

MAX_BYTES = 256 * 1024
MAX_ROWS = 200
MAX_NAME = 200
MAX_ORGANISATION = 200
MAX_EMAIL = 320
COLUMNS = ("name", "email", "organisation")
_ALIASES = {"organization": "organisation", "org": "organisation"}
_BAD_EMAIL_CHARS = frozenset(' \t\r\n,;:<>()[]\\"')


@dataclass(frozen=True)
class MemberRow:
    row: int
    name: str
    email: str | None
    """Lower-cased, or None when the row gives none."""
    organisation: str


@dataclass(frozen=True)
class Reason:
    """One problem as a template with `{name}` parameters: English here, translated where it
    is shown (app.web.forms.row_reason)."""

    template: str
    params: dict[str, str | int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template.format(**self.params) if self.params else self.template


@dataclass(frozen=True)
class RowError:
    row: int
    """The spreadsheet row number; 0 for a problem with the file as a whole."""
    reason: str
    reasons: tuple[Reason, ...] = ()
    """The same, a problem at a time (`reason` joins them with "; ")."""


def _row_error(row: int, reasons: list[Reason]) -> RowError:
    return RowError(row, "; ".join(r.text for r in reasons), tuple(reasons))


@dataclass(frozen=True)
class Parsed:
    rows: tuple[MemberRow, ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def normalise_email(raw: str) -> str | None:
    """The address lower-cased, or None if it does not look like one (one @, a dotted domain,
    no spaces or separators)."""
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "@" in domain or len(email) > MAX_EMAIL:
        return None
    if any(c in _BAD_EMAIL_CHARS or c.isspace() or _control(c) for c in email):
        return None
    labels = domain.split(".")
    if len(labels) < 2 or any(not label for label in labels):
        return None
    return email


def check_text(value: str, *, what: str, limit: int) -> str | None:
    """Why a name-like value is unacceptable, or None (for a row of the file)."""
    reason = _cell_problem(value, what=what, limit=limit)
    return reason.text if reason else None


def _cell_problem(value: str, *, what: str, limit: int) -> Reason | None:
    if not value:
        return Reason(N_("{what} is missing"), {"what": what})
    if len(value) > limit:
        return Reason(
            N_("{what} is longer than {limit} characters"), {"what": what, "limit": limit}
        )
    if any(_control(c) for c in value):
        return Reason(N_("{what} contains control characters"), {"what": what})
    return None


def text_problem(value: str, *, what: str, limit: int) -> str | None:
    """The template (`{what}`, `{limit}`) saying why a name-like value is unacceptable, or None."""
    if not value:
        return N_("{what} is missing.")
    if len(value) > limit:
        return N_("{what} is longer than {limit} characters.")
    if any(_control(c) for c in value):
        return N_("{what} contains control characters.")
    return None


def decode(data: bytes) -> str | None:
    """UTF-8 text, with or without a byte-order mark; None if it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def parse_members(data: bytes | str, *, existing_emails: Iterable[str] = ()) -> Parsed:
    """Check every row of a members CSV; `rows` only when there are no `errors` at all.

    `existing_emails` are the addresses already in the set (lower-cased): a row that repeats
    one is refused, as is an address given twice in the file."""
    if isinstance(data, str):
        size = len(data.encode("utf-8"))
        text: str | None = data.removeprefix("\ufeff")
    else:
        size = len(data)
        text = decode(data)
    if size > MAX_BYTES:
        return _fail(N_("The file is larger than {kib} KiB."), kib=MAX_BYTES // 1024)
    if text is None:
        return _fail(N_("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."))
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        return _fail(N_("The file is not valid CSV ({error})."), error=str(error))

    numbered = [
        (number, record)
        for number, record in enumerate(records, start=1)
        if any(cell.strip() for cell in record)
    ]
    if not numbered:
        return _fail(N_("The file is empty: it needs a header row name,email,organisation."))
    header_row, header = numbered[0]
    positions, problem = _header(header)
    if problem:
        return Parsed(rows=(), errors=(_row_error(header_row, [problem]),))
    body = numbered[1:]
    if not body:
        return _fail(N_("The file has a header but no members."))
    if len(body) > MAX_ROWS:
        return _fail(
            N_("At most {most} members can be imported at once; this file has {count}."),
            most=MAX_ROWS,
            count=len(body),
        )

    taken = {email.lower() for email in existing_emails}
    first_seen: dict[str, int] = {}
    rows: list[MemberRow] = []
    errors: list[RowError] = []
    for number, record in body:
        reasons: list[Reason] = []
        if len(record) != len(header):
            counts: dict[str, str | int] = {
                "count": len(record),
                "expected": len(header),
                "header": ",".join(cell.strip() for cell in header),
            }
            if len(record) == 1:
                reasons.append(
                    Reason(N_("has {count} value; expected {expected} ({header})"), counts)
                )
            else:
                reasons.append(
                    Reason(N_("has {count} values; expected {expected} ({header})"), counts)
                )
            errors.append(_row_error(number, reasons))
            continue
        name = record[positions["name"]].strip()
        raw_email = record[positions["email"]].strip()
        organisation = record[positions["organisation"]].strip()
        for value, what, limit in (
            (name, "name", MAX_NAME),
            (organisation, "organisation", MAX_ORGANISATION),
        ):
            reason = _cell_problem(value, what=what, limit=limit)
            if reason:
                reasons.append(reason)
        email: str | None = None
        if raw_email:
            email = normalise_email(raw_email)
            if email is None:
                reasons.append(
                    Reason(
                        N_("email “{email}” is not a valid address"), {"email": _clip(raw_email)}
                    )
                )
            elif email in taken:
                reasons.append(Reason(N_("email {email} is already in this set"), {"email": email}))
            elif email in first_seen:
                reasons.append(
                    Reason(
                        N_("email {email} is also on row {row}"),
                        {"email": email, "row": first_seen[email]},
                    )
                )
            else:
                first_seen[email] = number
        if reasons:
            errors.append(_row_error(number, reasons))
        else:
            rows.append(MemberRow(row=number, name=name, email=email, organisation=organisation))
    if errors:
        return Parsed(rows=(), errors=tuple(errors))
    return Parsed(rows=tuple(rows), errors=())


def _header(cells: list[str]) -> tuple[dict[str, int], Reason | None]:
    names = [_ALIASES.get(cell.strip().lower(), cell.strip().lower()) for cell in cells]
    expected = ",".join(COLUMNS)
    unknown = [cell.strip() for cell, name in zip(cells, names, strict=True) if name not in COLUMNS]
    missing = [column for column in COLUMNS if column not in names]
    if missing or unknown:
        found = ",".join(cell.strip() for cell in cells)
        return {}, Reason(
            N_("The first row must be the header {expected} (found “{found}”)."),
            {"expected": expected, "found": _clip(found)},
        )
    if len(set(names)) != len(names):
        return {}, Reason(
            N_("The header names a column twice; it must be {expected}."), {"expected": expected}
        )
    return {name: names.index(name) for name in COLUMNS}, None


def _control(c: str) -> bool:
    return unicodedata.category(c) == "Cc"


def _fail(template: str, **params: str | int) -> Parsed:
    return Parsed(rows=(), errors=(_row_error(0, [Reason(template, params)]),))


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
