"""Leads domain: webhook parsing (400 naming the field), direction mapping, once-only events,
and masking (no plaintext PII in what may be logged)."""

from __future__ import annotations

import json

import pytest

from reelflow.domain import leads as ld
from reelflow.errors import InvalidInput

BODY = {
    "lead_id": "7300000000000000001",
    "advertiser_id": 7100000000000000001,
    "page_id": "7200000000000000001",
    "campaign_id": "1800000000000000001",
    "create_time": 1_764_700_000,
    "ttclid": "E.C.P.abc",
    "fields": {"First_Name": "Jane", "last_name": "Doe", "phone_number": "+7 701 234 5678", "email": "jane@example.com",
               "comment": "call me after 6"},
}  # fmt: skip


def _raw(**changes: object) -> bytes:
    return json.dumps(BODY | changes).encode()


def test_parse_keeps_only_what_is_needed() -> None:
    lead = ld.parse_webhook(_raw())
    assert lead.lead_id == "7300000000000000001" and lead.advertiser_id == "7100000000000000001"
    assert (lead.name, lead.phone, lead.email, lead.ttclid) == (
        "Jane Doe",
        "+7 701 234 5678",
        "jane@example.com",
        "E.C.P.abc",
    )
    assert "call me" not in repr(lead)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "body"),
        (b"[1]", "body"),
        (_raw(lead_id=None), "lead_id"),
        (_raw(lead_id="x' OR 1=1"), "lead_id"),
        (_raw(advertiser_id=True), "advertiser_id"),
        (_raw(create_time="yesterday"), "create_time"),
        (_raw(fields={"email": 5}), "fields"),
        (_raw(ttclid=["a"]), "ttclid"),
        (b" " * (ld.MAX_BODY_BYTES + 1), "body"),
        (b"[" * 5000, "body"),
        (b'{"a":' * 3000, "body"),
    ],
)
def test_malformed_bodies_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ld.parse_webhook(raw)
    assert caught.value.field == field


def test_direction_by_campaign_then_page_then_only_direction() -> None:
    lead = ld.parse_webhook(_raw())
    adv = "7100000000000000001"
    a = ld.DirectionKeys("dir-a", adv, campaign_ids=frozenset({"1800000000000000001"}))
    b = ld.DirectionKeys("dir-b", adv, page_ids=frozenset({"7200000000000000001"}))
    other = ld.DirectionKeys("dir-x", "999", campaign_ids=frozenset({"1800000000000000001"}))
    assert ld.match_direction(lead, [b, a, other]) == "dir-a"
    assert ld.match_direction(lead, [b, other]) == "dir-b"
    assert ld.match_direction(lead, [ld.DirectionKeys("only", adv)]) == "only"
    assert ld.match_direction(lead, [ld.DirectionKeys("one", adv), ld.DirectionKeys("two", adv)]) is None
    twice = ld.DirectionKeys("dir-c", adv, campaign_ids=frozenset({"1800000000000000001"}))
    assert ld.match_direction(lead, [a, twice]) is None  # ambiguous: no guess
    assert ld.match_direction(lead, [other]) is None


def test_each_event_once_whatever_the_status_changes() -> None:
    sent: set[str] = set()
    for status in ["qualified", "rejected", "qualified", "scheduled", "qualified", "scheduled", "interested"]:
        name = ld.event_due(ld.check_status(status), sent)
        if name:
            sent.add(name)
    assert sent == {"CompleteRegistration", "PlaceAnOrder", "ViewContent"}
    assert ld.event_due("qualified", sent) is None
    with pytest.raises(InvalidInput) as caught:
        ld.check_status("new")
    assert caught.value.field == "status"


def test_log_view_has_no_plaintext_pii() -> None:
    view = json.dumps(ld.parse_webhook(_raw()).log_view())
    for secret in ("Jane", "Doe", "jane@example.com", "example.com", "701 234", "2345678"):
        assert secret not in view
    assert ld.mask_email("jane@example.com") == "j***@e***"
    assert ld.mask_phone("+7 701 234 5678") == "***78"
    assert ld.mask_name(None) is None


def test_match_direction_says_how_or_why_not() -> None:
    lead = ld.parse_webhook(_raw())
    a = ld.DirectionKeys("a", "7100000000000000001", frozenset({"1800000000000000001"}))
    b = ld.DirectionKeys("b", "7100000000000000001", page_ids=frozenset({"7200000000000000001"}))
    other = ld.DirectionKeys("z", "7100000000000000009", frozenset({"1800000000000000001"}))
    assert ld.match_direction_with_reason(lead, [a, b, other]) == ("a", "campaign")
    no_campaign = ld.parse_webhook(_raw(campaign_id=None))
    assert ld.match_direction_with_reason(no_campaign, [a, b]) == ("b", "page")
    bare = ld.parse_webhook(_raw(campaign_id=None, page_id=None))
    assert ld.match_direction_with_reason(bare, [a]) == ("a", "advertiser")
    assert ld.match_direction_with_reason(bare, [a, b]) == (None, "ambiguous")
    assert ld.match_direction_with_reason(bare, [other]) == (None, "no_direction")
    twice = ld.DirectionKeys("c", "7100000000000000001", frozenset({"1800000000000000001"}))
    assert ld.match_direction_with_reason(lead, [a, twice]) == (None, "ambiguous")
    assert ld.match_direction(lead, [a, b]) == "a"
