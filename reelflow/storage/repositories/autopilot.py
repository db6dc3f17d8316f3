"""Queries for the ads autopilot: which accounts are due, execution records and reports, and
what the ads tables say about an account (human edits, today's budget changes, history)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.ads import AdAccount, AdAction, AdMetricDaily
from reelflow.storage.models.autopilot import AutopilotExecution, AutopilotReport
from reelflow.storage.models.base import utcnow


class AutopilotRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- accounts ---------------------------------------------------------------------------------

    async def due_accounts(self, limit: int) -> list[AdAccount]:
        """Connected (or failing) ad accounts with autopilot or reports on."""
        rows = await self.session.scalars(
            select(AdAccount)
            .where(
                AdAccount.status.in_(("connected", "error")),
                AdAccount.connection_id.is_not(None),
                or_(AdAccount.autopilot.is_(True), AdAccount.autopilot_reports.is_(True)),
            )
            .order_by(AdAccount.id)
            .limit(limit)
        )
        return list(rows)

    async def human_edits_since(self, account_id: uuid.UUID, since: datetime) -> dict[str, datetime]:
        """Target id → the latest change a person asked for (any action kind) since `since`."""
        rows = await self.session.execute(
            select(AdAction.target_id, AdAction.created_at, AdAction.params).where(
                AdAction.ad_account_id == account_id,
                AdAction.requested_by == "user",
                AdAction.status.in_(("queued", "running", "succeeded")),
                AdAction.created_at >= since,
            )
        )
        out: dict[str, datetime] = {}
        for target, at, _params in rows:
            if target and (target not in out or out[target] < at):
                out[target] = at
        return out

    async def budget_changes_since(self, account_id: uuid.UUID, since: datetime) -> dict[str, int]:
        """Ad group id → its budget before the first budget change since `since` (the day's
        starting budget, so the ±limit does not compound over several runs a day)."""
        rows = await self.session.execute(
            select(AdAction.target_id, AdAction.before)
            .where(
                AdAction.ad_account_id == account_id,
                AdAction.kind == "update_adgroup_budget",
                AdAction.status == "succeeded",
                AdAction.created_at >= since,
            )
            .order_by(AdAction.created_at)
        )
        out: dict[str, int] = {}
        for target, before in rows:
            if target and target not in out and isinstance(before, dict) and before.get("budget_minor") is not None:
                out[target] = int(before["budget_minor"])
        return out

    async def history(self, account_id: uuid.UUID, since: date) -> list[Any]:
        """The account's daily metrics since `since`, per ad and day: plain rows with the
        columns the health score reads (no ORM objects: an account has ~1,400 of them)."""
        m = AdMetricDaily
        rows = await self.session.execute(
            select(m.ad_id, m.day, m.spend_minor, m.impressions, m.clicks, m.leads, m.video_views, m.views_2s)
            .where(m.ad_account_id == account_id, m.day >= since)
            .order_by(m.ad_id, m.day)
        )
        return list(rows.all())

    # --- executions -------------------------------------------------------------------------------

    async def start_execution(self, values: dict[str, Any]) -> AutopilotExecution:
        """The execution of a run: created once; a retried or recovered run gets the same row."""
        stmt = (
            insert(AutopilotExecution)
            .values(id=uuid.uuid4(), started_at=utcnow(), **values)
            .on_conflict_do_nothing(index_elements=["run_id"])
        )
        await self.session.execute(stmt)
        row = await self.session.scalar(
            select(AutopilotExecution)
            .where(AutopilotExecution.run_id == values["run_id"])
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    async def add_execution(self, values: dict[str, Any]) -> AutopilotExecution:
        """An execution without a runtime run (inline rounds: benchmarks, scripts)."""
        row = AutopilotExecution(started_at=utcnow(), **values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def execution_by_id(self, execution_id: uuid.UUID) -> AutopilotExecution | None:
        return await self.session.get(AutopilotExecution, execution_id, populate_existing=True)

    async def set_execution(self, execution_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(AutopilotExecution)
            .where(AutopilotExecution.id == execution_id)
            .values(updated_at=utcnow(), **values)
        )

    async def get_execution(self, workspace_id: uuid.UUID, execution_id: uuid.UUID) -> AutopilotExecution | None:
        return await self.session.scalar(
            select(AutopilotExecution).where(
                AutopilotExecution.id == execution_id, AutopilotExecution.workspace_id == workspace_id
            )
        )

    async def list_executions(
        self,
        workspace_id: uuid.UUID,
        *,
        platform: str | None,
        account_id: uuid.UUID | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[AutopilotExecution]:
        stmt = select(AutopilotExecution).where(AutopilotExecution.workspace_id == workspace_id)
        if platform:
            stmt = stmt.where(AutopilotExecution.platform == platform)
        if account_id:
            stmt = stmt.where(AutopilotExecution.ad_account_id == account_id)
        if after is not None:
            stmt = stmt.where(
                or_(
                    AutopilotExecution.started_at < after[0],
                    (AutopilotExecution.started_at == after[0]) & (AutopilotExecution.id < after[1]),
                )
            )
        stmt = stmt.order_by(AutopilotExecution.started_at.desc(), AutopilotExecution.id.desc()).limit(limit)
        return list(await self.session.scalars(stmt))

    # --- reports ----------------------------------------------------------------------------------

    async def upsert_report(self, values: dict[str, Any]) -> AutopilotReport:
        """The report of an execution (one per execution; a rerun rewrites its text)."""
        stmt = insert(AutopilotReport).values(id=uuid.uuid4(), **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["execution_id"],
            set_={"text": stmt.excluded.text, "mode": stmt.excluded.mode, "updated_at": utcnow()},
        )
        await self.session.execute(stmt)
        row = await self.session.scalar(
            select(AutopilotReport)
            .where(AutopilotReport.execution_id == values["execution_id"])
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    async def set_report(self, report_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(AutopilotReport).where(AutopilotReport.id == report_id).values(updated_at=utcnow(), **values)
        )

    async def report_for(self, execution_id: uuid.UUID) -> AutopilotReport | None:
        return await self.session.scalar(
            select(AutopilotReport)
            .where(AutopilotReport.execution_id == execution_id)
            .execution_options(populate_existing=True)
        )

    async def list_reports(
        self,
        workspace_id: uuid.UUID,
        *,
        platform: str | None,
        account_id: uuid.UUID | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[AutopilotReport]:
        stmt = select(AutopilotReport).where(AutopilotReport.workspace_id == workspace_id)
        if platform:
            stmt = stmt.where(AutopilotReport.platform == platform)
        if account_id:
            stmt = stmt.where(AutopilotReport.ad_account_id == account_id)
        if after is not None:
            stmt = stmt.where(
                or_(
                    AutopilotReport.created_at < after[0],
                    (AutopilotReport.created_at == after[0]) & (AutopilotReport.id < after[1]),
                )
            )
        stmt = stmt.order_by(AutopilotReport.created_at.desc(), AutopilotReport.id.desc()).limit(limit)
        return list(await self.session.scalars(stmt))
