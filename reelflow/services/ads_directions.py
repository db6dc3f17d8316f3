"""Ads use cases: directions (what a group of campaigns sells, and to whom)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import ads as domain
from reelflow.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from reelflow.services import audit
from reelflow.services.ads_base import _account_or_404
from reelflow.storage.models.ads import AdDirection
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.ads import AdsRepository

# --- directions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectionInput:
    ad_account_id: uuid.UUID
    name: str
    platform: str
    objective: str
    daily_budget_minor: int
    target_cpl_minor: int | None = None
    adgroup_mode: str = "create_new"
    pixel_id: str | None = None
    settings: Mapping[str, Any] | None = None
    tiktok_settings: Mapping[str, Any] | None = None
    facebook_settings: Mapping[str, Any] | None = None


async def create_directions(session: AsyncSession, workspace_id: uuid.UUID, data: DirectionInput) -> list[AdDirection]:
    """One direction, or two for `both` (TikTok and Facebook rows; Facebook has no adapter)."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, data.ad_account_id)
    name = data.name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name must be 1 to 200 characters", field="name")
    platforms = domain.direction_platforms(data.platform)
    domain.check_objective(data.objective)
    domain.check_daily_budget(data.daily_budget_minor, account.currency)
    domain.check_target_cpl(data.target_cpl_minor)
    domain.check_adgroup_mode(data.adgroup_mode)
    created = []
    for platform in platforms:
        override = data.tiktok_settings if platform == "tiktok" else data.facebook_settings
        try:
            ad_settings = domain.check_ad_settings(override if override is not None else data.settings)
        except InvalidInput as exc:
            if override is None:
                raise
            field = (exc.field or "settings").replace("settings", f"{platform}_settings", 1)
            raise InvalidInput(exc.detail or "invalid settings", field=field) from None
        if await repo.direction_exists(workspace_id, account.id, name, platform):
            raise Conflict(f"a {platform} direction named {name!r} exists for this ad account", field="name")
        created.append(
            await repo.add_direction(
                workspace_id,
                {
                    "ad_account_id": account.id,
                    "name": name,
                    "platform": platform,
                    "objective": data.objective,
                    "daily_budget_minor": data.daily_budget_minor,
                    "currency": account.currency,
                    "target_cpl_minor": data.target_cpl_minor,
                    "adgroup_mode": data.adgroup_mode,
                    "pixel_id": data.pixel_id,
                    "settings": ad_settings.as_dict(),
                },
            )
        )
    return created


async def list_directions(
    session: AsyncSession, workspace_id: uuid.UUID, *, platform: str | None, account_id: uuid.UUID | None
) -> list[AdDirection]:
    if platform is not None and platform not in domain.PLATFORMS:
        raise InvalidInput("platform must be tiktok or facebook", field="platform")
    return await AdsRepository(session).list_directions(workspace_id, platform=platform, account_id=account_id)


async def get_direction(session: AsyncSession, workspace_id: uuid.UUID, direction_id: uuid.UUID) -> AdDirection:
    direction = await AdsRepository(session).get_direction(workspace_id, direction_id)
    if direction is None:
        raise NotFound("no such direction in this workspace")
    return direction


async def update_direction(
    session: AsyncSession, workspace_id: uuid.UUID, direction_id: uuid.UUID, changes: Mapping[str, Any]
) -> AdDirection:
    repo = AdsRepository(session)
    direction = await get_direction(session, workspace_id, direction_id)
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not 1 <= len(name) <= 200:
            raise InvalidInput("name must be 1 to 200 characters", field="name")
        if await repo.direction_exists(workspace_id, direction.ad_account_id, name, direction.platform, direction.id):
            raise Conflict(f"a {direction.platform} direction named {name!r} exists", field="name")
        direction.name = name
    if "objective" in changes:
        direction.objective = domain.check_objective(changes["objective"])
    if "daily_budget_minor" in changes:
        direction.daily_budget_minor = domain.check_daily_budget(changes["daily_budget_minor"], direction.currency)
    if "target_cpl_minor" in changes:
        direction.target_cpl_minor = domain.check_target_cpl(changes["target_cpl_minor"])
    if "adgroup_mode" in changes:
        direction.adgroup_mode = domain.check_adgroup_mode(changes["adgroup_mode"])
    if "pixel_id" in changes:
        direction.pixel_id = changes["pixel_id"]
    if "settings" in changes:
        direction.settings = domain.check_ad_settings(changes["settings"]).as_dict()
    if "active" in changes:
        direction.active = bool(changes["active"])
    direction.updated_at = utcnow()
    await session.flush()
    return direction


async def delete_direction(
    session: AsyncSession, workspace_id: uuid.UUID, direction_id: uuid.UUID, *, actor: audit.Actor | None = None
) -> None:
    """Delete a direction; recorded in the audit log."""
    direction = await get_direction(session, workspace_id, direction_id)
    details = {"name": direction.name, "ad_account_id": str(direction.ad_account_id)}
    await AdsRepository(session).delete_direction(direction)
    await audit.record(
        session,
        "ads.direction.deleted",
        actor=actor,
        workspace_id=workspace_id,
        target_type="ad_direction",
        target_id=direction_id,
        details=details,
    )
