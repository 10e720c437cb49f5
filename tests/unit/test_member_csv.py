"""Reading members from CSV: every row checked first, bad rows named by spreadsheet row number."""

from __future__ import annotations

import pytest

from app.db.member_csv import MAX_BYTES, MAX_ROWS, normalise_email, parse_members

HEADER = "name,email,organisation\n"


def _csv(*lines: str, header: str = HEADER) -> str:
    return header + "".join(line + "\n" for line in lines)


def test_a_clean_file_gives_every_row_in_order() -> None:
    parsed = parse_members(
        _csv("Ana Silva,Ana@Example.org,Northfield", "Ben Okafor,,Riverside", '"Cole, Dee",,Bright')
    )
    assert parsed.ok
    assert [(r.row, r.name, r.email, r.organisation) for r in parsed.rows] == [
        (2, "Ana Silva", "ana@example.org", "Northfield"),
        (3, "Ben Okafor", None, "Riverside"),
        (4, "Cole, Dee", None, "Bright"),
    ]


def test_the_header_is_case_insensitive_in_any_order_and_utf8_with_a_bom() -> None:
    data = "\ufeffOrganisation, Name ,EMAIL\r\nNorthfield,Zoë Ålund,zoe@example.org\r\n"
    parsed = parse_members(data.encode("utf-8"))
    assert parsed.ok
    assert parsed.rows[0].name == "Zoë Ålund"
    assert parsed.rows[0].organisation == "Northfield"
    assert parse_members(data).ok  # pasted text may carry the BOM too


def test_blank_lines_keep_their_row_numbers_but_are_not_members() -> None:
    parsed = parse_members(_csv("Ana,,Org", "", " , , ", "Ben,,Org"))
    assert [r.row for r in parsed.rows] == [2, 5]
    bad = parse_members(_csv("Ana,,Org", "", ",,Org"))
    assert [(e.row, e.reason) for e in bad.errors] == [(4, "name is missing")]


def test_every_bad_row_is_named_and_nothing_is_returned() -> None:
    lines = [f"Member {n},m{n}@example.org,Org {n % 3}" for n in range(1, 31)]
    lines[4] = ",m5@example.org,Org 2"  # row 6: no name
    lines[11] = "Member 12,not-an-email,Org 0"  # row 13
    lines[20] = "Member 21,M3@example.org,Org 0"  # row 22: same as row 4
    parsed = parse_members(_csv(*lines))
    assert parsed.rows == ()
    assert [(e.row, e.reason) for e in parsed.errors] == [
        (6, "name is missing"),
        (13, "email “not-an-email” is not a valid address"),
        (22, "email m3@example.org is also on row 4"),
    ]


def test_an_email_already_in_the_set_is_refused() -> None:
    parsed = parse_members(_csv("Ana,ana@example.org,Org"), existing_emails={"ana@example.org"})
    assert [(e.row, e.reason) for e in parsed.errors] == [
        (2, "email ana@example.org is already in this set")
    ]


def test_one_row_can_have_several_reasons() -> None:
    parsed = parse_members(_csv(",bad@,"))
    assert parsed.errors[0].row == 2
    assert parsed.errors[0].reason == (
        "name is missing; organisation is missing; email “bad@” is not a valid address"
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("A" * 201 + ",,Org", "name is longer than 200 characters"),
        ("Ana,,", "organisation is missing"),
        ("Ana,,O" + "r" * 200, "organisation is longer than 200 characters"),
        ("Ana,,Org,extra", "has 4 values; expected 3 (name,email,organisation)"),
        ("Ana", "has 1 value; expected 3 (name,email,organisation)"),
        ('"An\na",,Org', "name contains control characters"),
    ],
)
def test_row_problems(line: str, reason: str) -> None:
    parsed = parse_members(_csv(line))
    assert [(e.row, e.reason) for e in parsed.errors] == [(2, reason)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "The file is empty"),
        ("\n\n", "The file is empty"),
        (HEADER, "has a header but no members"),
        ("Ana,ana@example.org,Org\n", "The first row must be the header"),
        ("name,email\nAna,ana@example.org\n", "The first row must be the header"),
        ("name,email,organisation,phone\nA,,O,1\n", "The first row must be the header"),
        ("name,name,email,organisation\nA,A,,O\n", "names a column twice"),
    ],
)
def test_file_problems(data: str, message: str) -> None:
    parsed = parse_members(data)
    assert parsed.rows == ()
    assert len(parsed.errors) == 1
    assert message in parsed.errors[0].reason


def test_the_header_row_is_named_when_it_is_wrong() -> None:
    assert parse_members("\nfoo,bar,baz\nA,,O\n").errors[0].row == 2


def test_not_utf8_is_refused() -> None:
    parsed = parse_members(_csv("Zoë,,Org").encode("latin-1"))
    assert "not UTF-8" in parsed.errors[0].reason


def test_size_and_row_limits() -> None:
    at_limit = _csv(*[f"M {n},,Org" for n in range(MAX_ROWS)])
    assert len(parse_members(at_limit).rows) == MAX_ROWS
    over = parse_members(_csv(*[f"M {n},,Org" for n in range(MAX_ROWS + 1)]))
    assert over.errors[0].row == 0 and f"At most {MAX_ROWS}" in over.errors[0].reason
    big = parse_members(_csv("A" * MAX_BYTES + ",,Org").encode())
    assert "larger than 256 KiB" in big.errors[0].reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ana.Silva@Example.ORG ", "ana.silva@example.org"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("ana@localhost", None),
        ("ana@@example.org", None),
        ("@example.org", None),
        ("ana@example..org", None),
        ("ana silva@example.org", None),
        ("ana@example.org,ben@example.org", None),
        ("<ana@example.org>", None),
        ("", None),
    ],
)
def test_normalise_email(raw: str, expected: str | None) -> None:
    assert normalise_email(raw) == expected


def test_a_rows_problems_are_shown_in_the_readers_language() -> None:
    from app.web.forms import row_reason
    from app.web.language import speaking

    bad = parse_members("name,email,organisation\nAna,bad@,\n")
    (error,) = bad.errors
    assert error.reason == "organisation is missing; email “bad@” is not a valid address"
    assert row_reason(error) == error.reason
    with speaking("cy"):
        assert row_reason(error) == (
            "mae’r golofn organisation yn wag; nid yw’r e-bost “bad@” yn gyfeiriad dilys"
        )
    (too_big,) = parse_members("x" * (MAX_BYTES + 1)).errors
    with speaking("cy"):
        assert row_reason(too_big) == f"Mae’r ffeil yn fwy na {MAX_BYTES // 1024} KiB."
