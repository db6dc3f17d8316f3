"""Ads autopilot rules, pure: health scores from a metrics history and a deterministic policy
that turns them into actions, kept inside guard rails.

Money is integer minor units. Nothing here does I/O; the thresholds come in as `Thresholds`
(the service builds it from ``settings.autopilot``: the field names are the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from html import escape
from typing import Any, Literal

Level = Literal["adgroup", "ad"]
Verdict = Literal["insufficient_data", "winner", "ok", "weak", "loser"]


@dataclass(frozen=True)
class Thresholds:
    """The policy's numbers; defaults equal `AutopilotSettings` (docs/autopilot.md)."""

    recent_days: int = 3
    baseline_days: int = 7
    min_spend_target_multiple: float = 1.0
    min_impressions: int = 1000
    winner_cpl_ratio: float = 0.8
    weak_cpl_ratio: float = 1.2
    loser_cpl_ratio: float = 1.5
    no_lead_loser_spend_multiple: float = 2.0
    underpacing_ratio: float = 0.5
    full_pacing_ratio: float = 0.8
    ctr_drop_ratio: float = 0.3
    fatigue_drop_ratio: float = 0.25
    max_budget_change_pct: int = 30
    budget_step_pct: int = 20
    max_actions_per_run: int = 5
    human_cooldown_hours: int = 24

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Thresholds:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclass(frozen=True)
class DayMetrics:
    """One day of delivery of an ad group or an ad."""

    day: date
    spend_minor: int = 0
    impressions: int = 0
    clicks: int = 0
    leads: int = 0
    video_views: int = 0
    views_2s: int = 0


@dataclass(frozen=True)
class Totals:
    spend_minor: int = 0
    impressions: int = 0
    clicks: int = 0
    leads: int = 0
    video_views: int = 0
    views_2s: int = 0
    days: int = 0

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions else None

    @property
    def view_rate_2s(self) -> float | None:
        """2-second views per impression (the hook rate; it falls as an audience tires)."""
        return self.views_2s / self.impressions if self.impressions else None

    @property
    def cpl_minor(self) -> int | None:
        return round(self.spend_minor / self.leads) if self.leads else None


def totals(days: Iterable[DayMetrics]) -> Totals:
    items = list(days)
    return Totals(
        spend_minor=sum(d.spend_minor for d in items),
        impressions=sum(d.impressions for d in items),
        clicks=sum(d.clicks for d in items),
        leads=sum(d.leads for d in items),
        video_views=sum(d.video_views for d in items),
        views_2s=sum(d.views_2s for d in items),
        days=len(items),
    )


def split_windows(
    history: Sequence[DayMetrics], today: date, t: Thresholds
) -> tuple[list[DayMetrics], list[DayMetrics]]:
    """(recent, baseline): the last ``recent_days`` days up to ``today`` (inclusive) and the
    ``baseline_days`` before them. Days outside both are ignored."""
    recent_start = today - timedelta(days=t.recent_days - 1)
    baseline_start = recent_start - timedelta(days=t.baseline_days)
    recent = [d for d in history if recent_start <= d.day <= today]
    baseline = [d for d in history if baseline_start <= d.day < recent_start]
    return recent, baseline


def _relative_change(recent: float | None, baseline: float | None) -> float | None:
    if recent is None or baseline is None or baseline <= 0:
        return None
    return (recent - baseline) / baseline


@dataclass(frozen=True)
class Health:
    """The health of one ad group or ad, with every figure behind it."""

    level: Level
    entity_id: str
    verdict: Verdict
    score: int  # 0..100; 0 when there is not enough data to judge
    sufficient: bool
    spend_minor: int
    leads: int
    cpl_minor: int | None
    target_cpl_minor: int
    cpl_ratio: float | None
    pacing: float | None  # recent average daily spend / daily budget (ad groups with a budget)
    ctr: float | None
    ctr_change: float | None  # relative, recent vs baseline (−0.4 = 40% lower)
    view_rate_2s: float | None
    view_rate_change: float | None
    fatigued: bool
    ctr_falling: bool
    underpacing: bool
    reasons: tuple[str, ...] = ()

    def figures(self) -> dict[str, Any]:
        return {
            "spend_minor": self.spend_minor,
            "leads": self.leads,
            "cpl_minor": self.cpl_minor,
            "target_cpl_minor": self.target_cpl_minor,
            "cpl_ratio": None if self.cpl_ratio is None else round(self.cpl_ratio, 3),
            "pacing": None if self.pacing is None else round(self.pacing, 3),
            "ctr": None if self.ctr is None else round(self.ctr, 5),
            "ctr_change": None if self.ctr_change is None else round(self.ctr_change, 3),
            "view_rate_2s": None if self.view_rate_2s is None else round(self.view_rate_2s, 4),
            "view_rate_change": None if self.view_rate_change is None else round(self.view_rate_change, 3),
            "score": self.score,
            "verdict": self.verdict,
        }


