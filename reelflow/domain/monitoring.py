"""Monitoring judgement, no I/O: rule validation, velocity, tiers with hysteresis, forecasts, accuracy.

Times are plain floats (unix seconds) or hours so the functions stay pure and cheap: the
engagement refresh calls them for 100,000 videos per run.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from reelflow.errors import InvalidInput

# --- rules ------------------------------------------------------------------------------

RULE_KINDS = ("keyword", "hashtag", "user", "combined")
SIMPLE_KINDS = ("keyword", "hashtag", "user")
# Research API condition field per simple kind.
CONDITION_FIELD = {"keyword": "keyword", "hashtag": "hashtag_name", "user": "username"}
MAX_VALUES = 20
MAX_INTERVAL_MINUTES = 7 * 24 * 60

_HASHTAG = re.compile(r"^\w{1,100}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.]{2,24}$")
_REGION = re.compile(r"^[A-Z]{2}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")

Operation = Literal["EQ", "IN"]


@dataclass(frozen=True)
class Condition:
    """One Research-API style condition: `field_name operation field_values`."""

    field_name: str
    operation: str
    field_values: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"field_name": self.field_name, "operation": self.operation, "field_values": list(self.field_values)}


@dataclass(frozen=True)
class PlatformQuery:
    """A platform query: every `and` holds, at least one `or` holds, no `not` holds."""

    and_: tuple[Condition, ...] = ()
    or_: tuple[Condition, ...] = ()
    not_: tuple[Condition, ...] = ()

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for key, conditions in (("and", self.and_), ("or", self.or_), ("not", self.not_)):
            if conditions:
                out[key] = [c.as_dict() for c in conditions]
        return out


@dataclass(frozen=True)
class RuleSpec:
    """A validated rule definition (what is stored; `query` is derived from it)."""

    kind: str
    values: tuple[str, ...] = ()
    combined: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = field(default_factory=dict)
    region: str | None = None
    language: str | None = None

    def definition(self) -> dict[str, Any]:
        """JSON-safe form for storage and API responses."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "combined":
            out["combined"] = {
                op: [{"kind": k, "values": list(v)} for k, v in parts] for op, parts in self.combined.items() if parts
            }
        else:
            out["values"] = list(self.values)
        return out


def _normalise_values(kind: str, values: Any, field_name: str) -> tuple[str, ...]:
    if not isinstance(values, list | tuple) or not values:
        raise InvalidInput("at least one value is required", field=field_name)
    if len(values) > MAX_VALUES:
        raise InvalidInput(f"at most {MAX_VALUES} values", field=field_name)
    out: list[str] = []
    for index, raw in enumerate(values):
        where = f"{field_name}[{index}]"
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput("must be a non-empty string", field=where)
        value = raw.strip()
        if kind == "keyword":
            if len(value) > 100:
                raise InvalidInput("a keyword is at most 100 characters", field=where)
        elif kind == "hashtag":
            value = value.removeprefix("#").lower()
            if not _HASHTAG.match(value):
                raise InvalidInput("a hashtag is letters, digits and underscores (1-100), no spaces", field=where)
        elif kind == "user":
            value = value.removeprefix("@")
            if not _USERNAME.match(value):
                raise InvalidInput("a username is 2-24 letters, digits, '_' or '.'", field=where)
        if value not in out:
            out.append(value)
    return tuple(out)


