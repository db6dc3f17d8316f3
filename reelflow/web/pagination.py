"""Keyset (cursor) pagination shared by every list endpoint."""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec

from reelflow.errors import BadRequest

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*values: Any) -> str:
    parts = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


MAX_CURSOR_CHARS = 1024
# A cursor is a flat list of scalars (times, ids, numbers, names): nothing nested.
_Scalar = str | int | float | bool | None
_cursor_decoder = msgspec.json.Decoder(list[_Scalar])


def _bad_cursor() -> BadRequest:
    return BadRequest("not a cursor this API returned", field="cursor")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """The values of a cursor this API made; anything else (garbage, nested, huge, NUL,
    numbers beyond 64 bits) is a 400 naming `cursor`."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_CHARS or not cursor.isascii():
        raise _bad_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = _cursor_decoder.decode(raw)
    except (ValueError, msgspec.DecodeError, RecursionError):
        raise _bad_cursor() from None
    for value in values:
        if isinstance(value, str) and "\x00" in value:
            raise _bad_cursor()
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            raise _bad_cursor()
        if isinstance(value, float) and not math.isfinite(value):
            raise _bad_cursor()
    return values


def decode_time_id_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    try:
        if len(values) != 2:
            raise ValueError
        at = datetime.fromisoformat(values[0])
        return (at if at.tzinfo else at.replace(tzinfo=UTC)), uuid.UUID(values[1])
    except (ValueError, IndexError, TypeError, AttributeError, OverflowError):
        raise _bad_cursor() from None


def check_limit(limit: int, maximum: int) -> int:
    if limit < 1 or limit > maximum:
        raise BadRequest(f"must be between 1 and {maximum}", field="limit")
    return limit


def page_of(rows: Sequence[T], limit: int, cursor_of: Any) -> tuple[list[T], str | None]:
    """Rows fetched with `limit + 1`: the page, and the next cursor if there is more."""
    items = list(rows[:limit])
    next_cursor = cursor_of(items[-1]) if len(rows) > limit and items else None
    return items, next_cursor
