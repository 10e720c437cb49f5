"""Programmes, sets and their people through the real app: a lead sets up a programme and a set,
members come one by one or from a CSV that is checked whole first, join links are issued once,
re-issued and revoked, and nobody else reaches a set's or a programme's administration."""

from __future__ import annotations

import re

import httpx
from sqlmodel import Session, col, func, select

from app.db.database import make_engine
from app.db.tables import Membership, Organisation, Person, Programme
from tests.harness import CSRF, SeededSet, Server, seed_set, session_cookie, sign_in

HTML = {"accept": "text/html"}
LINK = re.compile(r"/j/([A-Za-z0-9_-]{40,})")


def _client(server: Server, cookie: str | None = None) -> httpx.Client:
    cookies = {"setroom_session": cookie} if cookie else None
    return httpx.Client(auth=CSRF, base_url=server.base, headers=HTML, cookies=cookies)


def _tokens(html: str) -> list[str]:
    """The join-link tokens a page shows, each once (a link appears in its box and the CSV)."""
    return list(dict.fromkeys(LINK.findall(html)))


def _members(db_url: str, set_id: str) -> int:
    engine = make_engine(db_url)
    with Session(engine) as session:
        count = session.exec(
            select(func.count())
            .select_from(Membership)
            .where(Membership.set_id == set_id, Membership.role == "member")
        ).one()
    engine.dispose()
    return int(count)


def _new_set(client: httpx.Client, programme_id: str, name: str) -> str:
    created = client.post(
        f"/programmes/{programme_id}/sets",
        data={
            "name": name,
            "video_link": "https://meet.example.org/set",
            "anonymous_questions": "yes",
            "questions_to_set": "no",
            "ground_rules": "Confidentiality. Questions, not advice. Attendance.",
        },
    )
    assert created.status_code == 303, created.text
    match = re.fullmatch(r"/sets/(\w+)/admin\?done=created", created.headers["location"])
    assert match, created.headers["location"]
    return match.group(1)


