"""Signing in and out, and resetting a password."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import parse
from sqlalchemy import Engine
from sqlmodel import Session

from app import mail
from app.auth import accounts
from app.db import access
from app.db.homes import home_of
from app.db.tables import PasswordReset, Person
from app.web.deps import COOKIE, ServicesDep, now_ms
from app.web.guard import AccountHolder, Anyone
from app.web.language import DEFAULT, LANGUAGES, N_, gettext, speaking, translate

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(
    services: ServicesDep, template: str, status: int = 200, **context: object
) -> HTMLResponse:
    defaults: dict[str, object] = {"error": "", "notice": "", "email": ""}
    return HTMLResponse(
        services.renderer.render(template, **(defaults | context)),
        status_code=status,
        headers=NO_STORE,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(_: Anyone, services: ServicesDep, reset: str = "") -> Response:
    notice = N_("Your new password is saved: sign in with it.") if reset else ""
    return _page(services, "login.html", signed_in=False, notice=notice)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    _: Anyone,
    services: ServicesDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
) -> Response:
    limit = parse(services.settings.login_limit)
    client = request.client.host if request.client else "unknown"
    keys = (f"email:{email.strip().lower()}", f"client:{client}")
    if not all(services.limiter.hit(limit, "login", key) for key in keys):
        return _page(
            services,
            "login.html",
            429,
            signed_in=False,
            email=email,
            error=N_("Too many attempts. Wait a minute, then try again."),
        )
    person_id = accounts.authenticate(services.engine, email, password)
    if person_id is None:
        return _page(
            services,
            "login.html",
            400,
            signed_in=False,
            email=email,
            error=N_("That email and password do not match an account."),
        )
    secret = accounts.sign_in(
        services.engine, person_id=person_id, now=now_ms(), days=services.settings.session_days
    )
    response = RedirectResponse("/home", status_code=303)
    _set_cookie(response, services, secret)
    return response


@router.post("/logout")
def logout(request: Request, _: Anyone, services: ServicesDep) -> Response:
    secret = request.cookies.get(COOKIE)
    if secret:
        access.end_session(services.engine, secret)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/password/forgot", response_class=HTMLResponse)
def forgot_form(_: Anyone, services: ServicesDep) -> Response:
    return _page(services, "password_forgot.html", signed_in=False, sent=False)


@router.post("/password/forgot", response_class=HTMLResponse)
async def forgot(
    _: Anyone, services: ServicesDep, email: Annotated[str, Form(max_length=320)]
) -> Response:
    """The answer is the same whether or not the address has an account."""
    token = await asyncio.to_thread(accounts.issue_reset, services.engine, email, now=now_ms())
    if token is not None:
        link = f"{services.settings.public_url}/password/reset/{token}"
        subject, body = await asyncio.to_thread(reset_mail, services.engine, token, link)
        await asyncio.to_thread(
            mail.send, services.settings, to=email.strip(), subject=subject, body=body
        )
    return _page(services, "password_forgot.html", signed_in=False, sent=True)


def reset_mail(engine: Engine, token: str, link: str) -> tuple[str, str]:
    """The reset message's subject and body, in the account holder's own language (not the
    language of whoever asked: anyone can ask for anyone), else English."""
    with Session(engine) as session:
        reset_row = session.get(PasswordReset, access.digest(token))
        person = session.get(Person, reset_row.person_id) if reset_row is not None else None
        own = person.language if person is not None else None
    with speaking(own if own in LANGUAGES else DEFAULT):
        subject = gettext("Reset your Setroom password")
        body = "\n\n".join(
            (
                gettext("Someone (we hope you) asked to reset your Setroom password."),
                translate("Choose a new one here within an hour: {link}", link=link),
                gettext("If it was not you, ignore this message: your password stays as it is."),
            )
        )
    return subject, body + "\n"


@router.get("/password/reset/{token}", response_class=HTMLResponse)
def reset_form(token: str, _: Anyone, services: ServicesDep) -> Response:
    if not accounts.reset_is_valid(services.engine, token, now=now_ms()):
        return _page(
            services,
            "notice.html",
            404,
            title=N_("This link has expired"),
            message=N_(
                "Reset links work for an hour, once. Ask for a new one from the sign-in page."
            ),
        )
    return _page(services, "password_reset.html", signed_in=False)


@router.post("/password/reset/{token}", response_class=HTMLResponse)
def reset(
    token: str,
    _: Anyone,
    services: ServicesDep,
    password: Annotated[str, Form(max_length=1000)],
    again: Annotated[str, Form(max_length=1000)],
) -> Response:
    if password != again:
        return _page(
            services,
            "password_reset.html",
            400,
            signed_in=False,
            error=N_("The two passwords are not the same."),
        )
    try:
        accounts.reset_password(services.engine, token, password, now=now_ms())
    except accounts.AccountError as error:
        return _page(services, "password_reset.html", 400, signed_in=False, error=str(error))
    return RedirectResponse("/login?reset=1", status_code=303)


@router.get("/home", response_class=HTMLResponse)
def home(who: AccountHolder, services: ServicesDep) -> Response:
    data = home_of(services.engine, who.person_id)
    return _page(
        services,
        "home.html",
        signed_in=True,
        name=data.name,
        sets=data.sets,
        programmes=data.programmes,
    )


def _set_cookie(response: Response, services: ServicesDep, secret: str) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        httponly=True,
        samesite="lax",
        secure=services.settings.cookie_secure,
        max_age=services.settings.session_days * 86_400,
    )