def health(
    *,
    level: Level,
    entity_id: str,
    history: Sequence[DayMetrics],
    target_cpl_minor: int,
    today: date,
    thresholds: Thresholds | None = None,
    daily_budget_minor: int | None = None,
) -> Health:
    """Score one entity from its daily history against the direction's target CPL.

    * Data sufficiency: the recent window needs spend ≥ ``min_spend_target_multiple`` × target
      and ``min_impressions`` impressions, else the verdict is ``insufficient_data`` (never a
      pause on too little spend).
    * CPL: ratio to the target → winner / ok / weak / loser; no lead after
      ``no_lead_loser_spend_multiple`` × target spent is a loser.
    * Pacing: recent daily spend / daily budget (under ``underpacing_ratio`` = under-delivering).
    * CTR trend and fatigue: relative drop of CTR and of the 2 s view rate vs the baseline.
    """
    t = thresholds or Thresholds()
    if target_cpl_minor <= 0:
        raise ValueError("target_cpl_minor must be positive")
    recent_days, baseline_days = split_windows(history, today, t)
    recent, baseline = totals(recent_days), totals(baseline_days)
    reasons: list[str] = []

    sufficient = (
        recent.spend_minor >= t.min_spend_target_multiple * target_cpl_minor and recent.impressions >= t.min_impressions
    )
    cpl = recent.cpl_minor
    cpl_ratio = cpl / target_cpl_minor if cpl is not None else None
    pacing = None
    if daily_budget_minor and daily_budget_minor > 0:
        pacing = recent.spend_minor / max(1, t.recent_days) / daily_budget_minor
    ctr_change = _relative_change(recent.ctr, baseline.ctr)
    view_change = _relative_change(recent.view_rate_2s, baseline.view_rate_2s)
    ctr_falling = ctr_change is not None and ctr_change <= -t.ctr_drop_ratio
    fatigued = view_change is not None and view_change <= -t.fatigue_drop_ratio
    underpacing = pacing is not None and pacing < t.underpacing_ratio

    verdict: Verdict
    if not sufficient:
        verdict = "insufficient_data"
        reasons.append(
            f"not enough data: spend {recent.spend_minor} < {t.min_spend_target_multiple:g}× target {target_cpl_minor}"
            if recent.spend_minor < t.min_spend_target_multiple * target_cpl_minor
            else f"not enough data: {recent.impressions} impressions < {t.min_impressions}"
        )
    elif cpl_ratio is None:
        if recent.spend_minor >= t.no_lead_loser_spend_multiple * target_cpl_minor:
            verdict = "loser"
            reasons.append(
                f"no lead after spending {recent.spend_minor}"
                f" (≥ {t.no_lead_loser_spend_multiple:g}× target CPL {target_cpl_minor})"
            )
        else:
            verdict = "ok"
            reasons.append("no lead yet, spend still under the no-lead limit")
    elif cpl_ratio >= t.loser_cpl_ratio:
        verdict = "loser"
        reasons.append(f"CPL {cpl} is {cpl_ratio:.2f}× the target {target_cpl_minor}")
    elif cpl_ratio >= t.weak_cpl_ratio:
        verdict = "weak"
        reasons.append(f"CPL {cpl} is {cpl_ratio:.2f}× the target {target_cpl_minor}")
    elif cpl_ratio <= t.winner_cpl_ratio:
        verdict = "winner"
        reasons.append(f"CPL {cpl} is {cpl_ratio:.2f}× the target {target_cpl_minor}")
    else:
        verdict = "ok"
        reasons.append(f"CPL {cpl} is {cpl_ratio:.2f}× the target {target_cpl_minor}")
    if ctr_falling and ctr_change is not None:
        reasons.append(f"CTR fell {-ctr_change:.0%} vs the previous {t.baseline_days} days")
    if fatigued and view_change is not None:
        reasons.append(f"2 s view rate fell {-view_change:.0%} (creative fatigue)")
    if underpacing and pacing is not None:
        reasons.append(f"spending {pacing:.0%} of the daily budget")

    score = 0
    if sufficient:
        if cpl_ratio is not None:
            cpl_score = min(100.0, 100.0 / max(cpl_ratio, 1e-9))
        else:
            cpl_score = max(
                0.0, 100.0 - 100.0 * recent.spend_minor / (t.no_lead_loser_spend_multiple * target_cpl_minor)
            )
        pacing_score = 100.0 if pacing is None else min(100.0, 100.0 * pacing / max(t.full_pacing_ratio, 1e-9))
        ctr_score = 100.0 if ctr_change is None else max(0.0, min(100.0, 100.0 * (1 + ctr_change)))
        fatigue_score = 100.0 if view_change is None else max(0.0, min(100.0, 100.0 * (1 + view_change)))
        score = round(0.6 * cpl_score + 0.15 * pacing_score + 0.1 * ctr_score + 0.15 * fatigue_score)
    return Health(
        level=level,
        entity_id=entity_id,
        verdict=verdict,
        score=max(0, min(100, score)),
        sufficient=sufficient,
        spend_minor=recent.spend_minor,
        leads=recent.leads,
        cpl_minor=cpl,
        target_cpl_minor=target_cpl_minor,
        cpl_ratio=cpl_ratio,
        pacing=pacing,
        ctr=recent.ctr,
        ctr_change=ctr_change,
        view_rate_2s=recent.view_rate_2s,
        view_rate_change=view_change,
        fatigued=fatigued,
        ctr_falling=ctr_falling,
        underpacing=underpacing,
        reasons=tuple(reasons),
    )


