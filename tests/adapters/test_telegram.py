"""Telegram adapter: HTML-safe splitting, 429 retry_after honoured, over real HTTP to the sandbox;
the bot token never appears in log lines."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest

from reelflow import errors
from reelflow.adapters.telegram import MAX_MESSAGE, TelegramBot, split_html

TAG = re.compile(r"<[^>]*>")


def _visible(part: str) -> int:
    return len(re.sub(r"&#?\w+;", "x", TAG.sub("", part)))


def _balanced(part: str) -> bool:
    stack: list[str] = []
    for m in re.finditer(r"<(/?)([a-z-]+)[^>]*>", part):
        if m.group(1):
            if not stack or stack.pop() != m.group(2):
                return False
        else:
            stack.append(m.group(2))
    return not stack


def test_short_text_is_one_part() -> None:
    assert split_html("<b>hi</b> &amp; bye") == ["<b>hi</b> &amp; bye"]


def test_long_text_splits_at_lines_and_keeps_tags_balanced() -> None:
    lines = [f"<b>Ad group {i}</b>: CPL <i>{i * 100}</i> &amp; more text here" for i in range(400)]
    text = "<blockquote>" + "\n".join(lines) + "</blockquote>"
    parts = split_html(text)
    assert len(parts) > 1
    for part in parts:
        assert _visible(part) <= MAX_MESSAGE
        assert _balanced(part), part[-80:]
        assert part.startswith("<blockquote>") and part.endswith("</blockquote>")
        assert "&amp" not in part.replace("&amp;", "")  # no entity cut in half
    joined = "\n".join(TAG.sub("", p) for p in parts)
    assert joined == TAG.sub("", text)  # nothing lost or duplicated (cuts at line breaks)


def test_one_huge_line_is_cut_without_breaking_tags() -> None:
    text = "<b>" + ("word " * 3000) + "</b>"
    parts = split_html(text, limit=1000)
    assert all(_visible(p) <= 1000 and _balanced(p) for p in parts)
    assert "".join(TAG.sub("", p) for p in parts) == "word " * 3000


async def _messages(sandbox: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        return list((await client.get("/telegram/_sandbox/messages")).json())


async def test_send_long_report_in_parts(sandbox: Any) -> None:
    text = "\n".join(f"<b>{i}</b> pause ad group &lt;loser&gt;" for i in range(600))
    ids = await TelegramBot().send_message("-100123", text)
    stored = await _messages(sandbox)
    assert len(ids) == len(stored) > 1
    assert all(len(m["text"]) <= MAX_MESSAGE for m in stored)


async def test_429_retry_after_is_honoured_and_token_not_logged(sandbox: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await client.post("/telegram/_sandbox/throttle", json={"count": 2, "retry_after": 7})
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with caplog.at_level(logging.INFO, logger="httpx"):
        ids = await TelegramBot(sleep=sleep).send_message(42, "<b>report</b>")
    assert len(ids) == 1 and waits == [7.0, 7.0]
    assert "sbx_telegram_bot_token" not in caplog.text
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await client.post("/telegram/_sandbox/throttle", json={"count": 5, "retry_after": 1})
    with pytest.raises(errors.Retryable):
        await TelegramBot(sleep=sleep, max_retries=2).send_message(42, "x")


async def test_bad_html_is_a_permanent_error(sandbox: Any) -> None:
    bot = TelegramBot()
    with pytest.raises(errors.Permanent):
        await bot._send(httpx.AsyncClient(), 1, "<b>unclosed")
