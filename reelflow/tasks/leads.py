"""Lead webhook jobs: the work the webhook handler leaves for later."""

from __future__ import annotations

import json
import uuid
from typing import Any

from reelflow.domain.leads import LeadIn
from reelflow.logs import get_logger
from reelflow.storage import crypto
from reelflow.storage.db import session_scope
from reelflow.storage.repositories.leads import LeadsRepository
from reelflow.tasks.registry import TaskContext, task

log = get_logger(__name__)


@task("leads.ingest", queue="default", timeout=60)
async def ingest(ctx: TaskContext, inbox_id: str) -> dict[str, Any]:
    """Take one stored webhook lead further. Mapping to ad accounts and directions needs the
    ads tables (issue 14); until then the lead is decrypted, checked and marked processed."""
    async with session_scope() as session:
        repo = LeadsRepository(session)
        row = await repo.get_inbox(uuid.UUID(inbox_id))
        if row is None:
            return {"found": False}
        lead = LeadIn(**json.loads(crypto.decrypt(row.payload_enc)))
        await repo.mark_processed(row.id)
    log.info("lead ingested", **lead.log_view())
    return {"found": True, "lead_id": lead.lead_id, "direction_id": None}
