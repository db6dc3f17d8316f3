"""The audit log: `record(...)` from any service, for every sensitive action.

Who did it comes from the principal (member and token) when there is one; the request id and
the source address come from the request context the web layer sets (`bind_request`), so a
service records them without knowing about HTTP. Jobs and CLI commands record with their own
`actor_kind` ("system", "operator"). Entries are append-only: the database refuses UPDATE and
DELETE on `audit_log` (migration 0005), whatever the application does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.audit import AuditEntry
from reelflow.storage.repositories.audit import AuditRepository


class Actor(Protocol):
    """What `record` needs of a caller (a `Principal` fits)."""

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def workspace_id(self) -> uuid.UUID: ...

    @property
    def token_id(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class RequestContext:
    request_id: str | None = None
    source_ip: str | None = None


_NO_REQUEST = RequestContext()
_context: ContextVar[RequestContext | None] = ContextVar("reelflow_audit_context", default=None)


@contextmanager
def bind_request(request_id: str | None, source_ip: str | None) -> Iterator[None]:
    """Set the request id and source address for every `record` inside the block."""
    token = _context.set(RequestContext(request_id=request_id, source_ip=source_ip))
    try:
        yield
    finally:
        _context.reset(token)


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor: Actor | None = None,
    workspace_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    actor_kind: str | None = None,
    actor_user_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it is kept only if the action commits).

    `action` is dotted, area first: "identity.member.invited", "identity.token.revoked",
    "clipping.project.deleted", "publishing.post.published", "ads.campaign.paused"...
    """
    context = _context.get() or _NO_REQUEST
    kind = actor_kind or ("token" if actor is not None else "anonymous")
    return await AuditRepository(session).append(
        workspace_id=workspace_id or (actor.workspace_id if actor is not None else None),
        actor_user_id=actor.user_id if actor is not None else actor_user_id,
        actor_token_id=actor.token_id if actor is not None else None,
        actor_kind=kind,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        request_id=context.request_id,
        source_ip=context.source_ip,
        details=details or {},
    )


async def list_entries(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    before_id: int | None,
    limit: int,
    action: str | None = None,
    actor_user_id: uuid.UUID | None = None,
) -> list[AuditEntry]:
    return await AuditRepository(session).list(
        workspace_id, before_id=before_id, limit=limit, action=action, actor_user_id=actor_user_id
    )
