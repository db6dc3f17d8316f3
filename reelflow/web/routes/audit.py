"""The workspace's audit log, for owners and admins."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.identity import MANAGERS
from reelflow.errors import BadRequest
from reelflow.services import audit
from reelflow.storage.models.audit import AuditEntry
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.pagination import Page, check_limit, decode_cursor, encode_cursor
from reelflow.web.schemas.identity import AuditEntryOut


def _entry(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id,
        at=entry.at,
        workspace_id=entry.workspace_id,
        actor_kind=entry.actor_kind,
        actor_user_id=entry.actor_user_id,
        actor_token_id=entry.actor_token_id,
        action=entry.action,
        target_type=entry.target_type,
        target_id=entry.target_id,
        request_id=entry.request_id,
        source_ip=entry.source_ip,
        details=entry.details,
    )


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("", guards=[requires_role(*MANAGERS)])
    async def list_audit(
        self,
        db_session: AsyncSession,
        principal: Principal,
        cursor: str | None = Parameter(default=None, max_length=1024),
        limit: int = Parameter(default=50, ge=1, le=200),
        action: str | None = Parameter(default=None, max_length=80),
    ) -> Page[AuditEntryOut]:
        """Who did what in this workspace, newest first (cursor-paginated)."""
        check_limit(limit, 200)
        values = decode_cursor(cursor)
        before: int | None = None
        if values is not None:
            if len(values) != 1 or not isinstance(values[0], int) or isinstance(values[0], bool) or values[0] < 1:
                raise BadRequest("not a cursor this API returned", field="cursor")
            before = values[0]
        rows = await audit.list_entries(
            db_session, principal.workspace_id, before_id=before, limit=limit + 1, action=action
        )
        items = rows[:limit]
        next_cursor = encode_cursor(items[-1].id) if len(rows) > limit and items else None
        return Page(items=[_entry(e) for e in items], next_cursor=next_cursor)


route_handlers = [AuditController]
