"""Ads autopilot: an account's state from its metrics history and the platform, and the
decision (the deterministic policy, or the LLM's proposal checked by the same guard rails)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from reelflow.adapters.protocols import ActionProposer
from reelflow.domain import ads as ads_domain
from reelflow.domain import autopilot as domain
from reelflow.services.ads_base import (
    AdsFactory,
    _zone,
    platform_for,
)
from reelflow.settings import Settings, get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.ads import AdAccount
from reelflow.storage.repositories.ads import AdsRepository
from reelflow.storage.repositories.autopilot import AutopilotRepository


def thresholds(settings: Settings | None = None) -> domain.Thresholds:
    return domain.Thresholds.from_mapping((settings or get_settings()).autopilot.model_dump())


# --- the account's state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountState:
    groups: list[domain.AdGroupState]
    inputs: dict[str, Any]
    # The platform's view of each ad group and ad (id → its record), read for this decision:
    # the "before" of the actions applied right after it (`known_before`).
    entities: dict[str, Any]

    def known_before(self, targets: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The targets' records as JSON-safe dicts (only those: an account has hundreds)."""
        return {t: msgspec.to_builtins(self.entities[t]) for t in targets if t in self.entities}


def _days(rows: Sequence[Any]) -> dict[str, list[domain.DayMetrics]]:
    out: dict[str, list[domain.DayMetrics]] = {}
    for r in rows:
        out.setdefault(r.ad_id, []).append(
            domain.DayMetrics(
                day=r.day,
                spend_minor=int(r.spend_minor or 0),
                impressions=int(r.impressions or 0),
                clicks=int(r.clicks or 0),
                leads=int(r.leads or 0),
                video_views=int(r.video_views or 0),
                views_2s=int(r.views_2s or 0),
            )
        )
    return out


def _sum_days(histories: Sequence[Sequence[domain.DayMetrics]]) -> tuple[domain.DayMetrics, ...]:
    """An ad group's history: its ads' days summed per day, in day order. One ad (the common
    case): its history as it is (one row per day, already in day order from the query)."""
    if len(histories) == 1:
        return tuple(histories[0])
    by_day: dict[date, list[int]] = {}
    for history in histories:
        for d in history:
            sums = by_day.get(d.day)
            if sums is None:
                by_day[d.day] = [d.spend_minor, d.impressions, d.clicks, d.leads, d.video_views, d.views_2s]
            else:
                sums[0] += d.spend_minor
                sums[1] += d.impressions
                sums[2] += d.clicks
                sums[3] += d.leads
                sums[4] += d.video_views
                sums[5] += d.views_2s
    return tuple(
        domain.DayMetrics(
            day=day,
            spend_minor=v[0],
            impressions=v[1],
            clicks=v[2],
            leads=v[3],
            video_views=v[4],
            views_2s=v[5],
        )
        for day, v in sorted(by_day.items())
    )


async def load_state(
    account: AdAccount, *, ads_factory: AdsFactory, today: date, now: datetime, t: domain.Thresholds
) -> AccountState:
    """The account's ad groups and ads as the platform has them now (status, budget, which ad
    is in which group), joined to the directions (target CPL) and the metrics history, with
    the people's edits of the last `human_cooldown_hours` and the day's starting budgets."""
    async with session_scope() as session:
        ads_repo = AdsRepository(session)
        repo = AutopilotRepository(session)
        directions = [
            d
            for d in await ads_repo.list_directions(account.workspace_id, account_id=account.id, platform="tiktok")
            if d.active and d.target_cpl_minor
        ]
        by_adgroup: dict[str, Any] = {}
        by_campaign: dict[str, Any] = {}
        for d in directions:
            if d.tiktok_campaign_id:
                by_campaign[d.tiktok_campaign_id] = d
            for row in await ads_repo.direction_adgroups(d.id):
                by_adgroup[row.tiktok_adgroup_id] = d
                by_campaign.setdefault(row.tiktok_campaign_id, d)
        since = today - timedelta(days=t.recent_days + t.baseline_days)
        history = _days(await repo.history(account.id, since))
        edits = await repo.human_edits_since(account.id, now - timedelta(hours=t.human_cooldown_hours))
        day_start = datetime.combine(today, datetime.min.time(), _zone(account.timezone))  # the account's midnight
        day_budgets = await repo.budget_changes_since(account.id, day_start)
        platform = await platform_for(ads_repo, account, ads_factory)
    # Two reads of different endpoints (each counted on its own by the platform), together.
    adgroups, ads = await asyncio.gather(
        platform.get_adgroups(account.advertiser_id), platform.get_ads(account.advertiser_id)
    )
    ads_by_group: dict[str, list[Any]] = {}
    for ad in ads:
        ads_by_group.setdefault(ad.adgroup_id, []).append(ad)
    minimum = ads_domain.MIN_DAILY_BUDGET_MINOR.get(account.currency.upper(), ads_domain.MIN_DAILY_BUDGET_MINOR["USD"])
    groups: list[domain.AdGroupState] = []
    unmapped = 0
    for g in adgroups:
        if g.operation_status not in ("ENABLE", "DISABLE"):
            continue
        direction = by_adgroup.get(g.adgroup_id) or by_campaign.get(g.campaign_id)
        if direction is None:
            unmapped += 1
            continue
        ad_states = tuple(
            domain.AdState(
                ad_id=a.ad_id,
                adgroup_id=g.adgroup_id,
                status="active" if a.operation_status == "ENABLE" else "paused",
                history=tuple(history.get(a.ad_id, ())),
                human_changed_at=edits.get(a.ad_id),
            )
            for a in sorted(ads_by_group.get(g.adgroup_id, []), key=lambda x: x.ad_id)
            if a.operation_status in ("ENABLE", "DISABLE")
        )
        budget = int(g.budget_minor or 0) if g.budget_mode == "BUDGET_MODE_DAY" else 0
        groups.append(
            domain.AdGroupState(
                adgroup_id=g.adgroup_id,
                direction_id=str(direction.id),
                status="active" if g.operation_status == "ENABLE" else "paused",
                daily_budget_minor=budget,
                day_start_budget_minor=day_budgets.get(g.adgroup_id, budget),
                target_cpl_minor=int(direction.target_cpl_minor),
                min_budget_minor=minimum,
                history=_sum_days([a.history for a in ad_states]),
                human_changed_at=edits.get(g.adgroup_id),
                ads=ad_states,
            )
        )
    inputs = {
        "today": today.isoformat(),
        "directions": len(directions),
        "adgroups": len(groups),
        "ads": sum(len(g.ads) for g in groups),
        "unmapped_adgroups": unmapped,
        "ads_with_history": len(history),
        "history_days": sum(len(v) for v in history.values()),
        "human_edits_24h": len(edits),
    }
    entities: dict[str, Any] = {g.adgroup_id: g for g in adgroups}
    entities |= {a.ad_id: a for a in ads}
    return AccountState(groups=groups, inputs=inputs, entities=entities)


