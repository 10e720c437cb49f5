"""Structured logs: one JSON object per line on stderr, for `python -m app`.

No meeting content ever reaches a log line: records carry ids, types, counts and timings. Extra
fields pass only when they are numbers or booleans, or strings under a key that names an id, a
type, an error class or a state; exceptions keep their class and stack but not their message
(which may quote the input); the access log keeps method, path and status, drops the client's
address and the query string, and hides the tokens of join links and password resets.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
_STRING_KEYS = re.compile(r"(^|_)(id|ids|type|kind|error|state|status|via|phase|role|op)$")
# Paths that carry a secret: personal join links, password resets, and any long opaque segment
# (ids are 32 hex digits or fewer; tokens are longer).
_TOKEN_PATHS = re.compile(r"(?<=^/j/)[^/]+|(?<=^/password/reset/)[^/]+|(?<=/)[\w-]{40,}(?=/|$)")
_MAX_STRING = 120


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            line.update(_access(record.args))
        else:
            line["msg"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line and _safe(key, value):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["stack"] = "".join(traceback.format_tb(record.exc_info[2])).strip()
        return json.dumps(line, separators=(",", ":"))


def _safe(key: str, value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, str) and len(value) <= _MAX_STRING and bool(_STRING_KEYS.search(key))


def _access(args: tuple[Any, ...]) -> dict[str, Any]:
    """uvicorn's access record: (client, method, path with query, http version, status)."""
    if len(args) != 5:
        return {"msg": "request"}
    _client, method, target, _version, status = args
    path = _TOKEN_PATHS.sub("[token]", str(target).split("?", 1)[0])
    return {"msg": "request", "method": str(method), "path": path, "status": status}


def config(level: str = "INFO") -> dict[str, Any]:
    """A logging.config.dictConfig for uvicorn's `log_config`: every logger, uvicorn's too,
    writes JSON lines to stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
            "alembic": {"level": "WARNING"},  # each start says it found nothing to migrate
        },
    }
