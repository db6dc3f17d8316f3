"""Operations: platform quota counters (the authoritative count; Redis only caches it)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, utcnow


class QuotaUsage(Base):
    """Units of a platform's daily quota used on one UTC day (e.g. TikTok Research requests)."""

    __tablename__ = "quota_usage"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
