"""Pure rules: the experiment winner rule on constructed data, captions, limits, schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reelflow.domain import publishing as rules
from reelflow.domain.experiments import VariantFigures, decide, one_sided_p
from reelflow.errors import InvalidInput


def v(label: str, views: int, engagements: int) -> VariantFigures:
    return VariantFigures(label, label, views=views, likes=engagements)


def test_no_winner_below_the_view_threshold_whatever_the_rates():
    decision = decide([v("A", 900, 400), v("B", 5000, 10)], min_views=1000, confidence=0.95)
    assert decision.winner is None and "below 1000 views: A" in decision.reason


def test_a_clear_leader_wins():
    decision = decide([v("A", 10_000, 1_500), v("B", 10_000, 1_000)], min_views=1000, confidence=0.95)
    assert decision.winner == "A"
    assert decision.comparisons[0]["p_value"] < 0.05  # type: ignore[operator]
    assert {f["label"] for f in decision.figures} == {"A", "B"}


def test_a_small_lead_is_not_enough():
    decision = decide([v("A", 2_000, 110), v("B", 2_000, 100)], min_views=1000, confidence=0.95)
    assert decision.winner is None and "not significantly better than B" in decision.reason


def test_bonferroni_over_several_variants():
    # p ≈ 0.02 against C: enough for two variants (alpha .05), not for three (alpha .025 each)
    a, b, c = v("A", 3_000, 330), v("B", 3_000, 200), v("C", 3_000, 280)
    _, p = one_sided_p(a, c)
    assert 0.01 < p < 0.05
    assert decide([a, c], min_views=100, confidence=0.95).winner == "A"
    three = decide([a, b, c], min_views=100, confidence=0.95)
    assert three.alpha == pytest.approx(0.025) and (three.winner is None) == (p >= 0.025)


def test_engagement_is_capped_at_views_and_one_variant_is_not_an_experiment():
    assert VariantFigures("x", "x", views=10, likes=50).rate == 1.0
    assert decide([v("A", 10_000, 10)], min_views=1, confidence=0.95).winner is None


def test_captions_limits_and_schedule():
    assert rules.render_caption("{title} {hashtags}", title="Hi", hashtags=["a", "#b"]) == "Hi #a #b"
    assert rules.render_caption(None, title="Hi", hashtags=[]) == "Hi"
    assert rules.utf16_len("😀") == 2
    rules.check_tiktok_caption("😀" * 1100)
    with pytest.raises(InvalidInput) as exc:
        rules.check_tiktok_caption("😀" * 1101)
    assert exc.value.field == "caption"
    assert rules.normalise_tiktok_privacy("MUTUAL_FOLLOW_FRIEND") == "MUTUAL_FOLLOW_FRIENDS"
    with pytest.raises(InvalidInput):
        rules.check_youtube_text("a<b", "", [])
    with pytest.raises(InvalidInput) as exc:
        rules.check_tiktok_video(30, rules.TIKTOK_MAX_BYTES + 1)
    assert exc.value.field == "clip_id"
    with pytest.raises(InvalidInput):
        rules.check_tiktok_video(200, 1000, creator_max_s=180)
    now = datetime.now(UTC)
    assert rules.check_schedule(now + timedelta(minutes=5), now) is not None
    with pytest.raises(InvalidInput):
        rules.check_schedule(now.replace(tzinfo=None) + timedelta(minutes=5), now)
    with pytest.raises(InvalidInput):
        rules.check_schedule(now + timedelta(days=365), now)
