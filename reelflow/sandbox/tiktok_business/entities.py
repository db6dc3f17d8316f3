"""Sandbox TikTok Business: campaigns, ad groups and ads (CRUD, budgets, status updates)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, Response, get, post

from reelflow.sandbox.tiktok_business.base import (
    API,
    MIN_BUDGETS,
    OBJECTIVES,
    PREFIX,
    BizError,
    BusinessState,
    Entity,
    _advertiser,
    _fmt,
    _json_body,
    _json_param,
    _money,
    _ok,
    _page,
    _parse_time,
    _require_token,
    _required,
    advertiser_entities,
    state,
)
from reelflow.sandbox.tiktok_business.tools import LOCATION_IDS

# --- campaigns, ad groups, ads ----------------------------------------------------------------------

_KIND_ID = {"campaign": "campaign_id", "adgroup": "adgroup_id", "ad": "ad_id"}
_SECONDARY = {
    "campaign": {"ENABLE": "CAMPAIGN_STATUS_ENABLE", "DISABLE": "CAMPAIGN_STATUS_DISABLE",
                 "DELETE": "CAMPAIGN_STATUS_DELETE"},
    "adgroup": {"ENABLE": "ADGROUP_STATUS_DELIVERY_OK", "DISABLE": "ADGROUP_STATUS_DISABLE",
                "DELETE": "ADGROUP_STATUS_DELETE"},
    "ad": {"ENABLE": "AD_STATUS_DELIVERY_OK", "DISABLE": "AD_STATUS_DISABLE", "DELETE": "AD_STATUS_DELETE"},
}  # fmt: skip
_BUDGET_MODES = {"BUDGET_MODE_INFINITE", "BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"}
_STATUSES = {"ENABLE", "DISABLE", "DELETE"}
MAX_STATUS_IDS = 20  # ids per campaign/adgroup/ad status update call


def _view(entity: Entity) -> dict[str, Any]:
    data = dict(entity.fields)
    data["secondary_status"] = _SECONDARY[entity.kind].get(entity.status, entity.status)
    data["create_time"] = _fmt(entity.created_at)
    return data


def _entity(st: BusinessState, kind: str, entity_id: Any, advertiser_id: str) -> Entity:
    entity = st.entities.get(f"{kind}:{entity_id}")
    if entity is None or entity.advertiser_id != advertiser_id:
        raise BizError(40007, f"{kind} {entity_id} does not exist.")
    return entity


def _set_status(st: BusinessState, entity: Entity, status: str) -> None:
    entity.fields["operation_status"] = status
    entity.fields["modify_time"] = _fmt(st.now())
    entity.history.append((st.now(), status))


def _list_entities(request: Request[Any, Any, Any], kind: str) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    advertiser = _advertiser(token, st, request.query_params.get("advertiser_id"))
    filtering = _json_param(request, "filtering", {}) or {}
    if not isinstance(filtering, dict):
        raise BizError(40002, "filtering: Must be a JSON object.")
    items = [e for e in advertiser_entities(st, advertiser) if e.kind == kind]
    for id_field in ("campaign_ids", "adgroup_ids", "ad_ids"):
        if id_field in filtering:
            wanted = {str(i) for i in filtering[id_field]}
            key = id_field[:-1]
            items = [e for e in items if str(e.fields.get(key)) in wanted]
    status = filtering.get("primary_status", "STATUS_NOT_DELETE")
    if status in {"STATUS_NOT_DELETE", "STATUS_DELIVERY_OK", "STATUS_DISABLE", "STATUS_DELETE"}:
        keep = {"STATUS_NOT_DELETE": {"ENABLE", "DISABLE"}, "STATUS_DELIVERY_OK": {"ENABLE"},
                "STATUS_DISABLE": {"DISABLE"}, "STATUS_DELETE": {"DELETE"}}[status]  # fmt: skip
        items = [e for e in items if e.status in keep]
    name_field = {"campaign": "campaign_name", "adgroup": "adgroup_name", "ad": "ad_name"}[kind]
    if filtering.get(name_field):
        items = [e for e in items if str(filtering[name_field]) in str(e.fields.get(name_field, ""))]
    items.sort(key=lambda e: e.created_at, reverse=True)
    return _ok(_page([_view(e) for e in items], request))


@get(f"{PREFIX}{API}/campaign/get/", sync_to_thread=False)
def campaign_get(request: Request[Any, Any, Any]) -> Response[Any]:
    return _list_entities(request, "campaign")


@get(f"{PREFIX}{API}/adgroup/get/", sync_to_thread=False)
def adgroup_get(request: Request[Any, Any, Any]) -> Response[Any]:
    return _list_entities(request, "adgroup")


@get(f"{PREFIX}{API}/ad/get/", sync_to_thread=False)
def ad_get(request: Request[Any, Any, Any]) -> Response[Any]:
    return _list_entities(request, "ad")


def _check_campaign_budget(mode: str, budget: float | None, st: BusinessState, advertiser: str) -> None:
    if mode not in _BUDGET_MODES:
        raise BizError(40002, "budget_mode: Invalid enum value.")
    if mode in {"BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"}:
        if budget is None:
            raise BizError(40002, "budget: Missing data for required field.")
        minimum = st.min_budgets(advertiser)[0]
        if budget < minimum:
            currency = st.advertisers[advertiser]["currency"]
            raise BizError(40002, f"Campaign budget must be at least {minimum:.2f} {currency}.")


@post(f"{PREFIX}{API}/campaign/create/", status_code=200)
async def campaign_create(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "campaign_name", "objective_type")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    if body.get("request_id"):
        # TikTok's idempotency key: the same request_id answers with the same campaign.
        existing = st.create_request_ids.get((advertiser, str(body["request_id"])))
        if existing:
            return _ok(_view(st.entities[f"campaign:{existing}"]))
    if body["objective_type"] not in OBJECTIVES:
        raise BizError(40002, "objective_type: Invalid enum value.")
    if not 1 <= len(str(body["campaign_name"])) <= 512:
        raise BizError(40002, "campaign_name: Length must be between 1 and 512.")
    mode = body.get("budget_mode", "BUDGET_MODE_INFINITE")
    budget = _money(body["budget"], "budget") if body.get("budget") is not None else None
    _check_campaign_budget(mode, budget, st, advertiser)
    status = body.get("operation_status", "ENABLE")
    if status not in {"ENABLE", "DISABLE"}:
        raise BizError(40002, "operation_status: Invalid enum value.")
    duplicate = any(
        e.kind == "campaign" and e.advertiser_id == advertiser and e.status != "DELETE"
        and e.fields["campaign_name"] == body["campaign_name"]
        for e in st.entities.values()
    )  # fmt: skip
    if duplicate:
        raise BizError(40002, "Campaign name already exists. Please try another one.")
    campaign_id = st.next_id("campaign")
    now = st.now()
    entity = Entity(
        "campaign", campaign_id, advertiser,
        {"advertiser_id": advertiser, "campaign_id": campaign_id, "campaign_name": body["campaign_name"],
         "objective_type": body["objective_type"], "budget_mode": mode,
         "budget": budget if mode != "BUDGET_MODE_INFINITE" else 0.0, "operation_status": status,
         "budget_optimize_on": bool(body.get("budget_optimize_on", False)), "modify_time": _fmt(now)},
        now, [(now, status)],
    )  # fmt: skip
    st.entities[f"campaign:{campaign_id}"] = entity
    if body.get("request_id"):
        st.create_request_ids[(advertiser, str(body["request_id"]))] = campaign_id
    st.record("create", "campaign", campaign_id, {k: v for k, v in body.items() if k != "advertiser_id"})
    return _ok(_view(entity))


def _scheduled_days(start: datetime, end: datetime | None) -> int:
    if end is None:
        return 1
    return max(1, math.ceil((end - start).total_seconds() / 86400))


def _check_adgroup_budget(
    campaign: Entity, mode: str, budget: float | None, start: datetime, end: datetime | None, st: BusinessState
) -> None:
    daily_minimum = st.min_budgets(campaign.advertiser_id)[1]
    currency = st.advertisers[campaign.advertiser_id]["currency"]
    if mode not in {"BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"}:
        if campaign.fields["budget_mode"] == "BUDGET_MODE_INFINITE" and mode == "BUDGET_MODE_INFINITE":
            raise BizError(40002, "Ad group budget is required when the campaign has no budget.")
        if mode != "BUDGET_MODE_INFINITE":
            raise BizError(40002, "budget_mode: Invalid enum value.")
        return
    if campaign.fields["budget_mode"] == "BUDGET_MODE_DAY" and mode != "BUDGET_MODE_DAY":
        raise BizError(40002, "Ad groups of a daily-budget campaign must use a daily budget.")
    if budget is None:
        raise BizError(40002, "budget: Missing data for required field.")
    if mode == "BUDGET_MODE_TOTAL":
        if end is None:
            raise BizError(40002, "schedule_end_time is required for a lifetime budget.")
        minimum = daily_minimum * _scheduled_days(start, end)
    else:
        minimum = daily_minimum
    if budget < minimum:
        raise BizError(40002, f"Ad group budget must be at least {minimum:.2f} {currency}.")


def _location_ids(raw: Any) -> list[str]:
    """TikTok's own ids (`/tool/region/` `location_id`), never ISO codes."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BizError(40002, "location_ids: Not a valid list.")
    ids = [str(x) for x in raw]
    unknown = [x for x in ids if x not in LOCATION_IDS]
    if unknown:
        raise BizError(40002, f"location_ids: Invalid location id(s) {', '.join(unknown[:5])}.")
    return ids


