"""Client-side rate limits and daily quotas, shared by every process through Redis.

- `RateLimit(name, rate, burst)`: a token bucket (Lua script, one round trip). A request
  that must wait reserves its token and sleeps until it is due, so concurrent callers
  queue fairly; a wait longer than `max_wait` reserves nothing and raises
  `errors.Retryable(retry_after=...)` for the job runtime to schedule.
- `DailyQuota(name, limit)`: a counter per UTC day (the TikTok quotas reset at 00:00 UTC).
  The authoritative count lives in Postgres when a `QuotaCounter` is installed (workers and
  flows install one at start: `set_quota_counter`), so flushing Redis cannot reset it and
  make the product overspend the platform's quota; Redis then only caches the count. A quota
  that cannot be checked (Postgres away) is not spent: `Retryable`.

Without a Redis URL in settings (a bench, a script) the same algorithms run in process memory.
Bucket names must never contain tokens: use `account_key(token)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from reelflow.errors import QuotaExhausted, Retryable
from reelflow.settings import get_settings

KEY_PREFIX = "reelflow:ratelimit:"

_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then
  tokens = cap
  ts = now
end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens < cost then
  wait = (cost - tokens) / rate
end
if wait > max_wait then
  return tostring(-wait)
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate + wait) + 60)
return tostring(wait)
"""

_QUOTA_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if ARGV[4] == '1' and used + cost > limit then
  return -1 - used
end
used = redis.call('INCRBY', KEYS[1], cost)
redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[3]))
return used
"""


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `rate` tokens per second, at most `burst` saved up."""

    name: str
    rate: float
    burst: float = 1.0

    @classmethod
    def per_minute(cls, name: str, count: float, burst: float | None = None) -> RateLimit:
        return cls(name, count / 60.0, burst if burst is not None else max(1.0, count / 10.0))

    @classmethod
    def per_second(cls, name: str, count: float, burst: float | None = None) -> RateLimit:
        return cls(name, count, burst if burst is not None else max(1.0, count))

    @classmethod
    def within_window(cls, name: str, requests: float, window_s: float = 1.0, *, margin: float = 0.1) -> RateLimit:
        """A bucket that stays under a platform's sliding-window limit (`requests` per `window_s`).

        A bucket with burst `b` and rate `r` lets `b + r·w` requests through in a window of
        `w` seconds, so `per_second(5)` (burst 5) sends up to 10 in one second against a
        "5 per second" window and gets 429s. Burst 1 and `r = (requests − 1) / window_s`
        never exceed the window; `margin` (a fraction) leaves room for the jitter between
        the moment a token is taken here and the moment the request reaches the platform.
        """
        if requests <= 0 or window_s <= 0:
            raise ValueError("requests and window_s must be positive")
        rate = max(requests - 1.0, 0.5) / window_s * (1.0 - margin)
        return cls(name, rate, 1.0)


@dataclass(frozen=True)
class DailyQuota:
    """At most `limit` units per UTC day (requests, or records returned)."""

    name: str
    limit: int


