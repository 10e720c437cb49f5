"""What a room socket must pass besides its access rule: the page that opens it (Origin), and
how fast it talks. The decisions are written up in docs/protocol.md ("Limits")."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import Depends, WebSocketException
from limits import RateLimitItem, parse_many
from limits.strategies import RateLimiter
from starlette.websockets import WebSocket

from app.rooms.connection import CLOSE_POLICY
from app.settings import Settings
from app.web.deps import ServicesDep

Verdict = Literal["ok", "throttle", "close"]


def check_origin(websocket: WebSocket, services: ServicesDep) -> None:
    """Refuse, before accepting, a handshake a page of another site started.

    Browsers always send Origin on a WebSocket handshake, and a page cannot forge it. A
    handshake without one comes from a program (an integration, a test, the benchmark), which
    needs the person's session cookie anyway: it is let through, and the access rule decides.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return
    if not origin_allowed(origin, websocket.headers.get("host"), services.settings):
        raise WebSocketException(code=CLOSE_POLICY, reason="This page may not open the room.")


AllowedOrigin = Annotated[None, Depends(check_origin)]


def origin_allowed(origin: str, host: str | None, settings: Settings) -> bool:
    """`origin` is public_url's, one of settings.ws_allowed_origins, or names the host the
    request was sent to (the server's own pages, whatever address they were reached at)."""
    parts = urlsplit(origin.strip().lower())
    if not parts.scheme or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file), or garbage
    netloc = _netloc(parts.scheme, parts.netloc)
    allowed = _allow_list(settings.public_url, settings.ws_allowed_origins)
    if f"{parts.scheme}://{netloc}" in allowed:
        return True
    return (
        parts.scheme in ("http", "https")
        and host is not None
        and netloc == _netloc(parts.scheme, host.strip().lower())
    )


@cache
def _allow_list(public_url: str, extra: str) -> frozenset[str]:
    found = set()
    for url in [public_url, *extra.split(",")]:
        parts = urlsplit(url.strip().lower())
        if parts.scheme and parts.netloc:
            found.add(f"{parts.scheme}://{_netloc(parts.scheme, parts.netloc)}")
    return frozenset(found)


def _netloc(scheme: str, netloc: str) -> str:
    """host[:port] without the scheme's default port, as browsers write an Origin."""
    default = {"http": ":80", "https": ":443"}.get(scheme)
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


@cache
def _rate(notation: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(notation))


class MessageRate:
    """One socket's pace: every message it sends takes a place in a moving window (settings
    .ws_message_rate). Past it a message is refused ("throttle"); `strikes` refusals one after
    another and the socket is to be closed ("close")."""

    def __init__(self, limiter: RateLimiter, key: str, *, rate: str, strikes: int) -> None:
        self._limiter = limiter
        self._key = key
        self._items = _rate(rate)
        self._strikes = strikes
        self._refused = 0

    def check(self) -> Verdict:
        if all(self._limiter.hit(item, self._key) for item in self._items):
            self._refused = 0
            return "ok"
        self._refused += 1
        return "close" if self._refused >= self._strikes else "throttle"

    def forget(self) -> None:
        """The socket has gone: free its window."""
        for item in self._items:
            self._limiter.clear(item, self._key)
