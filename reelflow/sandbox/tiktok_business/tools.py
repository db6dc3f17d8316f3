"""Sandbox `/tool/region/`: the targetable locations and their `location_id`s.

TikTok targets ad groups by its own location ids (GeoNames ids for countries), never by ISO
codes: `adgroup/create` refuses anything else. The table is a subset of the real one (the
countries an advertiser here might target), at the `COUNTRY` level.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from reelflow.sandbox.tiktok_business.base import (
    API,
    OBJECTIVES,
    PREFIX,
    BizError,
    _advertiser,
    _json_param,
    _ok,
    _require_token,
    state,
)

# ISO 3166 alpha-2 → (GeoNames id, name).
COUNTRIES: dict[str, tuple[str, str]] = {
    "US": ("6252001", "United States"),
    "GB": ("2635167", "United Kingdom"),
    "CA": ("6251999", "Canada"),
    "AU": ("2077456", "Australia"),
    "DE": ("2921044", "Germany"),
    "FR": ("3017382", "France"),
    "IT": ("3175395", "Italy"),
    "ES": ("2510769", "Spain"),
    "NL": ("2750405", "Netherlands"),
    "BE": ("2802361", "Belgium"),
    "PL": ("798544", "Poland"),
    "TR": ("298795", "Turkey"),
    "KZ": ("1522867", "Kazakhstan"),
    "UZ": ("1512440", "Uzbekistan"),
    "KG": ("1527747", "Kyrgyzstan"),
    "AE": ("290557", "United Arab Emirates"),
    "SA": ("102358", "Saudi Arabia"),
    "BR": ("3469034", "Brazil"),
    "MX": ("3996063", "Mexico"),
    "JP": ("1861060", "Japan"),
    "KR": ("1835841", "South Korea"),
    "ID": ("1643084", "Indonesia"),
    "SG": ("1880251", "Singapore"),
    "TH": ("1605651", "Thailand"),
    "VN": ("1562822", "Vietnam"),
    "PH": ("1694008", "Philippines"),
    "MY": ("1733045", "Malaysia"),
    "EG": ("357994", "Egypt"),
}
LOCATION_IDS = {location_id for location_id, _ in COUNTRIES.values()}
PLACEMENTS = {"PLACEMENT_TIKTOK", "PLACEMENT_PANGLE", "PLACEMENT_GLOBAL_APP_BUNDLE"}


@get(f"{PREFIX}{API}/tool/region/", sync_to_thread=False)
def tool_region(request: Request[Any, Any, Any], advertiser_id: str = "", objective_type: str = "") -> Response[Any]:
    """`{region_info: [{location_id, name, parent_id, region_code, next_level_ids, area_type, level}]}`."""
    st = state()
    token = _require_token(request, st)
    _advertiser(token, st, advertiser_id)
    placements = _json_param(request, "placements", ["PLACEMENT_TIKTOK"])
    if not isinstance(placements, list) or not placements or any(p not in PLACEMENTS for p in placements):
        raise BizError(40002, "placements: Invalid enum value.")
    if objective_type and objective_type not in OBJECTIVES:
        raise BizError(40002, "objective_type: Invalid enum value.")
    level_range = request.query_params.get("level_range", "ALL")
    if level_range not in {"ALL", "TO_COUNTRY", "TO_PROVINCE", "TO_CITY", "TO_DISTRICT"}:
        raise BizError(40002, "level_range: Invalid enum value.")
    regions = [
        {
            "location_id": location_id,
            "name": name,
            "parent_id": "0",
            "region_code": code,
            "next_level_ids": [],
            "area_type": "ADMIN",
            "level": "COUNTRY",
        }
        for code, (location_id, name) in COUNTRIES.items()
    ]
    return _ok({"region_info": regions})