# --- the decision engine -----------------------------------------------------------------------

ACTION_KINDS: tuple[str, ...] = ("pause_adgroup", "pause_ad", "update_adgroup_budget", "create_adgroup")
# Lower runs first when the per-run limit cuts the list: stop losses before spending more.
_PRIORITY = {"pause_adgroup": 0, "pause_ad": 1, "update_adgroup_budget": 2, "create_adgroup": 3}


@dataclass(frozen=True)
class AdState:
    ad_id: str
    adgroup_id: str
    status: str  # "active" | "paused"
    history: tuple[DayMetrics, ...] = ()
    human_changed_at: datetime | None = None


@dataclass(frozen=True)
class AdGroupState:
    adgroup_id: str
    direction_id: str
    status: str  # "active" | "paused"
    daily_budget_minor: int
    # The budget at the start of the account's day (before any change today): the ±limit
    # applies to it, so several runs in one day cannot compound past the limit.
    day_start_budget_minor: int
    target_cpl_minor: int
    min_budget_minor: int
    history: tuple[DayMetrics, ...] = ()
    human_changed_at: datetime | None = None
    ads: tuple[AdState, ...] = ()


@dataclass(frozen=True)
class ProposedAction:
    kind: str
    target_id: str  # ad group id, ad id, or the direction id for create_adgroup
    params: dict[str, Any]
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target_id": self.target_id,
            "params": dict(self.params),
            "reason": self.reason,
            "figures": dict(self.figures),
        }


@dataclass(frozen=True)
class Skipped:
    action: ProposedAction
    why: str


@dataclass(frozen=True)
class Decision:
    actions: tuple[ProposedAction, ...]
    skipped: tuple[Skipped, ...]
    healths: tuple[Health, ...]


