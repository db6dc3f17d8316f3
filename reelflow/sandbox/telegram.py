"""Sandbox Telegram Bot API (`/telegram/bot<token>/sendMessage`).

Checks what the real API checks that matters to us: the token, ``chat_id``, 1..4096
characters of text after entity parsing, well-formed HTML in ``parse_mode: HTML``. Test
controls: ``POST /telegram/_sandbox/throttle {"count": n, "retry_after": s}`` makes the next
``n`` sends answer 429 with ``parameters.retry_after``; ``GET /telegram/_sandbox/messages``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from litestar import Response, get, post

from reelflow.sandbox import core

PREFIX = "/telegram"
TOKEN = "123456:sbx_telegram_bot_token"
MAX_TEXT = 4096
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "blockquote",
}
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")


@dataclass
class TelegramState:
    messages: list[dict[str, Any]] = field(default_factory=list)
    throttle: int = 0
    retry_after: int = 1
    next_id: int = 1


def state() -> TelegramState:
    return core.get_state().store("telegram", TelegramState)


def render_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
    """Injected faults in the Bot API's shape."""
    return status, {"ok": False, "error_code": status, "description": message or str(code or "error")}


core.register_platform(PREFIX, render_error)


def _error(status: int, description: str, **parameters: Any) -> Response[Any]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response(body, status_code=status)


def _html_problem(text: str) -> str | None:
    stack: list[str] = []
    for match in _TAG.finditer(text):
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in ALLOWED_TAGS:
            return f"unsupported start tag '{name}'"
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return f"unexpected end tag '{name}'"
    if stack:
        return f"can't find end tag corresponding to start tag '{stack[-1]}'"
    if re.search(r"<(?![a-zA-Z/])", text):
        return "unsupported start tag"
    return None


@post(f"{PREFIX}/{{bot_token:str}}/sendMessage", status_code=200)
async def send_message(bot_token: str, data: dict[str, Any]) -> Response[Any]:
    st = state()
    if bot_token != f"bot{TOKEN}":
        return _error(401, "Unauthorized")
    if st.throttle > 0:
        st.throttle -= 1
        return _error(429, f"Too Many Requests: retry after {st.retry_after}", retry_after=st.retry_after)
    chat_id = data.get("chat_id")
    text = data.get("text")
    if chat_id in (None, ""):
        return _error(400, "Bad Request: chat_id is empty")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "Bad Request: message text is empty")
    visible = text
    if data.get("parse_mode") == "HTML":
        problem = _html_problem(text)
        if problem:
            return _error(400, f"Bad Request: can't parse entities: {problem}")
        visible = html.unescape(_TAG.sub("", text))
    if len(visible) > MAX_TEXT:
        return _error(400, "Bad Request: message is too long")
    message = {"message_id": st.next_id, "chat": {"id": chat_id}, "text": visible, "html": text}
    st.next_id += 1
    st.messages.append(message)
    return Response({"ok": True, "result": message})


@post(f"{PREFIX}/_sandbox/throttle", status_code=200)
async def throttle(data: dict[str, Any]) -> dict[str, Any]:
    st = state()
    st.throttle = int(data.get("count", 1))
    st.retry_after = int(data.get("retry_after", 1))
    return {"count": st.throttle, "retry_after": st.retry_after}


@get(f"{PREFIX}/_sandbox/messages")
async def messages() -> list[dict[str, Any]]:
    return state().messages


route_handlers = [send_message, throttle, messages]
