"""Outgoing mail: SMTP when configured, else the log (so a single-machine set-up still works)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from app.settings import Settings

log = logging.getLogger(__name__)


def send(settings: Settings, *, to: str, subject: str, body: str) -> None:
    """Send one message. Blocking: call it from a worker thread."""
    if not settings.smtp_host:
        log.info("mail (no SMTP configured) to=%s subject=%s\n%s", to, subject, body)
        return
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
