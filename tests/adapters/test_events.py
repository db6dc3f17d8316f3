"""Events API 2.0: normalisation and hashing, deterministic event ids, batching, and the
sandbox's per-request validation and dedup, over real HTTP."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from reelflow import errors
from reelflow.adapters.tiktok.events import (
    MAX_BATCH,
    ConversionEvent,
    TikTokEvents,
    batches,
    event_id_for,
    event_payload,
    hash_email,
    hash_external_id,
    hash_phone,
    lead_event,
    lead_status_event,
    normalise_email,
    normalise_phone,
    track_body,
)

JOHN_SHA256 = "855f96e983f1f8e8be944692b6f719fd54329826cb62e98015efee8e2e071dd4"  # sha256("john@example.com")
PHONE_SHA256 = "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"  # sha256("+12133734253")
TRACK_GLOB = "/tiktok-business/open_api/v1.3/event/track*"  # the request log drops the trailing slash
WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_email_is_trimmed_lowercased_and_hashed() -> None:
    assert hashlib.sha256(b"john@example.com").hexdigest() == JOHN_SHA256
    assert normalise_email("  John@Example.COM ") == "john@example.com"
    assert hash_email("  John@Example.COM ") == JOHN_SHA256
    assert hash_email(JOHN_SHA256.upper()) == JOHN_SHA256  # already hashed: unchanged
    with pytest.raises(errors.InvalidInput):
        normalise_email("not-an-email")


@pytest.mark.parametrize("raw", ["(213) 373-4253", "213.373.4253", "+1 213 373 4253", " 12133734253 "])
def test_phone_becomes_e164_then_hashed(raw: str) -> None:
    assert normalise_phone(raw) == "+12133734253"
    assert hash_phone(raw) == PHONE_SHA256


def test_phone_region_and_invalid_numbers() -> None:
    assert normalise_phone("07911 123456", "GB") == "+447911123456"
    assert normalise_phone("+44 7911 123456", "US") == "+447911123456"
    with pytest.raises(errors.InvalidInput):
        normalise_phone("12")
    with pytest.raises(errors.InvalidInput):
        normalise_phone("call me")


def test_external_id_hash() -> None:
    assert hash_external_id(" user-42 ") == hashlib.sha256(b"user-42").hexdigest()


def test_event_id_is_deterministic_and_distinct() -> None:
    first = event_id_for("tiktok_lead", "L1", "Lead")
    assert first == event_id_for("tiktok_lead", "L1", "Lead")
    assert len(first) == 64
    assert first != event_id_for("tiktok_lead", "L1", "CompleteRegistration")
    assert first != event_id_for("tiktok_lead", "L2", "Lead")
    assert event_id_for("a|b", "c", "Lead") != event_id_for("a", "b|c", "Lead")


def test_payload_shape_hashes_pii_and_uses_seconds() -> None:
    event = lead_event(
        source="form", lead_id="L1", event="Lead", occurred_at=WHEN, email="John@Example.com",
        phone="(213) 373-4253", ttclid="E.C.P.abc", value_minor=1999, currency="usd",
    )  # fmt: skip
    body = event_payload(event)
    assert body["event"] == "Lead"
    assert body["event_time"] == int(WHEN.timestamp())
    assert body["event_id"] == event_id_for("form", "L1", "Lead")
    assert body["user"] == {"email": [JOHN_SHA256], "phone": [PHONE_SHA256], "ttclid": "E.C.P.abc"}
    assert body["properties"] == {"value": 19.99, "currency": "USD"}
    assert "lead" not in body  # a web event: the lead block belongs to CRM event sets
    assert event_payload(event, event_source="crm")["lead"] == {"lead_id": "L1"}


# sha256(json ["tiktok_lead","7301234567890123456","CompleteRegistration"]) — a fixed vector
QUALIFIED_EVENT_ID = "a8e9bee5a108f36868c5d787105af0bcba62118fd3e638b00246fa329c8b43a9"


def test_lead_status_events_are_web_events_with_fixed_vectors() -> None:
    lead = "7301234567890123456"
    names = {
        s: e.event if (e := lead_status_event(lead_id=lead, status=s, occurred_at=WHEN)) else None
        for s in ("new", "interested", "qualified", "scheduled", "rejected")
    }
    assert names == {"new": None, "interested": "ViewContent", "qualified": "CompleteRegistration",
                     "scheduled": "PlaceAnOrder", "rejected": None}  # fmt: skip
    event = lead_status_event(
        lead_id=lead, status="qualified", occurred_at=WHEN, email=" Jane.Doe+ads@Example.com ",
        phone="+7 (701) 234-56-78", ttclid="E.C.P.xyz",
    )  # fmt: skip
    assert event is not None and event.event_id == QUALIFIED_EVENT_ID
    again = lead_status_event(lead_id=lead, status="qualified", occurred_at=WHEN + timedelta(hours=1))
    assert again is not None and again.event_id == QUALIFIED_EVENT_ID  # same lead and status: same id
    body = track_body([event], event_source="web", event_source_id="CSBX0PIXEL0000000001")
    assert (body["event_source"], body["event_source_id"]) == ("web", "CSBX0PIXEL0000000001")
    user = body["data"][0]["user"]
    assert user["email"] == [hashlib.sha256(b"jane.doe+ads@example.com").hexdigest()]
    assert user["phone"] == [hashlib.sha256(b"+77012345678").hexdigest()]
    assert user["ttclid"] == "E.C.P.xyz"
    assert "lead" not in body["data"][0]


def test_payload_drops_unparseable_phone_and_needs_aware_time() -> None:
    body = event_payload(ConversionEvent(event="Lead", event_time=WHEN, event_id="x", phone="nope"))
    assert "phone" not in body["user"]
    with pytest.raises(errors.InvalidInput):
        event_payload(ConversionEvent(event="Lead", event_time=WHEN.replace(tzinfo=None), event_id="x"))


def test_batches_split_at_1000() -> None:
    sizes = [len(b) for b in batches(list(range(2001)))]
    assert sizes == [1000, 1000, 1]
    assert batches([]) == []
    with pytest.raises(errors.InvalidInput):
        track_body([ConversionEvent(event="Lead", event_time=WHEN, event_id=str(i)) for i in range(MAX_BATCH + 1)],
                   event_source="crm", event_source_id="x")  # fmt: skip


def _events(count: int, *, start: int = 0) -> list[ConversionEvent]:
    return [
        lead_event(
            source="test",
            lead_id=f"L{i}",
            event="Lead",
            occurred_at=WHEN + timedelta(seconds=i),
            email=f"user{i}@example.com",
        )
        for i in range(start, start + count)
    ]


async def _inspect(sandbox: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.get("/tiktok-business/_sandbox/inspect")
        response.raise_for_status()
        return dict(response.json())


async def test_track_sends_batches_of_at_most_1000(sandbox: Any) -> None:
    result = await TikTokEvents().track(_events(2001), event_source="crm", event_source_id="CRM_SET_1")
    assert (result.sent, result.batches, len(result.request_ids)) == (2001, 3, 3)
    requests = await sandbox.requests(TRACK_GLOB)
    assert [len(r["body"]["data"]) if r["body"] else None for r in requests][-1] == 1
    state = await _inspect(sandbox)
    assert [r["size"] for r in state["event_requests"]] == [1000, 1000, 1]
    assert len(state["events"]) == 2001
    stored = state["events"][0]
    assert stored["user"]["email"] == [hash_email("user0@example.com")]
    assert stored["event_source"] == "crm"


async def test_duplicate_event_ids_are_deduplicated_by_the_sandbox(sandbox: Any) -> None:
    events = TikTokEvents()
    await events.track(_events(5), event_source="web")  # the pixel code from settings
    await events.track(_events(5) + _events(2, start=5), event_source="web")  # a retry plus 2 new
    state = await _inspect(sandbox)
    assert len(state["events"]) == 7
    assert [(r["accepted"], r["deduplicated"]) for r in state["event_requests"]] == [(5, 0), (2, 5)]


async def test_sandbox_rejects_unhashed_pii_and_bad_batches(sandbox: Any) -> None:
    from reelflow.settings import get_settings

    settings = get_settings()
    url = settings.platform_url("tiktok_events_base_url") + "/open_api/v1.3/event/track/"
    headers = {"Access-Token": settings.credential("tiktok_events_access_token")}
    good = event_payload(_events(1)[0])
    cases: list[tuple[dict[str, Any], int]] = [
        ({"event_source": "crm", "event_source_id": "S", "data": [{**good, "user": {"email": ["a@b.c"]}}]}, 40062),
        ({"event_source": "crm", "event_source_id": "S", "data": [good] * 1001}, 40061),
        ({"event_source": "crm", "event_source_id": "S", "data": []}, 40061),
        ({"event_source": "crm", "event_source_id": "S", "data": [{**good, "event_time": 1_763_640_000_000}]}, 40002),
        ({"event_source": "web", "event_source_id": "UNKNOWN_PIXEL", "data": [good]}, 40002),
    ]
    async with httpx.AsyncClient() as client:
        for body, code in cases:
            answer = (await client.post(url, json=body, headers=headers)).json()
            assert answer["code"] == code, (code, answer)
        answer = (await client.post(url, json=cases[0][0], headers={"Access-Token": "wrong"})).json()
        assert answer["code"] == 40105
    assert (await _inspect(sandbox))["events"] == []  # a bad event rejects its whole request


async def test_default_is_web_with_the_pixel_and_crm_needs_its_own_id(sandbox: Any) -> None:
    from reelflow.settings import get_settings

    await TikTokEvents().track(_events(1))
    stored = (await _inspect(sandbox))["events"][0]
    assert stored["event_source"] == "web"
    assert stored["event_source_id"] == get_settings().credential("tiktok_pixel_code")
    assert "lead" not in stored
    with pytest.raises(errors.InvalidInput) as caught:
        await TikTokEvents().track(_events(1), event_source="crm")
    assert caught.value.field == "event_source_id"
    # the sandbox refuses a pixel code given as a CRM event set id (the old bug)
    with pytest.raises(errors.InvalidInput):
        await TikTokEvents().track(
            _events(1), event_source="crm", event_source_id=get_settings().credential("tiktok_pixel_code")
        )


async def test_unhashed_pii_error_maps_to_invalid_input(sandbox: Any) -> None:
    await sandbox.fault(TRACK_GLOB, status=400, error_code=40062)
    with pytest.raises(errors.InvalidInput) as caught:
        await TikTokEvents().track(_events(1))
    assert caught.value.extra["vendor_code"] == 40062


async def test_rate_limited_batch_is_retried(sandbox: Any) -> None:
    sandbox.set_settings(http__backoff_initial_seconds=0.01)
    await sandbox.fault(TRACK_GLOB, status=429, error_code=40100, retry_after=0)
    result = await TikTokEvents().track(_events(3))
    assert result.batches == 1
    assert len(await sandbox.requests(TRACK_GLOB)) == 2
    assert len((await _inspect(sandbox))["events"]) == 3
