"""Liveness and readiness (both public: load balancers call them without a token)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec


class ReadinessOut(msgspec.Struct):
    ok: bool
    checks: dict[str, bool]
    errors: dict[str, str]


@get(
    "/healthz",
    opt={"exclude_from_auth": True},
    tags=["health"],
    sync_to_thread=False,
    security=[{}],
)
def healthz() -> dict[str, bool]:
    """The process is up (no dependencies checked)."""
    return {"ok": True}


@get(
    "/readyz",
    opt={"exclude_from_auth": True},
    tags=["health"],
    security=[{}],
    responses={503: ResponseSpec(data_container=ReadinessOut, description="A dependency does not answer")},
)
async def readyz(request: Request[Any, Any, Any]) -> Response[ReadinessOut]:
    """Postgres and Redis through the app's pools, each probe time-boxed, the answer cached
    for about a second: 200 when all answer, 503 with each check and its error."""
    report = await request.app.state.readiness.report()
    return Response(content=ReadinessOut(**report), status_code=200 if report["ok"] else 503)


route_handlers = [healthz, readyz]