def score_account(groups: Sequence[AdGroupState], today: date, t: Thresholds) -> list[Health]:
    out: list[Health] = []
    for g in groups:
        out.append(
            health(
                level="adgroup",
                entity_id=g.adgroup_id,
                history=g.history,
                target_cpl_minor=g.target_cpl_minor,
                today=today,
                thresholds=t,
                daily_budget_minor=g.daily_budget_minor,
            )
        )
        for ad in g.ads:
            out.append(
                health(
                    level="ad",
                    entity_id=ad.ad_id,
                    history=ad.history,
                    target_cpl_minor=g.target_cpl_minor,
                    today=today,
                    thresholds=t,
                )
            )
    return out


def propose(groups: Sequence[AdGroupState], healths: Sequence[Health], t: Thresholds) -> list[ProposedAction]:
    """The deterministic policy (before guard rails):

    * an active ad group judged ``loser`` is paused;
    * a ``winner`` that spends its budget (pacing ≥ ``full_pacing_ratio``) gets +``budget_step_pct``;
    * a ``weak`` one gets −``budget_step_pct`` (never below the minimum: the rails clamp it);
    * inside a kept ad group, a ``loser`` or fatigued ad is paused while another active ad remains;
    * when every active ad of an active ad group is fatigued, a fresh ad group is proposed for
      its direction (new creatives).
    """
    by_id = {(h.level, h.entity_id): h for h in healths}
    actions: list[ProposedAction] = []
    for g in sorted(groups, key=lambda x: x.adgroup_id):
        if g.status != "active":
            continue
        gh = by_id.get(("adgroup", g.adgroup_id))
        if gh is None:
            continue
        if gh.verdict == "loser":
            actions.append(ProposedAction("pause_adgroup", g.adgroup_id, {}, "; ".join(gh.reasons), gh.figures()))
            continue
        if gh.verdict == "winner" and gh.pacing is not None and gh.pacing >= t.full_pacing_ratio:
            new = g.daily_budget_minor * (100 + t.budget_step_pct) // 100
            actions.append(
                ProposedAction(
                    "update_adgroup_budget",
                    g.adgroup_id,
                    {"daily_budget_minor": new},
                    f"winner spending its budget: {'; '.join(gh.reasons)}",
                    gh.figures() | {"budget_minor": g.daily_budget_minor},
                )
            )
        elif gh.verdict == "weak":
            new = g.daily_budget_minor * (100 - t.budget_step_pct) // 100
            actions.append(
                ProposedAction(
                    "update_adgroup_budget",
                    g.adgroup_id,
                    {"daily_budget_minor": new},
                    f"above target: {'; '.join(gh.reasons)}",
                    gh.figures() | {"budget_minor": g.daily_budget_minor},
                )
            )
        active_ads = [a for a in sorted(g.ads, key=lambda x: x.ad_id) if a.status == "active"]
        ad_healths = {a.ad_id: by_id.get(("ad", a.ad_id)) for a in active_ads}
        tired = [a for a in active_ads if (h := ad_healths[a.ad_id]) is not None and h.fatigued]
        if active_ads and len(tired) == len(active_ads):
            actions.append(
                ProposedAction(
                    "create_adgroup",
                    g.direction_id,
                    {"source_adgroup_id": g.adgroup_id, "daily_budget_minor": g.daily_budget_minor},
                    f"all {len(active_ads)} active ads of ad group {g.adgroup_id} are fatigued: launch fresh creatives",
                    {"fatigued_ads": [a.ad_id for a in tired]},
                )
            )
            continue
        remaining = len(active_ads)
        for ad in active_ads:
            h = ad_healths[ad.ad_id]
            if h is None or remaining <= 1:
                continue
            if h.verdict == "loser" or h.fatigued:
                actions.append(
                    ProposedAction(
                        "pause_ad", ad.ad_id, {"adgroup_id": g.adgroup_id}, "; ".join(h.reasons), h.figures()
                    )
                )
                remaining -= 1
    return actions


