"""Schemathesis over the app's own OpenAPI document (/openapi.json), against a real uvicorn with
a seeded database: every operation gets generated requests, signed in as a facilitator (who is
also given the set's and programme's real ids half the time, so guarded routes run their code
rather than refusing at the door), and each response must be no server error and must be one
the document declares: its status code, its content type, and its body where a schema is given.

Sizes are bounded (a few examples per operation) to keep the run well under two minutes.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from tests.harness import Server, seed_set, sign_in
from tests.integration.test_matrix import app_routes

EXAMPLES = 6
"""Generated requests per operation, about half of them with the seeded ids."""
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
DOOR = ("401", "403", "404")
SIGNS_OUT = {("POST", "/logout")}
"""Sent without the session cookie: it would end the session the rest of the run uses."""


def test_every_operation_answers_within_its_schema(db_url: str, tmp_path: Path) -> None:
    seeded = seed_set(db_url, members=3, prior_for=(1,))
    log_path = tmp_path / "server.log"
    real = {
        "set_id": seeded.set_id,
        "meeting_id": seeded.meeting_id,
        "programme_id": seeded.programme_id,
        "person_id": seeded.members[-1],
        "token": seeded.tokens[seeded.members[0]],
    }
    rules = {(method, path): rule for method, path, rule in app_routes(db_url)}
    with Server(db_url, log_path=log_path) as server:
        facilitator = sign_in(server, seeded.emails[seeded.facilitator])
        lead = sign_in(server, seeded.emails[seeded.lead])
        schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 20
        failures: list[str] = []
        statuses: Counter[str] = Counter()
        with requests.Session() as session:
            for operation in operations:
                signed_in = (operation.method.upper(), operation.path) not in SIGNS_OUT
                lead_only = (
                    rules.get((operation.method.upper(), operation.path)) == "programme_lead"
                )
                cookie = (
                    lead if lead_only or operation.path.startswith("/programmes") else facilitator
                )
                cookies = {"setroom_session": cookie} if signed_in else {}
                headers = csrf_headers(server, cookie) if signed_in else {}
                try:
                    _exercise(operation, session, server.base, cookies, headers, real, statuses)
                except (Exception, BaseExceptionGroup) as failure:  # gather all, fail once
                    failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
        assert not failures, "\n\n".join(failures)
        # Guarded routes ran their code, not only the door: nearly every operation answered
        # something other than a refusal (401, 403, 404) at least once.
        reached = {key.split()[1] for key in statuses if key.split()[0] not in DOOR}
        unreached = sorted({f"{o.method.upper()}:{o.path}" for o in operations} - reached)
        assert len(unreached) <= len(operations) // 10, "\n".join(unreached)
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def csrf_headers(server: Server, cookie: str) -> dict[str, str]:
    """The headers htmx sends with every request from a signed-in page (its <body hx-headers>:
    the CSRF token, where the app hands one out), so POSTs are judged on their content."""
    page = httpx.get(f"{server.base}/home", cookies={"setroom_session": cookie}).text
    found = re.search(r"hx-headers='(\{[^']*\})'", page)
    return (
        {k: str(v) for k, v in json.loads(html.unescape(found.group(1))).items()} if found else {}
    )


def _exercise(
    operation: Any,
    session: requests.Session,
    base: str,
    cookies: dict[str, str],
    headers: dict[str, str],
    real: dict[str, str],
    statuses: Counter[str],
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), with_real_ids=st.booleans())
    def call(case: Any, with_real_ids: bool) -> None:
        if with_real_ids and case.path_parameters:
            case.path_parameters = {
                name: real.get(name, value) for name, value in case.path_parameters.items()
            }
        response = case.call_and_validate(
            base_url=base, session=session, cookies=cookies, headers=headers, checks=CHECKS
        )
        statuses[f"{response.status_code} {operation.method.upper()}:{operation.path}"] += 1

    call()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests reads proxy settings from the environment; the server is on this machine.
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
