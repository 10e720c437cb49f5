"""Who may open the room's socket from a page, and how fast a socket may talk."""

from __future__ import annotations

import pytest
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.settings import Settings
from app.web.ws_guards import MessageRate, origin_allowed

SETTINGS = Settings(
    public_url="https://Rooms.example.org/",
    ws_allowed_origins=" https://partner.example.net:8443 ,,http://intranet.example",
)


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("https://rooms.example.org", "10.0.0.5:8000", True),  # behind a proxy
        ("https://ROOMS.example.org", None, True),
        ("https://rooms.example.org:443", None, True),
        ("http://rooms.example.org", None, False),  # not the scheme it is served on
        ("https://rooms.example.org.evil.example", None, False),
        ("https://partner.example.net:8443", None, True),
        ("https://partner.example.net", None, False),
        ("http://intranet.example", None, True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),  # the server's own page
        ("http://localhost:8000", "localhost:8000", True),
        ("http://localhost:8001", "localhost:8000", False),
        ("https://evil.example", "127.0.0.1:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("file://", "127.0.0.1:8000", False),
        ("", "127.0.0.1:8000", False),
    ],
)
def test_an_origin_is_allowed_only_from_the_list_or_the_same_host(
    origin: str, host: str | None, allowed: bool
) -> None:
    assert origin_allowed(origin, host, SETTINGS) is allowed


def test_a_socket_over_its_rate_is_throttled_then_to_be_closed() -> None:
    limiter = MovingWindowRateLimiter(MemoryStorage())
    rate = MessageRate(limiter, "socket-1", rate="3/minute", strikes=2)
    other = MessageRate(limiter, "socket-2", rate="3/minute", strikes=2)
    assert [rate.check() for _ in range(5)] == ["ok", "ok", "ok", "throttle", "close"]
    assert other.check() == "ok"  # each socket has its own window
    rate.forget()
    assert rate.check() == "ok"  # a forgotten window starts afresh
