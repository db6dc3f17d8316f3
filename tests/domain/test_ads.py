"""Ads rules without servers: budgets, objectives, platforms, the capacity rule, auto
picking, budget changes, the OAuth state, report math."""

from __future__ import annotations

import time

import pytest

from reelflow.domain import ads as domain
from reelflow.errors import InvalidInput, LimitExceeded


def test_daily_budget_minimums_per_currency() -> None:
    assert domain.check_daily_budget(2_500_00, "KZT") == 2_500_00
    with pytest.raises(InvalidInput) as low:
        domain.check_daily_budget(2_499_99, "KZT")
    assert low.value.field == "daily_budget_minor"
    domain.check_daily_budget(20_00, "usd")
    with pytest.raises(InvalidInput):
        domain.check_daily_budget(19_99, "USD")
    with pytest.raises(InvalidInput) as unknown:  # refuse what cannot be validated
        domain.check_daily_budget(1_000_000, "EUR")
    assert "EUR" in str(unknown.value.detail)


def test_objectives_and_platforms() -> None:
    for objective in ("traffic", "conversions", "lead_generation"):
        assert domain.check_objective(objective) == objective
    with pytest.raises(InvalidInput):
        domain.check_objective("reach")
    assert domain.direction_platforms("both") == ["tiktok", "facebook"]
    assert domain.direction_platforms("facebook") == ["facebook"]
    with pytest.raises(InvalidInput) as bad:
        domain.direction_platforms("instagram")
    assert bad.value.field == "platform"


def test_video_only_for_tiktok() -> None:
    assert domain.check_creative_kind("video", "tiktok") == "video"
    assert domain.check_creative_kind("image", "facebook") == "image"
    for kind in ("image", "carousel"):
        with pytest.raises(InvalidInput):
            domain.check_creative_kind(kind, "tiktok")


def test_use_existing_capacity_rule() -> None:
    slots = [domain.AdGroupSlot("a", "ENABLE", 49), domain.AdGroupSlot("b", "DISABLE", 10)]
    assert domain.choose_adgroup(slots, 1, 50) == slots[0]  # 49 + 1 = 50 fits, enabled first
    assert domain.choose_adgroup(slots, 2, 50) == slots[1]  # the disabled one (to be enabled)
    assert domain.choose_adgroup([domain.AdGroupSlot("a", "ENABLE", 50)], 1, 50) is None
    assert domain.choose_adgroup([domain.AdGroupSlot("a", "DELETE", 0)], 1, 50) is None


def test_auto_mode_picks_idle_creatives_best_cpl_first() -> None:
    candidates = [
        domain.CreativeCandidate("running", True, 1000, 10, 0),
        domain.CreativeCandidate("expensive", False, 9000, 3, 1),
        domain.CreativeCandidate("new", False, 0, 0, 2),
        domain.CreativeCandidate("cheap", False, 1000, 5, 3),
    ]
    assert domain.pick_auto_creatives(candidates, 5) == ["cheap", "expensive", "new"]
    assert domain.pick_auto_creatives(candidates, 1) == ["cheap"]


def test_budget_change_rules() -> None:
    ok = {"changes_today": 0, "per_day": 2, "max_ratio": 0.5}
    domain.check_budget_change(5_000_00, 7_000_00, "KZT", **ok)
    with pytest.raises(InvalidInput):
        domain.check_budget_change(5_000_00, 2_000_00, "KZT", **ok)
    with pytest.raises(InvalidInput):
        domain.check_budget_change(5_000_00, 8_000_00, "KZT", **ok)
    with pytest.raises(LimitExceeded):
        domain.check_budget_change(5_000_00, 6_000_00, "KZT", changes_today=2, per_day=2, max_ratio=0.5)


def test_oauth_state_signed_and_expiring() -> None:
    secret = b"s" * 32
    state = domain.sign_state({"ws": "w", "nonce": "n", "exp": time.time() + 60}, secret)
    assert domain.verify_state(state, secret)["ws"] == "w"
    with pytest.raises(InvalidInput):
        domain.verify_state(state, b"x" * 32)
    with pytest.raises(InvalidInput):
        domain.verify_state(state, secret, now=time.time() + 120)
    with pytest.raises(InvalidInput):
        domain.verify_state("garbage", secret)
    for hostile in ("ab.٣٣", "ab.é" * 10, "é.é", "\u0000.\u0000"):  # non-ASCII MACs used to be a TypeError
        with pytest.raises(InvalidInput):
            domain.verify_state(hostile, secret)


def test_settings_validation_names_fields() -> None:
    settings = domain.check_ad_settings({"countries": ["kz"], "age_groups": ["AGE_18_24"], "languages": ["RU"]})
    assert settings.countries == ("KZ",) and settings.languages == ("ru",)
    for bad, field in (
        ({"countries": ["KAZ"]}, "settings.countries"),
        ({"schedule_hours": 0}, "settings.schedule_hours"),
        ({"colour": 1}, "settings"),
        ({"ad_text": "x" * 101}, "settings.ad_text"),
    ):
        with pytest.raises(InvalidInput) as caught:
            domain.check_ad_settings(bad)
        assert caught.value.field == field


def test_report_math() -> None:
    assert domain.cpl(1000, 3) == 333 and domain.cpl(1000, 0) is None
    assert domain.cpl_vs_target(1500, 1000) == 1.5 and domain.cpl_vs_target(None, 1000) is None
    assert domain.roi(3000, 1000) == 2.0 and domain.roi(None, 1000) is None and domain.roi(10, 0) is None
    assert domain.upload_timeout_s(10) == 300 and domain.upload_timeout_s(100 * 1024 * 1024) == 1000
