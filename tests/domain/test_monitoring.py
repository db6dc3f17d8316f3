"""Monitoring domain: rule validation, velocity, tiers with hysteresis, forecasts, accuracy."""

from __future__ import annotations

import pytest

from reelflow.domain import monitoring as m
from reelflow.errors import InvalidInput

POLICY = m.TierPolicy()
H = 3600.0


# --- rules ---------------------------------------------------------------------------------
def _field(exc: pytest.ExceptionInfo[InvalidInput]) -> str | None:
    return exc.value.field


def test_simple_rules_normalise_values() -> None:
    spec = m.validate_rule(
        kind="hashtag", values=["#SkinCare", "skincare", "glow"], combined=None, region="us", language="EN"
    )
    assert spec.values == ("skincare", "glow")
    assert spec.region == "US" and spec.language == "en"
    query = m.build_query(spec).as_dict()
    assert query == {
        "and": [
            {"field_name": "hashtag_name", "operation": "IN", "field_values": ["skincare", "glow"]},
            {"field_name": "region_code", "operation": "EQ", "field_values": ["US"]},
        ]
    }
    user = m.validate_rule(kind="user", values=["@some.creator"], combined=None, region=None, language=None)
    assert user.values == ("some.creator",)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "emoji", "values": ["x"]}, "kind"),
        ({"kind": "keyword", "values": []}, "values"),
        ({"kind": "keyword", "values": ["  "]}, "values[0]"),
        ({"kind": "hashtag", "values": ["ok", "two words"]}, "values[1]"),
        ({"kind": "hashtag", "values": ["#"]}, "values[0]"),
        ({"kind": "user", "values": ["no spaces allowed"]}, "values[0]"),
        ({"kind": "keyword", "values": ["x"], "region": "USA"}, "region"),
        ({"kind": "keyword", "values": ["x"], "language": "eng"}, "language"),
        ({"kind": "combined", "combined": {}}, "combined"),
        ({"kind": "combined", "combined": {"xor": []}}, "combined.xor"),
        ({"kind": "combined", "combined": {"not": [{"kind": "keyword", "values": ["x"]}]}}, "combined"),
        ({"kind": "combined", "combined": {"and": [{"kind": "combined", "values": ["x"]}]}}, "combined.and[0].kind"),
        (
            {"kind": "combined", "combined": {"or": [{"kind": "hashtag", "values": ["a b"]}]}},
            "combined.or[0].values[0]",
        ),
        ({"kind": "combined", "values": ["x"], "combined": {"or": [{"kind": "keyword", "values": ["x"]}]}}, "values"),
        ({"kind": "keyword", "values": ["x"], "combined": {"or": []}}, "combined"),
    ],
)
def test_bad_rules_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args = {"values": None, "combined": None, "region": None, "language": None, **kwargs}
    with pytest.raises(InvalidInput) as exc:
        m.validate_rule(**args)  # type: ignore[arg-type]
    assert _field(exc) == field


def test_combined_rule_query() -> None:
    spec = m.validate_rule(
        kind="combined",
        values=None,
        combined={
            "and": [{"kind": "hashtag", "values": ["skincare"]}],
            "or": [{"kind": "keyword", "values": ["serum", "retinol"]}],
            "not": [{"kind": "user", "values": ["spammer"]}],
        },
        region=None,
        language=None,
    )
    query = m.build_query(spec).as_dict()
    assert query["and"][0]["field_name"] == "hashtag_name"
    assert query["or"][0] == {"field_name": "keyword", "operation": "IN", "field_values": ["serum", "retinol"]}
    assert query["not"][0]["field_values"] == ["spammer"]
    assert m.spec_from_definition(spec.definition()) == spec


def test_interval_minimum() -> None:
    assert m.check_interval(60, 15) == 60
    with pytest.raises(InvalidInput) as exc:
        m.check_interval(5, 15)
    assert _field(exc) == "interval_minutes"


# --- velocity -----------------------------------------------------------------------------
def test_velocity_sorts_snapshots_before_taking_deltas() -> None:
    newest_first = [(3 * H, 4000), (2 * H, 3000), (1 * H, 2000), (0.0, 1000)]
    assert m.velocity(newest_first) == pytest.approx(1000.0)
    assert m.velocity([(0.0, 10)]) is None
    assert m.velocity([(0.0, 10), (0.0, 20)]) is None


def test_velocity_uses_recent_window() -> None:
    points = [(i * H, 100 * i) for i in range(10)] + [(10 * H, 100 * 9 + 5000)]
    # window of 2 snapshots: the last hour only
    assert m.velocity(points, window=2) == pytest.approx(5000.0)


def test_acceleration_on_known_series() -> None:
    # views = 500 t + 100 t² → velocity 500 + 200 t → acceleration 200 views/h²
    points = [(t * H, int(500 * t + 100 * t * t)) for t in range(5)]
    assert m.acceleration(points) == pytest.approx(200.0)
    assert m.acceleration(points[:2]) is None


