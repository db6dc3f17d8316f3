"""Autopilot domain: health scores on constructed histories, the policy and its guard rails."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from reelflow.domain import autopilot as ap
from reelflow.settings import Settings

TODAY = date(2026, 12, 3)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
T = ap.Thresholds()
TARGET = 2_000_00  # KZT 2,000 per lead
MIN_BUDGET = 2_500_00


def _days(
    n: int, *, spend: int, leads: int, impressions: int = 10_000, clicks: int = 100, v2s: int = 3_000, end: date = TODAY
) -> list[ap.DayMetrics]:
    return [
        ap.DayMetrics(
            day=end - timedelta(days=i),
            spend_minor=spend,
            impressions=impressions,
            clicks=clicks,
            leads=leads,
            views_2s=v2s,
        )
        for i in range(n)
    ]


def _health(history: list[ap.DayMetrics], budget: int | None = None) -> ap.Health:
    return ap.health(
        level="adgroup",
        entity_id="g1",
        history=history,
        target_cpl_minor=TARGET,
        today=TODAY,
        daily_budget_minor=budget,
    )


def test_thresholds_match_settings_defaults() -> None:
    assert ap.Thresholds.from_mapping(Settings().autopilot.model_dump()) == ap.Thresholds()


def test_too_little_spend_gives_no_verdict() -> None:
    h = _health(_days(3, spend=10_00, leads=0))
    assert h.verdict == "insufficient_data" and not h.sufficient and h.score == 0
    assert "not enough data" in h.reasons[0]
    few_impressions = _health(_days(3, spend=5_000_00, leads=0, impressions=100))
    assert few_impressions.verdict == "insufficient_data"


def test_cpl_verdicts() -> None:
    # 3 days × 4,000 spend, 3 leads/day → CPL 1,333 (0.67× target): winner
    assert _health(_days(3, spend=4_000_00, leads=3)).verdict == "winner"
    # CPL 2,000 = target: ok
    assert _health(_days(3, spend=4_000_00, leads=2)).verdict == "ok"
    # CPL 2,666 = 1.33× : weak
    assert _health(_days(3, spend=8_000_00, leads=3)).verdict == "weak"
    # CPL 4,000 = 2×: loser
    h = _health(_days(3, spend=4_000_00, leads=1))
    assert h.verdict == "loser" and h.cpl_minor == 4_000_00 and h.cpl_ratio == 2.0
    assert "2.00× the target" in h.reasons[0]


def test_no_lead_loser_only_after_enough_spend() -> None:
    assert _health(_days(3, spend=1_000_00, leads=0)).verdict == "ok"  # 3,000 < 2× target
    h = _health(_days(3, spend=2_000_00, leads=0))  # 6,000 ≥ 4,000
    assert h.verdict == "loser" and "no lead" in h.reasons[0]


def test_pacing_ctr_trend_and_fatigue() -> None:
    baseline = _days(7, spend=4_000_00, leads=2, clicks=200, v2s=4_000, end=TODAY - timedelta(days=3))
    recent = _days(3, spend=1_000_00, leads=1, clicks=100, v2s=2_000)
    h = _health(baseline + recent, budget=5_000_00)
    assert h.pacing == 0.2 and h.underpacing
    assert h.ctr_change == -0.5 and h.ctr_falling
    assert h.view_rate_change == -0.5 and h.fatigued
    assert any("2 s view rate fell 50%" in r for r in h.reasons)
    steady = _health(_days(10, spend=4_000_00, leads=2), budget=4_000_00)
    assert not steady.fatigued and not steady.ctr_falling and steady.pacing == 1.0
    assert steady.score > h.score


def test_days_outside_the_windows_are_ignored() -> None:
    old = _days(5, spend=50_000_00, leads=0, end=TODAY - timedelta(days=30))
    h = _health(old + _days(3, spend=4_000_00, leads=3))
    assert h.spend_minor == 12_000_00 and h.verdict == "winner"


# --- policy and guard rails -------------------------------------------------------------------


def _ad(ad_id: str, group: str, *, v2s_recent: int = 3_000, v2s_before: int = 3_000, leads: int = 2) -> ap.AdState:
    hist = _days(7, spend=2_000_00, leads=1, v2s=v2s_before, end=TODAY - timedelta(days=3)) + _days(
        3, spend=2_000_00, leads=leads, v2s=v2s_recent
    )
    return ap.AdState(ad_id=ad_id, adgroup_id=group, status="active", history=tuple(hist))


def _group(
    gid: str, *, spend: int, leads: int, budget: int = 5_000_00, ads: tuple[ap.AdState, ...] = (), **kw: object
) -> ap.AdGroupState:
    return ap.AdGroupState(
        adgroup_id=gid,
        direction_id="d1",
        status="active",
        daily_budget_minor=budget,
        day_start_budget_minor=budget,
        target_cpl_minor=TARGET,
        min_budget_minor=MIN_BUDGET,
        history=tuple(_days(3, spend=spend, leads=leads)),
        ads=ads,
        **kw,  # type: ignore[arg-type]
    )


def test_loser_paused_winner_raised_weak_lowered_with_reasons() -> None:
    groups = [
        _group("g-loser", spend=4_000_00, leads=1),
        _group("g-winner", spend=5_000_00, leads=4),
        _group("g-weak", spend=5_000_00, leads=2, budget=10_000_00),
    ]
    d = ap.decide(groups, today=TODAY, now=NOW)
    by = {a.target_id: a for a in d.actions}
    assert by["g-loser"].kind == "pause_adgroup" and by["g-loser"].figures["cpl_ratio"] == 2.0
    assert by["g-winner"].kind == "update_adgroup_budget" and by["g-winner"].params["daily_budget_minor"] == 6_000_00
    assert by["g-winner"].figures["budget_before_minor"] == 5_000_00
    assert by["g-weak"].params["daily_budget_minor"] == 8_000_00
    assert d.actions[0].kind == "pause_adgroup"  # stop losses first
    assert all(a.reason for a in d.actions)


def test_budget_changes_clamped_to_daily_limit_and_minimum() -> None:
    g = _group("g", spend=5_000_00, leads=4, budget=5_000_00)
    # A proposer (an LLM say) asks for 3× the budget; and already changed today: start was 4,500.
    g = replace(g, day_start_budget_minor=4_500_00)
    big = ap.ProposedAction("update_adgroup_budget", "g", {"daily_budget_minor": 15_000_00}, "llm wants more")
    kept, _ = ap.guard([big], [g], now=NOW)
    assert kept[0].params["daily_budget_minor"] == 5_850_00  # 4,500 × 1.3
    assert "clamped" in kept[0].reason
    low = ap.ProposedAction("update_adgroup_budget", "g", {"daily_budget_minor": 1_00}, "cut")
    kept, _ = ap.guard([low], [replace(g, daily_budget_minor=3_000_00, day_start_budget_minor=3_000_00)], now=NOW)
    assert kept[0].params["daily_budget_minor"] == MIN_BUDGET  # never below the minimum
    at_min = replace(g, daily_budget_minor=MIN_BUDGET, day_start_budget_minor=MIN_BUDGET)
    kept, skipped = ap.guard([low], [at_min], now=NOW)
    assert kept == [] and "limit" in skipped[0].why
    bad = ap.ProposedAction("update_adgroup_budget", "g", {"daily_budget_minor": "lots"}, "x")
    kept, skipped = ap.guard([bad], [g], now=NOW)
    assert kept == [] and "integer" in skipped[0].why


def test_human_edits_in_the_last_24h_are_not_touched() -> None:
    g = _group("g", spend=4_000_00, leads=1, human_changed_at=NOW - timedelta(hours=23))
    d = ap.decide([g], today=TODAY, now=NOW)
    assert d.actions == () and "person" in d.skipped[0].why
    later = ap.decide([g], today=TODAY, now=NOW + timedelta(hours=2))
    assert [a.kind for a in later.actions] == ["pause_adgroup"]
    # an ad whose ad group a person changed is not touched either
    ads = (_ad("a1", "g2", leads=0), _ad("a2", "g2"))
    g2 = replace(_group("g2", spend=4_000_00, leads=2, ads=ads), human_changed_at=NOW - timedelta(hours=1))
    kept, skipped = ap.guard([ap.ProposedAction("pause_ad", "a1", {}, "x")], [g2], now=NOW)
    assert kept == [] and skipped


def test_at_most_n_actions_per_run_losers_first() -> None:
    groups = [_group(f"w{i}", spend=5_000_00, leads=4) for i in range(4)] + [
        _group(f"l{i}", spend=4_000_00, leads=1) for i in range(4)
    ]
    t = replace(T, max_actions_per_run=3)
    d = ap.decide(groups, today=TODAY, now=NOW, thresholds=t)
    assert len(d.actions) == 3 and all(a.kind == "pause_adgroup" for a in d.actions)
    assert sum("over the limit" in s.why for s in d.skipped) == 5


def test_unknown_kind_foreign_entity_and_duplicates_refused() -> None:
    g = _group("g", spend=4_000_00, leads=2)
    actions = [
        ap.ProposedAction("delete_account", "g", {}, "x"),
        ap.ProposedAction("pause_adgroup", "other-account-group", {}, "x"),
        ap.ProposedAction("pause_adgroup", "g", {}, "x"),
        ap.ProposedAction("update_adgroup_budget", "g", {"daily_budget_minor": 6_000_00}, "x"),
        ap.ProposedAction("create_adgroup", "d-foreign", {}, "x"),
    ]
    kept, skipped = ap.guard(actions, [g], now=NOW)
    assert [(a.kind, a.target_id) for a in kept] == [("pause_adgroup", "g")]
    assert len(skipped) == 4


def test_fatigued_ads_paused_and_all_tired_launches_fresh() -> None:
    ads = (_ad("a1", "g", v2s_recent=1_000), _ad("a2", "g"), _ad("a3", "g", leads=0))
    g = _group("g", spend=6_000_00, leads=3, ads=ads)  # ok CPL
    d = ap.decide([g], today=TODAY, now=NOW)
    paused = sorted(a.target_id for a in d.actions if a.kind == "pause_ad")
    assert paused == ["a1", "a3"]  # a1 tired; a3 no lead after 6,000 spent (loser); a2 stays
    tired = (_ad("a1", "g", v2s_recent=1_000), _ad("a2", "g", v2s_recent=1_500))
    d2 = ap.decide([_group("g", spend=6_000_00, leads=3, ads=tired)], today=TODAY, now=NOW)
    assert [a.kind for a in d2.actions] == ["create_adgroup"]
    assert d2.actions[0].target_id == "d1" and d2.actions[0].figures["fatigued_ads"] == ["a1", "a2"]


def test_the_last_active_ad_is_never_paused() -> None:
    ads = (_ad("a1", "g", v2s_recent=1_000), _ad("a2", "g", v2s_recent=1_000))
    g = _group("g", spend=6_000_00, leads=3, ads=(ads[0], replace(ads[1], status="paused")))
    d = ap.decide([g], today=TODAY, now=NOW)
    # the only active ad is tired: fresh creatives, not a pause
    assert [a.kind for a in d.actions] == ["create_adgroup"]


def test_deterministic() -> None:
    groups = [_group(f"g{i}", spend=(i + 2) * 1_000_00, leads=i % 3) for i in range(10)]
    a = ap.decide(groups, today=TODAY, now=NOW)
    b = ap.decide(list(reversed(groups)), today=TODAY, now=NOW)
    assert [x.as_dict() for x in a.actions] == [x.as_dict() for x in b.actions]


def test_report_lists_actions_reasons_and_escapes_names() -> None:
    groups = [_group("g-loser", spend=4_000_00, leads=1), _group("g-winner", spend=5_000_00, leads=4)]
    d = ap.decide(groups, today=TODAY, now=NOW)
    report = ap.render_report(account_name="Shop <KZ> & Co", platform="tiktok", act=False, decision=d)
    assert "Shop &lt;KZ&gt; &amp; Co" in report and "report only" in report
    assert "Pause ad group <code>g-loser</code>" in report and "2.00× the target" in report
    assert "500000 → 600000" in report
    acted = ap.render_report(account_name="A", platform="tiktok", act=True, decision=d, outcomes={"g-loser": "applied"})
    assert "applied" in acted and "not applied" in acted
    empty = ap.render_report(
        account_name="A", platform="tiktok", act=False, decision=ap.decide([], today=TODAY, now=NOW)
    )
    assert "No action needed." in empty


def test_llm_proposals_are_checked_against_the_action_schema() -> None:
    ok = ap.parse_proposals(
        {"actions": [{"kind": "pause_adgroup", "target_id": "g1", "params": {}, "reason": " CPL 3× target "}]}
    )
    assert ok == [ap.ProposedAction("pause_adgroup", "g1", {}, "CPL 3× target", {"proposer": "llm"})]
    assert ap.parse_proposals([]) == []
    bad: list[object] = [
        "pause everything",
        {"recommendation": "pause"},
        [{"kind": "delete_campaign", "target_id": "c1", "reason": "x"}],
        [{"kind": "pause_ad", "target_id": "", "reason": "x"}],
        [{"kind": "pause_ad", "target_id": 7, "reason": "x"}],
        [{"kind": "pause_ad", "target_id": "a1", "reason": ""}],
        [{"kind": "pause_ad", "target_id": "a1", "reason": "x", "params": {"nested": {"a": 1}}}],
        [{"kind": "pause_ad", "target_id": "a1", "reason": "x", "why": "extra field"}],
        [{"kind": "pause_ad", "target_id": "a1", "reason": "x"}] * (ap.MAX_PROPOSALS + 1),
    ]
    for raw in bad:
        try:
            ap.parse_proposals(raw)
        except ValueError:
            continue
        raise AssertionError(f"accepted {raw!r}")


def test_llm_budget_beyond_the_rails_is_clamped_like_any_proposer() -> None:
    g = _group("g1", spend=1_000_00, leads=1, budget=10_000_00)
    [raised] = ap.parse_proposals(
        [
            {
                "kind": "update_adgroup_budget",
                "target_id": "g1",
                "params": {"daily_budget_minor": 60_000_00},
                "reason": "x",
            }
        ]
    )
    kept, _ = ap.guard([raised], [g], now=NOW)
    assert kept[0].params["daily_budget_minor"] == 13_000_00  # +30% of the day's starting budget


def test_no_budget_change_for_an_ad_group_without_a_daily_budget() -> None:
    g = _group("g1", spend=1_000_00, leads=1, budget=0)
    action = ap.ProposedAction("update_adgroup_budget", "g1", {"daily_budget_minor": 3_000_00}, "r")
    kept, skipped = ap.guard([action], [g], now=NOW)
    assert kept == [] and "no daily budget" in skipped[0].why


def test_report_counts_recorded_verdicts_of_a_resumed_run() -> None:
    decision = ap.Decision(actions=(), skipped=(), healths=())
    text = ap.render_report(
        account_name="A", platform="tiktok", act=False, decision=decision, verdicts={"loser": 2, "ok": 1}
    )
    assert "Ad groups scored: 3 (loser: 2, ok: 1)" in text and "No action needed." in text
