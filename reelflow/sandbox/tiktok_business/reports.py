"""Sandbox TikTok Business: the Report API from simulated delivery."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Request, Response, get

from reelflow.sandbox import core
from reelflow.sandbox.tiktok_business.base import (
    API,
    CURRENCY_SCALE,
    PREFIX,
    BizError,
    BusinessState,
    Entity,
    _advertiser,
    _fmt,
    _json_param,
    _ok,
    _page,
    _parse_time,
    _require_token,
    advertiser_entities,
    state,
)
from reelflow.sandbox.tiktok_business.entities import _scheduled_days

_advertiser_entities = advertiser_entities

# --- reporting ----------------------------------------------------------------------------------------

_LEVEL_KIND = {"AUCTION_AD": "ad", "AUCTION_ADGROUP": "adgroup", "AUCTION_CAMPAIGN": "campaign",
               "AUCTION_ADVERTISER": "advertiser"}  # fmt: skip
_REPORT_METRICS = ["spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversion", "cost_per_conversion",
                   "conversion_rate", "reach", "video_play_actions", "video_watched_2s", "video_watched_6s",
                   "likes", "comments", "shares", "follows"]  # fmt: skip


@functools.lru_cache(maxsize=1 << 18)
def _unit(*parts: object) -> float:
    """A deterministic pseudo-random number in [0, 1) for the given key (memoised: a report
    asks for the same ad's and day's numbers once per page)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _enabled_seconds(chain: list[Entity], start: datetime, end: datetime) -> float:
    """Seconds in [start, end) during which every entity of the chain was ENABLE."""
    points = sorted({start, end, *(t for e in chain for t, _ in e.history if start < t < end)})
    total = 0.0
    for a, b in itertools.pairwise(points):
        if all(_status_at(e, a) == "ENABLE" for e in chain):
            total += (b - a).total_seconds()
    return total


def _status_at(entity: Entity, moment: datetime) -> str | None:
    status = None
    for at, value in entity.history:
        if at <= moment:
            status = value
        else:
            break
    return status


def _siblings(st: BusinessState, adgroup_id: str) -> int:
    """Ads in an ad group (counted once per entity count, not once per ad and day)."""
    key = len(st.entities)
    if st.counters.get("_siblings_at") != key:
        counts: dict[str, int] = {}
        for e in st.entities.values():
            if e.kind == "ad":
                group = str(e.fields.get("adgroup_id"))
                counts[group] = counts.get(group, 0) + 1
        _SIBLINGS.clear()
        _SIBLINGS.update(counts)
        st.counters["_siblings_at"] = key
    return _SIBLINGS.get(adgroup_id, 0)


_SIBLINGS: dict[str, int] = {}


@functools.lru_cache(maxsize=4096)
def _schedule_time(value: str, name: str) -> datetime:
    """`_parse_time` for the schedule strings of ad groups, parsed once (strptime was a fifth
    of a report's CPU: it ran once per ad and day)."""
    return _parse_time(value, name)


# Report rows of a query at one sandbox second: the pages of one report are cut from the
# same rows instead of recomputing every ad's delivery per page.
_REPORT_CACHE: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
# Buckets of the ended time slots of a report, per advertiser state (see `_report`).
_CLOSED_SLOTS: OrderedDict[
    tuple[Any, ...], tuple[dict[tuple[str, str], dict[str, float]], dict[tuple[str, str], dict[str, str]]]
] = OrderedDict()