def guard(
    actions: Iterable[ProposedAction],
    groups: Sequence[AdGroupState],
    *,
    now: datetime,
    thresholds: Thresholds | None = None,
) -> tuple[list[ProposedAction], list[Skipped]]:
    """The guard rails, for any proposer (the deterministic policy or an LLM):

    * only known kinds on entities of this account;
    * nothing a person changed in the last ``human_cooldown_hours`` (the ad group of an ad counts);
    * budgets clamped to ±``max_budget_change_pct`` of the day's starting budget and never below
      the minimum; a change that clamps to no change is dropped;
    * one action per target; at most ``max_actions_per_run``, pauses first.
    """
    t = thresholds or Thresholds()
    cooldown = timedelta(hours=t.human_cooldown_hours)
    group_by_id = {g.adgroup_id: g for g in groups}
    ad_by_id = {a.ad_id: (a, g) for g in groups for a in g.ads}
    directions = {g.direction_id for g in groups}

    def recent(at: datetime | None) -> bool:
        return at is not None and now - at < cooldown

    kept: list[ProposedAction] = []
    skipped: list[Skipped] = []
    seen: set[tuple[str, str]] = set()
    for a in actions:
        if a.kind not in ACTION_KINDS:
            skipped.append(Skipped(a, f"unknown action kind {a.kind!r}"))
            continue
        key = ("adgroup" if a.kind in ("pause_adgroup", "update_adgroup_budget") else a.kind, a.target_id)
        if key in seen:
            skipped.append(Skipped(a, "another action already targets this entity in this run"))
            continue
        if a.kind in ("pause_adgroup", "update_adgroup_budget"):
            g = group_by_id.get(a.target_id)
            if g is None:
                skipped.append(Skipped(a, "not an ad group of this account"))
                continue
            if recent(g.human_changed_at):
                skipped.append(Skipped(a, f"changed by a person in the last {t.human_cooldown_hours} h"))
                continue
            if a.kind == "update_adgroup_budget":
                if g.daily_budget_minor <= 0:
                    skipped.append(Skipped(a, "the ad group has no daily budget of its own"))
                    continue
                wanted = a.params.get("daily_budget_minor")
                if not isinstance(wanted, int) or isinstance(wanted, bool):
                    skipped.append(Skipped(a, "daily_budget_minor must be an integer"))
                    continue
                base = g.day_start_budget_minor
                high = base * (100 + t.max_budget_change_pct) // 100
                low = max(g.min_budget_minor, -(-base * (100 - t.max_budget_change_pct) // 100))
                new = max(low, min(high, wanted))
                if new == g.daily_budget_minor:
                    skipped.append(Skipped(a, f"budget already at the day's limit ({g.daily_budget_minor})"))
                    continue
                if new != wanted:
                    a = ProposedAction(
                        a.kind,
                        a.target_id,
                        a.params | {"daily_budget_minor": new},
                        a.reason
                        + f" (clamped from {wanted} to {new}:"
                        + f" ±{t.max_budget_change_pct}%/day, minimum {g.min_budget_minor})",
                        a.figures,
                    )
                a = ProposedAction(
                    a.kind, a.target_id, a.params, a.reason, a.figures | {"budget_before_minor": g.daily_budget_minor}
                )
        elif a.kind == "pause_ad":
            found = ad_by_id.get(a.target_id)
            if found is None:
                skipped.append(Skipped(a, "not an ad of this account"))
                continue
            ad, g = found
            if recent(ad.human_changed_at) or recent(g.human_changed_at):
                skipped.append(Skipped(a, f"changed by a person in the last {t.human_cooldown_hours} h"))
                continue
        elif a.kind == "create_adgroup" and a.target_id not in directions:
            skipped.append(Skipped(a, "not a direction of this account"))
            continue
        seen.add(key)
        kept.append(a)
    kept.sort(key=lambda x: (_PRIORITY[x.kind], x.target_id))
    if len(kept) > t.max_actions_per_run:
        for a in kept[t.max_actions_per_run :]:
            skipped.append(Skipped(a, f"over the limit of {t.max_actions_per_run} actions per account per run"))
        kept = kept[: t.max_actions_per_run]
    return kept, skipped


MAX_PROPOSALS = 100
_SCALARS = (str, int, float, bool, type(None))


def parse_proposals(raw: Any) -> list[ProposedAction]:
    """An outside proposer's (the LLM's) answer → actions, or ValueError when it is not the
    action schema: a list (or ``{"actions": [...]}``) of at most ``MAX_PROPOSALS`` objects
    with ``kind`` (a known kind), ``target_id`` (text), ``reason`` (text) and optional flat
    ``params``. The result still goes through `guard` like the deterministic policy's."""
    if isinstance(raw, dict) and set(raw) <= {"actions"}:
        raw = raw.get("actions")
    if not isinstance(raw, list):
        raise ValueError("proposals must be a list of actions")
    if len(raw) > MAX_PROPOSALS:
        raise ValueError(f"more than {MAX_PROPOSALS} proposals")
    out: list[ProposedAction] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"proposal {i} is not an object")
        unknown = set(item) - {"kind", "target_id", "params", "reason"}
        if unknown:
            raise ValueError(f"proposal {i} has unknown fields {sorted(unknown)}")
        kind, target, reason = item.get("kind"), item.get("target_id"), item.get("reason")
        params = item.get("params") or {}
        if kind not in ACTION_KINDS:
            raise ValueError(f"proposal {i}: kind {kind!r} is not one of {', '.join(ACTION_KINDS)}")
        if not isinstance(target, str) or not target or len(target) > 64:
            raise ValueError(f"proposal {i}: target_id must be a non-empty text")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 1000:
            raise ValueError(f"proposal {i}: reason must be a non-empty text (≤ 1000 characters)")
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, _SCALARS) for k, v in params.items()
        ):
            raise ValueError(f"proposal {i}: params must be a flat object")
        out.append(ProposedAction(kind, target, dict(params), reason.strip(), {"proposer": "llm"}))
    return out


