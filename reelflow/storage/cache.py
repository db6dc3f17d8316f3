"""A small shared cache in Redis for short-lived platform answers (JSON values with a TTL).

Shared by every web process (unlike an in-process dict). A Redis failure is not an error
for the caller: the cache is skipped and the platform asked.
"""

from __future__ import annotations

import json
from typing import Any

from reelflow.logs import get_logger
from reelflow.settings import get_settings

log = get_logger(__name__)
PREFIX = "reelflow:cache:"


async def get_json(key: str) -> Any | None:
    import redis.asyncio as aioredis

    url = get_settings().redis.url
    if not url:
        return None
    client = aioredis.Redis.from_url(url)
    try:
        raw = await client.get(PREFIX + key)
    except Exception as exc:  # noqa: BLE001 - a cache miss, not a failure
        log.warning("cache read failed", key=key, error=type(exc).__name__)
        return None
    finally:
        await client.aclose()
    return None if raw is None else json.loads(raw)


async def set_json(key: str, value: Any, ttl_s: int) -> None:
    import redis.asyncio as aioredis

    url = get_settings().redis.url
    if not url or ttl_s <= 0:
        return
    client = aioredis.Redis.from_url(url)
    try:
        await client.set(PREFIX + key, json.dumps(value, separators=(",", ":")), ex=ttl_s)
    except Exception as exc:  # noqa: BLE001
        log.warning("cache write failed", key=key, error=type(exc).__name__)
    finally:
        await client.aclose()


async def delete(key: str) -> None:
    import redis.asyncio as aioredis

    url = get_settings().redis.url
    if not url:
        return
    client = aioredis.Redis.from_url(url)
    try:
        await client.delete(PREFIX + key)
    finally:
        await client.aclose()
