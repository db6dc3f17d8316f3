"""Discovery API: campaigns, creator searches (start, progress, cancel), the creators found
(filters, sort, cursor pages, CSV export) and the signed image proxy for avatars.

Every query is scoped by the caller's workspace; another workspace's id is a 404. Reads
never write: timeouts are closed by the search job and by the sweep, not by a GET.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import discovery as rules
from reelflow.domain.identity import EDITORS
from reelflow.errors import BadRequest
from reelflow.services import discovery as service
from reelflow.settings import get_settings
from reelflow.storage.blobs import get_blob_store, signing_secret
from reelflow.storage.db import session_scope
from reelflow.storage.models.discovery import DiscoveryCampaign, DiscoverySearch
from reelflow.storage.repositories.discovery import RESULT_SORTS, DiscoveryRepository, ResultFilters, ResultRow
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.jobs import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from reelflow.web.openapi import MEDIA_OPT, also_media, answers, problems
from reelflow.web.pagination import Page, check_limit, decode_cursor, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.discovery import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    FoundCreatorOut,
    SearchIn,
    SearchOut,
    VideoMatch,
)

READERS = ("owner", "admin", "editor")
CSV_BATCH = 500
CSV_COLUMNS = [
    "platform",
    "handle",
    "name",
    "followers",
    "avg_views",
    "engagement_rate",
    "emails",
    "links",
    "region",
    "verified",
    "bio",
    "profile_url",
    "avatar_url",
    "keywords",
    "top_video_url",
    "found_at",
]


def campaign_out(campaign: DiscoveryCampaign, counts: tuple[int, int] = (0, 0)) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        description=campaign.description,
        search_type=campaign.search_type,
        status=campaign.status,
        searches=counts[0],
        creators=counts[1],
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        activated_at=campaign.activated_at,
        completed_at=campaign.completed_at,
        archived_at=campaign.archived_at,
    )


def search_out(search: DiscoverySearch) -> SearchOut:
    return SearchOut(
        id=search.id,
        campaign_id=search.campaign_id,
        platform=search.platform,
        kind=search.kind,
        keywords=list(search.keywords or []),
        handle=search.handle,
        target=search.target,
        status=search.status,
        progress=rules.progress(search.found, search.target, search.status),
        pages=search.pages,
        found=search.found,
        items_seen=search.items_seen,
        credits_used=search.credits_used,
        credits_remaining=search.credits_remaining,
        error=search.error,
        job_id=search.run_id,
        created_at=search.created_at,
        started_at=search.started_at,
        finished_at=search.finished_at,
        last_page_at=search.last_page_at,
        deadline_at=search.deadline_at,
        updated_at=search.updated_at,
    )


def creator_out(row: ResultRow, secret: bytes) -> FoundCreatorOut:
    c = row.creator
    return FoundCreatorOut(
        id=c.id,
        platform=c.platform,
        external_id=c.external_id,
        handle=c.handle,
        name=c.display_name,
        followers=c.followers,
        avg_views=row.avg_views,
        engagement_rate=row.engagement_rate,
        bio=c.bio,
        emails=list(c.emails or []),
        links=list(c.links or []),
        region=c.region,
        verified=c.verified,
        avatar_url=service.image_path(secret, c.avatar_url),
        profile_url=c.profile_url,
        keywords=row.keywords,
        videos=[
            VideoMatch(
                id=str(v.get("id")),
                url=v.get("url"),
                caption=v.get("caption"),
                created_at=v.get("created_at"),
                views=v.get("views"),
                likes=v.get("likes"),
                comments=v.get("comments"),
                shares=v.get("shares"),
            )
            for v in row.videos
        ],
        searches=row.searches,
        found_at=row.found_at,
    )


def _csv_values(row: ResultRow, secret: bytes) -> list[str]:
    c = row.creator
    top = row.videos[0].get("url") if row.videos else None
    values: list[Any] = [
        c.platform,
        c.handle,
        c.display_name,
        c.followers,
        row.avg_views,
        row.engagement_rate,
        list(c.emails or []),
        list(c.links or []),
        c.region,
        c.verified,
        c.bio,
        c.profile_url,
        service.image_path(secret, c.avatar_url),
        row.keywords,
        top,
        row.found_at.isoformat(),
    ]
    return [rules.csv_cell(v) for v in values]


def _filters(
    min_followers: int | None,
    max_followers: int | None,
    min_engagement: float | None,
    has_email: bool | None,
    region: str | None,
    keyword: str | None,
) -> ResultFilters:
    if min_followers is not None and min_followers < 0:
        raise BadRequest("must be 0 or more", field="min_followers")
    if max_followers is not None and min_followers is not None and max_followers < min_followers:
        raise BadRequest("must not be below min_followers", field="max_followers")
    if min_engagement is not None and not 0 <= min_engagement <= 100:
        raise BadRequest("a rate such as 0.05 (5%)", field="min_engagement")
    if region is not None and not (1 <= len(region.strip()) <= 8):
        raise BadRequest("a region code such as US", field="region")
    return ResultFilters(
        min_followers=min_followers,
        max_followers=max_followers,
        min_engagement=min_engagement,
        has_email=has_email,
        region=region.strip() if region else None,
        keyword=" ".join(keyword.split()) if keyword else None,
    )


def _results_cursor(sort: str, cursor: str | None) -> list[Any] | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    if len(values) != 3 or values[0] != sort:
        raise BadRequest("not a cursor for this sort", field="cursor")
    name = sort.lstrip("-")
    value = values[1]
    if name == "handle":
        ok = isinstance(value, str)
    elif name == "engagement":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    else:  # followers, avg_views, found: integers
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    try:
        uuid.UUID(str(values[2]))
    except ValueError:
        ok = False
    if not ok:
        raise BadRequest("not a cursor this API returned", field="cursor")
    return values[1:]


class DiscoveryController(Controller):
    path = "/discovery"
    tags = ["discovery"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    # --- campaigns ---------------------------------------------------------------------------
    @post("/campaigns", guards=[requires_role(*EDITORS)])
    async def create_campaign(self, db_session: AsyncSession, principal: Principal, data: CampaignIn) -> CampaignOut:
        """A campaign starts as a draft; it becomes active when its first search starts."""
        campaign = await service.create_campaign(
            db_session,
            principal.workspace_id,
            name=data.name,
            description=data.description,
            search_type=data.search_type,
        )
        return campaign_out(campaign)

    @get("/campaigns", guards=[requires_role(*READERS)])
    async def list_campaigns(
        self,
        db_session: AsyncSession,
        principal: Principal,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[CampaignOut]:
        """The workspace's campaigns, newest first."""
        check_limit(limit, 200)
        if status is not None and status not in rules.CAMPAIGN_STATUSES:
            raise BadRequest(f"must be one of {', '.join(rules.CAMPAIGN_STATUSES)}", field="status")
        repo = DiscoveryRepository(db_session)
        rows = await repo.list_campaigns(
            principal.workspace_id, status=status, after=decode_time_id_cursor(cursor), limit=limit + 1
        )
        items, next_cursor = page_of(rows, limit, lambda c: encode_cursor(c.created_at, c.id))
        counts = await repo.campaign_counts([c.id for c in items])
        return Page(items=[campaign_out(c, counts.get(c.id, (0, 0))) for c in items], next_cursor=next_cursor)

    @get("/campaigns/{campaign_id:uuid}", guards=[requires_role(*READERS)])
    async def get_campaign(self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> CampaignOut:
        campaign = await service.get_campaign(db_session, principal.workspace_id, campaign_id)
        counts = await DiscoveryRepository(db_session).campaign_counts([campaign.id])
        return campaign_out(campaign, counts[campaign.id])

    @patch("/campaigns/{campaign_id:uuid}", guards=[requires_role(*EDITORS)])
    async def update_campaign(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: CampaignPatch
    ) -> CampaignOut:
        campaign = await service.update_campaign(
            db_session,
            principal.workspace_id,
            campaign_id,
            name=data.name,
            description=data.description,
            status=data.status,
        )
        counts = await DiscoveryRepository(db_session).campaign_counts([campaign.id])
        return campaign_out(campaign, counts[campaign.id])

    @delete("/campaigns/{campaign_id:uuid}", guards=[requires_role(*EDITORS)], status_code=204)
    async def delete_campaign(self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> None:
        """Delete a campaign with its searches and links (409 while a search runs)."""
        await service.delete_campaign(db_session, principal.workspace_id, campaign_id, actor=principal)

    # --- searches ----------------------------------------------------------------------------
    @post("/campaigns/{campaign_id:uuid}/searches", guards=[requires_role(*EDITORS)], status_code=202)
    async def start_search(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        campaign_id: uuid.UUID,
        data: SearchIn,
    ) -> Response[SearchOut]:
        """Start a search: 202 with its progress resource. The same `Idempotency-Key` again
        returns the same search (200, `Idempotent-Replayed: true`)."""
        started = await service.start_search(
            db_session,
            principal.workspace_id,
            campaign_id,
            platform=data.platform,
            target=data.target,
            keywords=data.keywords,
            handle=data.handle,
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER) or None,
        )
        location = f"/api/v1/discovery/campaigns/{campaign_id}/searches/{started.search.id}"
        headers = {"Location": location}
        if not started.created:
            headers[REPLAYED_HEADER] = "true"
        return Response(search_out(started.search), status_code=202 if started.created else 200, headers=headers)

    @get("/campaigns/{campaign_id:uuid}/searches", guards=[requires_role(*READERS)])
    async def list_searches(
        self,
        db_session: AsyncSession,
        principal: Principal,
        campaign_id: uuid.UUID,
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[SearchOut]:
        check_limit(limit, 200)
        await service.get_campaign(db_session, principal.workspace_id, campaign_id)
        rows = await DiscoveryRepository(db_session).list_searches(
            principal.workspace_id, campaign_id, after=decode_time_id_cursor(cursor), limit=limit + 1
        )
        items, next_cursor = page_of(rows, limit, lambda s: encode_cursor(s.created_at, s.id))
        return Page(items=[search_out(s) for s in items], next_cursor=next_cursor)

    @get("/campaigns/{campaign_id:uuid}/searches/{search_id:uuid}", guards=[requires_role(*READERS)])
    async def get_search(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, search_id: uuid.UUID
    ) -> SearchOut:
        """Progress: status, pages, creators found, target, 0–100, credits, times, error."""
        return search_out(
            await service.get_search(db_session, principal.workspace_id, search_id, campaign_id=campaign_id)
        )

    @post(
        "/campaigns/{campaign_id:uuid}/searches/{search_id:uuid}/cancel",
        guards=[requires_role(*EDITORS)],
        status_code=200,
    )
    async def cancel_search(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, search_id: uuid.UUID
    ) -> SearchOut:
        """Stop a search; the creators found so far stay. A finished search: 409."""
        search = await service.cancel_search(db_session, principal.workspace_id, search_id, campaign_id=campaign_id)
        return search_out(search)

    # --- results -----------------------------------------------------------------------------
    @get(
        "/campaigns/{campaign_id:uuid}/searches/{search_id:uuid}/creators",
        guards=[requires_role(*READERS)],
        responses=answers(
            Page[FoundCreatorOut], {200: "A page of creators, or every matching row as CSV (`?format=csv`)"}
        ),
        opt=also_media(200, "text/csv", "Every matching row as CSV (`?format=csv`)"),
    )
    async def search_creators(
        self,
        db_session: AsyncSession,
        principal: Principal,
        campaign_id: uuid.UUID,
        search_id: uuid.UUID,
        min_followers: int | None = None,
        max_followers: int | None = None,
        min_engagement: float | None = None,
        has_email: bool | None = None,
        region: str | None = None,
        keyword: str | None = None,
        sort: str = "followers",
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
        format: str = "json",
    ) -> Response[Any]:
        """The creators one search found (one row each, however many pages and keywords
        found them). `?format=csv` streams every matching row as CSV."""
        filters = _filters(min_followers, max_followers, min_engagement, has_email, region, keyword)
        return await _results(
            db_session, principal, campaign_id, search_id, filters, sort, cursor, limit, format, f"search-{search_id}"
        )

    @get(
        "/campaigns/{campaign_id:uuid}/creators",
        guards=[requires_role(*READERS)],
        responses=answers(
            Page[FoundCreatorOut], {200: "A page of creators, or every matching row as CSV (`?format=csv`)"}
        ),
        opt=also_media(200, "text/csv", "Every matching row as CSV (`?format=csv`)"),
    )
    async def campaign_creators(
        self,
        db_session: AsyncSession,
        principal: Principal,
        campaign_id: uuid.UUID,
        min_followers: int | None = None,
        max_followers: int | None = None,
        min_engagement: float | None = None,
        has_email: bool | None = None,
        region: str | None = None,
        keyword: str | None = None,
        sort: str = "followers",
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
        format: str = "json",
    ) -> Response[Any]:
        """The creators all of a campaign's searches found, one row per creator."""
        filters = _filters(min_followers, max_followers, min_engagement, has_email, region, keyword)
        return await _results(
            db_session, principal, campaign_id, None, filters, sort, cursor, limit, format, f"campaign-{campaign_id}"
        )


async def _results(
    db_session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    search_id: uuid.UUID | None,
    filters: ResultFilters,
    sort: str,
    cursor: str | None,
    limit: int,
    fmt: str,
    filename: str,
) -> Response[Any]:
    if sort not in RESULT_SORTS:
        raise BadRequest(f"must be one of {', '.join(RESULT_SORTS)}", field="sort")
    if fmt not in ("json", "csv"):
        raise BadRequest("must be json or csv", field="format")
    check_limit(limit, 200)
    after = _results_cursor(sort, cursor)
    secret = signing_secret()
    rows = await service.list_results(
        db_session,
        principal.workspace_id,
        campaign_id=campaign_id,
        search_id=search_id,
        filters=filters,
        sort=sort,
        after=after,
        limit=CSV_BATCH if fmt == "csv" else limit + 1,
    )
    if fmt == "csv":
        return Stream(
            _csv_stream(principal.workspace_id, campaign_id, search_id, filters, sort, rows, secret),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"', "Cache-Control": "no-store"},
        )
    page = rows[:limit]
    next_cursor = encode_cursor(sort, *page[-1][1]) if len(rows) > limit and page else None
    return Response(Page(items=[creator_out(row, secret) for row, _ in page], next_cursor=next_cursor))


async def _csv_stream(
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    search_id: uuid.UUID | None,
    filters: ResultFilters,
    sort: str,
    first: list[tuple[ResultRow, list[Any]]],
    secret: bytes,
) -> AsyncIterator[bytes]:
    """UTF-8 with a BOM (spreadsheets then read it as UTF-8), a header row, then every row,
    fetched CSV_BATCH at a time in a session of its own (the request's has closed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield ("\ufeff" + buffer.getvalue()).encode()
    rows = first
    while rows:
        buffer.seek(0)
        buffer.truncate()
        for row, _ in rows:
            writer.writerow(_csv_values(row, secret))
        yield buffer.getvalue().encode()
        if len(rows) < CSV_BATCH:
            return
        after = rows[-1][1]
        async with session_scope() as session:
            rows = await DiscoveryRepository(session).results(
                workspace_id,
                search_id=search_id,
                campaign_id=None if search_id is not None else campaign_id,
                filters=filters,
                sort=sort,
                after=after,
                limit=CSV_BATCH,
            )


# --- the image proxy (signed links; no bearer token, so <img> tags can use them) -----------------


@get(
    "/discovery/images/{token:str}",
    opt={
        "exclude_from_auth": True,
        # The image as the CDN served it (HEIC/HEIF become JPEG; AVIF passes through).
        MEDIA_OPT: {"200": {t: "The image" for t in ("image/png", "image/webp", "image/gif", "image/avif")}},
    },
    tags=["discovery"],
    security=[{}],
    media_type="image/jpeg",
    responses={
        **problems(403, 404, 413, 415, 502, 503),
        200: ResponseSpec(data_container=bytes, description="The image", media_type="image/jpeg"),
        304: ResponseSpec(data_container=None, description="Not modified: `If-None-Match` matched the ETag"),
    },
)
async def discovery_image(request: Request[Any, Any, Any], token: str) -> Response[bytes]:
    """An avatar through Reelflow: the link is signed by the API (no open proxy); only the
    allowed provider CDN hosts are fetched, every redirect re-checked, no private addresses;
    size and time limits; HEIC becomes JPEG; cached in the blob store."""
    settings = get_settings()
    allow, addresses_ok = service.image_rules(
        settings.discovery,
        production=settings.is_production,
        sandbox_url=None if settings.is_production else settings.sandbox_base_url(),
    )
    image = await service.proxy_image(
        token,
        secret=signing_secret(),
        fetcher=request.app.state.image_fetcher,
        blobs=get_blob_store(),
        allow=allow,
        addresses_ok=addresses_ok,
    )
    headers = {
        "Cache-Control": f"public, max-age={settings.discovery.image_cache_max_age_s}, immutable",
        "ETag": image.etag,
        "X-Cache": "hit" if image.cached else "miss",
    }
    if request.headers.get("if-none-match") == image.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(image.data, media_type=image.content_type, headers=headers)


route_handlers = [DiscoveryController, discovery_image]
