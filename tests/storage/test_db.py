"""The pool checks each connection it hands out (one round trip): one that died while pooled
is replaced, never given to a caller."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, text

from reelflow.storage.db import get_engine, session_scope


async def test_a_pooled_connection_that_died_is_replaced(services: Any) -> None:
    engine = get_engine()
    async with engine.connect() as killer:  # holds one connection, so the session takes another
        await killer.execute(text("SELECT 1"))
        async with session_scope() as session:
            victim = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # That connection is back in the pool; its server process is killed behind its back.
        assert (await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})).scalar_one()
        await killer.commit()
    await asyncio.sleep(0.5)

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        for _ in range(3):  # whichever pooled connection comes out, every query works
            async with session_scope() as session:
                assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert statements == ["SELECT 1"] * 3  # the check itself is no statement of the caller's


async def test_jsonb_reads_decode_like_json_loads(services: Any) -> None:
    import json

    literal = '{"a": [1, 2.5, "é", null, true], "big": 123456789012345678901234567890, "nested": {"x": {}}}'
    async with session_scope() as session:
        value = (await session.execute(text(f"SELECT '{literal}'::jsonb"))).scalar_one()
        # A numeric beyond a float's range (msgspec refuses it: json.loads's inf, as before).
        huge = (
            await session.execute(
                text("""SELECT '{"n": 1e400, "m": 1e400}'::jsonb || jsonb_build_object('m', 1e400 + 0.5)""")
            )
        ).scalar_one()
    assert value == json.loads(literal) and type(value["big"]) is int
    assert huge == {"n": 10**400, "m": float("inf")}