def decide(
    groups: Sequence[AdGroupState], *, today: date, now: datetime, thresholds: Thresholds | None = None
) -> Decision:
    """Score, propose, guard: the whole deterministic decision for one account."""
    t = thresholds or Thresholds()
    healths = score_account(groups, today, t)
    kept, skipped = guard(propose(groups, healths, t), groups, now=now, thresholds=t)
    return Decision(actions=tuple(kept), skipped=tuple(skipped), healths=tuple(healths))


# --- the report ----------------------------------------------------------------------------------

_KIND_LABELS = {
    "pause_adgroup": "Pause ad group",
    "pause_ad": "Pause ad",
    "update_adgroup_budget": "Change budget of ad group",
    "create_adgroup": "Launch fresh creatives for direction",
}


def render_report(
    *,
    account_name: str,
    platform: str,
    act: bool,
    decision: Decision,
    outcomes: Mapping[str, str] | None = None,
    verdicts: Mapping[str, int] | None = None,
) -> str:
    """One run's report as Telegram HTML (all names escaped). ``outcomes`` maps a target id to
    what the platform answered when the action was applied (act mode); ``verdicts`` (ad group
    verdict → count) replaces the count from ``decision.healths`` (a resumed run keeps its
    recorded decision, not the scores)."""
    mode = "acting" if act else "report only"
    lines = [f"<b>{escape(platform.upper())} · {escape(account_name)}</b> — autopilot ({mode})"]
    counts: dict[str, int] = dict(verdicts or {})
    for h in decision.healths if verdicts is None else ():
        if h.level == "adgroup":
            counts[h.verdict] = counts.get(h.verdict, 0) + 1
    summary = ", ".join(f"{v}: {n}" for v, n in sorted(counts.items()))
    lines.append(f"Ad groups scored: {sum(counts.values())} ({escape(summary) or 'none'})")
    if not decision.actions:
        lines.append("No action needed.")
    for a in decision.actions:
        label = _KIND_LABELS.get(a.kind, a.kind)
        change = ""
        if a.kind == "update_adgroup_budget":
            change = f": {a.figures.get('budget_before_minor')} → {a.params.get('daily_budget_minor')}"
        status = ""
        if act:
            status = f" — {escape((outcomes or {}).get(a.target_id, 'not applied'))}"
        lines.append(f"• {escape(label)} <code>{escape(a.target_id)}</code>{escape(change)}{status}")
        lines.append(f"  <i>{escape(a.reason)}</i>")
    if decision.skipped:
        lines.append(f"Skipped by guard rails: {len(decision.skipped)}")
        for s in decision.skipped[:10]:
            lines.append(f"  – {escape(s.action.kind)} <code>{escape(s.action.target_id)}</code>: {escape(s.why)}")
    return "\n".join(lines)