def validate_rule(
    *,
    kind: str,
    values: Sequence[str] | None,
    combined: Mapping[str, Any] | None,
    region: str | None,
    language: str | None,
) -> RuleSpec:
    """Check a rule's definition; raise InvalidInput naming the bad field."""
    if kind not in RULE_KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; expected one of {', '.join(RULE_KINDS)}", field="kind")
    if region is not None and not _REGION.match(region.upper()):
        raise InvalidInput("a region is a 2-letter country code such as US", field="region")
    if language is not None and not _LANGUAGE.match(language.lower()):
        raise InvalidInput("a language is a 2-letter ISO 639-1 code such as en", field="language")
    region = region.upper() if region else None
    language = language.lower() if language else None
    if kind != "combined":
        if combined:
            raise InvalidInput("only a combined rule has conditions", field="combined")
        return RuleSpec(kind, _normalise_values(kind, values, "values"), region=region, language=language)
    if values:
        raise InvalidInput("a combined rule has conditions, not values", field="values")
    if not isinstance(combined, Mapping) or not combined:
        raise InvalidInput("a combined rule needs and/or/not conditions", field="combined")
    parts: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
    for op, items in combined.items():
        if op not in ("and", "or", "not"):
            raise InvalidInput(f"unknown operator {op!r}; use and, or, not", field=f"combined.{op}")
        if not isinstance(items, list | tuple):
            raise InvalidInput("must be a list of conditions", field=f"combined.{op}")
        checked = []
        for index, item in enumerate(items):
            where = f"combined.{op}[{index}]"
            if not isinstance(item, Mapping):
                raise InvalidInput("a condition is {kind, values}", field=where)
            sub_kind = item.get("kind")
            if sub_kind not in SIMPLE_KINDS:
                raise InvalidInput(f"a condition's kind is one of {', '.join(SIMPLE_KINDS)}", field=f"{where}.kind")
            checked.append((str(sub_kind), _normalise_values(str(sub_kind), item.get("values"), f"{where}.values")))
        parts[op] = tuple(checked)
    if not parts.get("and") and not parts.get("or"):
        # The platform needs something positive to search for; `not` alone matches everything.
        raise InvalidInput("a combined rule needs at least one 'and' or 'or' condition", field="combined")
    return RuleSpec("combined", combined=parts, region=region, language=language)


def spec_from_definition(
    definition: Mapping[str, Any], region: str | None = None, language: str | None = None
) -> RuleSpec:
    return validate_rule(
        kind=str(definition.get("kind")),
        values=definition.get("values"),
        combined=definition.get("combined"),
        region=region,
        language=language,
    )


def check_interval(minutes: int, minimum: int) -> int:
    if minutes < minimum:
        raise InvalidInput(f"the polling interval is at least {minimum} minutes", field="interval_minutes")
    if minutes > MAX_INTERVAL_MINUTES:
        raise InvalidInput(f"the polling interval is at most {MAX_INTERVAL_MINUTES} minutes", field="interval_minutes")
    return minutes


def build_query(spec: RuleSpec) -> PlatformQuery:
    """The platform query for a rule: one IN condition per value list, region as an extra `and`."""

    def cond(kind: str, values: tuple[str, ...]) -> Condition:
        return Condition(CONDITION_FIELD[kind], "IN" if len(values) > 1 else "EQ", values)

    and_: list[Condition] = []
    or_: list[Condition] = []
    not_: list[Condition] = []
    if spec.kind == "combined":
        and_ += [cond(k, v) for k, v in spec.combined.get("and", ())]
        or_ += [cond(k, v) for k, v in spec.combined.get("or", ())]
        not_ += [cond(k, v) for k, v in spec.combined.get("not", ())]
    else:
        and_.append(cond(spec.kind, spec.values))
    if spec.region:
        and_.append(Condition("region_code", "EQ", (spec.region,)))
    return PlatformQuery(tuple(and_), tuple(or_), tuple(not_))


def query_of_definition(
    definition: Mapping[str, Any], region: str | None, language: str | None
) -> dict[str, list[dict[str, Any]]]:
    """`build_query(spec_from_definition(...)).as_dict()` for a stored definition, memoised:
    list pages show the same stored definitions again and again. The dict is shared between
    callers: read it (serialise it), never change it."""
    return _query_of(msgspec.json.encode(definition, order="sorted"), region, language)


@functools.lru_cache(maxsize=4096)
def _query_of(definition_json: bytes, region: str | None, language: str | None) -> dict[str, list[dict[str, Any]]]:
    return build_query(spec_from_definition(msgspec.json.decode(definition_json), region, language)).as_dict()


# --- velocity ---------------------------------------------------------------------------

