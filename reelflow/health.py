"""Readiness checks shared by `GET /readyz` and `reelflow readyz`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from reelflow.errors import ConfigurationError
from reelflow.settings import Settings, get_settings, load_settings

CHECK_TIMEOUT_S = 2.0
UNREACHABLE = {"db": "Postgres", "redis": "Redis", "blobs": "Blob store"}


async def check_db(settings: Settings) -> None:
    import asyncpg

    if not settings.db.url:
        raise ConfigurationError("DATABASE_URL is not set")
    from sqlalchemy.engine import make_url

    url = make_url(settings.db.url)
    conn = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.query.get("host") or url.host,
        port=url.port,
        database=url.database,
        ssl=url.query.get("ssl"),
        timeout=CHECK_TIMEOUT_S,
    )
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def check_redis(settings: Settings) -> None:
    import redis.asyncio as aioredis

    if not settings.redis.url:
        raise ConfigurationError("REDIS_URL is not set")
    client = aioredis.Redis.from_url(
        settings.redis.url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


async def check_blobs(settings: Settings) -> None:
    from reelflow.storage.blobs import S3BlobStore, get_blob_store

    store = get_blob_store()
    if isinstance(store, S3BlobStore):
        await store.ping()


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
            what = UNREACHABLE.get(name, name)
            errors[name] = f"{what} unreachable ({type(exc).__name__}: {exc})"[:300]

    probes = [run("db", check_db), run("redis", check_redis)]
    if settings.blob_url and settings.blob_url.startswith("s3://"):
        probes.append(run("blobs", check_blobs))
    await asyncio.gather(*probes)
    return {"ok": all(checks.values()), "checks": checks, "errors": errors}


class PooledReadiness:
    """`GET /readyz` for the web process: probes through the app's own pools (no new
    connections per call), each probe time-boxed, the report cached for `cache_s` so a
    burst of probes costs one round trip per second."""

    def __init__(self, redis_client: Any, *, probe_timeout_s: float, cache_s: float) -> None:
        self.redis = redis_client
        self.probe_timeout_s = probe_timeout_s
        self.cache_s = cache_s
        self._report: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def report(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._report is not None and now - self._at < self.cache_s:
            return self._report
        async with self._lock:  # one probe at a time; the others take its result
            if self._report is not None and time.monotonic() - self._at < self.cache_s:
                return self._report
            self._report = await self._probe()
            self._at = time.monotonic()
            return self._report

    async def _probe(self) -> dict[str, Any]:
        from sqlalchemy import text

        from reelflow.storage.db import get_engine

        async def db() -> None:
            async with get_engine().connect() as conn:
                await conn.execute(text("SELECT 1"))

        async def redis() -> None:
            await self.redis.ping()

        checks: dict[str, bool] = {"settings": True}
        errors: dict[str, str] = {}

        async def run(name: str, probe: Any) -> None:
            try:
                await asyncio.wait_for(probe(), self.probe_timeout_s)
                checks[name] = True
            except TimeoutError:
                checks[name] = False
                errors[name] = f"{UNREACHABLE.get(name, name)} unreachable (no answer within {self.probe_timeout_s} s)"
            except Exception as exc:  # noqa: BLE001 - a readiness probe reports every failure
                checks[name] = False
                errors[name] = f"{UNREACHABLE.get(name, name)} unreachable ({type(exc).__name__}: {exc})"[:300]

        async def blobs() -> None:
            await check_blobs(get_settings())

        probes = [run("db", db), run("redis", redis)]
        blob_url = get_settings().blob_url
        if blob_url and blob_url.startswith("s3://"):
            probes.append(run("blobs", blobs))
        await asyncio.gather(*probes)
        return {"ok": all(checks.values()), "checks": checks, "errors": errors}
