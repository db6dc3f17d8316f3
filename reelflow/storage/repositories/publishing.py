"""All SQL of the publishing area: OAuth states, connected accounts (sealed tokens with a
version for compare-and-set), publications, publish config, experiments and metrics."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Clip
from reelflow.storage.models.publishing import (
    ClipPublication,
    ConnectedAccount,
    Experiment,
    ExperimentVariant,
    OAuthState,
    PostMetric,
    PublishConfig,
)

OPEN_PUBLICATION = ("scheduled", "queued", "uploading", "processing")


class PublishingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- OAuth states -------------------------------------------------------------------
    async def add_state(self, **values: Any) -> OAuthState:
        state = OAuthState(id=uuid.uuid4(), created_at=utcnow(), **values)
        self.session.add(state)
        await self.session.flush()
        return state

    async def consume_state(self, state_hash: str, platform: str, now: datetime) -> OAuthState | None:
        """Mark the state used and return it; None when unknown, expired, used or for another platform."""
        stmt = (
            update(OAuthState)
            .where(
                OAuthState.state_hash == state_hash,
                OAuthState.platform == platform,
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > now,
            )
            .values(used_at=now)
            .returning(OAuthState)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    # --- accounts -------------------------------------------------------------------------
    async def upsert_account(self, values: dict[str, Any]) -> ConnectedAccount:
        """Insert or update by (workspace, platform, external_id); a refresh token is never
        replaced by an empty one (a reconnect without one keeps the stored token)."""
        now = utcnow()
        stmt = insert(ConnectedAccount).values(id=uuid.uuid4(), created_at=now, updated_at=now, **values)
        excluded = stmt.excluded
        upsert = stmt.on_conflict_do_update(
            index_elements=["workspace_id", "platform", "external_id"],
            set_={
                "display_name": excluded.display_name,
                "username": excluded.username,
                "avatar_url": excluded.avatar_url,
                "scopes": excluded.scopes,
                "status": "active",
                "last_error": None,
                "connected_by": excluded.connected_by,
                "access_token_enc": excluded.access_token_enc,
                "refresh_token_enc": func.coalesce(excluded.refresh_token_enc, ConnectedAccount.refresh_token_enc),
                "key_id": excluded.key_id,
                "access_expires_at": excluded.access_expires_at,
                "refresh_expires_at": func.coalesce(excluded.refresh_expires_at, ConnectedAccount.refresh_expires_at),
                "token_version": ConnectedAccount.token_version + 1,
                "refreshed_at": now,
                "updated_at": now,
            },
        ).returning(ConnectedAccount)
        result = await self.session.execute(upsert.execution_options(populate_existing=True))
        return result.scalar_one()

    async def list_accounts(self, workspace_id: uuid.UUID, platform: str | None = None) -> Sequence[ConnectedAccount]:
        stmt = select(ConnectedAccount).where(ConnectedAccount.workspace_id == workspace_id)
        if platform:
            stmt = stmt.where(ConnectedAccount.platform == platform)
        return (await self.session.execute(stmt.order_by(ConnectedAccount.created_at))).scalars().all()

    async def get_account(self, workspace_id: uuid.UUID, account_id: uuid.UUID) -> ConnectedAccount | None:
        stmt = select(ConnectedAccount).where(
            ConnectedAccount.id == account_id, ConnectedAccount.workspace_id == workspace_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def accounts_by_ids(
        self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, ConnectedAccount]:
        stmt = select(ConnectedAccount).where(
            ConnectedAccount.workspace_id == workspace_id, ConnectedAccount.id.in_(ids)
        )
        return {a.id: a for a in (await self.session.execute(stmt)).scalars().all()}

    async def account_by_id(self, account_id: uuid.UUID, *, lock: bool = False) -> ConnectedAccount | None:
        stmt = (
            select(ConnectedAccount).where(ConnectedAccount.id == account_id).execution_options(populate_existing=True)
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def store_tokens(self, account_id: uuid.UUID, seen_version: int, values: dict[str, Any]) -> bool:
        """Compare-and-set: write new tokens only if the row still has `seen_version`."""
        stmt = (
            update(ConnectedAccount)
            .where(ConnectedAccount.id == account_id, ConnectedAccount.token_version == seen_version)
            .values(token_version=seen_version + 1, refreshed_at=utcnow(), updated_at=utcnow(), **values)
            .returning(ConnectedAccount.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def set_account_status(
        self, account_id: uuid.UUID, status: str, error: str | None, *, seen_version: int | None = None
    ) -> bool:
        stmt = update(ConnectedAccount).where(ConnectedAccount.id == account_id)
        if seen_version is not None:
            stmt = stmt.where(ConnectedAccount.token_version == seen_version)
        stmt = stmt.values(status=status, last_error=error, updated_at=utcnow()).returning(ConnectedAccount.id)
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def clear_tokens(self, account_id: uuid.UUID, status: str, error: str | None) -> None:
        await self.session.execute(
            update(ConnectedAccount)
            .where(ConnectedAccount.id == account_id)
            .values(
                access_token_enc=None,
                refresh_token_enc=None,
                access_expires_at=None,
                status=status,
                last_error=error,
                token_version=ConnectedAccount.token_version + 1,
                updated_at=utcnow(),
            )
        )

    async def accounts_expiring(self, before: datetime, limit: int = 500) -> list[uuid.UUID]:
        stmt = (
            select(ConnectedAccount.id)
            .where(
                ConnectedAccount.status == "active",
                ConnectedAccount.refresh_token_enc.is_not(None),
                or_(ConnectedAccount.access_expires_at.is_(None), ConnectedAccount.access_expires_at < before),
            )
            .order_by(ConnectedAccount.access_expires_at.nulls_first())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    # --- clips ------------------------------------------------------------------------------
    async def get_clip(self, workspace_id: uuid.UUID, clip_id: uuid.UUID) -> Clip | None:
        stmt = select(Clip).where(Clip.id == clip_id, Clip.workspace_id == workspace_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def clip_by_id(self, clip_id: uuid.UUID) -> Clip | None:
        return await self.session.get(Clip, clip_id)

    # --- publications ---------------------------------------------------------------------------
    async def insert_publication(self, values: dict[str, Any]) -> tuple[ClipPublication, bool]:
        """Insert unless (clip, account, variant) exists; returns (row, created)."""
        now = utcnow()
        pub_id = values.pop("id", None) or uuid.uuid4()
        stmt = (
            insert(ClipPublication)
            .values(id=pub_id, created_at=now, updated_at=now, **values)
            .on_conflict_do_nothing()
            .returning(ClipPublication.id)
        )
        created = (await self.session.execute(stmt)).scalar_one_or_none() is not None
        if created:
            row = await self.session.get(ClipPublication, pub_id)
            assert row is not None
            return row, True
        existing = (
            await self.session.execute(
                select(ClipPublication).where(
                    ClipPublication.clip_id == values["clip_id"],
                    ClipPublication.account_id == values["account_id"],
                    ClipPublication.variant_id.is_(None)
                    if values.get("variant_id") is None
                    else ClipPublication.variant_id == values["variant_id"],
                )
            )
        ).scalar_one()
        return existing, False

    async def get_publication(self, workspace_id: uuid.UUID, publication_id: uuid.UUID) -> ClipPublication | None:
        stmt = select(ClipPublication).where(
            ClipPublication.id == publication_id, ClipPublication.workspace_id == workspace_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def publication_by_id(self, publication_id: uuid.UUID, *, lock: bool = False) -> ClipPublication | None:
        stmt = (
            select(ClipPublication)
            .where(ClipPublication.id == publication_id)
            .execution_options(populate_existing=True)
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_publications(
        self,
        workspace_id: uuid.UUID,
        *,
        clip_id: uuid.UUID | None = None,
        account_id: uuid.UUID | None = None,
        status: str | None = None,
        experiment_id: uuid.UUID | None = None,
        limit: int = 100,
    ) -> Sequence[ClipPublication]:
        stmt = select(ClipPublication).where(ClipPublication.workspace_id == workspace_id)
        if clip_id:
            stmt = stmt.where(ClipPublication.clip_id == clip_id)
        if account_id:
            stmt = stmt.where(ClipPublication.account_id == account_id)
        if status:
            stmt = stmt.where(ClipPublication.status == status)
        if experiment_id:
            stmt = stmt.where(ClipPublication.experiment_id == experiment_id)
        stmt = stmt.order_by(ClipPublication.created_at.desc(), ClipPublication.id).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def update_publication(
        self, publication_id: uuid.UUID, *, only_if: dict[str, Any] | None = None, **values: Any
    ) -> bool:
        stmt = update(ClipPublication).where(ClipPublication.id == publication_id)
        for column, expected in (only_if or {}).items():
            col = getattr(ClipPublication, column)
            stmt = stmt.where(col.is_(None) if expected is None else col == expected)
        stmt = stmt.values(updated_at=utcnow(), **values).returning(ClipPublication.id)
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def live_posts(
        self, experiment_id: uuid.UUID | None = None, limit: int = 5000
    ) -> Sequence[tuple[ClipPublication, ConnectedAccount]]:
        """Published variant posts of running experiments (or of one), with their accounts."""
        stmt = (
            select(ClipPublication, ConnectedAccount)
            .join(ConnectedAccount, ConnectedAccount.id == ClipPublication.account_id)
            .join(Experiment, Experiment.id == ClipPublication.experiment_id)
            .where(ClipPublication.status == "published", Experiment.status == "running")
            .limit(limit)
        )
        if experiment_id is not None:
            stmt = stmt.where(Experiment.id == experiment_id)
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    # --- config --------------------------------------------------------------------------------
    async def get_config(self, workspace_id: uuid.UUID) -> PublishConfig | None:
        return await self.session.get(PublishConfig, workspace_id)

    async def put_config(self, workspace_id: uuid.UUID, values: dict[str, Any]) -> PublishConfig:
        stmt = insert(PublishConfig).values(workspace_id=workspace_id, updated_at=utcnow(), **values)
        upsert = stmt.on_conflict_do_update(
            index_elements=["workspace_id"], set_={**values, "updated_at": utcnow()}
        ).returning(PublishConfig)
        return (await self.session.execute(upsert.execution_options(populate_existing=True))).scalar_one()

    # --- experiments ------------------------------------------------------------------------------
    async def add_experiment(self, values: dict[str, Any]) -> Experiment:
        experiment = Experiment(id=uuid.uuid4(), **values)
        self.session.add(experiment)
        await self.session.flush()
        return experiment

    async def add_variant(self, values: dict[str, Any]) -> ExperimentVariant:
        variant = ExperimentVariant(id=uuid.uuid4(), **values)
        self.session.add(variant)
        await self.session.flush()
        return variant

    async def get_experiment(self, workspace_id: uuid.UUID, experiment_id: uuid.UUID) -> Experiment | None:
        stmt = select(Experiment).where(Experiment.id == experiment_id, Experiment.workspace_id == workspace_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def experiment_by_id(self, experiment_id: uuid.UUID, *, lock: bool = False) -> Experiment | None:
        stmt = select(Experiment).where(Experiment.id == experiment_id).execution_options(populate_existing=True)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_experiments(self, workspace_id: uuid.UUID) -> Sequence[Experiment]:
        stmt = select(Experiment).where(Experiment.workspace_id == workspace_id).order_by(Experiment.created_at.desc())
        return (await self.session.execute(stmt)).scalars().all()

    async def variants(self, experiment_id: uuid.UUID) -> Sequence[ExperimentVariant]:
        stmt = (
            select(ExperimentVariant)
            .where(ExperimentVariant.experiment_id == experiment_id)
            .order_by(ExperimentVariant.label)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def running_experiments(self) -> list[uuid.UUID]:
        stmt = select(Experiment.id).where(Experiment.status == "running")
        return list((await self.session.execute(stmt)).scalars().all())

    async def update_experiment(self, experiment_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(Experiment).where(Experiment.id == experiment_id).values(updated_at=utcnow(), **values)
        )

    # --- metrics ----------------------------------------------------------------------------------
    async def add_metric(self, values: dict[str, Any]) -> bool:
        """Insert one metric row; False when (publication, measured_at) exists (idempotent)."""
        stmt = (
            insert(PostMetric)
            .values(id=uuid.uuid4(), created_at=utcnow(), **values)
            .on_conflict_do_nothing(index_elements=["publication_id", "measured_at"])
            .returning(PostMetric.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def latest_metrics(self, experiment_id: uuid.UUID) -> list[tuple[ClipPublication, PostMetric | None]]:
        """Each published post of the experiment with its latest metric row."""
        latest = (
            select(PostMetric.publication_id, func.max(PostMetric.measured_at).label("at"))
            .group_by(PostMetric.publication_id)
            .subquery()
        )
        stmt = (
            select(ClipPublication, PostMetric)
            .outerjoin(latest, latest.c.publication_id == ClipPublication.id)
            .outerjoin(
                PostMetric,
                and_(PostMetric.publication_id == ClipPublication.id, PostMetric.measured_at == latest.c.at),
            )
            .where(ClipPublication.experiment_id == experiment_id)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def metrics_of(self, publication_id: uuid.UUID, limit: int = 200) -> Sequence[PostMetric]:
        stmt = (
            select(PostMetric)
            .where(PostMetric.publication_id == publication_id)
            .order_by(PostMetric.measured_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()
