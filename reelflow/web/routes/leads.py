"""Lead webhooks from TikTok (public, signed): the verification challenge and delivery."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.leads import MAX_BODY_BYTES
from reelflow.services import leads
from reelflow.web.openapi import problems

PUBLIC = {"exclude_from_auth": True}
SIGNATURE_HEADERS = ("x-tiktok-signature", "tiktok-signature")


class LeadAccepted(msgspec.Struct, kw_only=True):
    lead_id: str
    duplicate: bool


@get("/webhooks/tiktok/leads", opt=PUBLIC, tags=["leads"], security=[{}], media_type="text/plain")
async def lead_webhook_challenge(challenge: str | None = Parameter(default=None, max_length=256)) -> str:
    """The subscription's verification handshake: answers the `challenge` unchanged."""
    return leads.challenge_answer(challenge)


@post(
    "/webhooks/tiktok/leads",
    opt=PUBLIC,
    tags=["leads"],
    security=[{}],
    status_code=200,
    request_max_body_size=MAX_BODY_BYTES,
    responses=problems(401, 413, 415),
)
async def lead_webhook(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[LeadAccepted]:
    """A signed lead (`x-tiktok-signature: t=<unix s>,s=<hex HMAC-SHA256 of "t.body">`).
    401 on a bad, missing or stale signature; 400 on a malformed body; a duplicate is 200."""
    raw = await request.body()
    signature = next((request.headers.get(h) for h in SIGNATURE_HEADERS if request.headers.get(h)), None)
    received = await leads.receive_tiktok_lead(db_session, raw, signature)
    return Response(LeadAccepted(lead_id=received.lead_id, duplicate=received.duplicate))


route_handlers = [lead_webhook_challenge, lead_webhook]
