"""Structured logs: JSON lines with ids, types, counts and timings, and never meeting content."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from app.logs import JsonFormatter
from tests.harness import ROOT


def _line(record: logging.LogRecord) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def _record(msg: str, *, args: tuple[object, ...] = (), name: str = "app.rooms", **extra: object):
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_line_keeps_ids_counts_and_timings_and_drops_anything_else() -> None:
    line = _line(
        _record(
            "command refused",
            meeting_id="m1",
            seq=12,
            ms=3.5,
            error="RoomMovedOn",
            text="I feel my manager ignores me",
            title="My difficult colleague",
            connection_id="x" * 500,
        )
    )
    assert line["level"] == "info" and line["logger"] == "app.rooms"
    assert line["msg"] == "command refused"
    assert (line["meeting_id"], line["seq"], line["ms"], line["error"]) == (
        "m1",
        12,
        3.5,
        "RoomMovedOn",
    )
    for dropped in ("text", "title", "connection_id"):
        assert dropped not in line
    assert str(line["ts"]).endswith("Z")


def test_an_exception_keeps_its_class_and_stack_but_not_its_message() -> None:
    try:
        said = "what I said in the room"
        raise ValueError(f"input_value={said!r}")
    except ValueError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = _line(record)
    assert line["exc_type"] == "ValueError"
    assert "test_logs.py" in str(line["stack"])
    assert "what I said" not in json.dumps(line)


def test_the_access_log_hides_tokens_query_strings_and_addresses() -> None:
    def access(target: str) -> dict[str, object]:
        args = ("203.0.113.9:51234", "GET", target, "1.1", 303)
        return _line(_record('%s - "%s %s HTTP/%s" %d', args=args, name="uvicorn.access"))

    line = access("/j/Zm9vYmFyYmF6cXV4?next=/x")
    assert (line["method"], line["path"], line["status"]) == ("GET", "/j/[token]", 303)
    assert "203.0.113.9" not in json.dumps(line)
    assert access("/password/reset/abc")["path"] == "/password/reset/[token]"
    assert (
        access("/meetings/" + "a" * 32 + "/ws?since=4")["path"] == "/meetings/" + "a" * 32 + "/ws"
    )
    assert access("/x/" + "T" * 43)["path"] == "/x/[token]"


def test_the_logging_config_writes_json_lines() -> None:
    code = (
        "import logging, logging.config, app.logs;"
        "logging.config.dictConfig(app.logs.config());"
        "logging.getLogger('app.x').info('hello', extra={'meeting_id': 'm1'})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["msg"] == "hello" and line["meeting_id"] == "m1" and line["logger"] == "app.x"
