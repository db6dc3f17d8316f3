"""All SQL of the leads area."""

from __future__ import annotations

import asyncio
import functools
import uuid
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, text, tuple_, union, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from reelflow.storage.db import execute_autocommit
from reelflow.storage.models.ads import AdAccount, AdAd, AdDirection, AdDirectionAdGroup, AdLaunch
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.leads import Lead, LeadEvent, LeadInbox

# The webhook's one statement: the unique (platform, lead_id) constraint is the duplicate check
# (ON CONFLICT DO NOTHING answers no row for a lead already received, however the deliveries
# race, inside one statement too). Webhooks arriving together share it: one row each, one
# round trip and one commit for all of them (see `InboxWriter`).
_RECEIVE = text(
    """
    INSERT INTO lead_inbox (id, platform, lead_id, advertiser_id, campaign_id, page_id, payload_enc, received_at,
                            attempts)
    SELECT id, platform, lead_id, advertiser_id, campaign_id, page_id, payload_enc, now(), 0
    FROM unnest(CAST(:ids AS uuid[]), CAST(:platforms AS varchar[]), CAST(:lead_ids AS varchar[]),
                CAST(:advertiser_ids AS varchar[]), CAST(:campaign_ids AS varchar[]), CAST(:page_ids AS varchar[]),
                CAST(:payloads AS text[]))
         AS received (id, platform, lead_id, advertiser_id, campaign_id, page_id, payload_enc)
    ON CONFLICT (platform, lead_id) DO NOTHING
    RETURNING id
    """
)


async def receive_inbox_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
    """Store received leads (keys: id, platform, lead_id, advertiser_id, campaign_id, page_id,
    payload_enc) in ONE autocommit statement on `conn`; the ids of the rows stored (a lead id
    received before, or twice in `rows`, stores one row only)."""
    params = {
        "ids": [r["id"] for r in rows],
        "platforms": [r["platform"] for r in rows],
        "lead_ids": [r["lead_id"] for r in rows],
        "advertiser_ids": [r["advertiser_id"] for r in rows],
        "campaign_ids": [r["campaign_id"] for r in rows],
        "page_ids": [r["page_id"] for r in rows],
        "payloads": [r["payload_enc"] for r in rows],
    }
    return set((await conn.execute(_RECEIVE, params)).scalars())


