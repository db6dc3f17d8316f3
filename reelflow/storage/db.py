"""Engine and sessions (SQLAlchemy 2, asyncpg).

asyncpg connections belong to the event loop that opened them, and one process may run
several loops (a worker running each job with `asyncio.run`, Prefect tasks, tests), so
there is one engine per running loop. `session_scope()` commits on success and rolls
back on error.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_

from reelflow.errors import ConfigurationError
from reelflow.settings import Settings, get_settings

_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]
_engines = weakref.WeakKeyDictionary()
T = TypeVar("T")


def _new_engine(settings: Settings, **options: Any) -> AsyncEngine:
    if not settings.db.url:
        raise ConfigurationError("DATABASE_URL is not set and no embedded Postgres was started")
    return create_async_engine(
        settings.db.url,
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.pool_size,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "reelflow"}},
        json_deserializer=json_loads,
        **options,
    )


def create_engine(settings: Settings | None = None) -> AsyncEngine:
    # Pessimistic disconnect handling, by `_ping_on_checkout` below instead of
    # `pool_pre_ping=True`: the same check in one round trip instead of three.
    engine = _new_engine(settings or get_settings())
    event.listen(engine.sync_engine, "checkout", _ping_on_checkout)
    return engine


_json_decode = msgspec.json.Decoder().decode


def json_loads(text: str | bytes) -> Any:
    """JSON/JSONB values as read from Postgres, decoded by msgspec (several times faster than
    `json.loads`, same Python values); a number beyond a float's range, which a JSONB numeric
    may hold, falls back to `json.loads` (which gives inf, as before)."""
    try:
        return _json_decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def _ping_on_checkout(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """Every connection taken from the pool is checked first, so a connection that died while
    pooled (Postgres restarted, the backend was terminated) is replaced, not handed to a
    request. SQLAlchemy's own pre-ping for asyncpg runs BEGIN, a prepared `;` and ROLLBACK
    (three round trips); a simple-protocol `SELECT 1` checks the same in one (and works
    through pgbouncer in transaction mode). A failure raises DisconnectionError: the pool
    discards the connection and retries with a new one."""
    try:
        await_(dbapi_connection.driver_connection.execute("SELECT 1"))
    except Exception as exc:
        raise DisconnectionError(f"pooled connection failed its check: {type(exc).__name__}") from exc


def _for_running_loop() -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    loop = asyncio.get_running_loop()
    pair = _engines.get(loop)
    if pair is None:
        engine = create_engine()
        pair = (engine, async_sessionmaker(engine, expire_on_commit=False))
        _engines[loop] = pair
    return pair


_autocommit: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = weakref.WeakKeyDictionary()


def get_autocommit_engine() -> AsyncEngine:
    """The running loop's pool for single-statement hot paths (webhook receipt): AUTOCOMMIT
    (no BEGIN/COMMIT round trips) and no check on checkout (the main pool's `SELECT 1` is one
    more round trip per use). Use it through `execute_autocommit`, which retries once on a
    connection found dead, as the check would have."""
    loop = asyncio.get_running_loop()
    engine = _autocommit.get(loop)
    if engine is None:
        engine = _autocommit[loop] = _new_engine(get_settings(), isolation_level="AUTOCOMMIT")
    return engine


async def execute_autocommit(run: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`run(conn)` on an autocommit connection (each statement commits by itself; keep it to
    one statement, or idempotent ones). A connection that turns out dead (Postgres restarted)
    is dropped and the call made once more on a fresh one."""
    engine = get_autocommit_engine()
    for attempt in (1, 2):
        try:
            async with engine.connect() as conn:
                return await run(conn)
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


async def warm_autocommit_pool(connections: int = 4) -> None:
    """Open `connections` of the autocommit pool now (at web startup), so the first webhooks do
    not pay the dialect's first-connect queries and the connection set-up while others wait."""

    async def hold(ready: asyncio.Event, opened: list[int]) -> None:
        async with get_autocommit_engine().connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
            opened.append(1)
            if len(opened) == connections:
                ready.set()
            await ready.wait()  # keep each one out of the pool until all are open

    ready = asyncio.Event()
    opened: list[int] = []
    await asyncio.gather(*(hold(ready, opened) for _ in range(connections)))


def get_engine() -> AsyncEngine:
    """The engine of the running event loop (created on first use)."""
    return _for_running_loop()[0]


def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    return _for_running_loop()[1]


async def dispose_engine() -> None:
    """Close the running loop's pool (at shutdown, or at the end of `asyncio.run`)."""
    loop = asyncio.get_running_loop()
    pair = _engines.pop(loop, None)
    if pair is not None:
        await pair[0].dispose()
    autocommit = _autocommit.pop(loop, None)
    if autocommit is not None:
        await autocommit.dispose()


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    async with get_sessionmaker()() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
