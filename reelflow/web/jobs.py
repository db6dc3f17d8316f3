"""Answering with a run: `Idempotency-Key` in, 202 (new run) / 200 + `Idempotent-Replayed` out."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from reelflow.queue import EnqueueResult
from reelflow.web.schemas.jobs import JobOut, job_out

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def idempotency_key(request: Request[Any, Any, Any]) -> str | None:
    """The request's `Idempotency-Key`, scoped to the route (None without one: the key is then
    derived from name + args). Keys are scoped to the workspace by the runtime and to the route
    here: the same key sent to two different endpoints names two different requests."""
    header = request.headers.get(IDEMPOTENCY_HEADER) or None
    route = str(request.scope.get("path_template") or request.url.path)
    return f"{request.method} {route} {header}" if header else None


def job_response(result: EnqueueResult) -> Response[JobOut]:
    """202 with the new run; 200 and `Idempotent-Replayed: true` with the existing run when the
    key was seen before with the same job and args (the service raised 409 for different ones)."""
    location = f"/api/v1/jobs/{result.run.id}"
    if result.created:
        return Response(job_out(result.run), status_code=202, headers={"Location": location})
    return Response(job_out(result.run), status_code=200, headers={"Location": location, REPLAYED_HEADER: "true"})