Point = tuple[float, int]  # (unix seconds, views)
VELOCITY_WINDOW = 6  # snapshots: about the last hour for ultra-hot videos, six for cold ones


def _ascending(points: Iterable[Point]) -> list[Point]:
    # Sort by time first: history often arrives newest-first, and deltas in that order are
    # negative velocities (the Gorgone bug noted in research §7).
    by_time: dict[float, int] = {}
    for t, views in points:
        by_time[t] = views
    return sorted(by_time.items())


def velocity(points: Iterable[Point], window: int = VELOCITY_WINDOW) -> float | None:
    """Views per hour over the last `window` snapshots (Σ delta / Σ hours); None under two."""
    pts = _ascending(points)[-window:]
    if len(pts) < 2:
        return None
    hours = (pts[-1][0] - pts[0][0]) / 3600.0
    if hours <= 0:
        return None
    return max(0.0, (pts[-1][1] - pts[0][1]) / hours)


def acceleration(points: Iterable[Point], window: int = VELOCITY_WINDOW) -> float | None:
    """Trend of velocity in views/hour², least squares over interval velocities; None under three."""
    pts = _ascending(points)[-window:]
    samples: list[tuple[float, float]] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(pts):
        hours = (t1 - t0) / 3600.0
        if hours > 0:
            samples.append(((t0 + t1) / 7200.0, (v1 - v0) / hours))
    if len(samples) < 2:
        return None
    mean_t = sum(s[0] for s in samples) / len(samples)
    mean_v = sum(s[1] for s in samples) / len(samples)
    var = sum((s[0] - mean_t) ** 2 for s in samples)
    if var <= 0:
        return None
    return sum((s[0] - mean_t) * (s[1] - mean_v) for s in samples) / var


def prior_velocity(views: int, age_hours: float) -> float:
    """With one observation, the lifetime average (views / age) is the best guess."""
    return max(0.0, views / max(age_hours, 0.25))


# --- tiers ------------------------------------------------------------------------------

TIERS = ("archived", "cold", "warm", "hot", "ultra_hot")  # by rank, lowest first
ACTIVE_TIERS = TIERS[1:]
_RANK = {tier: rank for rank, tier in enumerate(TIERS)}


@dataclass(frozen=True)
class TierPolicy:
    """Thresholds and cadences (from settings; defaults justified in docs/monitoring.md)."""

    ultra_hot_velocity: float = 5000.0
    hot_velocity: float = 1000.0
    warm_velocity: float = 100.0
    hysteresis: float = 0.2
    ultra_hot_max_age_hours: float = 1.0
    hot_max_age_hours: float = 4.0
    warm_max_age_hours: float = 12.0
    archive_after_hours: float = 168.0
    archive_velocity: float = 5.0
    cadence_minutes: Mapping[str, int] = field(
        default_factory=lambda: {"ultra_hot": 30, "hot": 60, "warm": 180, "cold": 720}
    )

    def cadence_seconds(self, tier: str) -> float | None:
        """Seconds until the next check in `tier`; None for archived (not checked again)."""
        minutes = self.cadence_minutes.get(tier)
        return None if minutes is None else minutes * 60.0


def age_tier(age_hours: float, policy: TierPolicy) -> str:
    """Young videos surge first (research §7), so age alone keeps them checked often."""
    if age_hours < policy.ultra_hot_max_age_hours:
        return "ultra_hot"
    if age_hours < policy.hot_max_age_hours:
        return "hot"
    if age_hours < policy.warm_max_age_hours:
        return "warm"
    return "cold"


def velocity_tier(views_per_hour: float, current: str, policy: TierPolicy) -> str:
    """The tier the velocity earns: entering needs the threshold, staying only threshold × (1 − hysteresis)."""
    for tier, threshold in (
        ("ultra_hot", policy.ultra_hot_velocity),
        ("hot", policy.hot_velocity),
        ("warm", policy.warm_velocity),
    ):
        needed = threshold * (1.0 - policy.hysteresis) if _RANK.get(current, 0) >= _RANK[tier] else threshold
        if views_per_hour >= needed:
            return tier
    return "cold"


