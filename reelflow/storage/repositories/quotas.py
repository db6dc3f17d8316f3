"""Platform quota counters in Postgres: one row per quota per UTC day, charged atomically."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, text

from reelflow.storage.db import session_scope
from reelflow.storage.models.ops import QuotaUsage

_CHARGE = text(
    """
    INSERT INTO quota_usage (name, day, used, updated_at) VALUES (:name, :day, :cost, now())
    ON CONFLICT (name, day) DO UPDATE SET used = quota_usage.used + :cost, updated_at = now()
    WHERE NOT :enforce OR quota_usage.used + :cost <= :limit
    RETURNING used
    """
)


class PostgresQuotaCounter:
    """The authoritative daily count (`reelflow.adapters.ratelimit.QuotaCounter`)."""

    async def charge(self, name: str, day: date, cost: int, limit: int, *, enforce: bool) -> tuple[bool, int]:
        """Add `cost` unless that passes `limit` (when enforcing): (charged, used after)."""
        async with session_scope() as session:
            if enforce and cost > limit:
                used = await self._used(session, name, day)
                return False, used
            row = (
                await session.execute(
                    _CHARGE, {"name": name, "day": day, "cost": cost, "limit": limit, "enforce": enforce}
                )
            ).first()
            if row is not None:
                return True, int(row[0])
            return False, await self._used(session, name, day)

    async def used(self, name: str, day: date) -> int:
        async with session_scope() as session:
            return await self._used(session, name, day)

    @staticmethod
    async def _used(session: object, name: str, day: date) -> int:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        stmt = select(QuotaUsage.used).where(QuotaUsage.name == name, QuotaUsage.day == day)
        return int((await session.execute(stmt)).scalar_one_or_none() or 0)
