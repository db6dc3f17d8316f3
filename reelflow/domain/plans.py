"""Plans and their monthly limits (a code-defined catalogue), and the usage period rules.

The catalogue lives in code rather than a table: there are three plans, they change with a
release (prices and limits are product decisions reviewed like code), and every process
reads the same values without a query. A workspace's `plan` column names its plan.

Usage is counted per workspace per calendar month (UTC) and per metric; the storage layer
applies a charge atomically (`UPDATE ... WHERE used + n <= limit RETURNING used`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

from reelflow.errors import InvalidInput, LimitExceeded

# Metrics counted per month.
SOURCE_MINUTES = "source_minutes"
CLIPS = "clips"
PROJECTS = "projects"
DISCOVERY_CREATORS = "discovery_creators"  # creators a workspace's searches may find a month
METRICS = (SOURCE_MINUTES, CLIPS, PROJECTS, DISCOVERY_CREATORS)


@dataclass(frozen=True)
class Plan:
    name: str
    source_minutes_per_month: int
    clips_per_month: int
    projects_per_month: int
    max_source_minutes: int  # the longest single source video accepted
    discovery_creators_per_month: int = 500
    discovery_concurrent_searches: int = 2  # searches pending or processing at once

    def limit(self, metric: str) -> int:
        if metric == SOURCE_MINUTES:
            return self.source_minutes_per_month
        if metric == CLIPS:
            return self.clips_per_month
        if metric == PROJECTS:
            return self.projects_per_month
        if metric == DISCOVERY_CREATORS:
            return self.discovery_creators_per_month
        raise InvalidInput(f"unknown usage metric {metric!r}", field="metric")


PLANS: dict[str, Plan] = {
    "free": Plan(
        "free",
        source_minutes_per_month=60,
        clips_per_month=30,
        projects_per_month=10,
        max_source_minutes=30,
        discovery_creators_per_month=500,
        discovery_concurrent_searches=2,
    ),
    "starter": Plan(
        "starter",
        source_minutes_per_month=600,
        clips_per_month=300,
        projects_per_month=100,
        max_source_minutes=120,
        discovery_creators_per_month=10_000,
        discovery_concurrent_searches=5,
    ),
    "pro": Plan(
        "pro",
        source_minutes_per_month=6000,
        clips_per_month=3000,
        projects_per_month=1000,
        max_source_minutes=300,
        discovery_creators_per_month=100_000,
        discovery_concurrent_searches=50,
    ),
}


def get_plan(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise InvalidInput(f"unknown plan {name!r}", field="plan") from None


def period_start(at: datetime) -> date:
    """The usage period (calendar month, UTC) that `at` falls in, named by its first day."""
    at = at.astimezone(UTC)
    return date(at.year, at.month, 1)


def period_end(start: date) -> datetime:
    """When the period starting at `start` resets (the first instant of the next month, UTC)."""
    if start.month == 12:
        return datetime(start.year + 1, 1, 1, tzinfo=UTC)
    return datetime(start.year, start.month + 1, 1, tzinfo=UTC)


def source_minutes(duration_s: float) -> int:
    """Minutes charged for a source: started minutes, at least one."""
    return max(1, math.ceil(duration_s / 60.0 - 1e-9))


def check_source_length(plan: Plan, duration_s: float) -> None:
    """A single source longer than the plan allows is refused (not charged)."""
    if duration_s > plan.max_source_minutes * 60:
        raise LimitExceeded(
            f"the source is {duration_s / 60:.1f} min long; the {plan.name} plan accepts sources "
            f"up to {plan.max_source_minutes} min",
            limit="max_source_minutes",
        )


def limit_exceeded(plan: Plan, metric: str, *, wanted: int, used: int, start: date) -> LimitExceeded:
    """The error for a charge that would go over `metric`'s monthly limit."""
    limit = plan.limit(metric)
    left = max(0, limit - used)
    label = metric.replace("_", " ")
    return LimitExceeded(
        f"the {plan.name} plan allows {limit} {label} a month; {left} left, {wanted} needed "
        f"(resets {period_end(start):%Y-%m-%d})",
        limit=metric,
        resets_at=period_end(start),
    )


def refund_for_failure(*, transcribed: bool, minutes_charged: int | None, clips_charged: int | None) -> dict[str, int]:
    """Usage counts only work that completed. A project that fails (an import that never
    arrived, an upload rejected or expired, a pipeline that delivered no clip) gives back its
    project unit and its clips, and its source minutes unless the source was transcribed."""
    refund = {PROJECTS: 1}
    if not transcribed and minutes_charged:
        refund[SOURCE_MINUTES] = minutes_charged
    if clips_charged:
        refund[CLIPS] = clips_charged
    return refund
