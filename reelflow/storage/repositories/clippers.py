"""All SQL of the clipper programmes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clippers import (
    ApifyRun,
    ClipperCampaign,
    ClipperSubmission,
    LedgerEntry,
    Payout,
    ViewReading,
    ViewTracking,
)
from reelflow.storage.models.identity import Membership, User

RowT = TypeVar("RowT")

PENDING_PAYOUTS = ("requested", "approved")


@dataclass(frozen=True)
class BalanceRow:
    credited: int
    paid: int
    pending: int


class ClippersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- campaigns ----------------------------------------------------------------------
    async def add(self, row: RowT) -> RowT:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get_campaign(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *, for_update: bool = False
    ) -> ClipperCampaign | None:
        query = select(ClipperCampaign).where(
            ClipperCampaign.workspace_id == workspace_id, ClipperCampaign.id == campaign_id
        )
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_campaigns(
        self, workspace_id: uuid.UUID, *, statuses: Sequence[str] | None = None
    ) -> list[ClipperCampaign]:
        query = select(ClipperCampaign).where(ClipperCampaign.workspace_id == workspace_id)
        if statuses:
            query = query.where(ClipperCampaign.status.in_(statuses))
        return list(
            (await self.session.execute(query.order_by(ClipperCampaign.created_at, ClipperCampaign.id))).scalars()
        )

    async def workspaces_with_active_campaigns(self) -> list[uuid.UUID]:
        rows = await self.session.execute(
            select(ClipperCampaign.workspace_id).where(ClipperCampaign.status == "active").distinct()
        )
        return list(rows.scalars())

    # --- submissions --------------------------------------------------------------------
    async def submission_by_url(self, workspace_id: uuid.UUID, url: str) -> ClipperSubmission | None:
        return (
            await self.session.execute(
                select(ClipperSubmission).where(
                    ClipperSubmission.workspace_id == workspace_id, ClipperSubmission.url == url
                )
            )
        ).scalar_one_or_none()

    async def insert_submission(self, values: dict[str, Any]) -> ClipperSubmission | None:
        """Insert unless the URL is taken in the workspace (then None)."""
        stmt = (
            insert(ClipperSubmission)
            .values(id=uuid.uuid4(), **values)
            .on_conflict_do_nothing(index_elements=["workspace_id", "url"])
            .returning(ClipperSubmission.id)
        )
        new_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if new_id is None:
            return None
        return await self.session.get(ClipperSubmission, new_id)

    async def get_submission(
        self, workspace_id: uuid.UUID, submission_id: uuid.UUID, *, for_update: bool = False
    ) -> ClipperSubmission | None:
        query = select(ClipperSubmission).where(
            ClipperSubmission.workspace_id == workspace_id, ClipperSubmission.id == submission_id
        )
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_submissions(
        self,
        workspace_id: uuid.UUID,
        *,
        clipper_id: uuid.UUID | None = None,
        campaign_id: uuid.UUID | None = None,
        status: str | None = None,
    ) -> list[ClipperSubmission]:
        query = select(ClipperSubmission).where(ClipperSubmission.workspace_id == workspace_id)
        if clipper_id is not None:
            query = query.where(ClipperSubmission.clipper_id == clipper_id)
        if campaign_id is not None:
            query = query.where(ClipperSubmission.campaign_id == campaign_id)
        if status is not None:
            query = query.where(ClipperSubmission.status == status)
        query = query.order_by(ClipperSubmission.created_at, ClipperSubmission.id)
        return list((await self.session.execute(query)).scalars())

    async def trackable_submissions(self, workspace_id: uuid.UUID) -> list[ClipperSubmission]:
        """Approved submissions of active campaigns."""
        query = (
            select(ClipperSubmission)
            .join(ClipperCampaign, ClipperCampaign.id == ClipperSubmission.campaign_id)
            .where(
                ClipperSubmission.workspace_id == workspace_id,
                ClipperSubmission.status == "approved",
                ClipperCampaign.status == "active",
            )
            .order_by(ClipperSubmission.approved_at, ClipperSubmission.id)
        )
        return list((await self.session.execute(query)).scalars())

    async def approved_in_campaign(self, campaign_id: uuid.UUID) -> list[ClipperSubmission]:
        query = select(ClipperSubmission).where(
            ClipperSubmission.campaign_id == campaign_id, ClipperSubmission.status.in_(("approved", "stopped"))
        )
        return list((await self.session.execute(query)).scalars())

    # --- tracking -----------------------------------------------------------------------
    async def upsert_daily(self, sub: ClipperSubmission, day: date, views: int, read_at: datetime) -> None:
        stmt = insert(ViewTracking).values(
            id=uuid.uuid4(),
            workspace_id=sub.workspace_id,
            campaign_id=sub.campaign_id,
            clipper_id=sub.clipper_id,
            submission_id=sub.id,
            date=day,
            platform=sub.platform,
            views=views,
            read_at=read_at,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["clipper_id", "submission_id", "date", "platform"],
            set_={"views": stmt.excluded.views, "read_at": stmt.excluded.read_at},
            where=ViewTracking.read_at <= stmt.excluded.read_at,
        )
        await self.session.execute(stmt)

    async def upsert_daily_many(
        self, rows: Sequence[tuple[ClipperSubmission, int]], day: date, read_at: datetime
    ) -> None:
        """One statement for a batch: the (clipper, submission, date, platform) row, latest reading wins."""
        if not rows:
            return
        stmt = insert(ViewTracking).values(
            [
                {
                    "id": uuid.uuid4(),
                    "workspace_id": sub.workspace_id,
                    "campaign_id": sub.campaign_id,
                    "clipper_id": sub.clipper_id,
                    "submission_id": sub.id,
                    "date": day,
                    "platform": sub.platform,
                    "views": views,
                    "read_at": read_at,
                }
                for sub, views in rows
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["clipper_id", "submission_id", "date", "platform"],
            set_={"views": stmt.excluded.views, "read_at": stmt.excluded.read_at},
            where=ViewTracking.read_at <= stmt.excluded.read_at,
        )
        await self.session.execute(stmt)

    async def add_readings(self, rows: Sequence[tuple[ClipperSubmission, int]], read_at: datetime, run_id: str) -> None:
        self.session.add_all(
            [
                ViewReading(
                    workspace_id=sub.workspace_id,
                    submission_id=sub.id,
                    views=views,
                    read_at=read_at,
                    apify_run_id=run_id,
                )
                for sub, views in rows
            ]
        )

    async def add_reading(self, sub: ClipperSubmission, views: int, read_at: datetime, run_id: str | None) -> None:
        self.session.add(
            ViewReading(
                workspace_id=sub.workspace_id, submission_id=sub.id, views=views, read_at=read_at, apify_run_id=run_id
            )
        )

    async def daily_rows(self, workspace_id: uuid.UUID, submission_id: uuid.UUID) -> list[ViewTracking]:
        query = select(ViewTracking).where(
            ViewTracking.workspace_id == workspace_id, ViewTracking.submission_id == submission_id
        )
        return list((await self.session.execute(query.order_by(ViewTracking.date))).scalars())

    async def readings(self, workspace_id: uuid.UUID, submission_id: uuid.UUID) -> list[ViewReading]:
        query = select(ViewReading).where(
            ViewReading.workspace_id == workspace_id, ViewReading.submission_id == submission_id
        )
        return list((await self.session.execute(query.order_by(ViewReading.read_at))).scalars())

    # --- Apify runs ---------------------------------------------------------------------
    async def apify_run(self, job_key: str, batch: int) -> ApifyRun | None:
        return (
            await self.session.execute(select(ApifyRun).where(ApifyRun.job_key == job_key, ApifyRun.batch == batch))
        ).scalar_one_or_none()

    async def apify_runs_of(self, job_key: str) -> list[ApifyRun]:
        return list((await self.session.execute(select(ApifyRun).where(ApifyRun.job_key == job_key))).scalars())

    async def submissions_by_urls_for_update(
        self, workspace_id: uuid.UUID, urls: Sequence[str]
    ) -> list[ClipperSubmission]:
        query = (
            select(ClipperSubmission)
            .where(ClipperSubmission.workspace_id == workspace_id, ClipperSubmission.url.in_(list(urls)))
            .order_by(ClipperSubmission.id)
            .with_for_update()
        )
        return list((await self.session.execute(query)).scalars())

    async def lock_campaign(self, campaign_id: uuid.UUID) -> ClipperCampaign | None:
        query = select(ClipperCampaign).where(ClipperCampaign.id == campaign_id).with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def count_apify_runs(self, workspace_id: uuid.UUID) -> int:
        return int(
            (await self.session.execute(select(func.count()).where(ApifyRun.workspace_id == workspace_id))).scalar_one()
        )

    # --- ledger and balances ------------------------------------------------------------
    async def credited_by_submission(self, campaign_id: uuid.UUID) -> dict[uuid.UUID, int]:
        rows = await self.session.execute(
            select(LedgerEntry.submission_id, func.sum(LedgerEntry.amount_minor))
            .where(LedgerEntry.campaign_id == campaign_id, LedgerEntry.kind == "credit")
            .group_by(LedgerEntry.submission_id)
        )
        return {sid: int(total) for sid, total in rows.all() if sid is not None}

    async def lock_member(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
        """Row-lock the clipper's membership: payouts of one clipper are serialised on it."""
        return (
            await self.session.execute(
                select(Membership)
                .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
                .with_for_update()
            )
        ).scalar_one_or_none()

    async def balance(self, workspace_id: uuid.UUID, clipper_id: uuid.UUID, currency: str) -> BalanceRow:
        credited = (
            await self.session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
                    LedgerEntry.workspace_id == workspace_id,
                    LedgerEntry.clipper_id == clipper_id,
                    LedgerEntry.currency == currency,
                    LedgerEntry.kind == "credit",
                )
            )
        ).scalar_one()
        row = (
            await self.session.execute(
                select(
                    func.coalesce(func.sum(case((Payout.status == "paid", Payout.amount_minor), else_=0)), 0),
                    func.coalesce(
                        func.sum(case((Payout.status.in_(PENDING_PAYOUTS), Payout.amount_minor), else_=0)), 0
                    ),
                ).where(
                    Payout.workspace_id == workspace_id, Payout.clipper_id == clipper_id, Payout.currency == currency
                )
            )
        ).one()
        return BalanceRow(credited=int(credited), paid=int(row[0]), pending=int(row[1]))

    async def get_payout(
        self, workspace_id: uuid.UUID, payout_id: uuid.UUID, *, for_update: bool = False
    ) -> Payout | None:
        query = select(Payout).where(Payout.workspace_id == workspace_id, Payout.id == payout_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_payouts(self, workspace_id: uuid.UUID, clipper_id: uuid.UUID | None = None) -> list[Payout]:
        query = select(Payout).where(Payout.workspace_id == workspace_id)
        if clipper_id is not None:
            query = query.where(Payout.clipper_id == clipper_id)
        return list((await self.session.execute(query.order_by(Payout.created_at, Payout.id))).scalars())

    async def ledger(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID | None = None) -> list[LedgerEntry]:
        query = select(LedgerEntry).where(LedgerEntry.workspace_id == workspace_id)
        if campaign_id is not None:
            query = query.where(LedgerEntry.campaign_id == campaign_id)
        return list((await self.session.execute(query.order_by(LedgerEntry.created_at, LedgerEntry.id))).scalars())

    # --- analytics ----------------------------------------------------------------------
    async def campaign_clipper_totals(self, campaign_id: uuid.UUID) -> list[tuple[uuid.UUID, str, int, int]]:
        """(clipper id, email, views above baseline, earned) per clipper, best first."""
        views = func.coalesce(
            func.sum(
                func.greatest(ClipperSubmission.peak_views - func.coalesce(ClipperSubmission.baseline_views, 0), 0)
            ),
            0,
        )
        earned = (
            select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
            .where(
                LedgerEntry.campaign_id == campaign_id,
                LedgerEntry.kind == "credit",
                LedgerEntry.clipper_id == ClipperSubmission.clipper_id,
            )
            .correlate(ClipperSubmission)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(ClipperSubmission.clipper_id, User.email, views, earned)
            .join(User, User.id == ClipperSubmission.clipper_id)
            .where(ClipperSubmission.campaign_id == campaign_id, ClipperSubmission.status.in_(("approved", "stopped")))
            .group_by(ClipperSubmission.clipper_id, User.email)
        )
        out = [(r[0], r[1], int(r[2]), int(r[3])) for r in rows.all()]
        return sorted(out, key=lambda r: (-r[3], -r[2], str(r[0])))

    async def campaign_daily(self, campaign_id: uuid.UUID) -> list[tuple[date, int]]:
        rows = await self.session.execute(
            select(ViewTracking.date, func.sum(ViewTracking.views))
            .where(ViewTracking.campaign_id == campaign_id)
            .group_by(ViewTracking.date)
            .order_by(ViewTracking.date)
        )
        return [(d, int(v)) for d, v in rows.all()]

    async def clipper_views(self, workspace_id: uuid.UUID, clipper_id: uuid.UUID) -> int:
        value = (
            await self.session.execute(
                select(
                    func.coalesce(
                        func.sum(
                            func.greatest(
                                ClipperSubmission.peak_views - func.coalesce(ClipperSubmission.baseline_views, 0), 0
                            )
                        ),
                        0,
                    )
                ).where(
                    and_(
                        ClipperSubmission.workspace_id == workspace_id,
                        ClipperSubmission.clipper_id == clipper_id,
                        ClipperSubmission.status.in_(("approved", "stopped")),
                    )
                )
            )
        ).scalar_one()
        return int(value)

    async def set_campaign_spent(self, campaign_id: uuid.UUID, spent: int, status: str) -> None:
        await self.session.execute(
            update(ClipperCampaign)
            .where(ClipperCampaign.id == campaign_id)
            .values(spent_minor=spent, status=status, updated_at=utcnow())
        )
