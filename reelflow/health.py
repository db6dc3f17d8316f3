"""Readiness checks shared by `GET /readyz` and `reelflow readyz`."""

from __future__ import annotations

import asyncio
from typing import Any

from reelflow.errors import ConfigurationError
from reelflow.settings import Settings, load_settings

CHECK_TIMEOUT_S = 2.0


async def check_db(settings: Settings) -> None:
    import asyncpg

    if not settings.database_url:
        raise ConfigurationError("DATABASE_URL is not set")
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    conn = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.query.get("host") or url.host,  # type: ignore[arg-type]
        port=url.port,
        database=url.database,
        ssl=url.query.get("ssl"),  # type: ignore[arg-type]
        timeout=CHECK_TIMEOUT_S,
    )
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def check_redis(settings: Settings) -> None:
    import redis.asyncio as aioredis

    if not settings.redis_url:
        raise ConfigurationError("REDIS_URL is not set")
    client = aioredis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


async def readiness() -> dict[str, Any]:
    checks: dict[str, bool] = {}
    errors: dict[str, str] = {}
    try:
        settings = load_settings()
        checks["settings"] = True
    except ConfigurationError as exc:
        return {
            "ok": False,
            "checks": {"settings": False, "db": False, "redis": False},
            "errors": {"settings": str(exc)},
        }

    async def run(name: str, check: Any) -> None:
        try:
            await asyncio.wait_for(check(settings), CHECK_TIMEOUT_S + 1)
            checks[name] = True
        except Exception as exc:  # noqa: BLE001 - a readiness probe reports every failure
            checks[name] = False
            errors[name] = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__

    await asyncio.gather(run("db", check_db), run("redis", check_redis))
    return {"ok": all(checks.values()), "checks": checks, "errors": errors}
