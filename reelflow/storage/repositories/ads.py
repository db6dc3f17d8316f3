"""Queries for the ads area: connections (encrypted tokens), ad accounts, directions and
their ad groups, creatives, launches, ads, actions and the daily metrics history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage import crypto
from reelflow.storage.models.ads import (
    AdAccount,
    AdAction,
    AdAd,
    AdConnection,
    AdCreative,
    AdDirection,
    AdDirectionAdGroup,
    AdLaunch,
    AdMetricDaily,
    AdOAuthState,
)
from reelflow.storage.models.base import utcnow

METRIC_FIELDS = (
    "spend_minor",
    "impressions",
    "clicks",
    "ctr",
    "cpc_minor",
    "conversions",
    "leads",
    "cpl_minor",
    "video_views",
    "views_2s",
    "views_6s",
)


_METRIC_TYPES = {name: "double precision" if name == "ctr" else "bigint" for name in METRIC_FIELDS}
_UPSERT_CHUNK = 5000
_UPSERT_METRICS = text(
    "INSERT INTO ad_metrics_daily (ad_account_id, platform, ad_id, day, workspace_id, currency, collected_at, "
    + ", ".join(METRIC_FIELDS)
    + ") SELECT CAST(:account_id AS uuid), CAST(:platform AS text), u.ad_id, u.day, CAST(:workspace_id AS uuid), "
    "u.currency, CAST(:now AS timestamptz), "
    + ", ".join(f"u.{name}" for name in METRIC_FIELDS)
    + " FROM unnest(CAST(:ad_id AS text[]), CAST(:day AS date[]), CAST(:currency AS text[]), "
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _METRIC_TYPES.items())
    + ") AS u(ad_id, day, currency, "
    + ", ".join(METRIC_FIELDS)
    + ") ON CONFLICT (ad_account_id, platform, ad_id, day) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in (*METRIC_FIELDS, "currency", "collected_at"))
)


@dataclass(frozen=True)
class MetricRow:
    ad_id: str
    day: date
    currency: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Totals:
    key: str
    spend_minor: int
    impressions: int
    clicks: int
    leads: int


class AdsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- OAuth states and connections (the token store) --------------------------------------------

    async def use_state(self, nonce: str, workspace_id: uuid.UUID) -> bool:
        """Mark a state nonce used; False when it was used before (single use)."""
        stmt = (
            insert(AdOAuthState)
            .values(nonce=nonce, workspace_id=workspace_id, used_at=utcnow())
            .on_conflict_do_nothing()
            .returning(AdOAuthState.nonce)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def add_connection(
        self,
        *,
        workspace_id: uuid.UUID,
        created_by: uuid.UUID | None,
        access_token: str,
        refresh_token: str | None,
        expires_at: datetime | None,
        refresh_expires_at: datetime | None,
        scope: list[int],
        advertisers: list[dict[str, Any]],
    ) -> AdConnection:
        connection = AdConnection(
            workspace_id=workspace_id,
            created_by=created_by,
            platform="tiktok",
            access_token_enc=crypto.encrypt(access_token),
            refresh_token_enc=crypto.encrypt(refresh_token) if refresh_token else None,
            expires_at=expires_at,
            refresh_expires_at=refresh_expires_at,
            scope=scope,
            advertiser_ids=[str(a["advertiser_id"]) for a in advertisers],
            advertisers=advertisers,
        )
        self.session.add(connection)
        await self.session.flush()
        return connection

    async def get_connection(self, workspace_id: uuid.UUID, connection_id: uuid.UUID) -> AdConnection | None:
        return await self.session.scalar(
            select(AdConnection).where(AdConnection.id == connection_id, AdConnection.workspace_id == workspace_id)
        )

    @staticmethod
    def access_token(connection: AdConnection) -> str | None:
        return crypto.decrypt(connection.access_token_enc) if connection.access_token_enc else None

    async def remove_tokens(self, connection_id: uuid.UUID) -> None:
        await self.session.execute(
            update(AdConnection)
            .where(AdConnection.id == connection_id)
            .values(access_token_enc=None, refresh_token_enc=None, revoked_at=utcnow())
        )

    async def connection_in_use(self, connection_id: uuid.UUID) -> bool:
        count = await self.session.scalar(
            select(func.count())
            .select_from(AdAccount)
            .where(AdAccount.connection_id == connection_id, AdAccount.status != "disconnected")
        )
        return bool(count)

    async def rotate_tokens(self) -> int:
        """Re-encrypt every stored token with the current first key (`reelflow keys rotate`)."""
        rows = (
            await self.session.scalars(select(AdConnection).where(AdConnection.access_token_enc.is_not(None)))
        ).all()
        for row in rows:
            if row.access_token_enc:
                row.access_token_enc = crypto.rotate(row.access_token_enc)
            if row.refresh_token_enc:
                row.refresh_token_enc = crypto.rotate(row.refresh_token_enc)
        return len(rows)

    # --- ad accounts ----------------------------------------------------------------------------------

    async def upsert_account(self, workspace_id: uuid.UUID, values: dict[str, Any]) -> AdAccount:
        """Create the ad account, or reconnect it (new connection, status connected)."""
        insert_stmt = insert(AdAccount).values(id=uuid.uuid4(), workspace_id=workspace_id, platform="tiktok", **values)
        update_cols: dict[str, Any] = {k: insert_stmt.excluded[k] for k in values}
        update_cols.update(status="connected", last_error=None, updated_at=utcnow())
        stmt = insert_stmt.on_conflict_do_update(
            index_elements=["workspace_id", "platform", "advertiser_id"], set_=update_cols
        ).returning(AdAccount.id)
        account_id = (await self.session.execute(stmt)).scalar_one()
        account = await self.session.get(AdAccount, account_id, populate_existing=True)
        assert account is not None
        return account

    async def get_account(self, workspace_id: uuid.UUID, account_id: uuid.UUID) -> AdAccount | None:
        return await self.session.scalar(
            select(AdAccount).where(AdAccount.id == account_id, AdAccount.workspace_id == workspace_id)
        )

    async def account_by_id(self, account_id: uuid.UUID, *, lock: bool = False) -> AdAccount | None:
        stmt = select(AdAccount).where(AdAccount.id == account_id)
        if lock:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def list_accounts(self, workspace_id: uuid.UUID) -> list[AdAccount]:
        rows = await self.session.scalars(
            select(AdAccount).where(AdAccount.workspace_id == workspace_id).order_by(AdAccount.created_at, AdAccount.id)
        )
        return list(rows)

    async def collectable_accounts(self, limit: int) -> list[AdAccount]:
        """Ad accounts the metrics collector pulls: connected or failing (not disconnected)."""
        rows = await self.session.scalars(
            select(AdAccount)
            .where(AdAccount.status.in_(("connected", "error")), AdAccount.connection_id.is_not(None))
            .order_by(AdAccount.last_collected_at.asc().nulls_first(), AdAccount.id)
            .limit(limit)
        )
        return list(rows)

    async def record_collect(self, account_id: uuid.UUID, *, error: str | None, status: str | None = None) -> None:
        values: dict[str, Any]
        if error is None:
            values = {"last_collected_at": utcnow(), "collect_failures": 0, "last_error": None}
            values["status"] = status or "connected"
        else:
            values = {
                "last_error": error[:2000],
                "last_error_at": utcnow(),
                "collect_failures": AdAccount.collect_failures + 1,
            }
            values["status"] = status or "error"
        await self.session.execute(
            update(AdAccount).where(AdAccount.id == account_id, AdAccount.status != "disconnected").values(**values)
        )

    # --- directions -------------------------------------------------------------------------------------

    async def add_direction(self, workspace_id: uuid.UUID, values: dict[str, Any]) -> AdDirection:
        direction = AdDirection(workspace_id=workspace_id, **values)
        self.session.add(direction)
        await self.session.flush()
        return direction

    async def direction_exists(
        self, workspace_id: uuid.UUID, account_id: uuid.UUID, name: str, platform: str, exclude: uuid.UUID | None = None
    ) -> bool:
        stmt = select(AdDirection.id).where(
            AdDirection.workspace_id == workspace_id,
            AdDirection.ad_account_id == account_id,
            AdDirection.name == name,
            AdDirection.platform == platform,
        )
        if exclude is not None:
            stmt = stmt.where(AdDirection.id != exclude)
        return (await self.session.scalar(stmt)) is not None

    async def get_direction(
        self, workspace_id: uuid.UUID, direction_id: uuid.UUID, *, lock: bool = False
    ) -> AdDirection | None:
        stmt = select(AdDirection).where(AdDirection.id == direction_id, AdDirection.workspace_id == workspace_id)
        if lock:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def list_directions(
        self, workspace_id: uuid.UUID, *, platform: str | None = None, account_id: uuid.UUID | None = None
    ) -> list[AdDirection]:
        stmt = select(AdDirection).where(AdDirection.workspace_id == workspace_id)
        if platform:
            stmt = stmt.where(AdDirection.platform == platform)
        if account_id:
            stmt = stmt.where(AdDirection.ad_account_id == account_id)
        return list(await self.session.scalars(stmt.order_by(AdDirection.created_at, AdDirection.id)))

    async def delete_direction(self, direction: AdDirection) -> None:
        await self.session.delete(direction)

    async def direction_adgroups(self, direction_id: uuid.UUID, *, lock: bool = False) -> list[AdDirectionAdGroup]:
        stmt = select(AdDirectionAdGroup).where(AdDirectionAdGroup.direction_id == direction_id)
        if lock:
            stmt = stmt.with_for_update()
        return list(await self.session.scalars(stmt.order_by(AdDirectionAdGroup.created_at)))

    async def add_direction_adgroup(
        self,
        *,
        workspace_id: uuid.UUID,
        direction_id: uuid.UUID,
        adgroup_id: str,
        campaign_id: str,
        name: str,
        budget_minor: int | None,
    ) -> None:
        stmt = (
            insert(AdDirectionAdGroup)
            .values(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                direction_id=direction_id,
                tiktok_adgroup_id=adgroup_id,
                tiktok_campaign_id=campaign_id,
                name=name,
                daily_budget_minor=budget_minor,
                status="ENABLE",
                ads_count=0,
            )
            .on_conflict_do_nothing(index_elements=["direction_id", "tiktok_adgroup_id"])
        )
        await self.session.execute(stmt)

    async def set_adgroup_status(self, direction_id: uuid.UUID, adgroup_id: str, status: str) -> None:
        await self.session.execute(
            update(AdDirectionAdGroup)
            .where(AdDirectionAdGroup.direction_id == direction_id, AdDirectionAdGroup.tiktok_adgroup_id == adgroup_id)
            .values(status=status, updated_at=utcnow())
        )

    async def set_adgroup_budget(self, adgroup_id: str, budget_minor: int) -> None:
        await self.session.execute(
            update(AdDirectionAdGroup)
            .where(AdDirectionAdGroup.tiktok_adgroup_id == adgroup_id)
            .values(daily_budget_minor=budget_minor, updated_at=utcnow())
        )

    # --- creatives --------------------------------------------------------------------------------------

    async def add_creative(self, workspace_id: uuid.UUID, values: dict[str, Any]) -> tuple[AdCreative, bool]:
        """Insert a creative; a clip already made a creative of this account returns that one."""
        creative_id = uuid.uuid4()
        stmt = (
            insert(AdCreative)
            .values(id=creative_id, workspace_id=workspace_id, **values)
            .on_conflict_do_nothing(index_elements=["ad_account_id", "clip_id"])
            .returning(AdCreative.id)
        )
        inserted = (await self.session.execute(stmt)).scalar_one_or_none()
        if inserted is None:
            existing = await self.session.scalar(
                select(AdCreative).where(
                    AdCreative.ad_account_id == values["ad_account_id"], AdCreative.clip_id == values["clip_id"]
                )
            )
            assert existing is not None
            return existing, False
        creative = await self.session.get(AdCreative, inserted)
        assert creative is not None
        return creative, True

    async def get_creative(self, workspace_id: uuid.UUID, creative_id: uuid.UUID) -> AdCreative | None:
        return await self.session.scalar(
            select(AdCreative).where(AdCreative.id == creative_id, AdCreative.workspace_id == workspace_id)
        )

    async def creative_by_id(self, creative_id: uuid.UUID) -> AdCreative | None:
        return await self.session.get(AdCreative, creative_id, populate_existing=True)

    async def creatives(self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[AdCreative]:
        if not ids:
            return []
        rows = await self.session.scalars(
            select(AdCreative).where(AdCreative.workspace_id == workspace_id, AdCreative.id.in_(list(ids)))
        )
        by_id = {c.id: c for c in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def list_creatives(
        self, workspace_id: uuid.UUID, *, account_id: uuid.UUID | None = None, direction_id: uuid.UUID | None = None
    ) -> list[AdCreative]:
        stmt = select(AdCreative).where(AdCreative.workspace_id == workspace_id)
        if account_id:
            stmt = stmt.where(AdCreative.ad_account_id == account_id)
        if direction_id:
            stmt = stmt.where(AdCreative.direction_id == direction_id)
        return list(await self.session.scalars(stmt.order_by(AdCreative.created_at, AdCreative.id)))

    async def set_creative(self, creative_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(AdCreative).where(AdCreative.id == creative_id).values(updated_at=utcnow(), **values)
        )

    async def creative_candidates(self, direction_id: uuid.UUID) -> list[tuple[uuid.UUID, bool, int, int]]:
        """Ready video creatives of a direction: (id, running, spend, leads) from the history."""
        running = (
            select(AdAd.creative_id)
            .where(AdAd.direction_id == direction_id, AdAd.status == "ENABLE")
            .distinct()
            .scalar_subquery()
        )
        spend = (
            select(
                AdAd.creative_id.label("creative_id"),
                func.coalesce(func.sum(AdMetricDaily.spend_minor), 0).label("spend"),
                func.coalesce(func.sum(AdMetricDaily.leads), 0).label("leads"),
            )
            .join(
                AdMetricDaily,
                and_(AdMetricDaily.ad_account_id == AdAd.ad_account_id, AdMetricDaily.ad_id == AdAd.tiktok_ad_id),
            )
            .group_by(AdAd.creative_id)
            .subquery()
        )
        rows = await self.session.execute(
            select(
                AdCreative.id,
                AdCreative.id.in_(running),
                func.coalesce(spend.c.spend, 0),
                func.coalesce(spend.c.leads, 0),
            )
            .outerjoin(spend, spend.c.creative_id == AdCreative.id)
            .where(AdCreative.direction_id == direction_id, AdCreative.kind == "video", AdCreative.status != "failed")
            .order_by(AdCreative.created_at, AdCreative.id)
        )
        return [(r[0], bool(r[1]), int(r[2]), int(r[3])) for r in rows]

    # --- launches and ads ----------------------------------------------------------------------------------

    async def add_launch(self, workspace_id: uuid.UUID, values: dict[str, Any]) -> AdLaunch:
        launch = AdLaunch(workspace_id=workspace_id, **values)
        self.session.add(launch)
        await self.session.flush()
        return launch

    async def get_launch(self, workspace_id: uuid.UUID, launch_id: uuid.UUID) -> AdLaunch | None:
        return await self.session.scalar(
            select(AdLaunch).where(AdLaunch.id == launch_id, AdLaunch.workspace_id == workspace_id)
        )

    async def launch_by_id(self, launch_id: uuid.UUID) -> AdLaunch | None:
        return await self.session.get(AdLaunch, launch_id, populate_existing=True)

    async def list_launches(
        self,
        workspace_id: uuid.UUID,
        *,
        direction_id: uuid.UUID | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
        limit: int = 50,
    ) -> list[AdLaunch]:
        """Newest first, keyset-paginated on (created_at, id)."""
        stmt = select(AdLaunch).where(AdLaunch.workspace_id == workspace_id)
        if direction_id:
            stmt = stmt.where(AdLaunch.direction_id == direction_id)
        if after is not None:
            stmt = stmt.where(
                or_(AdLaunch.created_at < after[0], (AdLaunch.created_at == after[0]) & (AdLaunch.id < after[1]))
            )
        stmt = stmt.order_by(AdLaunch.created_at.desc(), AdLaunch.id.desc()).limit(limit)
        return list(await self.session.scalars(stmt))

    async def set_launch(self, launch_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(AdLaunch).where(AdLaunch.id == launch_id).values(updated_at=utcnow(), **values)
        )

    async def record_ad(self, values: dict[str, Any]) -> bool:
        """Store an ad Reelflow created; False when it was stored before (a replayed step)."""
        stmt = (
            insert(AdAd)
            .values(id=uuid.uuid4(), **values)
            .on_conflict_do_nothing(index_elements=["ad_account_id", "tiktok_ad_id"])
            .returning(AdAd.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def bump_ads_count(self, direction_id: uuid.UUID, adgroup_id: str, by: int = 1) -> None:
        await self.session.execute(
            update(AdDirectionAdGroup)
            .where(AdDirectionAdGroup.direction_id == direction_id, AdDirectionAdGroup.tiktok_adgroup_id == adgroup_id)
            .values(ads_count=AdDirectionAdGroup.ads_count + by, last_used_at=utcnow(), updated_at=utcnow())
        )

    async def set_ad_status(self, account_id: uuid.UUID, ad_ids: Sequence[str], status: str) -> None:
        await self.session.execute(
            update(AdAd)
            .where(AdAd.ad_account_id == account_id, AdAd.tiktok_ad_id.in_(list(ad_ids)))
            .values(status=status, updated_at=utcnow())
        )

    # --- actions --------------------------------------------------------------------------------------------

    async def add_action(self, workspace_id: uuid.UUID, values: dict[str, Any]) -> tuple[AdAction, bool]:
        """Insert an action; with an idempotency key already used, the earlier action."""
        action_id = uuid.uuid4()
        stmt = (
            insert(AdAction)
            .values(id=action_id, workspace_id=workspace_id, **values)
            .on_conflict_do_nothing(index_elements=["workspace_id", "idempotency_key"])
            .returning(AdAction.id)
        )
        inserted = (await self.session.execute(stmt)).scalar_one_or_none()
        if inserted is None:
            existing = await self.session.scalar(
                select(AdAction).where(
                    AdAction.workspace_id == workspace_id, AdAction.idempotency_key == values["idempotency_key"]
                )
            )
            assert existing is not None
            return existing, False
        action = await self.session.get(AdAction, inserted)
        assert action is not None
        return action, True

    async def get_action(self, workspace_id: uuid.UUID, action_id: uuid.UUID) -> AdAction | None:
        return await self.session.scalar(
            select(AdAction).where(AdAction.id == action_id, AdAction.workspace_id == workspace_id)
        )

    async def action_by_id(self, action_id: uuid.UUID) -> AdAction | None:
        return await self.session.get(AdAction, action_id, populate_existing=True)

    async def list_actions(
        self,
        workspace_id: uuid.UUID,
        *,
        account_id: uuid.UUID | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
        limit: int = 50,
    ) -> list[AdAction]:
        """Newest first, keyset-paginated on (created_at, id)."""
        stmt = select(AdAction).where(AdAction.workspace_id == workspace_id)
        if account_id:
            stmt = stmt.where(AdAction.ad_account_id == account_id)
        if after is not None:
            stmt = stmt.where(
                or_(AdAction.created_at < after[0], (AdAction.created_at == after[0]) & (AdAction.id < after[1]))
            )
        stmt = stmt.order_by(AdAction.created_at.desc(), AdAction.id.desc()).limit(limit)
        return list(await self.session.scalars(stmt))

    async def budget_changes_since(self, account_id: uuid.UUID, adgroup_id: str, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(AdAction)
            .where(
                AdAction.ad_account_id == account_id,
                AdAction.target_id == adgroup_id,
                AdAction.kind == "update_adgroup_budget",
                AdAction.status.in_(("queued", "running", "succeeded")),
                AdAction.created_at >= since,
            )
        )
        return int(count or 0)

    async def set_action(self, action_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(AdAction).where(AdAction.id == action_id).values(updated_at=utcnow(), **values)
        )

    # --- metrics ----------------------------------------------------------------------------------------------

    async def upsert_metrics(
        self, workspace_id: uuid.UUID, account_id: uuid.UUID, platform: str, rows: Sequence[MetricRow]
    ) -> int:
        """Insert or replace (ad, day) rows: re-pulling a day replaces it, never adds to it.

        One statement per `_UPSERT_CHUNK` rows, the rows sent as one array per column and
        expanded by `unnest` in Postgres: one round trip and no per-row parameter handling in
        Python (an executemany of 3,500 rows spent more CPU binding parameters than Postgres
        spent inserting them). A row repeated in `rows` counts once, the last one wins."""
        if not rows:
            return 0
        latest: dict[tuple[str, date], MetricRow] = {}
        for r in rows:
            latest[(r.ad_id, r.day)] = r
        unique = list(latest.values())
        now = utcnow()
        for first in range(0, len(unique), _UPSERT_CHUNK):
            chunk = unique[first : first + _UPSERT_CHUNK]
            params: dict[str, Any] = {
                "account_id": account_id,
                "platform": platform,
                "workspace_id": workspace_id,
                "now": now,
                "ad_id": [r.ad_id for r in chunk],
                "day": [r.day for r in chunk],
                "currency": [r.currency for r in chunk],
            }
            for name in METRIC_FIELDS:
                params[name] = [r.values.get(name) for r in chunk]
            await self.session.execute(_UPSERT_METRICS, params)
        return len(unique)

    async def metrics_for(self, account_id: uuid.UUID) -> list[AdMetricDaily]:
        rows = await self.session.scalars(
            select(AdMetricDaily)
            .where(AdMetricDaily.ad_account_id == account_id)
            .order_by(AdMetricDaily.ad_id, AdMetricDaily.day)
        )
        return list(rows)

    async def totals_by_direction(self, workspace_id: uuid.UUID, first: date, last: date) -> dict[uuid.UUID, Totals]:
        return await self._totals(workspace_id, first, last, AdAd.direction_id)

    async def totals_by_creative(
        self, workspace_id: uuid.UUID, first: date, last: date, direction_id: uuid.UUID | None = None
    ) -> dict[uuid.UUID, Totals]:
        return await self._totals(workspace_id, first, last, AdAd.creative_id, direction_id)

    async def _totals(
        self, workspace_id: uuid.UUID, first: date, last: date, key: Any, direction_id: uuid.UUID | None = None
    ) -> dict[uuid.UUID, Totals]:
        stmt = (
            select(
                key,
                func.coalesce(func.sum(AdMetricDaily.spend_minor), 0),
                func.coalesce(func.sum(AdMetricDaily.impressions), 0),
                func.coalesce(func.sum(AdMetricDaily.clicks), 0),
                func.coalesce(func.sum(AdMetricDaily.leads), 0),
            )
            .join(
                AdMetricDaily,
                and_(AdMetricDaily.ad_account_id == AdAd.ad_account_id, AdMetricDaily.ad_id == AdAd.tiktok_ad_id),
            )
            .where(AdAd.workspace_id == workspace_id, AdMetricDaily.day >= first, AdMetricDaily.day <= last)
            .group_by(key)
        )
        if direction_id is not None:
            stmt = stmt.where(AdAd.direction_id == direction_id)
        out: dict[uuid.UUID, Totals] = {}
        for row in await self.session.execute(stmt):
            out[row[0]] = Totals(str(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
        return out
