"""TikTok Business API adapter: contract tests against the sandbox over real HTTP, the
error-code mapping, budget rules, string metrics and idempotency."""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reelflow import errors
from reelflow.adapters.tiktok.business import (
    AdGroupSpec,
    AdSpec,
    CampaignSpec,
    TikTokBusinessAds,
    business_error,
    lead_from_payload,
    multipart_body,
    parse_report_row,
    request_id_for,
)
from reelflow.adapters.tiktok.business_records import to_minor_units

API = "/tiktok-business/open_api/v1.3"


@dataclass
class Account:
    ads: TikTokBusinessAds
    advertiser_id: str
    token: str


async def _sandbox_call(sandbox: Any, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()


async def _authorize(sandbox: Any, advertiser_ids: list[str] | None = None) -> Account:
    issued = await _sandbox_call(
        sandbox, "POST", "/tiktok-business/_sandbox/auth_code", json={"advertiser_ids": advertiser_ids or []}
    )
    token = await TikTokBusinessAds().exchange_auth_code(issued["auth_code"])
    return Account(TikTokBusinessAds(token.access_token), token.advertiser_ids[0], token.access_token)


@pytest.fixture
async def account(sandbox: Any) -> Account:
    return await _authorize(sandbox)


async def _inspect(sandbox: Any) -> dict[str, Any]:
    return dict(await _sandbox_call(sandbox, "GET", "/tiktok-business/_sandbox/inspect"))


async def _campaign(account: Account, name: str = "Leads Q4", budget_minor: int = 100_00) -> str:
    spec = CampaignSpec(name=name, objective_type="LEAD_GENERATION", budget_mode="BUDGET_MODE_DAY",
                        budget_minor=budget_minor)  # fmt: skip
    return (await account.ads.create_campaign(account.advertiser_id, spec)).campaign_id


async def _adgroup(account: Account, campaign_id: str, budget_minor: int = 30_00, **kw: Any) -> str:
    spec = AdGroupSpec(campaign_id=campaign_id, name=kw.pop("name", "AG 1"), budget_minor=budget_minor, **kw)
    return (await account.ads.create_adgroup(account.advertiser_id, spec)).adgroup_id


async def _ad(account: Account, adgroup_id: str, name: str = "Ad 1") -> str:
    identity = (await account.ads.get_identities(account.advertiser_id))[0]
    video = await account.ads.upload_video(account.advertiser_id, b"\x00fake-mp4-bytes" + name.encode(), f"{name}.mp4")
    spec = AdSpec(adgroup_id=adgroup_id, name=name, ad_text="Get a quote in 2 minutes",
                  identity_id=identity.identity_id, identity_type=identity.identity_type, video_id=video.video_id,
                  call_to_action="LEARN_MORE", landing_page_url="https://example.com/lp")  # fmt: skip
    return (await account.ads.create_ad(account.advertiser_id, spec)).ad_id


# --- OAuth ------------------------------------------------------------------------------------------


async def test_oauth_through_the_portal_redirect(sandbox: Any) -> None:
    ads = TikTokBusinessAds()
    url = ads.authorize_url(state="st-1", redirect_uri="https://app.example.com/cb/")
    assert url.startswith(sandbox.url + "/tiktok-business/portal/auth?")
    async with httpx.AsyncClient() as client:
        redirect = await client.get(url)
    assert redirect.status_code in (302, 303, 307)
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["state"] == ["st-1"]
    token = await ads.exchange_auth_code(query["auth_code"][0])
    assert token.access_token and len(token.advertiser_ids) == 1
    assert token.expires_at is None  # long-lived (research §5.3)
    with pytest.raises(errors.InvalidInput) as reused:  # an auth_code works once
        await ads.exchange_auth_code(query["auth_code"][0])
    assert reused.value.extra["vendor_code"] == 40110
    authorized = await TikTokBusinessAds(token.access_token).authorized_advertisers()
    assert list(authorized) == token.advertiser_ids


async def test_wrong_app_secret_is_a_configuration_error(sandbox: Any) -> None:
    issued = await _sandbox_call(sandbox, "POST", "/tiktok-business/_sandbox/auth_code", json={})
    sandbox.set_settings(platforms__tiktok_business_secret="wrong")
    with pytest.raises(errors.ConfigurationError) as caught:
        await TikTokBusinessAds().exchange_auth_code(issued["auth_code"])
    assert caught.value.extra["vendor_code"] == 40101


async def test_expired_and_invalid_tokens_raise_auth_expired(sandbox: Any, account: Account) -> None:
    await account.ads.get_advertisers([account.advertiser_id])
    assert await sandbox.expire_tokens() >= 1
    with pytest.raises(errors.AuthExpired) as expired:
        await account.ads.get_campaigns(account.advertiser_id)
    assert expired.value.extra["vendor_code"] == 40102
    with pytest.raises(errors.AuthExpired) as invalid:
        await TikTokBusinessAds("not-a-token").get_advertisers([account.advertiser_id])
    assert invalid.value.extra["vendor_code"] == 40105
    with pytest.raises(errors.AuthExpired):
        await TikTokBusinessAds(None).get_advertisers([account.advertiser_id])


# --- advertisers, identities -----------------------------------------------------------------------------


async def test_advertiser_info_and_identities(sandbox: Any, account: Account) -> None:
    [advertiser] = await account.ads.get_advertisers([account.advertiser_id])
    assert advertiser.advertiser_id == account.advertiser_id
    assert advertiser.currency == "USD" and advertiser.balance_minor == 1_000_000
    identities = await account.ads.get_identities(account.advertiser_id)
    assert identities and identities[0].identity_type == "CUSTOMIZED_USER"
    [tt_user] = await account.ads.get_identities(account.advertiser_id, "TT_USER")  # the identity for posting ads
    assert tt_user.can_push_video
    other = await _authorize(sandbox)
    with pytest.raises(errors.Forbidden) as caught:  # not this token's advertiser
        await account.ads.get_campaigns(other.advertiser_id)
    assert caught.value.extra["vendor_code"] == 40001


# --- campaigns ------------------------------------------------------------------------------------------


async def test_campaign_create_get_update_status(sandbox: Any, account: Account) -> None:
    spec = CampaignSpec(name="Leads Q4", objective_type="LEAD_GENERATION", budget_minor=120_50)
    created = await account.ads.create_campaign(account.advertiser_id, spec)
    assert created.budget_minor == 120_50 and created.currency == "USD"
    assert created.operation_status == "ENABLE"
    request = (await sandbox.requests(f"{API}/campaign/create*"))[-1]
    assert request["body"]["budget"] == 120.5  # the wire takes currency units
    [listed] = await account.ads.get_campaigns(account.advertiser_id, [created.campaign_id])
    assert listed.name == "Leads Q4" and listed.created_at is not None

    assert await account.ads.update_campaign(account.advertiser_id, created.campaign_id, budget_minor=150_00)
    assert not await account.ads.update_campaign(account.advertiser_id, created.campaign_id, budget_minor=150_00)
    [updated] = await account.ads.get_campaigns(account.advertiser_id, [created.campaign_id])
    assert updated.budget_minor == 150_00

    for _ in range(2):  # a repeated status change is a no-op on the platform
        result = await account.ads.set_campaign_status(account.advertiser_id, [created.campaign_id], "DISABLE")
        assert result == {created.campaign_id: "DISABLE"}
    assert len(await sandbox.events("tiktok_business.campaign.status")) == 1
    assert len(await sandbox.events("tiktok_business.campaign.update")) == 1
    assert len(await sandbox.events("tiktok_business.campaign.create")) == 1


async def test_campaign_create_with_idempotency_key_creates_once(sandbox: Any, account: Account) -> None:
    spec = CampaignSpec(name="Once", objective_type="TRAFFIC", budget_minor=60_00)
    first = await account.ads.create_campaign(account.advertiser_id, spec, idempotency_key="launch-42")
    second = await account.ads.create_campaign(account.advertiser_id, spec, idempotency_key="launch-42")
    assert first.campaign_id == second.campaign_id
    assert len(await sandbox.events("tiktok_business.campaign.create")) == 1
    request = (await sandbox.requests(f"{API}/campaign/create*"))[-1]
    assert request["body"]["request_id"] == request_id_for("launch-42")
    assert request_id_for("launch-42").isdigit() and int(request_id_for("launch-42")) < 2**63


async def test_campaign_lost_answer_with_key_is_retried_and_not_duplicated(sandbox: Any, account: Account) -> None:
    sandbox.set_settings(http__backoff_initial_seconds=0.01)
    await account.ads.get_advertisers([account.advertiser_id])
    await sandbox.fault(f"{API}/campaign/create*", kind="after_accept", status=500)
    spec = CampaignSpec(name="Retry me", objective_type="TRAFFIC", budget_minor=60_00)
    campaign = await account.ads.create_campaign(account.advertiser_id, spec, idempotency_key="k-1")
    assert len(await sandbox.requests(f"{API}/campaign/create*")) == 2
    assert len(await sandbox.events("tiktok_business.campaign.create")) == 1
    assert [c.campaign_id for c in await account.ads.get_campaigns(account.advertiser_id)] == [campaign.campaign_id]


async def test_adgroup_lost_answer_is_ambiguous(sandbox: Any, account: Account) -> None:
    campaign_id = await _campaign(account)
    await sandbox.fault(f"{API}/adgroup/create*", kind="after_accept", status=500)
    with pytest.raises(errors.Ambiguous):
        await _adgroup(account, campaign_id)
    assert len(await sandbox.events("tiktok_business.adgroup.create")) == 1  # it was applied
    assert len(await account.ads.get_adgroups(account.advertiser_id, campaign_ids=[campaign_id])) == 1


# --- budget rules (research §5.5) ---------------------------------------------------------------------


async def test_budget_minimums_are_enforced_like_the_real_api(sandbox: Any, account: Account) -> None:
    with pytest.raises(errors.InvalidInput) as low_campaign:
        await _campaign(account, budget_minor=49_99)
    assert low_campaign.value.extra["vendor_code"] == 40002
    campaign_id = await _campaign(account, budget_minor=50_00)
    with pytest.raises(errors.InvalidInput):
        await _adgroup(account, campaign_id, budget_minor=19_99)
    assert await _adgroup(account, campaign_id, budget_minor=20_00)
    with pytest.raises(errors.InvalidInput):  # a daily-budget campaign needs daily ad groups
        await _adgroup(account, campaign_id, budget_mode="BUDGET_MODE_TOTAL", budget_minor=1000_00,
                       schedule_end=datetime.now(UTC) + timedelta(days=3), name="AG total")  # fmt: skip
    with pytest.raises(errors.InvalidInput):
        await account.ads.update_campaign(account.advertiser_id, campaign_id, budget_minor=10_00)


async def test_lifetime_adgroup_budget_scales_with_scheduled_days(sandbox: Any, account: Account) -> None:
    spec = CampaignSpec(name="Lifetime", objective_type="REACH", budget_mode="BUDGET_MODE_TOTAL", budget_minor=5000_00)
    campaign_id = (await account.ads.create_campaign(account.advertiser_id, spec)).campaign_id
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    end = start + timedelta(days=31)
    kwargs = {"budget_mode": "BUDGET_MODE_TOTAL", "schedule_start": start, "schedule_end": end}
    with pytest.raises(errors.InvalidInput) as caught:
        await _adgroup(account, campaign_id, budget_minor=619_99, name="too low", **kwargs)
    assert "620.00" in caught.value.detail
    adgroup_id = await _adgroup(account, campaign_id, budget_minor=620_00, name="ok", **kwargs)
    [adgroup] = await account.ads.get_adgroups(account.advertiser_id, adgroup_ids=[adgroup_id])
    assert adgroup.budget_mode == "BUDGET_MODE_TOTAL" and adgroup.budget_minor == 620_00
    assert adgroup.schedule_start_time == start and adgroup.schedule_end_time == end
    assert adgroup.schedule_type == "SCHEDULE_START_END"


# --- ads, video upload, cascade ---------------------------------------------------------------------------


async def test_video_upload_sends_md5_signature(sandbox: Any, account: Account) -> None:
    content = b"\x00\x00\x00\x18ftypmp42-not-really-a-video"
    video = await account.ads.upload_video(account.advertiser_id, content, "clip-1.mp4")
    assert video.signature == hashlib.md5(content).hexdigest()
    assert video.size == len(content) and video.video_id
    with pytest.raises(errors.Conflict) as duplicate:
        await account.ads.upload_video(account.advertiser_id, content, "clip-1.mp4")
    assert duplicate.value.extra["vendor_code"] == 40911
    body, content_type = multipart_body(
        {"advertiser_id": account.advertiser_id, "video_signature": "0" * 32, "file_name": "x.mp4"},
        {"video_file": ("x.mp4", content, "video/mp4")},
    )
    answer = await _sandbox_call(sandbox, "POST", f"{API}/file/video/ad/upload/", content=body,
                                 headers={"Content-Type": content_type, "Access-Token": account.token})  # fmt: skip
    assert answer["code"] == 40900
    assert business_error(answer["code"], answer["message"], None, idempotent=False).__class__ is errors.InvalidInput


async def test_real_video_metadata_is_probed(sandbox: Any, account: Account) -> None:
    av = pytest.importorskip("av")
    import io

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 64, 112
        for index in range(10):
            import numpy as np

            frame = av.VideoFrame.from_ndarray(np.full((112, 64, 3), index * 20, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    video = await account.ads.upload_video(account.advertiser_id, buffer.getvalue(), "probe.mp4")
    assert (video.width, video.height) == (64, 112)
    assert video.duration is not None and 0.5 < video.duration < 2


async def test_adgroup_and_ad_lifecycle(sandbox: Any, account: Account) -> None:
    campaign_id = await _campaign(account)
    adgroup_id = await _adgroup(account, campaign_id, location_ids=["6252001"], bid_price_minor=1_50)
    [adgroup] = await account.ads.get_adgroups(account.advertiser_id, campaign_ids=[campaign_id])
    assert adgroup.adgroup_id == adgroup_id and adgroup.budget_minor == 30_00 and adgroup.bid_price_minor == 150
    assert adgroup.location_ids == ["6252001"]
    assert await account.ads.update_adgroup(account.advertiser_id, adgroup_id, budget_minor=45_00)
    [adgroup] = await account.ads.get_adgroups(account.advertiser_id, adgroup_ids=[adgroup_id])
    assert adgroup.budget_minor == 45_00

    ad_id = await _ad(account, adgroup_id)
    [ad] = await account.ads.get_ads(account.advertiser_id, adgroup_ids=[adgroup_id])
    assert ad.ad_id == ad_id and ad.campaign_id == campaign_id and ad.video_id
    assert ad.landing_page_url == "https://example.com/lp"
    assert await account.ads.update_ad(account.advertiser_id, ad_id, ad_text="New text")
    assert await account.ads.set_ad_status(account.advertiser_id, [ad_id], "DISABLE") == {ad_id: "DISABLE"}
    await account.ads.set_adgroup_status(account.advertiser_id, [adgroup_id], "DISABLE")

    await account.ads.set_campaign_status(account.advertiser_id, [campaign_id], "DELETE")
    assert await account.ads.get_ads(account.advertiser_id, adgroup_ids=[adgroup_id]) == []  # deleted with it
    assert await account.ads.get_campaigns(account.advertiser_id) == []
    with pytest.raises(errors.InvalidInput):  # a deleted campaign cannot be enabled again
        await account.ads.set_campaign_status(account.advertiser_id, [campaign_id], "ENABLE")
    with pytest.raises(errors.NotFound) as missing:
        await account.ads.set_ad_status(account.advertiser_id, ["1"], "ENABLE")
    assert missing.value.extra["vendor_code"] == 40007


async def test_ad_with_unknown_video_is_rejected(sandbox: Any, account: Account) -> None:
    adgroup_id = await _adgroup(account, await _campaign(account))
    identity = (await account.ads.get_identities(account.advertiser_id))[0]
    spec = AdSpec(adgroup_id=adgroup_id, name="x", ad_text="y", identity_id=identity.identity_id, video_id="v-nope")
    with pytest.raises(errors.InvalidInput) as caught:
        await account.ads.create_ad(account.advertiser_id, spec)
    assert caught.value.extra["vendor_code"] == 40053


# --- reports ------------------------------------------------------------------------------------------------


async def test_report_from_simulated_delivery_with_string_metrics(sandbox: Any, account: Account) -> None:
    campaign_id = await _campaign(account)
    adgroup_id = await _adgroup(account, campaign_id, budget_minor=40_00)
    ad_id = await _ad(account, adgroup_id)
    started = datetime.fromtimestamp(await sandbox.now(), UTC).date()
    await sandbox.advance(2 * 86400)
    end = started + timedelta(days=2)

    raw = await _sandbox_call(
        sandbox, "GET", f"{API}/report/integrated/get/", headers={"Access-Token": account.token},
        params={"advertiser_id": account.advertiser_id, "report_type": "BASIC", "data_level": "AUCTION_AD",
                "dimensions": json.dumps(["ad_id", "stat_time_day"]), "metrics": json.dumps(["spend", "clicks", "ctr"]),
                "start_date": started.isoformat(), "end_date": end.isoformat()},
    )  # fmt: skip
    assert raw["code"] == 0
    metrics = raw["data"]["list"][0]["metrics"]
    assert all(isinstance(v, str) for v in metrics.values())

    report = await account.ads.get_report(account.advertiser_id, start=started, end=end)
    assert report.total_rows == len(report.rows) >= 2
    days = {row.stat_day for row in report.rows}
    assert started + timedelta(days=1) in days
    full_day = next(r for r in report.rows if r.stat_day == started + timedelta(days=1))
    assert full_day.ad_id == ad_id and full_day.currency == "USD"
    assert 0 < full_day.spend_minor <= 40_00  # never above the ad group's daily budget
    assert full_day.impressions > full_day.clicks >= 0
    assert isinstance(full_day.ctr, float) and full_day.cpm_minor is not None
    total = await account.ads.get_report(account.advertiser_id, start=started, end=end, by="total",
                                         data_level="AUCTION_CAMPAIGN")  # fmt: skip
    assert [r.campaign_id for r in total.rows] == [campaign_id]
    assert total.rows[0].spend_minor == sum(r.spend_minor for r in report.rows)


async def test_paused_ads_stop_delivering(sandbox: Any, account: Account) -> None:
    campaign_id = await _campaign(account)
    adgroup_id = await _adgroup(account, campaign_id)
    ad_id = await _ad(account, adgroup_id)
    today = datetime.fromtimestamp(await sandbox.now(), UTC).date()
    await sandbox.advance(3600)
    await account.ads.set_ad_status(account.advertiser_id, [ad_id], "DISABLE")
    await sandbox.advance(3 * 86400)
    report = await account.ads.get_report(account.advertiser_id, start=today, end=today + timedelta(days=3))
    assert [r.stat_day for r in report.rows] == [today]  # delivered for one hour, then nothing


async def test_hourly_report_and_range_limits(sandbox: Any, account: Account) -> None:
    adgroup_id = await _adgroup(account, await _campaign(account))
    await _ad(account, adgroup_id)
    await sandbox.advance(86400)
    yesterday = datetime.fromtimestamp(await sandbox.now(), UTC).date() - timedelta(days=1)
    report = await account.ads.get_report(account.advertiser_id, start=yesterday, end=yesterday, by="hour")
    assert report.rows and all(r.stat_hour is not None and r.stat_hour.date() == yesterday for r in report.rows)
    with pytest.raises(errors.InvalidInput):
        await account.ads.get_report(account.advertiser_id, start=yesterday, end=yesterday + timedelta(days=1),
                                     by="hour")  # fmt: skip
    raw = await _sandbox_call(
        sandbox, "GET", f"{API}/report/integrated/get/", headers={"Access-Token": account.token},
        params={"advertiser_id": account.advertiser_id, "data_level": "AUCTION_AD",
                "dimensions": json.dumps(["ad_id", "stat_time_day"]), "start_date": "2026-01-01",
                "end_date": "2026-03-01"},
    )  # fmt: skip
    assert raw["code"] == 40002


def test_string_metrics_are_parsed_to_numbers() -> None:
    item = {
        "dimensions": {"ad_id": "123", "stat_time_day": "2026-11-20 00:00:00"},
        "metrics": {"spend": "1,234.567", "impressions": "100000", "clicks": "3", "ctr": "3.00%", "cpc": "0.41",
                    "cpm": "-", "conversion": "0", "frequency": "1.25"},
    }  # fmt: skip
    row = parse_report_row(item, "USD")
    assert row.spend_minor == 123457 and row.impressions == 100_000 and row.clicks == 3
    assert row.ctr == 3.0 and row.cpc_minor == 41 and row.cpm_minor is None and row.conversions == 0
    assert row.stat_day == date(2026, 11, 20) and row.other == {"frequency": 1.25}
    assert parse_report_row(item, "JPY").spend_minor == 1235
    assert to_minor_units("1.0005", "KWD") == 1001
    with pytest.raises(errors.Permanent):
        parse_report_row({"dimensions": {}, "metrics": {"spend": "abc"}}, "USD")


# --- error-code mapping and faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "idempotent", "expected"),
    [
        (40100, False, errors.Retryable),
        (40132, True, errors.Retryable),
        (61000, False, errors.Retryable),
        (40102, True, errors.AuthExpired),
        (40105, True, errors.AuthExpired),
        (40104, True, errors.AuthExpired),
        (40002, True, errors.InvalidInput),
        (40110, False, errors.InvalidInput),
        (40062, True, errors.InvalidInput),
        (40001, True, errors.Forbidden),
        (40007, True, errors.NotFound),
        (40300, True, errors.NotFound),
        (40911, False, errors.Conflict),
        (40101, True, errors.ConfigurationError),
        (41000, True, errors.Permanent),
        (49999, True, errors.Permanent),
        (50000, True, errors.Retryable),
        (51010, True, errors.Retryable),
        (52100, True, errors.Retryable),
        (50000, False, errors.Ambiguous),
        (50002, False, errors.Ambiguous),
    ],
)
def test_error_code_mapping(code: int, idempotent: bool, expected: type[errors.ReelflowError]) -> None:
    error = business_error(code, "message", "req-1", idempotent=idempotent)
    assert type(error) is expected
    assert error.extra["vendor_code"] == code and error.extra["request_id"] == "req-1"


def test_rate_limit_and_auth_details() -> None:
    limited = business_error(40100, "too frequent", None, idempotent=True)
    assert isinstance(limited, errors.Retryable) and limited.retry_after == 1.0
    expired = business_error(40102, "expired", None, idempotent=True)
    assert isinstance(expired, errors.AuthExpired) and expired.reauth_required


async def test_injected_rate_limit_is_retried(sandbox: Any, account: Account) -> None:
    await account.ads.get_advertisers([account.advertiser_id])
    await sandbox.fault(f"{API}/campaign/get*", error_code=40100, status=429)
    assert await account.ads.get_campaigns(account.advertiser_id) == []
    assert len(await sandbox.requests(f"{API}/campaign/get*")) == 2


async def test_injected_invalid_token_fault(sandbox: Any, account: Account) -> None:
    await account.ads.get_advertisers([account.advertiser_id])
    await sandbox.fault(f"{API}/campaign/get*", kind="auth_expired")
    with pytest.raises(errors.AuthExpired):
        await account.ads.get_campaigns(account.advertiser_id)


async def test_persistent_server_errors_end_as_retryable(sandbox: Any, account: Account) -> None:
    sandbox.set_settings(http__max_attempts=2, http__backoff_initial_seconds=0.01)
    await account.ads.get_advertisers([account.advertiser_id])
    await sandbox.fault(f"{API}/campaign/get*", status=500, error_code=50000, times=-1)
    with pytest.raises(errors.Retryable) as caught:
        await account.ads.get_campaigns(account.advertiser_id)
    assert not isinstance(caught.value, errors.Ambiguous)
    assert len(await sandbox.requests(f"{API}/campaign/get*")) == 2


# --- leads -------------------------------------------------------------------------------------------------------


async def test_lead_from_sandbox_mock_and_known_shapes(sandbox: Any, account: Account) -> None:
    ad_id = await _ad(account, await _adgroup(account, await _campaign(account)))
    mock = await _sandbox_call(sandbox, "POST", "/tiktok-business/_sandbox/leads",
                               json={"ad_id": ad_id, "fields": {"Email": "a@b.co", "phone_number": "+1 213 373 4253",
                                                                "name": "Ann"}})  # fmt: skip
    lead = lead_from_payload(mock)
    assert lead.lead_id == mock["lead_id"] and lead.ad_id == ad_id and lead.advertiser_id == account.advertiser_id
    assert lead.email == "a@b.co" and lead.phone == "+1 213 373 4253" and lead.created_at is not None
    wrapped = lead_from_payload({"leads": [{"lead_id": "9", "field_data": [{"name": "email", "values": ["x@y.z"]}]}]})
    assert wrapped.lead_id == "9" and wrapped.email == "x@y.z"
    nested = lead_from_payload({"event_data": {"lead_info": {"id": "7", "create_time": "2026-11-20 10:00:00"}}})
    assert nested.lead_id == "7" and nested.created_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    with pytest.raises(errors.InvalidInput):
        lead_from_payload({"nothing": 1})


async def test_full_report_walks_every_page(sandbox: Any, account: Account) -> None:
    adgroup_id = await _adgroup(account, await _campaign(account))
    ad_ids = {await _ad(account, adgroup_id, name=f"Ad {i}") for i in range(3)}
    await sandbox.advance(86400)
    today = datetime.fromtimestamp(await sandbox.now(), UTC).date()
    first = await account.ads.get_report(account.advertiser_id, start=today - timedelta(days=1), end=today,
                                         by="total", page_size=2)  # fmt: skip
    assert (len(first.rows), first.total_pages, first.total_rows) == (2, 2, 3)
    rows = await account.ads.get_full_report(account.advertiser_id, start=today - timedelta(days=1), end=today,
                                             by="total", page_size=2)  # fmt: skip
    assert {r.ad_id for r in rows} == ad_ids
    assert len(await sandbox.requests(f"{API}/report/integrated/get*")) == 3


async def test_full_report_requests_the_pages_after_the_first_together(sandbox: Any, account: Account) -> None:
    adgroup_id = await _adgroup(account, await _campaign(account))
    for i in range(4):
        await _ad(account, adgroup_id, name=f"Ad {i}")
    await sandbox.advance(86400)
    today = datetime.fromtimestamp(await sandbox.now(), UTC).date()
    kwargs: dict[str, Any] = {"start": today - timedelta(days=1), "end": today, "by": "total", "page_size": 1}
    one_by_one = []
    for page in range(1, 5):
        one_by_one.extend((await account.ads.get_report(account.advertiser_id, page=page, **kwargs)).rows)
    await sandbox.fault(f"{API}/report/integrated/get*", kind="latency", delay=0.6, times=4)
    rows = await account.ads.get_full_report(account.advertiser_id, **kwargs)
    assert [r.ad_id for r in rows] == [r.ad_id for r in one_by_one]  # page order kept
    calls = (await sandbox.requests(f"{API}/report/integrated/get*"))[-4:]
    arrived = sorted(float(c["real_at"]) for c in calls)
    assert arrived[1] - arrived[0] >= 0.5  # page 1 first: it says how many pages there are
    assert arrived[3] - arrived[1] < 0.9  # pages 2-4 together (paced by the rate limit only), not 3 × 0.6 s


async def test_a_known_currency_and_timezone_save_the_advertiser_lookup(sandbox: Any, account: Account) -> None:
    await _ad(account, await _adgroup(account, await _campaign(account)))
    await sandbox.advance(86400)
    today = datetime.fromtimestamp(await sandbox.now(), UTC).date()
    fresh = TikTokBusinessAds(account.token)  # no advertiser cached on this instance
    before = len(await sandbox.requests(f"{API}/advertiser/info*"))
    rows = await fresh.get_full_report(
        account.advertiser_id, start=today - timedelta(days=1), end=today, currency="USD", timezone="Etc/GMT"
    )
    assert rows and all(r.currency == "USD" for r in rows)
    assert len(await sandbox.requests(f"{API}/advertiser/info*")) == before


async def test_calls_stay_inside_the_platforms_rate_windows(sandbox: Any, account: Account) -> None:
    """The sandbox's model counts 10 requests per sliding second per endpoint; a token bucket
    with a burst of 10 would let ~20 through in one second. The adapter's bucket does not."""
    await _ad(account, await _adgroup(account, await _campaign(account)))
    today = datetime.fromtimestamp(await sandbox.now(), UTC).date()
    await _sandbox_call(sandbox, "POST", "/sandbox/latency", json={"enabled": True, "scale": 0.0})
    async with httpx.AsyncClient(base_url=sandbox.url) as raw:  # unpaced (and answered at once): 40100s
        answers = await asyncio.gather(
            *(raw.get(f"{API}/report/integrated/get/", headers={"Access-Token": account.token}) for _ in range(30))
        )
    assert sum(a.json()["code"] == 40100 for a in answers) >= 1
    await _sandbox_call(sandbox, "POST", "/sandbox/latency", json={"enabled": True, "scale": 0.0})  # fresh windows
    await asyncio.gather(
        *(account.ads.get_report(account.advertiser_id, start=today, end=today, by="total") for _ in range(14))
    )
    model = await _sandbox_call(sandbox, "GET", "/sandbox/latency")
    [row] = [r for r in model["endpoints"] if r["pattern"] == "/tiktok-business/open_api/v1.3/report/*"]
    assert row["requests"] == 14 and row["limited"] == 0


def test_rate_limit_within_sliding_windows() -> None:
    limit = TikTokBusinessAds()._limits("/report/integrated/get/")[0]  # the 10/s and 600/min windows
    assert limit.burst == 1.0 and limit.rate < 9.0
    sent = [k / limit.rate for k in range(1200)]  # everyone asks at t=0: the bucket's schedule
    for count, window in ((10, 1.0), (600, 60.0)):
        most = max(bisect.bisect_left(sent, t + window) - i for i, t in enumerate(sent))  # in [t, t + window)
        assert most < count
        assert sent[count - 1] - sent[0] >= window * 1.1  # room for the platform's clock to differ


async def test_status_update_answers_have_the_documented_shapes(sandbox: Any, account: Account) -> None:
    """The sandbox answers each level with the documented fields, not one shared shape."""
    campaign_id = await _campaign(account)
    adgroup_id = await _adgroup(account, campaign_id)
    ad_id = await _ad(account, adgroup_id)
    headers = {"Access-Token": account.token}
    shapes = {}
    for kind, entity_id in (("campaign", campaign_id), ("adgroup", adgroup_id), ("ad", ad_id)):
        body = {"advertiser_id": account.advertiser_id, f"{kind}_ids": [entity_id], "operation_status": "DISABLE"}
        answer = await _sandbox_call(sandbox, "POST", f"{API}/{kind}/status/update/", json=body, headers=headers)
        assert answer["code"] == 0
        shapes[kind] = answer["data"]
    assert shapes["campaign"] == {"campaign_ids": [campaign_id], "status": "DISABLE",
                                  "campaign_list": [{"campaign_id": campaign_id, "status": "DISABLE"}]}  # fmt: skip
    assert shapes["adgroup"] == {"adgroup_ids": [adgroup_id], "status": "DISABLE", "error_list": []}
    assert shapes["ad"] == {"ad_ids": [ad_id], "status": "DISABLE"}


async def test_status_updates_are_sent_20_ids_per_call(sandbox: Any, account: Account) -> None:
    campaign_id = await _campaign(account)
    adgroup_ids = [await _adgroup(account, campaign_id, name=f"AG {i}") for i in range(45)]
    result = await account.ads.set_adgroup_status(account.advertiser_id, adgroup_ids, "DISABLE")
    assert result == dict.fromkeys(adgroup_ids, "DISABLE")
    calls = await sandbox.requests(f"{API}/adgroup/status/update/*", method="POST")
    assert len(calls) == 3  # 20 + 20 + 5
    # The sandbox refuses what the platform refuses: 21 ids in one call.
    body = {"advertiser_id": account.advertiser_id, "adgroup_ids": adgroup_ids[:21], "operation_status": "ENABLE"}
    answer = await _sandbox_call(sandbox, "POST", f"{API}/adgroup/status/update/", json=body,
                                 headers={"Access-Token": account.token})  # fmt: skip
    assert answer["code"] == 40002 and "20" in answer["message"]


def test_status_update_parsing_reads_documented_fields_and_error_list() -> None:
    from reelflow.adapters.tiktok.business_wire import parse_status_update

    assert parse_status_update({"ad_ids": ["1", "2"], "status": "ENABLE"}, "ad") == {"1": "ENABLE", "2": "ENABLE"}
    data = {"adgroup_ids": ["1", "2"], "status": "DISABLE", "error_list": [{"adgroup_id": "2", "error_message": "x"}]}
    assert parse_status_update(data, "adgroup") == {"1": "DISABLE"}
    data = {"campaign_ids": ["1"], "status": "DELETE", "campaign_list": [{"campaign_id": "1", "status": "DELETE"}]}
    assert parse_status_update(data, "campaign") == {"1": "DELETE"}


async def test_business_tokens_are_long_lived_and_auth_codes_last_one_hour(sandbox: Any) -> None:
    """Research §5.3: the code is valid 1 h and works once; the token has no expiry and no
    refresh token, and keeps working years later on the sandbox clock until revoked."""
    issued = await _sandbox_call(sandbox, "POST", "/tiktok-business/_sandbox/auth_code", json={})
    token = await TikTokBusinessAds().exchange_auth_code(issued["auth_code"])
    assert token.expires_at is None and token.refresh_token is None
    with pytest.raises(errors.ReelflowError) as reused:
        await TikTokBusinessAds().exchange_auth_code(issued["auth_code"])
    assert reused.value.extra["vendor_code"] == 40110
    late = await _sandbox_call(sandbox, "POST", "/tiktok-business/_sandbox/auth_code", json={})
    await sandbox.advance(3601)
    with pytest.raises(errors.ReelflowError) as expired_code:
        await TikTokBusinessAds().exchange_auth_code(late["auth_code"])
    assert expired_code.value.extra["vendor_code"] == 40110
    await sandbox.advance(3 * 365 * 86400)
    ads = TikTokBusinessAds(token.access_token)
    assert [a.advertiser_id for a in await ads.get_advertisers(token.advertiser_ids)] == token.advertiser_ids
    await _sandbox_call(sandbox, "POST", "/tiktok-business/_sandbox/revoke", json={"access_token": token.access_token})
    with pytest.raises(errors.AuthExpired) as revoked:
        await TikTokBusinessAds(token.access_token).get_campaigns(token.advertiser_ids[0])
    assert revoked.value.extra["vendor_code"] == 40105


async def test_countries_become_tiktok_location_ids(sandbox: Any, account: Account) -> None:
    """Ad groups target TikTok's location ids (`/tool/region/`); an ISO code there is refused."""
    ids = await account.ads.country_location_ids(account.advertiser_id, ["US", "kz"], objective_type="TRAFFIC")
    assert ids == ["6252001", "1522867"]
    with pytest.raises(errors.InvalidInput) as info:
        await account.ads.country_location_ids(account.advertiser_id, ["US", "ZZ"], objective_type="TRAFFIC")
    assert info.value.field == "settings.countries" and "ZZ" in str(info.value)
    campaign_id = await _campaign(account)
    assert await _adgroup(account, campaign_id, location_ids=ids)
    with pytest.raises(errors.ReelflowError) as refused:
        await _adgroup(account, campaign_id, name="AG ISO", location_ids=["US"])
    assert "location_ids" in str(refused.value)