class InboxWriter:
    """Group commit for webhook receipt, per event loop: a webhook hands its row over and waits
    for its own answer; rows that arrive while `max_inflight` statements are running go out
    together in the next one (at most `max_batch` rows). One webhook alone is written at once;
    under load the round trips, statement parsing and WAL flushes are shared. Each waiter gets
    True (stored) or False (a duplicate), or the statement's error."""

    def __init__(self, *, max_batch: int = 100, max_inflight: int = 4) -> None:
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def receive(self, row: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._inflight < self.max_inflight:
            self._inflight += 1
            task = asyncio.ensure_future(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                rows = [row for row, _ in batch]
                try:
                    stored = await execute_autocommit(functools.partial(receive_inbox_many, rows=rows))
                except Exception as exc:  # noqa: BLE001 - every waiter of the batch gets the error
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for row, future in batch:
                    if not future.done():
                        future.set_result(row["id"] in stored)
        finally:
            self._inflight -= 1


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, InboxWriter] = weakref.WeakKeyDictionary()


def inbox_writer() -> InboxWriter:
    """The running loop's `InboxWriter`."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = InboxWriter()
    return writer


class LeadsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def inbox_exists(self, platform: str, lead_id: str) -> bool:
        row = await self.session.scalar(
            select(LeadInbox.id).where(LeadInbox.platform == platform, LeadInbox.lead_id == lead_id)
        )
        return row is not None

    async def insert_inbox(
        self,
        *,
        platform: str,
        lead_id: str,
        advertiser_id: str,
        campaign_id: str | None,
        page_id: str | None,
        payload_enc: str,
    ) -> uuid.UUID | None:
        """The new row's id, or None when the lead was already there (the unique constraint
        settles a race between two deliveries of the same lead)."""
        statement = (
            insert(LeadInbox)
            .values(
                id=uuid.uuid4(),
                platform=platform,
                lead_id=lead_id,
                advertiser_id=advertiser_id,
                campaign_id=campaign_id,
                page_id=page_id,
                payload_enc=payload_enc,
                received_at=utcnow(),
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["platform", "lead_id"])
            .returning(LeadInbox.id)
        )
        return await self.session.scalar(statement)

    async def get_inbox(self, inbox_id: uuid.UUID, *, lock: bool = False) -> LeadInbox | None:
        return await self.session.get(LeadInbox, inbox_id, with_for_update=lock or None)

    async def count_inbox(self, platform: str, lead_id: str) -> int:
        rows = await self.session.scalars(
            select(LeadInbox.id).where(LeadInbox.platform == platform, LeadInbox.lead_id == lead_id)
        )
        return len(list(rows))

    async def mark_processed(self, inbox_id: uuid.UUID, *, error: str | None = None) -> None:
        row = await self.session.get(LeadInbox, inbox_id, with_for_update=True)
        if row is None:
            return
        row.attempts += 1
        row.processed_at = utcnow()
        row.error = error

    async def take_pending_inbox(self, limit: int) -> list[LeadInbox]:
        """Up to `limit` received rows not mapped yet, oldest first, locked for this
        transaction; rows another drain holds are skipped (two drains never take one row)."""
        stmt = (
            select(LeadInbox)
            .where(LeadInbox.processed_at.is_(None))
            .order_by(LeadInbox.received_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(await self.session.scalars(stmt))

    async def count_pending_inbox(self) -> int:
        stmt = select(func.count()).select_from(LeadInbox).where(LeadInbox.processed_at.is_(None))
        return int(await self.session.scalar(stmt) or 0)

    async def mark_processed_many(self, outcomes: dict[uuid.UUID, str | None]) -> None:
        """Inbox rows mapped (error None) or kept with a reason, in one statement per reason."""
        by_error: dict[str | None, list[uuid.UUID]] = {}
        for inbox_id, error in outcomes.items():
            by_error.setdefault(error, []).append(inbox_id)
        now = utcnow()
        for error, ids in by_error.items():
            await self.session.execute(
                update(LeadInbox)
                .where(LeadInbox.id.in_(ids))
                .values(processed_at=now, attempts=LeadInbox.attempts + 1, error=error)
                .execution_options(synchronize_session=False)
            )

    async def unmapped_inbox(self, platform: str, advertiser_ids: Sequence[str]) -> list[uuid.UUID]:
        """Inbox leads of these advertisers that no ad account claimed when they arrived."""
        stmt = select(LeadInbox.id).where(
            LeadInbox.platform == platform,
            LeadInbox.advertiser_id.in_(list(advertiser_ids)),
            LeadInbox.error == "unmapped:no_ad_account",
        )
        return list(await self.session.scalars(stmt.order_by(LeadInbox.received_at)))

    # --- mapping ----------------------------------------------------------------------------------

    async def accounts_for_advertiser(self, platform: str, advertiser_id: str) -> list[AdAccount]:
        """Every workspace's ad account for this advertiser (one per workspace at most)."""
        stmt = select(AdAccount).where(AdAccount.platform == platform, AdAccount.advertiser_id == advertiser_id)
        return list(await self.session.scalars(stmt.order_by(AdAccount.created_at, AdAccount.id)))

    async def accounts_for_advertisers(
        self, platform: str, advertiser_ids: Sequence[str]
    ) -> dict[str, list[AdAccount]]:
        """advertiser id → every workspace's ad account for it (one query for a batch)."""
        stmt = select(AdAccount).where(
            AdAccount.platform == platform, AdAccount.advertiser_id.in_(list(advertiser_ids))
        )
        found: dict[str, list[AdAccount]] = {}
        for account in await self.session.scalars(stmt.order_by(AdAccount.created_at, AdAccount.id)):
            found.setdefault(account.advertiser_id, []).append(account)
        return found

    async def direction_keys(self, account_id: uuid.UUID) -> list[tuple[uuid.UUID, set[str], set[str]]]:
        """(direction id, campaign ids, instant page ids) of the account's active TikTok
        directions. Campaign ids come from everything Reelflow knows ran for the direction:
        its campaign, its ad groups' campaigns, its ads' campaigns and its launches."""
        directions = list(
            await self.session.scalars(
                select(AdDirection).where(
                    AdDirection.ad_account_id == account_id,
                    AdDirection.platform == "tiktok",
                    AdDirection.active.is_(True),
                )
            )
        )
        if not directions:
            return []
        ids = [d.id for d in directions]
        campaigns: Any = union(
            select(AdDirectionAdGroup.direction_id, AdDirectionAdGroup.tiktok_campaign_id.label("campaign_id")).where(
                AdDirectionAdGroup.direction_id.in_(ids)
            ),
            select(AdAd.direction_id, AdAd.tiktok_campaign_id.label("campaign_id")).where(AdAd.direction_id.in_(ids)),
            select(AdLaunch.direction_id, AdLaunch.campaign_id.label("campaign_id")).where(
                AdLaunch.direction_id.in_(ids), AdLaunch.campaign_id.is_not(None)
            ),
        )
        found: dict[uuid.UUID, set[str]] = {
            d.id: ({d.tiktok_campaign_id} if d.tiktok_campaign_id else set()) for d in directions
        }
        for direction_id, campaign_id in (await self.session.execute(campaigns)).all():
            if campaign_id:
                found[direction_id].add(str(campaign_id))
        out = []
        for d in directions:
            page = (d.settings or {}).get("instant_page_id")
            out.append((d.id, found[d.id], {str(page)} if page else set()))
        return out

    async def insert_lead(self, values: dict[str, Any]) -> uuid.UUID | None:
        """The new lead's id, or None when the workspace has it already (a re-run job)."""
        statement = (
            insert(Lead)
            .values(id=uuid.uuid4(), created_at=utcnow(), updated_at=utcnow(), **values)
            .on_conflict_do_nothing(index_elements=["workspace_id", "platform", "platform_lead_id"])
            .returning(Lead.id)
        )
        return await self.session.scalar(statement)

    async def insert_leads(self, rows: list[dict[str, Any]]) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        """Many leads in one round trip (one cached statement, executed for every row); (workspace,
        platform lead id) → new row id for those that were new (a workspace that has the lead
        already keeps it: a re-run adds nothing). Every row carries the same keys."""
        if not rows:
            return {}
        now = utcnow()
        table = cast(Table, Lead.__table__)
        statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["workspace_id", "platform", "platform_lead_id"])
            .returning(table.c.workspace_id, table.c.platform_lead_id, table.c.id)
        )
        params = [{"id": uuid.uuid4(), "created_at": now, "updated_at": now, **row} for row in rows]
        result = await self.session.execute(statement, params)
        return {(w, p): i for w, p, i in result.all()}

    async def count_leads(self, platform: str, platform_lead_id: str) -> int:
        stmt = (
            select(func.count())
            .select_from(Lead)
            .where(Lead.platform == platform, Lead.platform_lead_id == platform_lead_id)
        )
        return int(await self.session.scalar(stmt) or 0)

    # --- reading and status -----------------------------------------------------------------------

    async def list_leads(
        self,
        workspace_id: uuid.UUID,
        *,
        direction_id: uuid.UUID | None,
        status: str | None,
        account_id: uuid.UUID | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[tuple[Lead, str | None]]:
        """Newest first, keyset-paged on (created_at, id); each with its direction's name."""
        stmt = (
            select(Lead, AdDirection.name)
            .outerjoin(AdDirection, AdDirection.id == Lead.direction_id)
            .where(Lead.workspace_id == workspace_id)
        )
        if direction_id is not None:
            stmt = stmt.where(Lead.direction_id == direction_id)
        if status is not None:
            stmt = stmt.where(Lead.status == status)
        if account_id is not None:
            stmt = stmt.where(Lead.ad_account_id == account_id)
        if after is not None:
            stmt = stmt.where(tuple_(Lead.created_at, Lead.id) < tuple_(after[0], after[1]))
        stmt = stmt.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit)
        return [(lead, name) for lead, name in (await self.session.execute(stmt)).all()]

    async def get_lead(self, workspace_id: uuid.UUID, lead_id: uuid.UUID, *, lock: bool = False) -> Lead | None:
        stmt = select(Lead).where(Lead.id == lead_id, Lead.workspace_id == workspace_id)
        if lock:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def direction_of(self, direction_id: uuid.UUID | None) -> AdDirection | None:
        return None if direction_id is None else await self.session.get(AdDirection, direction_id)

    # --- conversion events ------------------------------------------------------------------------

    async def event_names(self, lead_id: uuid.UUID) -> set[str]:
        rows = await self.session.scalars(select(LeadEvent.event).where(LeadEvent.lead_id == lead_id))
        return set(rows)

    async def add_event(self, values: dict[str, Any]) -> uuid.UUID | None:
        """The new log row's id, or None when this lead's event exists (sent once per lead)."""
        statement = (
            insert(LeadEvent)
            .values(id=uuid.uuid4(), created_at=utcnow(), updated_at=utcnow(), attempts=0, **values)
            .on_conflict_do_nothing(index_elements=["lead_id", "event"])
            .returning(LeadEvent.id)
        )
        return await self.session.scalar(statement)

    async def get_event(self, event_id: uuid.UUID, *, lock: bool = False) -> LeadEvent | None:
        return await self.session.get(LeadEvent, event_id, with_for_update=lock or None, populate_existing=True)

    async def set_event(self, event_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(LeadEvent).where(LeadEvent.id == event_id).values(updated_at=utcnow(), **values)
        )

    async def lead_by_id(self, lead_id: uuid.UUID) -> Lead | None:
        return await self.session.get(Lead, lead_id)

    async def events_of(self, workspace_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]) -> list[LeadEvent]:
        if not lead_ids:
            return []
        stmt = (
            select(LeadEvent)
            .where(LeadEvent.workspace_id == workspace_id, LeadEvent.lead_id.in_(list(lead_ids)))
            .order_by(LeadEvent.created_at, LeadEvent.id)
        )
        return list(await self.session.scalars(stmt))

    async def count_events(self) -> list[tuple[uuid.UUID, str, int]]:
        """(lead, event, rows) for every logged event (a benchmark's duplicate check)."""
        stmt = select(LeadEvent.lead_id, LeadEvent.event, func.count()).group_by(LeadEvent.lead_id, LeadEvent.event)
        return [(a, b, int(c)) for a, b, c in (await self.session.execute(stmt)).all()]