@post(f"{PREFIX}{API}/adgroup/create/", status_code=200)
async def adgroup_create(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "campaign_id", "adgroup_name", "billing_event", "budget_mode",
              "optimization_goal", "pacing", "schedule_type", "schedule_start_time")  # fmt: skip
    advertiser = _advertiser(token, st, body["advertiser_id"])
    campaign = _entity(st, "campaign", body["campaign_id"], advertiser)
    if campaign.status == "DELETE":
        raise BizError(40002, "The campaign has been deleted.")
    if body["schedule_type"] not in {"SCHEDULE_FROM_NOW", "SCHEDULE_START_END"}:
        raise BizError(40002, "schedule_type: Invalid enum value.")
    if body["pacing"] not in {"PACING_MODE_SMOOTH", "PACING_MODE_FAST"}:
        raise BizError(40002, "pacing: Invalid enum value.")
    if body["billing_event"] not in {"CPC", "CPM", "CPV", "OCPC", "OCPM", "GD"}:
        raise BizError(40002, "billing_event: Invalid enum value.")
    start = _parse_time(body["schedule_start_time"], "schedule_start_time")
    end = _parse_time(body["schedule_end_time"], "schedule_end_time") if body.get("schedule_end_time") else None
    if body["schedule_type"] == "SCHEDULE_START_END" and end is None:
        raise BizError(40002, "schedule_end_time: Missing data for required field.")
    if end is not None and end <= start:
        raise BizError(40002, "schedule_end_time must be later than schedule_start_time.")
    budget = _money(body["budget"], "budget") if body.get("budget") is not None else None
    _check_adgroup_budget(campaign, body["budget_mode"], budget, start, end, st)
    status = body.get("operation_status", "ENABLE")
    if status not in {"ENABLE", "DISABLE"}:
        raise BizError(40002, "operation_status: Invalid enum value.")
    location_ids = _location_ids(body.get("location_ids"))
    adgroup_id = st.next_id("adgroup")
    now = st.now()
    fields = {k: v for k, v in body.items() if k not in {"advertiser_id", "campaign_id"}}
    fields.update(
        advertiser_id=advertiser, campaign_id=campaign.id, adgroup_id=adgroup_id, budget=budget or 0.0,
        placement_type=body.get("placement_type", "PLACEMENT_TYPE_NORMAL"), operation_status=status,
        schedule_start_time=_fmt(start), schedule_end_time=_fmt(end) if end else None, modify_time=_fmt(now),
        bid_price=_money(body["bid_price"], "bid_price") if body.get("bid_price") is not None else None,
        location_ids=location_ids,
    )  # fmt: skip
    entity = Entity("adgroup", adgroup_id, advertiser, fields, now, [(now, status)])
    st.entities[f"adgroup:{adgroup_id}"] = entity
    st.record("create", "adgroup", adgroup_id, {k: v for k, v in body.items() if k != "advertiser_id"})
    return _ok(_view(entity))


