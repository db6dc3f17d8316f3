"""All SQL of the leads area."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.base import utcnow
from reelflow.storage.models.leads import LeadInbox


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

    async def get_inbox(self, inbox_id: uuid.UUID) -> LeadInbox | None:
        return await self.session.get(LeadInbox, inbox_id)

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
