"""Ports to the outside for notices: e-mail over SMTP and webhooks over HTTP.

Each raises :class:`SendFailed` with a short reason (no message content, no address) that
the notification table stores for the next run's retry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx

from vesalius.core.config import Settings
from vesalius.core.errors import InvalidInput, VesaliusError
from vesalius.deid.keys import read_key_file

SIGNATURE_HEADER = "X-Vesalius-Signature"
TIMEOUT = 30.0


class SendFailed(VesaliusError):
    """A notice could not be handed over; retried by the next run."""


class EmailPort(Protocol):
    def send(self, *, to: str, subject: str, body: str) -> None: ...


class WebhookPort(Protocol):
    def post(self, *, url: str, payload: dict[str, Any]) -> None: ...


class SmtpSender:
    """smtplib over ``smtp://``, ``smtp+starttls://`` or ``smtps://`` (user:password@ optional)."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
            raise InvalidInput("VESALIUS_SMTP_URL: expected smtp://host:port (or smtps://)")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender

    def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            if self.scheme == "smtps":
                context = ssl.create_default_context()
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=TIMEOUT, context=context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
            with client:
                if self.scheme == "smtp+starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.user is not None:
                    client.login(self.user, self.password or "")
                client.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise SendFailed(f"SMTP {exc.smtp_code}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"SMTP: {type(exc).__name__}") from exc


class NoSmtp:
    """Stands in when no mail server is configured: every e-mail fails (and is retried)."""

    def send(self, *, to: str, subject: str, body: str) -> None:
        raise SendFailed("no mail server configured (VESALIUS_SMTP_URL)")


class HttpWebhook:
    """POST the payload as JSON; signed with HMAC-SHA256 of the body when a key is set."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret

    def post(self, *, url: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "vesalius-notify"}
        if self.secret:
            digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise SendFailed(f"webhook: {type(exc).__name__}") from exc
        if not response.is_success:
            raise SendFailed(f"webhook: HTTP {response.status_code}")


def webhook_secret(settings: Settings) -> bytes | None:
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value().encode()
    if settings.webhook_secret_file is not None:
        return read_key_file(settings.webhook_secret_file)
    return None


def senders_from(settings: Settings) -> tuple[EmailPort, WebhookPort]:
    email: EmailPort = (
        SmtpSender(settings.smtp_url, settings.smtp_from) if settings.smtp_url else NoSmtp()
    )
    return email, HttpWebhook(webhook_secret(settings))
