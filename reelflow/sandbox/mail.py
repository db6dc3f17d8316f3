"""A local SMTP sink (aiosmtpd) for dev, the demo and tests: it accepts every message and
keeps it, so the links Reelflow mails can be read back and followed."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

LINK = re.compile(r"https?://\S+")


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    subject: str
    text: str

    @property
    def links(self) -> list[str]:
        return LINK.findall(self.text)


@dataclass
class _Handler:
    messages: list[ReceivedMail] = field(default_factory=list)
    echo: bool = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        self.messages.append(
            ReceivedMail(
                sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                subject=str(parsed["Subject"] or ""),
                text=str(text),
            )
        )
        if self.echo:
            print(f"[mail] to {', '.join(envelope.rcpt_tos)}: {parsed['Subject']}\n{text}", flush=True)
        return "250 Message accepted for delivery"


class MailSink:
    """`with MailSink(port=...) as sink:` … `sink.messages` / `sink.last_to(email)`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8025, *, echo: bool = False) -> None:
        self.handler = _Handler(echo=echo)
        self.controller = Controller(self.handler, hostname=host, port=port)
        self.host, self.port = host, port

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.recipients)]

    def last_to(self, address: str) -> ReceivedMail:
        found = self.to(address)
        if not found:
            raise LookupError(f"no mail to {address}")
        return found[-1]

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