def account_key(secret: str) -> str:
    """A stable, non-reversible key for an account or token (never put tokens in keys)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


class QuotaCounter(Protocol):
    """Where daily quota counts are kept for good (Postgres; see storage/repositories/quotas.py)."""

    async def charge(self, name: str, day: date, cost: int, limit: int, *, enforce: bool) -> tuple[bool, int]: ...

    async def used(self, name: str, day: date) -> int: ...


_quota_counter: QuotaCounter | None = None


def set_quota_counter(counter: QuotaCounter | None) -> None:
    """Install the authoritative quota counter for this process (composition point)."""
    global _quota_counter
    _quota_counter = counter


def get_quota_counter() -> QuotaCounter | None:
    return _quota_counter


async def _charge_counter(counter: QuotaCounter, quota: DailyQuota, cost: int, enforce: bool, now: datetime) -> int:
    try:
        charged, used = await counter.charge(quota.name, now.date(), cost, quota.limit, enforce=enforce)
    except Exception as exc:
        raise Retryable(f"quota {quota.name} cannot be checked now ({type(exc).__name__})", retry_after=5) from exc
    if not charged:
        raise _exhausted(quota, used, now)
    return used


class Limiter(Protocol):
    async def acquire(self, limit: RateLimit, *, max_wait: float, cost: float = 1.0) -> float: ...

    async def charge(self, quota: DailyQuota, cost: int = 1, *, enforce: bool = True) -> int: ...

    async def used(self, quota: DailyQuota) -> int: ...


def _quota_key(quota: DailyQuota, now: datetime) -> str:
    return f"{KEY_PREFIX}quota:{quota.name}:{now:%Y%m%d}"


def _exhausted(quota: DailyQuota, used: int, now: datetime) -> QuotaExhausted:
    resets = next_utc_midnight(now)
    return QuotaExhausted(
        f"daily quota {quota.name} used up ({used}/{quota.limit})",
        limit=quota.name,
        used=used,
        resets_at=resets,
        retry_after=(resets - now).total_seconds(),
    )


def _too_long(limit: RateLimit, wait: float) -> Retryable:
    return Retryable(f"rate limit {limit.name}: next slot in {wait:.1f} s", retry_after=wait, limit=limit.name)


class RedisLimiter:
    """Token buckets and quotas in Redis, shared by every worker and web process."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.Redis.from_url(url)
        self._bucket = self._redis.register_script(_BUCKET_LUA)
        self._quota = self._redis.register_script(_QUOTA_LUA)

    async def acquire(self, limit: RateLimit, *, max_wait: float, cost: float = 1.0) -> float:
        raw = await self._bucket(keys=[KEY_PREFIX + limit.name], args=[limit.rate, limit.burst, cost, max_wait])
        wait = float(raw)
        if wait < 0:
            raise _too_long(limit, -wait)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def charge(self, quota: DailyQuota, cost: int = 1, *, enforce: bool = True) -> int:
        now = datetime.now(UTC)
        expire_at = int(next_utc_midnight(now).timestamp()) + 3600
        counter = _quota_counter
        if counter is not None:
            try:
                used = await _charge_counter(counter, quota, cost, enforce, now)
            except QuotaExhausted as exc:
                await self._cache(quota, now, int(exc.extra.get("used", quota.limit)), expire_at)
                raise
            await self._cache(quota, now, used, expire_at)
            return used
        used = int(
            await self._quota(
                keys=[_quota_key(quota, now)], args=[cost, quota.limit, expire_at, "1" if enforce else "0"]
            )
        )
        if used < 0:
            raise _exhausted(quota, -1 - used, now)
        return used

    async def _cache(self, quota: DailyQuota, now: datetime, used: int, expire_at: int) -> None:
        import redis

        try:
            await self._redis.set(_quota_key(quota, now), used, exat=expire_at)
        except redis.RedisError:
            pass  # only a cache

    async def used(self, quota: DailyQuota) -> int:
        now = datetime.now(UTC)
        counter = _quota_counter
        if counter is not None:
            try:
                return await counter.used(quota.name, now.date())
            except Exception:  # noqa: BLE001 - fall back to the cached count
                pass
        raw = await self._redis.get(_quota_key(quota, now))
        return int(raw or 0)

    async def aclose(self) -> None:
        await self._redis.aclose()


class MemoryLimiter:
    """The same algorithms in process memory (no Redis configured)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._quotas: dict[str, int] = {}

    async def acquire(self, limit: RateLimit, *, max_wait: float, cost: float = 1.0) -> float:
        with self._lock:
            now = time.monotonic()
            tokens, ts = self._buckets.get(limit.name, (limit.burst, now))
            tokens = min(limit.burst, tokens + max(0.0, now - ts) * limit.rate)
            wait = (cost - tokens) / limit.rate if tokens < cost else 0.0
            if wait > max_wait:
                raise _too_long(limit, wait)
            self._buckets[limit.name] = (tokens - cost, now)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def charge(self, quota: DailyQuota, cost: int = 1, *, enforce: bool = True) -> int:
        now = datetime.now(UTC)
        key = _quota_key(quota, now)
        if _quota_counter is not None:
            used = await _charge_counter(_quota_counter, quota, cost, enforce, now)
            with self._lock:
                self._quotas[key] = used
            return used
        with self._lock:
            used = self._quotas.get(key, 0)
            if enforce and used + cost > quota.limit:
                raise _exhausted(quota, used, now)
            self._quotas[key] = used + cost
            return used + cost

    async def used(self, quota: DailyQuota) -> int:
        if _quota_counter is not None:
            return await _quota_counter.used(quota.name, datetime.now(UTC).date())
        return self._quotas.get(_quota_key(quota, datetime.now(UTC)), 0)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._quotas.clear()


_memory = MemoryLimiter()
_redis_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, RedisLimiter]] = (
    weakref.WeakKeyDictionary()
)


def get_limiter() -> Limiter:
    """The limiter for this event loop: Redis when configured, else process memory."""
    url = get_settings().redis.url
    if not url:
        return _memory
    loop = asyncio.get_running_loop()
    per_loop = _redis_limiters.setdefault(loop, {})
    limiter = per_loop.get(url)
    if limiter is None:
        limiter = per_loop[url] = RedisLimiter(url)
    return limiter


async def close_limiters() -> None:
    """Close this event loop's Redis connections (at the end of a loop's life)."""
    per_loop = _redis_limiters.pop(asyncio.get_running_loop(), {})
    for limiter in per_loop.values():
        await limiter.aclose()


def reset_memory_limiter() -> None:
    """Forget in-memory buckets and quotas (tests; Redis ones go with FLUSHDB)."""
    _memory.reset()