def _ad_delivery(
    st: BusinessState, ad: Entity, start: datetime, end: datetime, now: datetime | None = None
) -> dict[str, float]:
    """Simulated delivery of one ad in [start, end) (capped at the sandbox's now: `now`, one
    clock reading for a whole report, or read here)."""
    end = min(end, now or st.now())
    if end <= start:
        return {}
    adgroup = st.entities[f"adgroup:{ad.fields['adgroup_id']}"]
    campaign = st.entities[f"campaign:{ad.fields['campaign_id']}"]
    sched_start = _schedule_time(str(adgroup.fields["schedule_start_time"]), "start")
    sched_end_raw = adgroup.fields.get("schedule_end_time")
    sched_end = _schedule_time(str(sched_end_raw), "end") if sched_end_raw else end
    start, end = max(start, sched_start), min(end, sched_end)
    if end <= start:
        return {}
    seconds = _enabled_seconds([campaign, adgroup, ad], start, end)
    if seconds <= 0:
        return {}
    budget = float(adgroup.fields.get("budget") or 0.0)
    if adgroup.fields["budget_mode"] == "BUDGET_MODE_TOTAL":
        budget /= _scheduled_days(sched_start, _schedule_time(str(sched_end_raw), "end") if sched_end_raw else None)
    elif adgroup.fields["budget_mode"] == "BUDGET_MODE_INFINITE":
        budget = float(campaign.fields.get("budget") or 50.0)
    siblings = _siblings(st, adgroup.id)
    day_key = start.date().isoformat()
    pacing = 0.6 + 0.35 * _unit(ad.id, day_key, "pace")
    spend = round(budget / max(1, siblings) * pacing * seconds / 86400, 2)
    scale = CURRENCY_SCALE.get(str(st.advertisers.get(ad.advertiser_id, {}).get("currency", "USD")), 1.0)
    cpm = (4.0 + 8.0 * _unit(ad.id, "cpm")) * scale
    impressions = int(spend / cpm * 1000)
    clicks = int(impressions * (0.005 + 0.015 * _unit(ad.id, "ctr")))
    conversions = int(clicks * (0.02 + 0.1 * _unit(ad.id, "cvr")))
    return {
        "spend": spend, "impressions": impressions, "clicks": clicks, "conversion": conversions,
        "reach": int(impressions * 0.82), "video_play_actions": int(impressions * 0.64),
        "video_watched_2s": int(impressions * 0.41), "video_watched_6s": int(impressions * 0.18),
        "likes": int(impressions * 0.03), "comments": int(impressions * 0.002),
        "shares": int(impressions * 0.004), "follows": int(impressions * 0.001),
    }  # fmt: skip


def _derive(totals: dict[str, float]) -> dict[str, str]:
    spend, impressions = totals.get("spend", 0.0), totals.get("impressions", 0.0)
    clicks, conversions = totals.get("clicks", 0.0), totals.get("conversion", 0.0)
    out = {
        "spend": f"{spend:.2f}",
        "ctr": f"{(clicks / impressions * 100) if impressions else 0:.2f}",
        "cpc": f"{(spend / clicks) if clicks else 0:.2f}",
        "cpm": f"{(spend / impressions * 1000) if impressions else 0:.2f}",
        "cost_per_conversion": f"{(spend / conversions) if conversions else 0:.2f}",
        "conversion_rate": f"{(conversions / clicks * 100) if clicks else 0:.2f}",
    }
    for key in ("impressions", "clicks", "conversion", "reach", "video_play_actions", "video_watched_2s",
                "video_watched_6s", "likes", "comments", "shares", "follows"):  # fmt: skip
        out[key] = str(int(totals.get(key, 0)))
    return out


