"""Outbound mail over SMTP (aiosmtplib). In dev and tests the host is the local SMTP sink
(`reelflow.sandbox.mail`), so invitation and reset links are really sent and read back."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from reelflow.errors import Retryable
from reelflow.logs import get_logger
from reelflow.settings import MailSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str


class SmtpMailer:
    """Sends one message per call; a refused or unreachable server is `Retryable`."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    async def send(self, mail: OutgoingMail) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = mail.to
        # Subjects carry names clients chose (a workspace's): control characters (CR/LF
        # would be header injection, and email refuses them) become spaces.
        message["Subject"] = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in mail.subject)
        message.set_content(mail.text)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.settings.host,
                port=self.settings.port,
                username=self.settings.username,
                password=self.settings.password,
                use_tls=self.settings.security == "tls",
                start_tls=self.settings.security == "starttls",
                timeout=self.settings.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("mail not sent", error_type=type(exc).__name__, host=self.settings.host)
            raise Retryable("the mail server did not accept the message; try again", retry_after=30) from None
