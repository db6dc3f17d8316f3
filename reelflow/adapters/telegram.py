"""Telegram Bot API: ``sendMessage`` in HTML mode, for autopilot reports.

* Texts over 4,096 characters are split (`split_html`): at line breaks where possible, never
  inside a tag or an entity (``&amp;``), and tags open at a cut are closed at the end of one
  part and reopened at the start of the next, so every part is valid HTML on its own.
* 429 answers carry ``parameters.retry_after`` (seconds): the send waits that long (capped)
  and tries again, up to ``max_retries`` times; other errors raise.
* The bot token is part of the URL path: it is redacted from httpx's request log lines.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from reelflow import errors
from reelflow.settings import Settings, get_settings

MAX_MESSAGE = 4096
_TOKEN_IN_URL = re.compile(r"/bot[^/\s]+/")
_TOKEN = re.compile(r"<[^>]*>|&#?\w+;|\n|[^<&\n]+|[<&]")
_OPEN = re.compile(r"<([a-zA-Z][\w-]*)[^>]*>")
_CLOSE = re.compile(r"</([a-zA-Z][\w-]*)\s*>")


class _RedactBotToken(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):  # already formatted by the app's masking
            record.msg = _TOKEN_IN_URL.sub("/bot***/", record.msg)
        if record.args:
            record.args = tuple(
                _TOKEN_IN_URL.sub("/bot***/", str(a)) if isinstance(a, str | httpx.URL) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        return True


logging.getLogger("httpx").addFilter(_RedactBotToken())


def _visible_len(token: str) -> int:
    """Characters Telegram counts: tags count nothing, an entity counts one."""
    if token.startswith("<") and token.endswith(">") and len(token) > 1:
        return 0
    if token.startswith("&") and token.endswith(";") and len(token) > 1:
        return 1
    return len(token)


def _tokens(text: str, limit: int) -> list[str]:
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok.startswith("<") or tok.startswith("&") or len(tok) <= limit // 2:
            out.append(tok)
            continue
        # A long run of text: cut at spaces where possible, else hard.
        while len(tok) > limit // 2:
            cut = tok.rfind(" ", 0, limit // 2)
            cut = cut + 1 if cut > 0 else limit // 2
            out.append(tok[:cut])
            tok = tok[cut:]
        if tok:
            out.append(tok)
    return out


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split Telegram HTML into parts of at most ``limit`` visible characters, each valid alone."""
    if limit < 100:
        raise ValueError("limit too small")
    parts: list[str] = []
    current: list[str] = []
    size = 0
    stack: list[tuple[str, str]] = []  # (tag name, the opening tag as written)
    last_newline: int | None = None  # index in `current` of the last "\n"
    stack_at_newline: list[tuple[str, str]] = []

    def flush(upto: int | None, stack_then: list[tuple[str, str]]) -> None:
        nonlocal current, size, last_newline
        keep = current if upto is None else current[:upto]
        rest = [] if upto is None else current[upto + 1 :]
        closing = "".join(f"</{name}>" for name, _ in reversed(stack_then))
        body = "".join(keep).rstrip("\n")
        if body.strip():
            parts.append(body + closing)
        reopen = [tag for _, tag in stack_then]
        current = reopen + rest
        size = sum(_visible_len(t) for t in current)
        last_newline = None

    for tok in _tokens(text, limit):
        length = _visible_len(tok)
        if size + length > limit and current:
            if last_newline is not None and last_newline > len(stack_at_newline):
                flush(last_newline, stack_at_newline)
            else:
                flush(None, list(stack))
        if tok == "\n":
            last_newline = len(current)
            stack_at_newline = list(stack)
        current.append(tok)
        size += length
        opened, closed = _OPEN.fullmatch(tok), _CLOSE.fullmatch(tok)
        if opened:
            stack.append((opened.group(1).lower(), tok))
        elif closed and stack and stack[-1][0] == closed.group(1).lower():
            stack.pop()
    body = "".join(current).rstrip("\n")
    if body.strip() and body != "".join(tag for _, tag in stack):
        parts.append(body)
    return parts


Sleep = Callable[[float], Awaitable[None]]


class TelegramBot:
    def __init__(
        self,
        token: str | None = None,
        *,
        settings: Settings | None = None,
        max_retries: int = 3,
        max_wait_s: float = 60.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        settings = settings or get_settings()
        self._token = token or settings.credential("telegram_bot_token")
        self._base = settings.platform_url("telegram_base_url").rstrip("/")
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self._sleep = sleep

    async def send_message(self, chat_id: str | int, text: str) -> list[int]:
        """Send ``text`` (Telegram HTML) as one or more messages; returns their message ids."""
        ids: list[int] = []
        async with httpx.AsyncClient(timeout=15) as client:
            for part in split_html(text):
                ids.append(await self._send(client, chat_id, part))
        return ids

    async def _send(self, client: httpx.AsyncClient, chat_id: str | int, part: str) -> int:
        url = f"{self._base}/bot{self._token}/sendMessage"
        body = {"chat_id": chat_id, "text": part, "parse_mode": "HTML", "disable_web_page_preview": True}
        for attempt in range(self.max_retries + 1):
            response = await client.post(url, json=body)
            try:
                answer: Any = response.json()
            except ValueError:
                answer = {}
            if response.status_code == 200 and isinstance(answer, dict) and answer.get("ok"):
                return int(answer["result"]["message_id"])
            description = str(answer.get("description", "")) if isinstance(answer, dict) else ""
            if response.status_code == 429 and attempt < self.max_retries:
                params = answer.get("parameters") if isinstance(answer, dict) else None
                wait = params.get("retry_after", 1) if isinstance(params, dict) else 1
                await self._sleep(min(float(wait), self.max_wait_s))
                continue
            if response.status_code == 429:
                raise errors.Retryable(f"telegram: {description or 'rate limited'}")
            if response.status_code >= 500:
                raise errors.Retryable(f"telegram: HTTP {response.status_code}")
            raise errors.Permanent(f"telegram refused the message: {description}")
        raise errors.Retryable("telegram: retries exhausted")
