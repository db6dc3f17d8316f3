"""Starting work from an endpoint: `start_job` (Idempotency-Key, 202/200/409)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.queue import enqueue
from reelflow.storage.repositories.identity import Principal
from reelflow.web.schemas.jobs import JobOut, job_out

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


async def start_job(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    principal: Principal,
    name: str,
    args: dict[str, Any],
    *,
    queue: str | None = None,
    workspace_id: uuid.UUID | None = None,
) -> Response[JobOut]:
    """Enqueue task `name` for the caller's workspace and answer with the run.

    202 with the new run; 200 and `Idempotent-Replayed: true` with the existing run when
    the request's `Idempotency-Key` was seen before with the same job and args; 409 when it
    was used with different ones. Without the header, the key is derived from name + args
    (duplicates are merged only while the earlier run is still open).
    """
    header = request.headers.get(IDEMPOTENCY_HEADER) or None
    # Keys are scoped to the workspace (by the runtime) and to the route (here): the same key
    # sent to two different endpoints names two different requests.
    route = str(request.scope.get("path_template") or request.url.path)
    key = f"{request.method} {route} {header}" if header else None
    result = await enqueue(
        db_session, name, args, key=key, queue=queue, workspace_id=workspace_id or principal.workspace_id
    )
    location = f"/api/v1/jobs/{result.run.id}"
    if result.created:
        return Response(job_out(result.run), status_code=202, headers={"Location": location})
    return Response(job_out(result.run), status_code=200, headers={"Location": location, REPLAYED_HEADER: "true"})