# --- deciding ------------------------------------------------------------------------------------------


def _llm_context(
    groups: Sequence[domain.AdGroupState], healths: Sequence[domain.Health], t: domain.Thresholds
) -> dict[str, Any]:
    by_id = {(h.level, h.entity_id): h for h in healths}
    items = []
    for g in sorted(groups, key=lambda x: -(by_id[("adgroup", x.adgroup_id)].spend_minor))[:100]:
        h = by_id[("adgroup", g.adgroup_id)]
        items.append(
            {
                "adgroup_id": g.adgroup_id,
                "direction_id": g.direction_id,
                "status": g.status,
                "daily_budget_minor": g.daily_budget_minor,
                "min_budget_minor": g.min_budget_minor,
                "health": h.figures(),
                "reasons": list(h.reasons),
                "ads": [
                    {"ad_id": a.ad_id, "status": a.status, "health": by_id[("ad", a.ad_id)].figures()}
                    for a in g.ads[:20]
                ],
            }
        )
    return {
        "action_kinds": list(domain.ACTION_KINDS),
        "rules": {
            "max_budget_change_pct": t.max_budget_change_pct,
            "max_actions_per_run": t.max_actions_per_run,
            "human_cooldown_hours": t.human_cooldown_hours,
        },
        "adgroups": items,
    }


async def decide(
    groups: Sequence[domain.AdGroupState],
    *,
    today: date,
    now: datetime,
    t: domain.Thresholds,
    llm: ActionProposer | None = None,
) -> tuple[domain.Decision, str, list[str]]:
    """(decision, proposer used, errors). The LLM, when there is one, proposes; its output is
    validated (schema) and goes through the same guard rails; malformed output, an action on
    an unknown kind or entity, or any error falls back to the deterministic policy."""
    healths = domain.score_account(groups, today, t)
    errors: list[str] = []
    if llm is not None and groups:
        try:
            proposals = domain.parse_proposals(await llm.propose(_llm_context(groups, healths, t)))
            kept, skipped = domain.guard(proposals, groups, now=now, thresholds=t)
            unsafe = [s for s in skipped if s.why.startswith(("unknown action kind", "not an ", "not a direction"))]
            if unsafe:
                first = unsafe[0]
                raise ValueError(f"unsafe action: {first.action.kind} {first.action.target_id}: {first.why}")
            return domain.Decision(tuple(kept), tuple(skipped), tuple(healths)), getattr(llm, "name", "llm"), errors
        except Exception as exc:  # noqa: BLE001 (any LLM failure falls back to the deterministic policy)
            errors.append(f"llm proposer failed, deterministic policy used: {type(exc).__name__}: {exc}"[:500])
    kept, skipped = domain.guard(domain.propose(groups, healths, t), groups, now=now, thresholds=t)
    return domain.Decision(tuple(kept), tuple(skipped), tuple(healths)), "deterministic", errors


def verdict_counts(healths: Sequence[domain.Health], level: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for h in healths:
        if h.level == level:
            counts[h.verdict] = counts.get(h.verdict, 0) + 1
    return dict(sorted(counts.items()))
