"""Daily platform quotas are counted in Postgres: a Redis flush does not reset them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from reelflow.adapters import ratelimit
from reelflow.adapters.ratelimit import DailyQuota, get_limiter
from reelflow.errors import QuotaExhausted
from reelflow.storage.repositories.quotas import PostgresQuotaCounter


@pytest.fixture
def counted(services: Any) -> Iterator[None]:
    previous = ratelimit.get_quota_counter()
    ratelimit.set_quota_counter(PostgresQuotaCounter())
    yield
    ratelimit.set_quota_counter(previous)


async def test_a_redis_flush_does_not_reset_the_quota(counted: None, redis_client: Any) -> None:
    quota = DailyQuota(f"tiktok_research:test-{uuid.uuid4().hex[:6]}:requests", 5)
    limiter = get_limiter()
    assert [await limiter.charge(quota) for _ in range(3)] == [1, 2, 3]
    await redis_client.flushdb()  # the cache is gone, the count is not
    assert await limiter.used(quota) == 3
    assert await limiter.charge(quota, 2) == 5
    with pytest.raises(QuotaExhausted) as info:
        await limiter.charge(quota)
    assert info.value.retry_after and info.value.retry_after > 0
    assert await limiter.used(quota) == 5
    assert await limiter.charge(quota, enforce=False) == 6  # records returned after the fact


async def test_concurrent_charges_never_pass_the_limit(counted: None) -> None:
    quota = DailyQuota(f"test-{uuid.uuid4().hex[:6]}", 10)
    limiter = get_limiter()
    results = await asyncio.gather(*(limiter.charge(quota) for _ in range(25)), return_exceptions=True)
    assert sum(1 for r in results if isinstance(r, int)) == 10
    assert sum(1 for r in results if isinstance(r, QuotaExhausted)) == 15
    assert await limiter.used(quota) == 10
