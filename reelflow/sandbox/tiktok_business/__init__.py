"""Sandbox for the TikTok API for Business v1.3 (ads) and the Events API 2.0.

Mounted under ``/tiktok-business`` (the `tiktok_business_base_url` sandbox prefix), so
``{sandbox}/tiktok-business/open_api/v1.3/campaign/get/`` answers like
``https://business-api.tiktok.com/open_api/v1.3/campaign/get/``: the same paths (trailing
slash), ``Access-Token`` header, JSON-encoded GET arrays, the
``{code, message, request_id, data}`` envelope with HTTP 200 and numeric error codes.

What it simulates:
* OAuth (research §5.3): ``/portal/auth`` approves at once and redirects with a one-time
  ``auth_code`` (valid 1 h, used once, else 40110); ``/oauth2/access_token/`` answers
  ``{access_token, advertiser_ids, scope}``: a long-lived token with no expiry and no refresh
  token. A revoked authorization (``_sandbox/revoke``) or an unknown token → 40105; a token
  a test expired → 40102; no token → 40104.
* Campaign / ad group / ad CRUD and status with the USD budget minimums (§5.5) → 40002.
* Video upload by file with the MD5 ``video_signature`` check (40900) and unique names (40911).
* Reports: delivery is simulated from each ad's enabled time (ad, ad group and campaign all
  ENABLE) and its ad group's budget, day by day on the sandbox clock; metrics are strings.
* ``tool/region``: country-level location ids; ``adgroup/create`` accepts only those in
  ``location_ids`` (an ISO code there is 40002).
* ``page/get``: two instant pages (lead forms) per advertiser.
* ``event/track``: per-request validation (≤1,000 events, hashed PII, seconds) and dedup on
  ``event_source_id + event_id + event``.
* ``/tiktok-business/_sandbox/...``: inspection (every change and event, counts), reset,
  mock leads.
"""

from __future__ import annotations

from litestar import Router

from reelflow.sandbox.tiktok_business import entities, events, files, oauth, reports, tools
from reelflow.sandbox.tiktok_business.base import BizError, BusinessState, biz_error_handler, state

__all__ = ["BizError", "BusinessState", "route_handlers", "router", "state"]

_handlers = [
    oauth.portal_auth, oauth.issue_auth_code, oauth.access_token, oauth.advertiser_get, oauth.advertiser_info,
    oauth.identity_get, oauth.revoke_authorization,
    entities.campaign_get, entities.adgroup_get, entities.ad_get, entities.campaign_create,
    entities.adgroup_create, entities.ad_create, entities.campaign_update, entities.adgroup_update,
    entities.ad_update, entities.seed, entities.campaign_status, entities.adgroup_status, entities.ad_status,
    files.video_upload, files.video_search, reports.report_integrated, events.event_track, events.page_get,
    events.mock_lead, events.inspect, tools.tool_region,
]  # fmt: skip

# One Router, so that its exception handler turns every BizError into the envelope.
router = Router(path="/", route_handlers=_handlers, exception_handlers={BizError: biz_error_handler})
route_handlers = [router]
