"""TikTok API for Business v1.3 (ads): OAuth, advertisers, identities, campaigns, ad groups,
ads, video upload and reports, over the shared HTTP layer (`reelflow.adapters.httpclient`).

Wire facts (research §5): base ``{tiktok_business_base_url}/open_api/v1.3``; every path
ends with ``/``; the token goes in the ``Access-Token`` header; GET array/object params are
JSON strings; answers are ``{code, message, request_id, data}``, usually with HTTP 200, so
errors are read from ``code`` (`business_error_mapper`); report metrics are strings.

Money crosses this boundary as integer minor units of the advertiser's currency (read once
per advertiser from ``advertiser/info`` and cached on the instance); the API's floats stay
inside. Times are aware datetimes: schedules are UTC (as the API takes them), report days
and hours are in the advertiser's time zone.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec

from reelflow import errors
from reelflow.adapters import httpclient
from reelflow.adapters.ratelimit import RateLimit
from reelflow.adapters.tiktok.business_errors import PLATFORM, business_error, business_error_mapper
from reelflow.adapters.tiktok.business_records import (
    DEFAULT_METRICS,
    Ad,
    AdCampaign,
    AdGroup,
    Advertiser,
    AdvertiserToken,
    AdVideo,
    DataLevel,
    Identity,
    InstantPage,
    Report,
    ReportRow,
    from_minor_units,
    to_minor_units,
)
from reelflow.adapters.tiktok.business_specs import AdGroupSpec, AdSpec, AdsPlatform, CampaignSpec, StatusChange
from reelflow.adapters.tiktok.business_wire import (
    TIME_FORMAT,
    _ad,
    _adgroup,
    _campaign,
    _encode_params,
    _format_time,
    _video,
    _zone,
    lead_from_payload,
    multipart_body,
    parse_report_row,
    parse_status_update,
    request_id_for,
)
from reelflow.settings import Settings, get_settings

__all__ = [
    "PLATFORM", "TIME_FORMAT", "AdGroupSpec", "AdSpec", "AdsFactory", "AdsPlatform", "CampaignSpec", "StatusChange",
    "TikTokBusinessAds", "business_error", "business_error_mapper", "lead_from_payload", "multipart_body",
    "parse_report_row", "request_id_for", "tiktok_ads",
]  # fmt: skip

API_PREFIX = "/open_api/v1.3"
LIST_PAGE_SIZE = 1000  # the largest page the list endpoints accept
STATUS_BATCH = 20  # ids per status update call (documented limit)


class _AdvertiserMeta(msgspec.Struct, frozen=True):
    currency: str
    timezone: str


class TikTokBusinessAds:
    """`AdsPlatform` on TikTok's Business API. One instance per access token (or none, for
    the OAuth exchange); cheap to create."""

    def __init__(self, access_token: str | None = None, *, settings: Settings | None = None) -> None:
        self._settings = settings or get_settings()
        self.access_token = access_token
        self.base_url = self._settings.platform_url("tiktok_business_base_url").rstrip("/") + API_PREFIX
        self._meta: dict[str, _AdvertiserMeta] = {}
        quotas = self._settings.quotas
        self._windows = [
            (float(count), window)
            for count, window in ((quotas.tiktok_business_per_second, 1.0), (quotas.tiktok_business_per_minute, 60.0))
            if count
        ]

    def _limits(self, path: str) -> list[RateLimit]:
        """The platform counts per app per endpoint (§5.1): one bucket per path, shared by every
        token of this app and every process (Redis), never over the platform's windows."""
        buckets = [RateLimit.within_window(f"tiktok_business:{path}", n, w) for n, w in self._windows]
        return [min(buckets, key=lambda b: b.rate)] if buckets else []  # the tightest window decides

    # --- transport --------------------------------------------------------------------------------

    def _headers(self, authenticated: bool) -> dict[str, str]:
        if not authenticated:
            return {}
        if not self.access_token:
            raise errors.AuthExpired("no TikTok Business access token: authorize the ad account", reauth_required=True)
        return {"Access-Token": self.access_token}

    async def _call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool,
        authenticated: bool = True,
        read_timeout: float | None = None,
    ) -> Any:
        """One API call; returns the envelope's ``data`` (errors raised by the mapper)."""
        headers = self._headers(authenticated)
        if content_type:
            headers["Content-Type"] = content_type
        response = await httpclient.request(
            method,
            self.base_url + path,
            idempotent=idempotent,
            platform=PLATFORM,
            params=_encode_params(params) if params else None,
            json=json_body,
            content=content,
            headers=headers,
            error_mapper=business_error_mapper(idempotent=idempotent),
            rate_limits=self._limits(path),
            read_timeout=read_timeout,
        )
        body = httpclient.json_body(response)
        if not isinstance(body, dict) or "code" not in body:
            raise errors.Permanent(f"TikTok Business API: unexpected answer {response.text[:200]}", platform=PLATFORM)
        return body.get("data")

    async def _get(self, path: str, params: Mapping[str, Any], *, authenticated: bool = True) -> Any:
        return await self._call("GET", path, params=params, idempotent=True, authenticated=authenticated)

    async def _post(self, path: str, body: Mapping[str, Any], *, idempotent: bool) -> Any:
        return await self._call("POST", path, json_body=dict(body), idempotent=idempotent)

    async def _list_all(
        self, path: str, params: Mapping[str, Any], *, list_key: str = "list", page_size: int = LIST_PAGE_SIZE
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            data = await self._get(path, {**params, "page": page, "page_size": page_size})
            items.extend(data.get(list_key) or [])
            total_pages = int((data.get("page_info") or {}).get("total_page") or 0)
            if page >= total_pages:
                return items
            page += 1

    def remember_advertiser(self, advertiser_id: str, *, currency: str, timezone: str) -> None:
        """The advertiser's currency and time zone as the caller already knows them (an ad
        account keeps what ``advertiser/info`` said when it was connected; TikTok never
        changes either), so money and days convert without another ``advertiser/info`` call."""
        if currency and timezone:
            self._meta.setdefault(advertiser_id, _AdvertiserMeta(currency=currency, timezone=timezone))

    async def _advertiser_meta(self, advertiser_id: str) -> _AdvertiserMeta:
        meta = self._meta.get(advertiser_id)
        if meta is None:
            await self.get_advertisers([advertiser_id])
            meta = self._meta.get(advertiser_id)
            if meta is None:
                raise errors.NotFound(f"advertiser {advertiser_id} is not visible with this token")
        return meta

    # --- OAuth -------------------------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        """Where to send the advertiser to authorize the app (``portal/auth``)."""
        query = urlencode(
            {
                "app_id": self._settings.credential("tiktok_business_app_id"),
                "state": state,
                "redirect_uri": redirect_uri,
            }
        )
        return f"{self._settings.platform_url('tiktok_business_auth_url')}?{query}"

    async def exchange_auth_code(self, auth_code: str) -> AdvertiserToken:
        """``auth_code`` (1 h, single use) → long-lived access token and its advertiser ids."""
        if not auth_code:
            raise errors.InvalidInput("auth_code is required", field="auth_code")
        data = await self._call(
            "POST",
            "/oauth2/access_token/",
            json_body={
                "app_id": self._settings.credential("tiktok_business_app_id"),
                "secret": self._settings.credential("tiktok_business_secret"),
                "auth_code": auth_code,
            },
            # A code works once: a lost answer cannot be replayed, so it is not idempotent.
            idempotent=False,
            authenticated=False,
        )
        now = datetime.now(UTC)
        expires_in = data.get("expires_in")
        refresh_in = data.get("refresh_token_expires_in")
        return AdvertiserToken(
            access_token=str(data["access_token"]),
            advertiser_ids=[str(a) for a in data.get("advertiser_ids") or []],
            scope=[int(s) for s in data.get("scope") or []],
            expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
            refresh_token=data.get("refresh_token"),
            refresh_token_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
        )

    async def authorized_advertisers(self) -> dict[str, str]:
        """``oauth2/advertiser/get``: advertiser id → name for this token."""
        data = await self._get(
            "/oauth2/advertiser/get/",
            {
                "app_id": self._settings.credential("tiktok_business_app_id"),
                "secret": self._settings.credential("tiktok_business_secret"),
            },
        )
        return {str(a["advertiser_id"]): str(a.get("advertiser_name", "")) for a in data.get("list") or []}

    # --- advertisers and identities ---------------------------------------------------------------------

    async def get_advertisers(self, advertiser_ids: Sequence[str]) -> list[Advertiser]:
        if not advertiser_ids:
            return []
        data = await self._get("/advertiser/info/", {"advertiser_ids": [str(a) for a in advertiser_ids]})
        out: list[Advertiser] = []
        for item in data.get("list") or []:
            currency = str(item.get("currency") or "USD")
            advertiser = Advertiser(
                advertiser_id=str(item["advertiser_id"]),
                name=str(item.get("name", "")),
                status=str(item.get("status", "")),
                currency=currency,
                timezone=str(item.get("timezone") or item.get("display_timezone") or "UTC"),
                balance_minor=to_minor_units(item.get("balance") or 0, currency),
                role=item.get("role"),
                country=item.get("country"),
                company=item.get("company"),
            )
            self._meta[advertiser.advertiser_id] = _AdvertiserMeta(advertiser.currency, advertiser.timezone)
            out.append(advertiser)
        return out

    async def country_location_ids(
        self,
        advertiser_id: str,
        countries: Sequence[str],
        *,
        objective_type: str,
        placements: Sequence[str] = ("PLACEMENT_TIKTOK",),
    ) -> list[str]:
        """TikTok's `location_id` for each ISO 3166 alpha-2 country, in order (`/tool/region/`):
        ad groups target by these ids, never by ISO codes. A country TikTok does not offer for
        this objective and placement is `errors.InvalidInput` naming it."""
        data = await self._get(
            "/tool/region/",
            {
                "advertiser_id": advertiser_id,
                "placements": [str(p) for p in placements],
                "objective_type": objective_type,
                "level_range": "TO_COUNTRY",
            },
        )
        by_code = {
            str(r.get("region_code", "")).upper(): str(r["location_id"])
            for r in (data or {}).get("region_info") or []
            if r.get("level") == "COUNTRY" and r.get("location_id") is not None
        }
        missing = [c for c in countries if c.upper() not in by_code]
        if missing:
            raise errors.InvalidInput(
                f"TikTok does not offer targeting in {', '.join(missing)} for {objective_type}",
                field="settings.countries",
            )
        return [by_code[c.upper()] for c in countries]

    async def get_identities(self, advertiser_id: str, identity_type: str | None = None) -> list[Identity]:
        params: dict[str, Any] = {"advertiser_id": advertiser_id}
        if identity_type:
            params["identity_type"] = identity_type
        items = await self._list_all("/identity/get/", params, list_key="identity_list", page_size=100)
        return [
            Identity(
                identity_id=str(i["identity_id"]),
                identity_type=str(i["identity_type"]),
                display_name=str(i.get("display_name", "")),
                profile_image=i.get("profile_image"),
                user_name=i.get("user_name"),
                available_status=i.get("available_status"),
                can_push_video=bool(i.get("can_push_video", False)),
            )
            for i in items
        ]

    async def get_instant_pages(self, advertiser_id: str, business_type: str = "LEAD_GEN") -> list[InstantPage]:
        """The advertiser's instant pages (lead forms): ``GET /page/get/``, paged."""
        items = await self._list_all(
            "/page/get/", {"advertiser_id": advertiser_id, "business_type": business_type}, page_size=100
        )
        return [
            InstantPage(
                page_id=str(i["page_id"]),
                title=str(i.get("title") or ""),
                status=i.get("status"),
                business_type=i.get("business_type"),
                create_time=i.get("create_time"),
                update_time=i.get("update_time"),
            )
            for i in items
        ]

    # --- campaigns --------------------------------------------------------------------------------------

    async def get_campaigns(self, advertiser_id: str, campaign_ids: Sequence[str] | None = None) -> list[AdCampaign]:
        meta = await self._advertiser_meta(advertiser_id)
        filtering = {"campaign_ids": [str(c) for c in campaign_ids]} if campaign_ids else {}
        items = await self._list_all("/campaign/get/", {"advertiser_id": advertiser_id, "filtering": filtering})
        return [_campaign(i, meta.currency) for i in items]

    async def create_campaign(
        self, advertiser_id: str, spec: CampaignSpec, *, idempotency_key: str | None = None
    ) -> AdCampaign:
        """Create a campaign. With ``idempotency_key`` the call sends TikTok's ``request_id``
        (derived from the key), so a retry returns the same campaign instead of a second one."""
        meta = await self._advertiser_meta(advertiser_id)
        body: dict[str, Any] = {
            "advertiser_id": advertiser_id,
            "campaign_name": spec.name,
            "objective_type": spec.objective_type,
            "budget_mode": spec.budget_mode,
            "operation_status": spec.operation_status,
        }
        if spec.budget_minor is not None:
            body["budget"] = from_minor_units(spec.budget_minor, meta.currency)
        if idempotency_key:
            body["request_id"] = request_id_for(idempotency_key)
        data = await self._post("/campaign/create/", body, idempotent=bool(idempotency_key))
        return _campaign(data, meta.currency)

    async def update_campaign(
        self, advertiser_id: str, campaign_id: str, *, name: str | None = None, budget_minor: int | None = None
    ) -> bool:
        """Change name and/or budget; False when nothing changed (TikTok's 40012 "no update")."""
        meta = await self._advertiser_meta(advertiser_id)
        body: dict[str, Any] = {"advertiser_id": advertiser_id, "campaign_id": campaign_id}
        if name is not None:
            body["campaign_name"] = name
        if budget_minor is not None:
            body["budget"] = from_minor_units(budget_minor, meta.currency)
        return await self._update("/campaign/update/", body)

    async def set_campaign_status(
        self, advertiser_id: str, campaign_ids: Sequence[str], status: StatusChange
    ) -> dict[str, str]:
        return await self._status("/campaign/status/update/", "campaign", advertiser_id, campaign_ids, status)

    # --- ad groups --------------------------------------------------------------------------------------

    async def get_adgroups(
        self, advertiser_id: str, *, campaign_ids: Sequence[str] | None = None, adgroup_ids: Sequence[str] | None = None
    ) -> list[AdGroup]:
        meta = await self._advertiser_meta(advertiser_id)
        filtering: dict[str, Any] = {}
        if campaign_ids:
            filtering["campaign_ids"] = [str(c) for c in campaign_ids]
        if adgroup_ids:
            filtering["adgroup_ids"] = [str(a) for a in adgroup_ids]
        items = await self._list_all("/adgroup/get/", {"advertiser_id": advertiser_id, "filtering": filtering})
        return [_adgroup(i, meta.currency) for i in items]

    async def create_adgroup(self, advertiser_id: str, spec: AdGroupSpec) -> AdGroup:
        """Create an ad group. Not idempotent on TikTok's side: a lost answer raises
        `errors.Ambiguous`; look it up with `get_adgroups(campaign_ids=...)` by name first."""
        meta = await self._advertiser_meta(advertiser_id)
        start = spec.schedule_start or datetime.now(UTC)
        body: dict[str, Any] = {
            "advertiser_id": advertiser_id,
            "campaign_id": spec.campaign_id,
            "adgroup_name": spec.name,
            "budget_mode": spec.budget_mode,
            "billing_event": spec.billing_event,
            "optimization_goal": spec.optimization_goal,
            "pacing": spec.pacing,
            "schedule_type": "SCHEDULE_START_END" if spec.schedule_end else "SCHEDULE_FROM_NOW",
            "schedule_start_time": _format_time(start),
            "placement_type": spec.placement_type,
            "placements": list(spec.placements),
            "location_ids": list(spec.location_ids),
            "operation_status": spec.operation_status,
        }
        if spec.budget_minor is not None:
            body["budget"] = from_minor_units(spec.budget_minor, meta.currency)
        if spec.schedule_end:
            body["schedule_end_time"] = _format_time(spec.schedule_end)
        if spec.bid_price_minor is not None:
            body["bid_price"] = from_minor_units(spec.bid_price_minor, meta.currency)
        for key in ("identity_id", "identity_type", "promotion_type", "gender", "pixel_id"):
            if getattr(spec, key):
                body[key] = getattr(spec, key)
        for key in ("age_groups", "languages"):
            if getattr(spec, key):
                body[key] = list(getattr(spec, key))
        data = await self._post("/adgroup/create/", body, idempotent=False)
        return _adgroup(data, meta.currency)

    async def update_adgroup(
        self,
        advertiser_id: str,
        adgroup_id: str,
        *,
        name: str | None = None,
        budget_minor: int | None = None,
        bid_price_minor: int | None = None,
    ) -> bool:
        meta = await self._advertiser_meta(advertiser_id)
        body: dict[str, Any] = {"advertiser_id": advertiser_id, "adgroup_id": adgroup_id}
        if name is not None:
            body["adgroup_name"] = name
        if budget_minor is not None:
            body["budget"] = from_minor_units(budget_minor, meta.currency)
        if bid_price_minor is not None:
            body["bid_price"] = from_minor_units(bid_price_minor, meta.currency)
        return await self._update("/adgroup/update/", body)

    async def set_adgroup_status(
        self, advertiser_id: str, adgroup_ids: Sequence[str], status: StatusChange
    ) -> dict[str, str]:
        return await self._status("/adgroup/status/update/", "adgroup", advertiser_id, adgroup_ids, status)

    # --- ads ------------------------------------------------------------------------------------------

    async def get_ads(
        self, advertiser_id: str, *, adgroup_ids: Sequence[str] | None = None, ad_ids: Sequence[str] | None = None
    ) -> list[Ad]:
        filtering: dict[str, Any] = {}
        if adgroup_ids:
            filtering["adgroup_ids"] = [str(a) for a in adgroup_ids]
        if ad_ids:
            filtering["ad_ids"] = [str(a) for a in ad_ids]
        items = await self._list_all("/ad/get/", {"advertiser_id": advertiser_id, "filtering": filtering})
        return [_ad(i) for i in items]

    async def create_ad(self, advertiser_id: str, spec: AdSpec) -> Ad:
        """Create one ad (one creative). Not idempotent: a lost answer raises `errors.Ambiguous`."""
        creative: dict[str, Any] = {
            "ad_name": spec.name,
            "ad_format": spec.ad_format,
            "ad_text": spec.ad_text,
            "identity_id": spec.identity_id,
            "identity_type": spec.identity_type,
            "operation_status": spec.operation_status,
        }
        for key in ("video_id", "call_to_action", "landing_page_url", "display_name"):
            if getattr(spec, key):
                creative[key] = getattr(spec, key)
        body = {"advertiser_id": advertiser_id, "adgroup_id": spec.adgroup_id, "creatives": [creative]}
        data = await self._post("/ad/create/", body, idempotent=False)
        ad_ids = [str(a) for a in data.get("ad_ids") or []]
        if not ad_ids:
            raise errors.Permanent("TikTok Business API: ad/create returned no ad id", platform=PLATFORM)
        created = [c for c in data.get("creatives") or [] if str(c.get("ad_id")) == ad_ids[0]]
        if created:
            return _ad(created[0])
        ads = await self.get_ads(advertiser_id, ad_ids=ad_ids[:1])
        if not ads:
            raise errors.Permanent(f"TikTok Business API: created ad {ad_ids[0]} is not readable", platform=PLATFORM)
        return ads[0]

    async def update_ad(
        self, advertiser_id: str, ad_id: str, *, name: str | None = None, ad_text: str | None = None
    ) -> bool:
        body: dict[str, Any] = {"advertiser_id": advertiser_id, "ad_id": ad_id}
        if name is not None:
            body["ad_name"] = name
        if ad_text is not None:
            body["ad_text"] = ad_text
        return await self._update("/ad/update/", body)

    async def set_ad_status(self, advertiser_id: str, ad_ids: Sequence[str], status: StatusChange) -> dict[str, str]:
        return await self._status("/ad/status/update/", "ad", advertiser_id, ad_ids, status)

    async def _update(self, path: str, body: dict[str, Any]) -> bool:
        try:
            # Setting fields to given values is idempotent: repeating it changes nothing more.
            await self._post(path, body, idempotent=True)
        except errors.Conflict as exc:
            if exc.extra.get("vendor_code") == 40012:
                return False
            raise
        return True

    async def _status(
        self, path: str, kind: str, advertiser_id: str, ids: Sequence[str], status: StatusChange
    ) -> dict[str, str]:
        """Set ENABLE/DISABLE/DELETE on any number of ids, in calls of at most
        `STATUS_BATCH` (the documented limit); returns id → the status the platform
        confirmed. Idempotent (a target state), so a retried call is safe.

        The documented answers: campaign → ``{campaign_ids, status, campaign_list}``,
        adgroup → ``{adgroup_ids, status, error_list}``, ad → ``{ad_ids, status}``. An id the
        platform lists in ``error_list`` is left out of the result."""
        if status not in ("ENABLE", "DISABLE", "DELETE"):
            raise errors.InvalidInput("status must be ENABLE, DISABLE or DELETE", field="status")
        wanted = list(dict.fromkeys(str(i) for i in ids))
        out: dict[str, str] = {}
        for start in range(0, len(wanted), STATUS_BATCH):
            batch = wanted[start : start + STATUS_BATCH]
            body = {"advertiser_id": advertiser_id, f"{kind}_ids": batch, "operation_status": status}
            data = await self._post(path, body, idempotent=True)
            out.update(parse_status_update(data, kind))
        return out

    # --- creative upload ---------------------------------------------------------------------------------

    async def upload_video(self, advertiser_id: str, content: bytes, file_name: str) -> AdVideo:
        """Upload a video by file (multipart) with its MD5 ``video_signature``.

        ``file_name`` must be unique per advertiser (TikTok answers 40911 otherwise), which
        also makes a repeated upload after a lost answer fail loudly instead of duplicating:
        look the video up with `find_video` first.
        """
        signature = hashlib.md5(content).hexdigest()  # the API's checksum, not a security hash
        return await self._upload(advertiser_id, content, signature, file_name)

    async def upload_video_stream(self, advertiser_id: str, chunks: AsyncIterable[bytes], file_name: str) -> AdVideo:
        """`upload_video` from a stream (a blob), reading it once: the MD5 signature is
        computed while the chunks arrive, on the same pass that assembles the body."""
        digest = hashlib.md5()  # the API's checksum, not a security hash
        parts: list[bytes] = []
        async for chunk in chunks:
            digest.update(chunk)
            parts.append(chunk)
        return await self._upload(advertiser_id, b"".join(parts), digest.hexdigest(), file_name)

    async def _upload(self, advertiser_id: str, content: bytes, signature: str, file_name: str) -> AdVideo:
        if not content:
            raise errors.InvalidInput("the video is empty", field="content")
        if not 1 <= len(file_name) <= 100:
            raise errors.InvalidInput("file_name must be 1 to 100 characters", field="file_name")
        body, content_type = multipart_body(
            {
                "advertiser_id": advertiser_id,
                "upload_type": "UPLOAD_BY_FILE",
                "video_signature": signature,
                "file_name": file_name,
            },
            {"video_file": (file_name, content, "video/mp4")},
        )
        data = await self._call(
            "POST",
            "/file/video/ad/upload/",
            content=body,
            content_type=content_type,
            idempotent=False,
            # Large files take long: at least 5 minutes, or 10 s per MB (seed 003).
            read_timeout=max(300.0, 10.0 * len(content) / (1024 * 1024)),
        )
        items = data if isinstance(data, list) else [data]  # data is an array for this endpoint
        if not items or not items[0]:
            raise errors.Permanent("TikTok Business API: upload returned no video", platform=PLATFORM)
        return _video(items[0], file_name, signature, len(content))

    async def find_video(self, advertiser_id: str, file_name: str) -> AdVideo | None:
        """The advertiser's video named ``file_name`` (``file/video/ad/search``), or None."""
        data = await self._get(
            "/file/video/ad/search/",
            {"advertiser_id": advertiser_id, "filtering": {"video_name": file_name}, "page": 1, "page_size": 20},
        )
        for item in data.get("list") or []:
            if str(item.get("file_name")) == file_name:
                return _video(item, file_name, str(item.get("signature") or ""), int(item.get("size") or 0))
        return None

    async def find_campaign(self, advertiser_id: str, name: str) -> AdCampaign | None:
        """The (not deleted) campaign named ``name``: the lookup after a lost create answer."""
        meta = await self._advertiser_meta(advertiser_id)
        items = await self._list_all(
            "/campaign/get/", {"advertiser_id": advertiser_id, "filtering": {"campaign_name": name}}
        )
        found = [i for i in items if i.get("campaign_name") == name]
        return _campaign(found[0], meta.currency) if found else None

    async def find_adgroup(self, advertiser_id: str, campaign_id: str, name: str) -> AdGroup | None:
        meta = await self._advertiser_meta(advertiser_id)
        params = {"advertiser_id": advertiser_id, "filtering": {"campaign_ids": [campaign_id], "adgroup_name": name}}
        found = [i for i in await self._list_all("/adgroup/get/", params) if i.get("adgroup_name") == name]
        return _adgroup(found[0], meta.currency) if found else None

    async def find_ad(self, advertiser_id: str, adgroup_id: str, name: str) -> Ad | None:
        params = {"advertiser_id": advertiser_id, "filtering": {"adgroup_ids": [adgroup_id], "ad_name": name}}
        found = [i for i in await self._list_all("/ad/get/", params) if i.get("ad_name") == name]
        return _ad(found[0]) if found else None

    # --- reports --------------------------------------------------------------------------------------------

    async def get_report(
        self,
        advertiser_id: str,
        *,
        start: date,
        end: date,
        data_level: DataLevel = "AUCTION_AD",
        by: Literal["day", "hour", "total"] = "day",
        metrics: Sequence[str] = DEFAULT_METRICS,
        page: int = 1,
        page_size: int = 1000,
        currency: str | None = None,
        timezone: str | None = None,
    ) -> Report:
        """One page of ``report/integrated/get`` (BASIC, AUCTION), metrics parsed to numbers.
        `currency` and `timezone`, when the caller knows the advertiser's (an ad account keeps
        them), save the ``advertiser/info`` call that would otherwise look them up."""
        span = (end - start).days + 1
        limit = {"day": 30, "hour": 1, "total": 365}[by]
        if not 1 <= span <= limit:
            raise errors.InvalidInput(f"a report by {by} covers 1 to {limit} days", field="end")
        if currency and timezone:
            self.remember_advertiser(advertiser_id, currency=currency, timezone=timezone)
        meta = await self._advertiser_meta(advertiser_id)
        id_dimension = {"AUCTION_AD": "ad_id", "AUCTION_ADGROUP": "adgroup_id", "AUCTION_CAMPAIGN": "campaign_id",
                        "AUCTION_ADVERTISER": "advertiser_id"}[data_level]  # fmt: skip
        dimensions = [id_dimension]
        if by != "total":
            dimensions.append("stat_time_day" if by == "day" else "stat_time_hour")
        data = await self._get(
            "/report/integrated/get/",
            {
                "advertiser_id": advertiser_id,
                "report_type": "BASIC",
                "service_type": "AUCTION",
                "data_level": data_level,
                "dimensions": dimensions,
                "metrics": list(metrics),
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "page": page,
                "page_size": page_size,
            },
        )
        zone = _zone(meta.timezone)
        rows = [parse_report_row(item, meta.currency, zone) for item in data.get("list") or []]
        info = data.get("page_info") or {}
        return Report(
            rows=rows,
            page=int(info.get("page") or page),
            total_pages=int(info.get("total_page") or 0),
            total_rows=int(info.get("total_number") or len(rows)),
        )

    async def get_full_report(self, advertiser_id: str, **kwargs: Any) -> list[ReportRow]:
        """Every page of `get_report` (same arguments, without ``page``), in order. The first
        page says how many there are; the others are then requested together (the rate limit
        paces them), so a report of N pages takes about two round trips, not N. A failing
        page cancels the others and raises."""
        first = await self.get_report(advertiser_id, page=1, **kwargs)
        if first.total_pages <= 1:
            return list(first.rows)
        tasks = [
            asyncio.ensure_future(self.get_report(advertiser_id, page=page, **kwargs))
            for page in range(2, first.total_pages + 1)
        ]
        try:
            rest = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        rows = list(first.rows)
        for report in rest:
            rows.extend(report.rows)
        return rows


AdsFactory = Callable[[str | None], AdsPlatform]


def tiktok_ads(access_token: str | None = None) -> AdsPlatform:
    """The default `AdsPlatform` for a token (settings from the environment)."""
    return TikTokBusinessAds(access_token)
