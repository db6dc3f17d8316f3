"""Leads: TikTok lead webhooks (public, signed: the verification challenge and delivery), the
leads of a workspace (`/ads/leads`, list and status) and an ad account's instant pages."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.leads import MAX_BODY_BYTES
from reelflow.errors import Forbidden
from reelflow.services import leads
from reelflow.services.ads_base import AdsFactory
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.openapi import problems
from reelflow.web.pagination import Page, check_limit, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.leads import InstantPageOut, LeadOut, LeadPatch, event_out

PUBLIC = {"exclude_from_auth": True}
READERS = ("owner", "admin", "editor")
MANAGERS = ("owner", "admin")
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
async def lead_webhook(request: Request[Any, Any, Any]) -> Response[LeadAccepted]:
    """A signed lead (`x-tiktok-signature: t=<unix s>,s=<hex HMAC-SHA256 of "t.body">`).
    401 on a bad, missing or stale signature; 400 on a malformed body; a duplicate is 200.
    Answers once the lead is stored (one statement); the mapping happens in a job."""
    raw = await request.body()
    headers = request.headers
    signature = headers.get(SIGNATURE_HEADERS[0]) or headers.get(SIGNATURE_HEADERS[1])
    received = await leads.receive_tiktok_lead(raw, signature, redis=request.app.state.redis)
    return Response(LeadAccepted(lead_id=received.lead_id, duplicate=received.duplicate))


def _lead_out(lead: Any, direction_name: str | None, events: list[Any], *, reveal: bool) -> LeadOut:
    who = leads.contact(lead, reveal=reveal)
    return LeadOut(
        id=lead.id,
        ad_account_id=lead.ad_account_id,
        direction_id=lead.direction_id,
        direction_name=direction_name,
        mapping=lead.mapping,
        platform=lead.platform,
        platform_lead_id=lead.platform_lead_id,
        status=lead.status,
        name=who.name,
        phone=who.phone,
        email=who.email,
        ttclid=lead.ttclid,
        campaign_id=lead.campaign_id,
        adgroup_id=lead.adgroup_id,
        ad_id=lead.ad_id,
        page_id=lead.page_id,
        lead_created_at=lead.lead_created_at,
        created_at=lead.created_at,
        status_changed_at=lead.status_changed_at,
        events=[event_out(e) for e in events if e.lead_id == lead.id],
    )


class LeadsController(Controller):
    """Leads of this workspace's ad accounts (`/ads/leads`) and instant pages of an account."""

    path = "/ads"
    tags = ["leads"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/leads", guards=[requires_role(*READERS)])
    async def list_leads(
        self,
        db_session: AsyncSession,
        principal: Principal,
        direction_id: uuid.UUID | None = None,
        status: str | None = Parameter(default=None, max_length=20),
        ad_account_id: uuid.UUID | None = None,
        reveal: bool = False,
        cursor: str | None = Parameter(default=None, max_length=1024),
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[LeadOut]:
        """Newest first (cursor-paginated), with direction, status, mapping and conversion
        events. Name, phone and email are masked; `reveal=true` (owner/admin, audited) shows them."""
        check_limit(limit, 200)
        if reveal and principal.role not in MANAGERS:
            raise Forbidden("only an owner or admin may reveal contact data")
        rows = await leads.list_leads(
            db_session,
            principal.workspace_id,
            direction_id=direction_id,
            status=status,
            account_id=ad_account_id,
            after=decode_time_id_cursor(cursor),
            limit=limit + 1,
        )
        items, next_cursor = page_of(rows, limit, lambda r: encode_cursor(r[0].created_at, r[0].id))
        events = await leads.lead_events(db_session, principal.workspace_id, [lead.id for lead, _ in items])
        if reveal:
            await leads.audit_reveal(db_session, principal.workspace_id, principal.user_id, len(items))
        return Page(
            items=[_lead_out(lead, name, events, reveal=reveal) for lead, name in items], next_cursor=next_cursor
        )

    @get("/leads/{lead_id:uuid}", guards=[requires_role(*READERS)])
    async def get_lead(self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> LeadOut:
        """One lead (masked contact data) with its conversion events."""
        lead, name = await leads.get_lead(db_session, principal.workspace_id, lead_id)
        events = await leads.lead_events(db_session, principal.workspace_id, [lead.id])
        return _lead_out(lead, name, events, reveal=False)

    @patch("/leads/{lead_id:uuid}", guards=[requires_role(*READERS)])
    async def set_status(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: LeadPatch
    ) -> LeadOut:
        """Set `status` to `interested`, `qualified`, `scheduled` or `rejected` (422 otherwise).
        The first three queue their conversion event (ViewContent, CompleteRegistration,
        PlaceAnOrder) once per lead, however often the status is set."""
        lead, name = await leads.set_status(
            db_session, principal.workspace_id, lead_id, data.status, user_id=principal.user_id
        )
        events = await leads.lead_events(db_session, principal.workspace_id, [lead.id])
        return _lead_out(lead, name, events, reveal=False)

    @get("/accounts/{account_id:uuid}/instant-pages", guards=[requires_role(*READERS)])
    async def instant_pages(
        self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID, ads_factory: AdsFactory
    ) -> list[InstantPageOut]:
        """The account's instant pages (lead forms) from TikTok, cached briefly."""
        pages = await leads.instant_pages(db_session, principal.workspace_id, account_id, ads_factory=ads_factory)
        return [msgspec.convert(p, InstantPageOut) for p in pages]


route_handlers = [lead_webhook_challenge, lead_webhook, LeadsController]
