"""A local SMTP sink (aiosmtpd) for dev, the demo and tests: it accepts every message and
keeps it, so the links Reelflow mails can be read back and followed."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
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

    async def wait_for(self, address: str, within_s: float = 10.0, *, after: int = 0) -> ReceivedMail:
        """The last mail to `address` among those received after the first `after` messages,
        waiting up to `within_s` seconds for it."""
        deadline = time.monotonic() + within_s
        while True:
            found = [m for m in self.messages[after:] if address.lower() in (r.lower() for r in m.recipients)]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise LookupError(f"no mail to {address} within {within_s} s")
            await asyncio.sleep(0.05)

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def sign_up(
    api: Any,
    sink: MailSink,
    *,
    email: str,
    workspace_name: str,
    name: str | None = None,
    password: str | None = None,
    token_name: str | None = None,
) -> dict[str, Any]:
    """Sign up as a person does, for the demo, benchmarks and tests: `POST /api/v1/signup`
    (202, the same for every address), read the mailed link from the sink, and redeem it.
    `api` is an `httpx.AsyncClient` on the app; returns the redeem answer (`user`,
    `workspace`, `role`, `token` with the plaintext `token["token"]`)."""
    before = len(sink.messages)
    body: dict[str, Any] = {"email": email, "workspace_name": workspace_name}
    if name is not None:
        body["name"] = name
    response = await api.post("/api/v1/signup", json=body)
    if response.status_code != 202:
        raise RuntimeError(f"sign-up answered {response.status_code}: {response.text}")
    mail = await sink.wait_for(email, after=before)
    secret = next(link for link in mail.links if "token=" in link).split("token=", 1)[1]
    redeem: dict[str, Any] = {"token": secret}
    if password is not None:
        redeem["password"] = password
    if name is not None:
        redeem["name"] = name
    if token_name is not None:
        redeem["token_name"] = token_name
    redeemed = await api.post("/api/v1/auth/redeem", json=redeem)
    if redeemed.status_code != 200:
        raise RuntimeError(f"redeeming the sign-up link answered {redeemed.status_code}: {redeemed.text}")
    result: dict[str, Any] = redeemed.json()
    return result
