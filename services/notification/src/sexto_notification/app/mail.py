"""Sending e-mail: an SMTP server from configuration, or .eml files in a folder (embedded)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

from sexto_notification.config import NotificationSettings
from sexto_notification.templates import Message


class MailFailure(Exception):
    """The message was not accepted; `detail` says why without naming the address."""

    def __init__(self, detail: str, permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


class MailTransport(Protocol):
    """Hands a message over; raises MailFailure when it is not accepted."""

    async def send(self, message: EmailMessage) -> str: ...


def build(
    settings: NotificationSettings, to: str, message: Message, message_id: str
) -> EmailMessage:
    """The MIME message; its Message-ID is the delivery id, the same on every retry."""
    # Lines up to 200 characters: the standard library's folding of a long non-ASCII
    # subject adds a space when read back (RFC 5322 allows 998).
    mail = EmailMessage(policy=policy.SMTP.clone(max_line_length=200))
    mail["From"] = settings.mail_from
    mail["To"] = to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = f"<{message_id}@sexto>"
    mail["X-Sexto-Template"] = message.template_version
    mail.set_content(message.text)
    return mail


class SmtpTransport:
    """An SMTP server (STARTTLS and login when configured)."""

    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings
        # Its own threads: a slow mail server never holds up the default pool, which the
        # webhooks' address lookups use.
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smtp")

    def _send(self, message: EmailMessage) -> str:
        s = self.settings
        assert s.smtp_host is not None
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.request_timeout_s) as smtp:
                if s.smtp_starttls:
                    # Verified: the server's certificate and name, like any TLS client.
                    smtp.starttls(context=ssl.create_default_context())
                elif s.smtp_username:
                    raise MailFailure("smtp login refused without STARTTLS", permanent=True)
                if s.smtp_username and s.smtp_password:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            raise MailFailure(f"smtp {code} recipient refused", permanent=code >= 550) from None
        except smtplib.SMTPResponseException as exc:
            raise MailFailure(f"smtp {exc.smtp_code}") from None
        except ssl.SSLError as exc:
            raise MailFailure(f"smtp TLS refused ({exc.reason})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailFailure(f"smtp unreachable ({type(exc).__name__})") from None
        if refused:
            raise MailFailure("smtp recipient refused")
        return "smtp 250"

    async def send(self, message: EmailMessage) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._send, message)


class FolderTransport:
    """The embedded default: each message written to `<mail_dir>/<message id>.eml`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _write(self, message: EmailMessage) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").split("@", 1)[0]
        target = self.folder / f"{name}.eml"
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(bytes(message))
        temporary.replace(target)  # a reader never sees half a message
        return "written to mail folder"

    async def send(self, message: EmailMessage) -> str:
        return await asyncio.to_thread(self._write, message)


def transport_for(settings: NotificationSettings) -> MailTransport:
    """SMTP when a host is configured, else the mail folder."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    return FolderTransport(settings.mail_dir)
