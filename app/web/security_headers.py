"""Headers every answer carries: what the browser may run and load, who may frame us, what a
link tells the next site, and that nothing outside /static/ is kept in a cache. A route's own
header of the same name wins (a CSV's "private, no-store", for instance)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",  # our files and htmx's: no inline script, no eval
        "style-src 'self'",  # room.css only: no <style> element, no style="" attribute
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",  # CSP 3: 'self' also allows ws:/wss: to this host
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
DOCS_POLICY = "frame-ancestors 'none'"
"""FastAPI's /docs and /redoc pages load their viewers from a CDN with inline script; they
describe the API and hold nothing else."""
DOCS_PATHS = ("/docs", "/redoc")

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        policy = DOCS_POLICY if path.startswith(DOCS_PATHS) else CONTENT_SECURITY_POLICY
        cacheable = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", policy)
                if not cacheable:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
