"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from reelflow.health import readiness


@get("/healthz", opt={"exclude_from_auth": True}, include_in_schema=True, tags=["health"], sync_to_thread=False)
def healthz() -> dict[str, bool]:
    """The process is up (no dependencies checked)."""
    return {"ok": True}


@get("/readyz", opt={"exclude_from_auth": True}, tags=["health"])
async def readyz() -> Response[dict[str, Any]]:
    """Settings, Postgres and Redis: 200 when all answer, 503 with each check and its error."""
    report = await readiness()
    return Response(content=report, status_code=200 if report["ok"] else 503)


route_handlers = [healthz, readyz]