def test_a_lead_sets_up_a_programme_a_set_and_its_people(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    with _client(server, sign_in(server, seeded.emails[seeded.lead])) as lead:
        assert lead.get("/home").text.count('href="/programmes/new"') == 1
        assert lead.post("/programmes", data={"name": "   "}).status_code == 400
        created = lead.post("/programmes", data={"name": "Emerging Leaders 2027"})
        assert created.status_code == 303
        programme = created.headers["location"].split("?")[0]
        programme_id = programme.rsplit("/", 1)[1]
        page = lead.get(programme)
        assert page.status_code == 200 and "Emerging Leaders 2027" in page.text

        # Organisations are shared by name; each takes part once.
        for name in ("Northfield Health Trust", "Hillside Hospice"):
            added = lead.post(f"{programme}/organisations", data={"name": name})
            assert added.status_code == 303
        again = lead.post(f"{programme}/organisations", data={"name": "hillside hospice"})
        assert again.status_code == 400 and "already takes part" in again.text
        assert 'role="alert"' in again.text

        # The plan: bad numbers change nothing.
        plan = {"name": "Emerging Leaders 2027", "cadence_weeks": "6", "attendance_target": "85"}
        bad = lead.post(programme, data={**plan, "meetings_planned": "25"})
        assert bad.status_code == 400 and "from 1 to 24" in bad.text
        assert lead.post(programme, data={**plan, "meetings_planned": "nine"}).status_code == 400
        assert lead.post(programme, data={**plan, "meetings_planned": "9"}).status_code == 303

        # Leads are added by an existing account's email.
        nobody = lead.post(f"{programme}/leads", data={"email": "nobody@example.org"})
        assert nobody.status_code == 400 and "No account uses" in nobody.text
        facilitator_email = seeded.emails[seeded.facilitator]
        assert lead.post(f"{programme}/leads", data={"email": facilitator_email}).status_code == 303

        # A set: only web addresses for the video call; nothing is made from a bad form.
        unsafe = lead.post(
            f"{programme}/sets",
            data={
                "name": "Set One",
                "video_link": "javascript:alert(1)",
                "anonymous_questions": "yes",
                "questions_to_set": "yes",
                "ground_rules": "Be kind",
            },
        )
        assert unsafe.status_code == 400 and "https://" in unsafe.text
        set_id = _new_set(lead, programme_id, "Set One")
        admin = lead.get(f"/sets/{set_id}/admin")
        assert admin.status_code == 200 and "No members yet" in admin.text
        assert "Too few members" in admin.text

        # A facilitator has an account; a member one by one, with a new organisation.
        assert (
            lead.post(f"/sets/{set_id}/facilitators", data={"email": facilitator_email}).status_code
            == 303
        )
        no_account = lead.post(f"/sets/{set_id}/facilitators", data={"email": "x@example.org"})
        assert no_account.status_code == 400
        bad_email = lead.post(
            f"/sets/{set_id}/members",
            data={"name": "Ana Silva", "email": "ana@", "organisation": "Hillside Hospice"},
        )
        assert bad_email.status_code == 400 and _members(db_url, set_id) == 0
        added = lead.post(
            f"/sets/{set_id}/members",
            data={
                "name": "Ana Silva",
                "email": "Ana@Example.org",
                "organisation": "Riverbank Trust",
            },
        )
        # A lead adds people but never sees a link: a link opens the room.
        assert added.status_code == 200 and "facilitators give each member" in added.text
        assert _tokens(added.text) == [] and "/j/" not in added.text
        assert lead.post(f"/sets/{set_id}/links").status_code == 403
        twice = lead.post(
            f"/sets/{set_id}/members",
            data={"name": "Ana S", "email": "ana@example.org", "organisation": "Riverbank Trust"},
        )
        assert twice.status_code == 400 and "already in this set" in twice.text

        page = lead.get(programme).text
        for org in ("Northfield Health Trust", "Hillside Hospice", "Riverbank Trust"):
            assert org in page
        assert "Set One" in page and "Fran Facilitator" in page
        home = lead.get("/home").text
        assert f'href="{programme}"' in home and f'href="/sets/{set_id}/admin"' in home
        # The lead's pages show counts and people, never what members said.
        seeded_admin = lead.get(f"/sets/{seeded.set_id}/admin").text
        for text in (page, home, seeded_admin):
            assert "Commitment of member" not in text

    engine = make_engine(db_url)
    with Session(engine) as session:
        names = session.exec(select(Organisation.name)).all()
        plan_row = session.get(Programme, programme_id)
    engine.dispose()
    assert sorted(names).count("Northfield Health Trust") == 1
    assert plan_row is not None and plan_row.meetings_planned == 9
    with _client(server, sign_in(server, facilitator_email)) as facilitator:
        home = facilitator.get("/home").text
        assert f'href="/sets/{set_id}/admin"' in home
        assert facilitator.get(programme).status_code == 200  # made a lead above
        # The set's facilitator gives out the links, shown once.
        issued = facilitator.post(f"/sets/{set_id}/links")
        assert issued.status_code == 200 and "shown only once" in issued.text
        assert issued.headers["cache-control"] == "no-store"
        (token,) = _tokens(issued.text)
        assert f"http://127.0.0.1:8000/j/{token}" in issued.text
    assert httpx.get(f"{server.base}/j/{token}").status_code == 303


def test_a_csv_with_bad_rows_imports_nothing_and_fixed_imports_all(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    rows = [f"Member {n},member{n}@example.org,Org {n % 3}" for n in range(1, 31)]
    fixed = "name,email,organisation\n" + "\n".join(rows) + "\n"
    rows[4] = ",member5@example.org,Org 2"  # row 6
    rows[11] = "Member 12,member12-at-example.org,Org 0"  # row 13
    rows[20] = "Member 21,MEMBER3@example.org,Org 0"  # row 22
    broken = "\ufeffName,Email,Organisation\r\n" + "\r\n".join(rows) + "\r\n"
    with _client(server, sign_in(server, seeded.emails[seeded.lead])) as lead:
        set_id = _new_set(lead, seeded.programme_id, "Imported set")
        assert lead.get(f"/sets/{set_id}/import").status_code == 200
        refused = lead.post(
            f"/sets/{set_id}/import",
            files={"file": ("members.csv", broken.encode("utf-8"), "text/csv")},
        )
        assert refused.status_code == 400
        assert "Nothing was imported" in refused.text
        bad = re.findall(
            r'<th scope="row" class="table__num">(\d+)</th><td>([^<]+)</td>', refused.text
        )
        assert bad == [
            ("6", "name is missing"),
            ("13", "email “member12-at-example.org” is not a valid address"),
            ("22", "email member3@example.org is also on row 4"),
        ]
        assert _members(db_url, set_id) == 0

        empty = lead.post(f"/sets/{set_id}/import", data={"text": "  "})
        assert empty.status_code == 400 and _members(db_url, set_id) == 0

        imported = lead.post(f"/sets/{set_id}/import", data={"text": fixed})
        assert imported.status_code == 200, imported.text
        assert _tokens(imported.text) == []
        facilitator_email = seeded.emails[seeded.facilitator]
        assert (
            lead.post(f"/sets/{set_id}/facilitators", data={"email": facilitator_email}).status_code
            == 303
        )
    with _client(server, sign_in(server, seeded.emails[seeded.facilitator])) as facilitator:
        issued = facilitator.post(f"/sets/{set_id}/links")
        tokens = _tokens(issued.text)
        assert len(tokens) == 30
        csv_box = re.search(r'<textarea id="links-csv"[^>]*>([^<]*)</textarea>', issued.text)
        assert csv_box is not None
        lines = csv_box.group(1).strip().splitlines()
        assert lines[0] == "name,email,link" and len(lines) == 31
        assert lines[1].startswith("Member 1,member1@example.org,http://127.0.0.1:8000/j/")
        assert _members(db_url, set_id) == 30

        again = facilitator.post(f"/sets/{set_id}/import", data={"text": fixed})
        assert again.status_code == 400 and "is already in this set" in again.text
        admin = facilitator.get(f"/sets/{set_id}/admin").text
        assert "Too many members" in admin and "member30@example.org" in admin
    with httpx.Client(auth=CSRF, base_url=server.base) as browser:
        for token in tokens:
            opened = browser.get(f"/j/{token}")
            assert opened.status_code == 303 and "setroom_session" in opened.cookies
            browser.cookies.clear()


def test_revoking_or_removing_ends_a_members_access(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    member = seeded.members[0]
    old_token = seeded.tokens[member]
    room = f"/meetings/{seeded.meeting_id}"
    with _client(server, session_cookie(server, old_token)) as phone:
        assert phone.get(room).status_code == 200
        with _client(server, sign_in(server, seeded.emails[seeded.facilitator])) as fac:
            admin = f"/sets/{seeded.set_id}/admin"
            revoked = fac.post(f"/sets/{seeded.set_id}/people/{member}/revoke")
            assert revoked.status_code == 303 and revoked.headers["location"].endswith("revoked")
            assert phone.get(room).status_code == 401
            assert httpx.get(f"{server.base}/j/{old_token}").status_code == 404

            fresh = fac.post(f"/sets/{seeded.set_id}/people/{member}/link")
            assert fresh.status_code == 200 and "old link has stopped working" in fresh.text
            (token,) = _tokens(fresh.text)
            phone.cookies.set("setroom_session", session_cookie(server, token))
            assert phone.get(room).status_code == 200

            removed = fac.post(f"/sets/{seeded.set_id}/people/{member}/remove")
            assert removed.status_code == 303
            assert phone.get(room).status_code == 401
            assert httpx.get(f"{server.base}/j/{token}").status_code == 404
            assert seeded.names[member] not in fac.get(admin).text
            assert fac.post(f"/sets/{seeded.set_id}/people/{member}/link").status_code == 404

            last = fac.post(f"/sets/{seeded.set_id}/people/{seeded.facilitator}/remove")
            assert last.status_code == 400 and "needs a facilitator" in last.text
    assert _members(db_url, seeded.set_id) == len(seeded.members) - 1
    engine = make_engine(db_url)
    with Session(engine) as session:  # their person (and so their history) stays
        assert session.get(Person, member) is not None
        assert (
            session.exec(select(func.count()).where(col(Membership.person_id) == member)).one() == 0
        )
    engine.dispose()


def test_only_a_sets_facilitators_and_its_programmes_leads_reach_its_administration(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    other = seed_set(db_url, members=2, set_id="set-b", prefix="b-", programme_id="prog2")
    member = session_cookie(server, seeded.tokens[seeded.members[0]])
    other_facilitator = sign_in(server, other.emails[other.facilitator])
    other_lead = sign_in(server, other.emails[other.lead])
    facilitator = sign_in(server, seeded.emails[seeded.facilitator])
    lead = sign_in(server, seeded.emails[seeded.lead])
    set_a, person = seeded.set_id, seeded.members[1]
    reads = [f"/sets/{set_a}/admin", f"/sets/{set_a}/import", f"/programmes/{seeded.programme_id}"]
    writes = [
        f"/sets/{set_a}/people/{person}/link",
        f"/sets/{set_a}/people/{person}/revoke",
        f"/sets/{set_a}/people/{person}/remove",
        f"/sets/{set_a}/members",
        f"/sets/{set_a}/facilitators",
        f"/sets/{set_a}/settings",
        f"/sets/{set_a}/import",
        f"/programmes/{seeded.programme_id}",
        f"/programmes/{seeded.programme_id}/sets",
        f"/programmes/{seeded.programme_id}/leads",
        f"/programmes/{seeded.programme_id}/organisations",
    ]

    def status(cookie: str | None, method: str, path: str) -> int:
        with _client(server, cookie) as client:
            return client.request(method, path).status_code

    for cookie, expected in (
        (None, 401),
        (member, 403),
        (other_facilitator, 403),
        (other_lead, 403),
    ):
        for path in reads:
            assert status(cookie, "GET", path) == expected, (path, expected)
        for path in writes:
            assert status(cookie, "POST", path) == expected, (path, expected)
    assert status(None, "GET", "/programmes/new") == 401
    assert status(member, "GET", "/programmes/new") == 403  # a join link is not an account
    assert status(member, "POST", "/programmes") == 403
    # The set's facilitator runs the set but not the programme; the lead runs both.
    assert status(facilitator, "GET", f"/sets/{set_a}/admin") == 200
    assert status(facilitator, "GET", f"/programmes/{seeded.programme_id}") == 403
    assert status(facilitator, "GET", f"/sets/{other.set_id}/admin") == 403
    assert status(lead, "GET", f"/sets/{set_a}/admin") == 200
    assert status(lead, "GET", f"/sets/{other.set_id}/admin") == 403
    assert status(lead, "GET", "/sets/nope/admin") == 404
    # A person outside the set cannot be named through it.
    with _client(server, facilitator) as client:
        outsider = other.members[0]
        for action in ("link", "revoke", "remove"):
            path = f"/sets/{set_a}/people/{outsider}/{action}"
            assert client.post(path).status_code == 404
    assert _members(db_url, set_a) == len(seeded.members)
