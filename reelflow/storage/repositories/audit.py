"""Writing and reading the audit log (insert and select only: the table is append-only)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.audit import AuditEntry


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, **values: Any) -> AuditEntry:
        entry = AuditEntry(**values)
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def list(
        self,
        workspace_id: uuid.UUID,
        *,
        before_id: int | None,
        limit: int,
        action: str | None = None,
        actor_user_id: uuid.UUID | None = None,
    ) -> list[AuditEntry]:
        """Newest first; `before_id` is the keyset cursor."""
        query = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if actor_user_id is not None:
            query = query.where(AuditEntry.actor_user_id == actor_user_id)
        result = await self.session.execute(query.order_by(AuditEntry.id.desc()).limit(limit))
        return list(result.scalars())
