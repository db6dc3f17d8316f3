"""Clipper money math: integer minor units, the budget cap, idempotent re-runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelflow.domain.clippers import (
    Balance,
    Claim,
    PayTerms,
    allocate,
    check_payout_request,
    check_transition,
    entitlement,
    is_short_link,
    normalise_clip_url,
)
from reelflow.errors import Conflict, InvalidInput

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_entitlement_pays_views_above_baseline_and_minimum_rounded_down() -> None:
    terms = PayTerms(rate_per_1000=250, min_views=1000, max_per_submission=10_000)
    assert entitlement(1_500, 1_000, terms) == 0  # 500 payable < minimum
    assert entitlement(2_000, 1_000, terms) == 250
    assert entitlement(2_999, 1_000, terms) == 499  # 1999 * 250 // 1000
    assert entitlement(10_000_000, 0, terms) == 10_000  # capped
    assert entitlement(500, 1_000, terms) == 0  # below the baseline
    assert entitlement(10_000, 0, PayTerms(rate_per_1000=3)) == 30


def test_allocation_first_come_by_approval_time_gets_the_remainder() -> None:
    a, b, c = (uuid.UUID(int=i) for i in (1, 2, 3))
    claims = [
        Claim(c, T0 + timedelta(hours=2), entitled=500, credited=0),
        Claim(a, T0, entitled=600, credited=0),
        Claim(b, T0 + timedelta(hours=1), entitled=600, credited=0),
    ]
    out = allocate(claims, budget=1000, spent=0)
    assert out.credits == {a: 600, b: 400}
    assert out.spent_after == 1000 and out.exhausted
    # Re-running with the ledger's credits credits nothing more.
    again = allocate(
        [Claim(x.submission_id, x.approved_at, x.entitled, out.credits.get(x.submission_id, 0)) for x in claims],
        budget=1000,
        spent=1000,
    )
    assert again.credits == {}


readings = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5_000_000)), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    readings=readings,
    budget=st.integers(0, 2_000_000),
    rate=st.integers(1, 5_000),
    min_views=st.integers(0, 10_000),
    cap=st.one_of(st.none(), st.integers(0, 1_000_000)),
    baselines=st.lists(st.integers(0, 100_000), min_size=6, max_size=6),
    rounds=st.integers(1, 4),
)
def test_spend_never_exceeds_budget_under_any_order_of_readings(
    readings: list[tuple[int, int]],
    budget: int,
    rate: int,
    min_views: int,
    cap: int | None,
    baselines: list[int],
    rounds: int,
) -> None:
    terms = PayTerms(rate_per_1000=rate, min_views=min_views, max_per_submission=cap)
    ids = [uuid.UUID(int=i + 1) for i in range(6)]
    approved = {sid: T0 + timedelta(minutes=i) for i, sid in enumerate(ids)}
    peak = dict.fromkeys(ids, 0)
    credited = dict.fromkeys(ids, 0)
    spent = 0
    chunk = max(1, len(readings) // rounds)
    for start in range(0, len(readings), chunk):
        for idx, views in readings[start : start + chunk]:
            peak[ids[idx]] = max(peak[ids[idx]], views)  # a falling count never lowers the peak
        claims = [
            Claim(s, approved[s], entitlement(peak[s], baselines[i], terms), credited[s]) for i, s in enumerate(ids)
        ]
        out = allocate(claims, budget=budget, spent=spent)
        assert all(v > 0 for v in out.credits.values())
        for sid, amount in out.credits.items():
            credited[sid] += amount
            assert credited[sid] <= entitlement(peak[sid], baselines[ids.index(sid)], terms)
        spent = out.spent_after
        assert spent == sum(credited.values()) <= budget
        # Re-running the same data credits nothing new.
        claims = [
            Claim(s, approved[s], entitlement(peak[s], baselines[i], terms), credited[s]) for i, s in enumerate(ids)
        ]
        assert allocate(claims, budget=budget, spent=spent).credits == {}


@settings(max_examples=200, deadline=None)
@given(credited=st.integers(0, 10**9), paid_frac=st.integers(0, 100), pending_frac=st.integers(0, 100))
def test_available_is_credited_minus_paid_minus_pending(credited: int, paid_frac: int, pending_frac: int) -> None:
    paid = credited * paid_frac // 200
    pending = credited * pending_frac // 200
    balance = Balance(credited=credited, paid=paid, pending=pending)
    assert balance.available == credited - paid - pending >= 0


def test_payout_request_checks_minimum_and_available() -> None:
    balance = Balance(credited=5000, paid=1000, pending=1000)
    assert check_payout_request(3000, balance, 1000) == 3000
    with pytest.raises(Conflict):
        check_payout_request(3001, balance, 1000)
    with pytest.raises(InvalidInput) as err:
        check_payout_request(999, balance, 1000)
    assert err.value.field == "amount_minor"


def test_status_transitions() -> None:
    check_transition("draft", "active")
    check_transition("active", "paused")
    with pytest.raises(Conflict):
        check_transition("ended", "active")
    with pytest.raises(Conflict):
        check_transition("budget_exhausted", "active")
    with pytest.raises(InvalidInput):
        check_transition("draft", "bogus")


@pytest.mark.parametrize(
    ("url", "canonical", "platform"),
    [
        (
            "https://www.tiktok.com/@Some.One/video/7301234567890?is_from_webapp=1",
            "https://www.tiktok.com/@some.one/video/7301234567890",
            "tiktok",
        ),
        ("tiktok.com/@a/video/123/", "https://www.tiktok.com/@a/video/123", "tiktok"),
        ("https://m.tiktok.com/@a/video/123", "https://www.tiktok.com/@a/video/123", "tiktok"),
        (
            "https://youtube.com/shorts/abcDEF_1234?feature=share",
            "https://www.youtube.com/shorts/abcDEF_1234",
            "youtube",
        ),
        ("https://youtu.be/abcDEF_1234", "https://www.youtube.com/shorts/abcDEF_1234", "youtube"),
    ],
)
def test_url_normalisation(url: str, canonical: str, platform: str) -> None:
    clip = normalise_clip_url(url)
    assert (clip.url, clip.platform) == (canonical, platform)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/x",
        "https://www.tiktok.com/@a",
        "ftp://tiktok.com/@a/video/1",
        "https://www.youtube.com/watch?v=abc",
    ],
)
def test_bad_urls_are_rejected_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalise_clip_url(url)
    assert err.value.field == "url"


def test_short_links_are_recognised() -> None:
    assert is_short_link("https://vm.tiktok.com/ZTabc/")
    assert is_short_link("vt.tiktok.com/ZTabc")
    assert is_short_link("https://www.tiktok.com/t/ZTabc/")
    assert not is_short_link("https://www.tiktok.com/@a/video/1")