# --- tiers --------------------------------------------------------------------------------
def test_age_floor_keeps_young_videos_hot() -> None:
    assert m.next_tier("hot", 0.0, 0.5, POLICY) == "ultra_hot"
    assert m.next_tier("hot", 0.0, 2.0, POLICY) == "hot"
    assert m.next_tier("hot", 0.0, 6.0, POLICY) == "warm"
    assert m.next_tier("warm", 0.0, 24.0, POLICY) == "cold"


def test_velocity_promotes_old_videos() -> None:
    assert m.next_tier("cold", 6000.0, 48.0, POLICY) == "ultra_hot"
    assert m.next_tier("cold", 1200.0, 48.0, POLICY) == "hot"
    assert m.next_tier("cold", 150.0, 48.0, POLICY) == "warm"


def test_hysteresis_prevents_flapping() -> None:
    # hot needs 1000 views/h to enter, and only 800 to stay
    assert m.next_tier("warm", 900.0, 48.0, POLICY) == "warm"
    assert m.next_tier("hot", 900.0, 48.0, POLICY) == "hot"
    assert m.next_tier("hot", 799.0, 48.0, POLICY) == "warm"
    # oscillating around the threshold does not flap
    tier = "warm"
    history = []
    for v in (1001, 950, 1010, 900, 990, 820):
        tier = m.next_tier(tier, float(v), 48.0, POLICY)
        history.append(tier)
    assert history == ["hot"] * 6
    # ultra_hot stays down to 4000
    assert m.next_tier("ultra_hot", 4100.0, 48.0, POLICY) == "ultra_hot"
    assert m.next_tier("ultra_hot", 3900.0, 48.0, POLICY) == "hot"


def test_archive_old_and_slow() -> None:
    assert m.next_tier("cold", 1.0, 200.0, POLICY) == "archived"
    assert m.next_tier("cold", 50.0, 200.0, POLICY) == "cold"
    assert m.next_tier("cold", 1.0, 100.0, POLICY) == "cold"
    assert POLICY.cadence_seconds("archived") is None
    assert POLICY.cadence_seconds("ultra_hot") == 1800


def test_unknown_velocity_keeps_current_or_age() -> None:
    assert m.next_tier("warm", None, 48.0, POLICY) == "warm"
    assert m.next_tier("warm", None, 0.5, POLICY) == "ultra_hot"


# --- forecasts ----------------------------------------------------------------------------
def test_views_gained_integrates_linear_velocity() -> None:
    assert m.views_gained(1000.0, 0.0, 2.0) == pytest.approx(2000.0)
    assert m.views_gained(1000.0, 200.0, 2.0) == pytest.approx(2400.0)
    assert m.views_gained(1000.0, -200.0, 2.0) == pytest.approx(1600.0)
    # velocity reaches zero after 1 h and stays there
    assert m.views_gained(1000.0, -1000.0, 3.0) == pytest.approx(500.0)


def test_forecast_on_known_series() -> None:
    # a steady 1000 views/h with a measured flat trend: +1000 per hour exactly
    result = m.forecast(10_000, 1000.0, 0.0, age_hours=48.0, snapshots=6)
    assert [f.views for f in result] == [11_000, 12_000, 13_000]
    assert [f.horizon_hours for f in result] == [1, 2, 3]
    assert result[0].confidence == pytest.approx(0.9)
    assert result[0].confidence > result[1].confidence > result[2].confidence


def test_forecast_without_trend_decays_with_age() -> None:
    # no measured trend: velocity decays like 1/(age + 2h) → a = -1000/(2+2) = -250 views/h²
    result = m.forecast(5000, 1000.0, None, age_hours=2.0, snapshots=2)
    assert result[0].views == 5000 + (1000 - 125)
    assert result[0].confidence < 0.5


def test_forecast_never_below_current_and_trend_clamped() -> None:
    result = m.forecast(5000, 0.0, -50.0, age_hours=10, snapshots=3)
    assert all(f.views == 5000 for f in result)
    wild = m.forecast(0, 100.0, 1e9, age_hours=1, snapshots=6)
    # trend is clamped to +50 %/h of velocity: 100·1 + 50·1/2 = 125
    assert wild[0].views == 125


# --- accuracy -----------------------------------------------------------------------------
def test_views_at_interpolates_between_snapshots() -> None:
    assert m.views_at(1.5 * H, (1 * H, 1000), (2 * H, 2000)) == 1500
    assert m.views_at(3 * H, (2 * H, 2000), (1 * H, 1000)) == 2000  # clamped, order-free
    assert m.views_at(1 * H, (1 * H, 1000), (1 * H, 1000)) == 1000


def test_errors_and_mape() -> None:
    assert m.absolute_percentage_error(110, 100) == pytest.approx(0.1)
    assert m.absolute_percentage_error(90, 100) == pytest.approx(0.1)
    assert m.absolute_percentage_error(5, 0) == pytest.approx(5.0)
    assert m.mape([0.1, 0.3]) == pytest.approx(20.0)
    assert m.mape([]) is None