@post(f"{PREFIX}{API}/ad/create/", status_code=200)
async def ad_create(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "adgroup_id", "creatives")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    adgroup = _entity(st, "adgroup", body["adgroup_id"], advertiser)
    if adgroup.status == "DELETE":
        raise BizError(40002, "The ad group has been deleted.")
    creatives = body["creatives"]
    if not isinstance(creatives, list) or not 1 <= len(creatives) <= 20:
        raise BizError(40002, "creatives: Between 1 and 20 creatives.")
    identity_ids = {i["identity_id"] for i in st.identities.get(advertiser, [])}
    checked: list[dict[str, Any]] = []
    for creative in creatives:  # validate all before creating any (a request is all or nothing)
        if not isinstance(creative, dict):
            raise BizError(40002, "creatives: Each creative must be an object.")
        _required(creative, "ad_name", "ad_format", "ad_text", "identity_id", "identity_type")
        if creative.get("video_id") and creative["video_id"] not in st.videos:
            raise BizError(40053, f"Video {creative['video_id']} is invalid.")
        if creative["ad_format"] == "SINGLE_VIDEO" and not creative.get("video_id"):
            raise BizError(40002, "video_id: Missing data for required field.")
        if creative["identity_id"] not in identity_ids:
            raise BizError(40002, "identity_id: Identity does not exist.")
        if not 1 <= len(str(creative["ad_text"])) <= 100:
            raise BizError(40002, "ad_text: Length must be between 1 and 100.")
        checked.append(creative)
    now = st.now()
    created: list[Entity] = []
    for creative in checked:
        ad_id = st.next_id("ad")
        status = creative.get("operation_status", "ENABLE")
        fields = dict(creative)
        fields.update(advertiser_id=advertiser, campaign_id=adgroup.fields["campaign_id"], adgroup_id=adgroup.id,
                      ad_id=ad_id, operation_status=status, modify_time=_fmt(now))  # fmt: skip
        entity = Entity("ad", ad_id, advertiser, fields, now, [(now, status)])
        st.entities[f"ad:{ad_id}"] = entity
        st.record("create", "ad", ad_id, dict(creative))
        created.append(entity)
    return _ok({"ad_ids": [e.id for e in created], "creatives": [_view(e) for e in created]})


