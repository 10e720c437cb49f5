"""Cross-site request forgery: every POST (and any other unsafe method) must carry a token that
a page of ours gave the same browser; docs/security.md ("Forms and requests") has the design.

The token is bound to a secret the browser holds in an HttpOnly cookie and that another site
can neither read nor choose: the session cookie when there is one, otherwise a random
pre-session cookie (for signing in and resetting a password, before any session exists). The
token is HMAC-SHA256 keyed by that secret, so the page may show it without showing the secret,
and every worker computes it alike without a shared key or any state.

Pages put it in each form (`csrf_input()`, a hidden field) and in `hx-headers` on <body> for
htmx requests (the X-CSRF-Token header); `require_csrf` checks one of the two before any route
runs. `CsrfBinding`, a middleware, finds the secret for each request, so that templates can
call `csrf_token()`, and sets the pre-session cookie when a page handed out a token bound to a
fresh one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from fastapi import HTTPException
from markupsafe import Markup
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.domain.text import N_

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
PRE_SESSION_COOKIE = "setroom_csrf"
SECURE_PRE_SESSION_COOKIE = "__Host-setroom_csrf"
"""Over HTTPS the pre-session cookie takes the __Host- prefix: a browser accepts it only from
this very host, secure and for the whole site, so a sibling subdomain cannot plant one."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
REFUSED = N_(
    "This form was not sent from a Setroom page (or the page is out of date, for instance "
    "because you signed in or out in another tab). Nothing was changed: go back, reload the "
    "page and try again."
)
_PURPOSE = b"setroom csrf token v1"


class CsrfRefused(HTTPException):
    title = N_("This form has expired")

    def __init__(self) -> None:
        super().__init__(status_code=403, detail=REFUSED)


def token_for(secret: str) -> str:
    digest = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class _Binding:
    secret: str
    fresh: bool
    """A new pre-session secret: the response must set its cookie if a page used it."""
    used: bool = False


_current: ContextVar[_Binding | None] = ContextVar("csrf_binding", default=None)


def csrf_token() -> str:
    """The token for the request being answered ("" outside one, e.g. a WebSocket's render)."""
    binding = _current.get()
    if binding is None:
        return ""
    binding.used = True
    return token_for(binding.secret)


def csrf_input() -> Markup:
    """The hidden field every form that posts carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf_token())


TEMPLATE_GLOBALS = {"csrf_token": csrf_token, "csrf_input": csrf_input}


async def require_csrf(connection: HTTPConnection) -> None:
    """Every unsafe request carries the token of its cookie, in the header or the form field;
    otherwise it is refused (403) before any route runs, so nothing changes."""
    if connection.scope["type"] != "http" or connection.scope["method"] in SAFE_METHODS:
        return
    binding = _current.get()
    sent = connection.headers.get(HEADER)
    if sent is None and isinstance(connection, Request):
        sent = await _form_field(connection)
    # A fresh binding means the request brought no cookie: no token can match it.
    if binding is None or binding.fresh or not sent:
        raise CsrfRefused
    if not hmac.compare_digest(sent.encode(), token_for(binding.secret).encode()):
        raise CsrfRefused


async def _form_field(request: Request) -> str | None:
    """The token field of a posted form. A route with Form() parameters has had its form read
    by FastAPI already (with the default limits); for any other, the field is read from a copy
    of the body, so that the route's own parse, with its own limits, still happens."""
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is not None:
        form = await request.form()
        return _text(form.get(FIELD))
    body = await request.body()

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        async with Request(request.scope, replay).form() as form:
            return _text(form.get(FIELD))
    except StarletteHTTPException:  # not a form Starlette can read: no token in it
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class CsrfBinding:
    """Finds (or makes) the secret each HTTP request's token is bound to, for the templates and
    for `require_csrf`: the session cookie, else the pre-session cookie, else a new one."""

    def __init__(self, app: ASGIApp, *, session_cookie: str, secure: bool = False) -> None:
        self.app = app
        self.session_cookie = session_cookie
        self.cookie_name = SECURE_PRE_SESSION_COOKIE if secure else PRE_SESSION_COOKIE
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = HTTPConnection(scope).cookies
        secret = (
            cookies.get(self.session_cookie)
            or cookies.get(SECURE_PRE_SESSION_COOKIE if self.secure else PRE_SESSION_COOKIE)
            or None
        )
        binding = _Binding(secret or secrets.token_urlsafe(32), fresh=secret is None)
        reset = _current.set(binding)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and binding.fresh and binding.used:
                headers = MutableHeaders(scope=message)
                headers.append("Set-Cookie", self._cookie(binding.secret))
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            _current.reset(reset)

    def _cookie(self, secret: str) -> str:
        """A browser-session cookie, HttpOnly, for the whole site."""
        cookie: SimpleCookie = SimpleCookie()
        cookie[self.cookie_name] = secret
        morsel: Any = cookie[self.cookie_name]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        if self.secure:
            morsel["secure"] = True
        return str(morsel.OutputString())