def next_tier(current: str, views_per_hour: float | None, age_hours: float, policy: TierPolicy) -> str:
    """max(age tier, velocity tier), with hysteresis; old and slow cold videos are archived."""
    by_age = age_tier(age_hours, policy)
    if views_per_hour is None:
        return by_age if _RANK[by_age] >= _RANK.get(current, 0) else current
    by_velocity = velocity_tier(views_per_hour, current, policy)
    tier = by_age if _RANK[by_age] > _RANK[by_velocity] else by_velocity
    if tier == "cold" and age_hours >= policy.archive_after_hours and views_per_hour < policy.archive_velocity:
        return "archived"
    return tier


def tier_rank(tier: str) -> int:
    return _RANK[tier]


# --- forecasts --------------------------------------------------------------------------

HORIZONS = (1, 2, 3)
FORECAST_MODEL = "velocity_trend_v1"
# Without a measured trend, assume power-law decay v(t) ∝ 1/(age + c): dv/dt = −v/(age + c).
DECAY_OFFSET_HOURS = 2.0
MAX_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Forecast:
    horizon_hours: int
    views: int
    confidence: float


def views_gained(v: float, a: float, hours: float) -> float:
    """∫₀ʰ max(0, v + a·t) dt: velocity changes linearly and never goes below zero."""
    if hours <= 0 or (v <= 0 and a <= 0):
        return 0.0
    if a >= 0:
        return v * hours + a * hours * hours / 2.0
    stop = v / -a
    if hours <= stop:
        return v * hours + a * hours * hours / 2.0
    return v * v / (2.0 * -a)


def effective_trend(v: float, measured: float | None, age_hours: float) -> float:
    """The acceleration a forecast uses: the measured one, clamped to ±50 %/h of v, else age decay."""
    if measured is None or not math.isfinite(measured):
        return -v / (max(age_hours, 0.0) + DECAY_OFFSET_HOURS)
    return max(-v, min(0.5 * v, measured))


def forecast(
    current_views: int,
    views_per_hour: float,
    trend: float | None,
    age_hours: float,
    snapshots: int,
    horizons: Sequence[int] = HORIZONS,
) -> list[Forecast]:
    """Views `h` hours ahead from velocity and its trend, with a confidence in [0, 0.9].

    Confidence grows with the snapshots behind the velocity (6 for full weight, as in the
    research), shrinks with the horizon and with how fast velocity is changing.
    """
    v = max(0.0, views_per_hour)
    a = effective_trend(v, trend, age_hours)
    base = min(MAX_CONFIDENCE, max(snapshots, 1) / 6.0)
    stability = 1.0 - 0.5 * min(1.0, abs(a) / max(v, 1.0))
    out = []
    for h in horizons:
        predicted = max(current_views, round(current_views + views_gained(v, a, float(h))))
        confidence = base * stability * max(0.1, 1.0 - 0.15 * (h - 1))
        out.append(Forecast(h, int(predicted), round(min(MAX_CONFIDENCE, confidence), 3)))
    return out


# --- accuracy ---------------------------------------------------------------------------


def views_at(target: float, before: Point, after: Point) -> int:
    """Views at `target` by linear interpolation between two snapshots (clamped to them)."""
    (t0, v0), (t1, v1) = sorted((before, after))
    if t1 <= t0:
        return v1
    fraction = min(1.0, max(0.0, (target - t0) / (t1 - t0)))
    return round(v0 + (v1 - v0) * fraction)


def absolute_percentage_error(predicted: int, actual: int) -> float:
    """|predicted − actual| / actual (actual floored at 1 so a zero-view video does not divide by 0)."""
    return abs(predicted - actual) / max(actual, 1)


def mape(errors: Iterable[float]) -> float | None:
    """Mean absolute percentage error in percent; None without data."""
    values = list(errors)
    if not values:
        return None
    return 100.0 * sum(values) / len(values)