_IMMUTABLE = {"advertiser_id", "campaign_id", "adgroup_id", "ad_id", "objective_type", "operation_status"}


async def _update_request(
    request: Request[Any, Any, Any], st: BusinessState, kind: str
) -> tuple[Entity, dict[str, Any], str]:
    """The shared part of `*/update/`: token, advertiser, the live entity and the changes asked
    for (immutable fields dropped)."""
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", f"{kind}_id")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    entity = _entity(st, kind, body[f"{kind}_id"], advertiser)
    if entity.status == "DELETE":
        label = {"campaign": "campaign", "adgroup": "ad group", "ad": "ad"}[kind]
        raise BizError(40002, f"The {label} has been deleted.")
    return entity, {k: v for k, v in body.items() if k not in _IMMUTABLE}, advertiser


@post(f"{PREFIX}{API}/campaign/update/", status_code=200)
async def campaign_update(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    campaign, change, advertiser = await _update_request(request, st, "campaign")
    if "budget_mode" in change and change["budget_mode"] != campaign.fields["budget_mode"]:
        raise BizError(40002, "budget_mode cannot be changed after the campaign is created.")
    if "budget" in change:
        change["budget"] = _money(change["budget"], "budget")
        _check_campaign_budget(campaign.fields["budget_mode"], change["budget"], st, advertiser)
    if "campaign_name" in change and not 1 <= len(str(change["campaign_name"])) <= 512:
        raise BizError(40002, "campaign_name: Length must be between 1 and 512.")
    return _apply_update(st, campaign, change)


@post(f"{PREFIX}{API}/adgroup/update/", status_code=200)
async def adgroup_update(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    adgroup, change, _ = await _update_request(request, st, "adgroup")
    if "budget_mode" in change and change["budget_mode"] != adgroup.fields["budget_mode"]:
        raise BizError(40002, "budget_mode cannot be changed after the ad group is created.")
    if "budget" in change:
        change["budget"] = _money(change["budget"], "budget")
        start = _parse_time(change.get("schedule_start_time", adgroup.fields["schedule_start_time"]), "start")
        end_raw = change.get("schedule_end_time", adgroup.fields.get("schedule_end_time"))
        end = _parse_time(end_raw, "schedule_end_time") if end_raw else None
        campaign = st.entities[f"campaign:{adgroup.fields['campaign_id']}"]
        _check_adgroup_budget(campaign, adgroup.fields["budget_mode"], change["budget"], start, end, st)
    if "bid_price" in change:
        change["bid_price"] = _money(change["bid_price"], "bid_price")
    return _apply_update(st, adgroup, change)


@post(f"{PREFIX}{API}/ad/update/", status_code=200)
async def ad_update(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    ad, change, _ = await _update_request(request, st, "ad")
    if change.get("video_id") and change["video_id"] not in st.videos:
        raise BizError(40053, f"Video {change['video_id']} is invalid.")
    return _apply_update(st, ad, change)


def _apply_update(st: BusinessState, entity: Entity, change: dict[str, Any]) -> Response[Any]:
    effective = {k: v for k, v in change.items() if entity.fields.get(k) != v}
    if not effective:
        raise BizError(40012, "No update: the values are the same as before.")
    entity.fields.update(effective)
    entity.fields["modify_time"] = _fmt(st.now())
    st.record("update", entity.kind, entity.id, effective)
    return _ok(_view(entity))


async def _status_update(request: Request[Any, Any, Any], kind: str) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    ids_field = f"{_KIND_ID[kind]}s"
    _required(body, "advertiser_id", ids_field, "operation_status")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    status = body["operation_status"]
    if status not in _STATUSES:
        raise BizError(40002, "operation_status: Invalid enum value.")
    ids = body[ids_field]
    if not isinstance(ids, list):
        raise BizError(40002, f"{ids_field}: Not a valid list.")
    if len(ids) > MAX_STATUS_IDS:  # the documented limit per status update call
        raise BizError(40002, f"{ids_field}: Longer than maximum length {MAX_STATUS_IDS}.")
    entities = [_entity(st, kind, i, advertiser) for i in ids]
    for entity in entities:
        if entity.status == "DELETE" and status != "DELETE":
            raise BizError(40002, f"{kind} {entity.id} has been deleted.")
    for entity in entities:
        if entity.status != status:  # setting the same status again changes nothing
            _set_status(st, entity, status)
            st.record("status", kind, entity.id, {"operation_status": status})
            if status == "DELETE":  # deleting a parent deletes its children, like the real API
                for child in st.entities.values():
                    is_child = child.fields.get(_KIND_ID[kind]) == entity.id and child.kind != kind
                    if is_child and child.status != "DELETE":
                        _set_status(st, child, "DELETE")
    # The documented answers differ per level (research §5.4 and the official SDK models):
    # campaign → {campaign_ids, status, campaign_list[{campaign_id, status}]};
    # adgroup → {adgroup_ids, status, error_list[{adgroup_id, error_message}]}; ad → {ad_ids, status}.
    data: dict[str, Any] = {ids_field: [e.id for e in entities], "status": status}
    if kind == "campaign":
        data["campaign_list"] = [{"campaign_id": e.id, "status": e.status} for e in entities]
    elif kind == "adgroup":
        data["error_list"] = []
    return _ok(data)


@post(f"{PREFIX}{API}/campaign/status/update/", status_code=200)
async def campaign_status(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _status_update(request, "campaign")


@post(f"{PREFIX}{API}/adgroup/status/update/", status_code=200)
async def adgroup_status(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _status_update(request, "adgroup")


@post(f"{PREFIX}{API}/ad/status/update/", status_code=200)
async def ad_status(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _status_update(request, "ad")


@post(f"{PREFIX}/_sandbox/seed", sync_to_thread=False, status_code=200)
def seed(data: dict[str, Any]) -> dict[str, Any]:
    """Bench/demo helper: ``advertisers`` new advertisers (``currency``), each with one
    campaign, ad groups of up to ``ads_per_adgroup`` (50) ads and ``ads`` ads, all delivering
    since ``days_ago`` days, each ad group with ``adgroup_budget`` a day (default 250× the
    minimum); answers one auth_code that reaches all of them and the campaign ids."""
    from reelflow.sandbox.tiktok_business.oauth import _issue_code

    st = state()
    count = int(data.get("advertisers") or 1)
    ads_each = int(data.get("ads") or 10)
    per_group = max(1, min(50, int(data.get("ads_per_adgroup") or 50)))
    currency = str(data.get("currency") or "USD")
    since = st.now() - timedelta(days=float(data.get("days_ago") or 8))
    minimum = MIN_BUDGETS.get(currency, MIN_BUDGETS["USD"])[1]
    budget = float(data.get("adgroup_budget") or minimum * 5 * 50)
    advertiser_ids = []
    campaign_ids = []
    for _ in range(count):
        advertiser = st.ensure_advertiser(currency=currency)
        advertiser_ids.append(advertiser)
        campaign_id = st.next_id("campaign")
        campaign_ids.append(campaign_id)
        st.entities[f"campaign:{campaign_id}"] = Entity(
            "campaign", campaign_id, advertiser,
            {"advertiser_id": advertiser, "campaign_id": campaign_id, "campaign_name": f"Seed {campaign_id}",
             "objective_type": "LEAD_GENERATION", "budget_mode": "BUDGET_MODE_INFINITE", "budget": 0.0,
             "operation_status": "ENABLE", "modify_time": _fmt(since)},
            since, [(since, "ENABLE")],
        )  # fmt: skip
        adgroup_id = ""
        for index in range(ads_each):
            if index % per_group == 0:
                adgroup_id = st.next_id("adgroup")
                st.entities[f"adgroup:{adgroup_id}"] = Entity(
                    "adgroup", adgroup_id, advertiser,
                    {"advertiser_id": advertiser, "campaign_id": campaign_id, "adgroup_id": adgroup_id,
                     "adgroup_name": f"Seed {adgroup_id}", "budget_mode": "BUDGET_MODE_DAY",
                     "budget": budget, "billing_event": "OCPM", "optimization_goal": "LEAD_GENERATION",
                     "pacing": "PACING_MODE_SMOOTH", "schedule_type": "SCHEDULE_FROM_NOW",
                     "schedule_start_time": _fmt(since), "schedule_end_time": None, "operation_status": "ENABLE",
                     "modify_time": _fmt(since)},
                    since, [(since, "ENABLE")],
                )  # fmt: skip
            ad_id = st.next_id("ad")
            st.entities[f"ad:{ad_id}"] = Entity(
                "ad", ad_id, advertiser,
                {"advertiser_id": advertiser, "campaign_id": campaign_id, "adgroup_id": adgroup_id, "ad_id": ad_id,
                 "ad_name": f"Seed ad {ad_id}", "ad_format": "SINGLE_VIDEO", "operation_status": "ENABLE",
                 "modify_time": _fmt(since)},
                since, [(since, "ENABLE")],
            )  # fmt: skip
    return {"auth_code": _issue_code(st, advertiser_ids), "advertiser_ids": advertiser_ids,
            "campaign_ids": campaign_ids}  # fmt: skip