@get(f"{PREFIX}{API}/report/integrated/get/", sync_to_thread=False)
def report_integrated(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    return _report(request, st, _require_token(request, st))


def _report(request: Request[Any, Any, Any], st: BusinessState, token: core.Token) -> Response[Any]:
    q = request.query_params
    advertiser = _advertiser(token, st, q.get("advertiser_id"))
    if q.get("report_type", "BASIC") != "BASIC":
        raise BizError(40009, "Only BASIC reports are supported in the sandbox.")
    level = q.get("data_level", "AUCTION_AD")
    if level not in _LEVEL_KIND:
        raise BizError(40002, "data_level: Invalid enum value.")
    dimensions = _json_param(request, "dimensions")
    if not isinstance(dimensions, list) or not dimensions:
        raise BizError(40002, "dimensions: Missing data for required field.")
    id_dims = [d for d in dimensions if d in {"ad_id", "adgroup_id", "campaign_id", "advertiser_id"}]
    time_dims = [d for d in dimensions if d in {"stat_time_day", "stat_time_hour"}]
    if len(id_dims) != 1 or len(time_dims) > 1 or len(id_dims) + len(time_dims) != len(dimensions):
        raise BizError(40002, "dimensions: One id dimension and at most one time dimension are supported.")
    if _LEVEL_KIND[level] != id_dims[0].removesuffix("_id"):
        raise BizError(40002, f"dimensions: {id_dims[0]} does not match data_level {level}.")
    metrics = _json_param(request, "metrics", ["spend", "impressions"])
    unknown = [m for m in metrics if m not in _REPORT_METRICS] if isinstance(metrics, list) else [metrics]
    if unknown:
        raise BizError(40002, f"metrics: Unknown metrics {unknown}.")
    try:
        first = date.fromisoformat(q.get("start_date", ""))
        last = date.fromisoformat(q.get("end_date", ""))
    except ValueError:
        raise BizError(40002, "start_date/end_date: Format must be YYYY-MM-DD.") from None
    span = (last - first).days + 1
    limit = {"stat_time_day": 30, "stat_time_hour": 1}.get(time_dims[0] if time_dims else "", 365)
    if span < 1 or span > limit:
        raise BizError(40002, f"The date range must be 1 to {limit} days for these dimensions.")
    filtering = _json_param(request, "filtering", []) or []
    wanted: dict[str, set[str]] = {}
    for item in filtering if isinstance(filtering, list) else []:
        if isinstance(item, dict) and item.get("filter_type") == "IN":
            values = item.get("filter_value")
            values = json.loads(values) if isinstance(values, str) else values
            wanted[str(item.get("field_name"))] = {str(v) for v in values or []}

    now = st.now()
    own = _advertiser_entities(st, advertiser)  # its report depends on its entities only
    cache_key = (
        advertiser,
        level,
        tuple(dimensions),
        tuple(metrics),
        first,
        last,
        json.dumps(wanted, default=sorted),
        int(now.timestamp()),
        len(st.entities),
        sum(len(e.history) for e in own),
    )
    cached = _REPORT_CACHE.get(cache_key)
    if cached is not None:
        return _ok(_page(cached, request))
    ads = [e for e in own if e.kind == "ad"]
    step = timedelta(hours=1) if time_dims == ["stat_time_hour"] else timedelta(days=1)
    window_start = datetime.combine(first, datetime.min.time(), UTC)
    window_end = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
    slots = []  # (start, end, time key) of every bucket of the window, formatted once
    moment = window_start
    while moment < window_end:
        slots.append((moment, moment + step, _fmt(moment) if time_dims else ""))
        moment += step

    def accumulate(into: dict[tuple[str, str], dict[str, float]], some: list[tuple[datetime, datetime, str]]) -> None:
        for ad in ads:
            if ad.status == "DELETE":  # deleted entities are excluded by default (STATUS_NOT_DELETE)
                continue
            group_id = advertiser if level == "AUCTION_ADVERTISER" else str(ad.fields[id_dims[0]])
            if any(str(ad.fields.get(name, "")) not in values for name, values in wanted.items()):
                continue
            for moment, nxt, time_key in some:
                delivered = _ad_delivery(st, ad, moment, nxt, now)
                if delivered:
                    bucket = into.setdefault((group_id, time_key), {})
                    for key, value in delivered.items():
                        bucket[key] = bucket.get(key, 0.0) + value

    buckets: dict[tuple[str, str], dict[str, float]] = {}
    derived_before: dict[tuple[str, str], dict[str, str]] = {}  # the ended slots' metrics, as strings
    closed = [slot for slot in slots if slot[1] <= now]
    if time_dims and closed:
        # A slot that has ended never changes unless the advertiser's entities do (added,
        # status history, budgets, schedules): its buckets are computed once and reused by
        # the report's other pages and later reports; only the open slot is computed anew.
        # (By time slot only: then closed and open buckets never mix, and the sums are the
        # ones the whole computation gives.)
        state_key = (
            len(st.entities),
            cache_key[-1],
            tuple(
                (e.id, e.fields.get("budget"), e.fields.get("budget_mode"), e.fields.get("schedule_start_time"),
                 e.fields.get("schedule_end_time"))
                for e in own
                if e.kind != "ad"
            ),
        )  # fmt: skip
        closed_key = (advertiser, level, tuple(dimensions), cache_key[6], closed[0][0], closed[-1][1], state_key)
        entry = _CLOSED_SLOTS.get(closed_key)
        if entry is None:
            done: dict[tuple[str, str], dict[str, float]] = {}
            accumulate(done, closed)
            entry = _CLOSED_SLOTS[closed_key] = (done, {key: _derive(totals) for key, totals in done.items()})
            while len(_CLOSED_SLOTS) > 32:
                _CLOSED_SLOTS.popitem(last=False)
        else:
            _CLOSED_SLOTS.move_to_end(closed_key)
        buckets.update(entry[0])  # their dicts are only read from here on
        derived_before = entry[1]
        accumulate(buckets, [slot for slot in slots if slot[1] > now])
    else:
        accumulate(buckets, slots)
    rows = []
    for (group_id, time_key), totals in sorted(buckets.items()):
        derived = derived_before.get((group_id, time_key)) or _derive(totals)
        dims = {id_dims[0]: group_id}
        if time_dims:
            dims[time_dims[0]] = time_key
        rows.append({"dimensions": dims, "metrics": {m: derived[m] for m in metrics}})
    if len(_REPORT_CACHE) > 64:
        _REPORT_CACHE.clear()
    _REPORT_CACHE[cache_key] = rows
    return _ok(_page(rows, request))
