"""Request ids and access logs."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from reelflow.logs import get_logger

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = ("/healthz", "/readyz")
log = get_logger("reelflow.web")


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Take the caller's X-Request-ID (if sane) or make one, and bind it to logs."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
        state["request_id"] = request_id
        state["started"] = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await app(scope, receive, send)

    return middleware


async def stamp_response(message: Message, scope: Scope) -> None:
    """`before_send` hook: every response (errors from middleware too) carries the
    request id and is logged once with its status and duration."""
    if message["type"] != "http.response.start":
        return
    state = scope.get("state", {})
    request_id = state.get("request_id")  # type: ignore[attr-defined]
    if request_id:
        MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
    path = scope.get("path", "")
    if path not in _QUIET_PATHS:
        started = state.get("started")  # type: ignore[attr-defined]
        log.info(
            "request",
            request_id=request_id,
            method=scope.get("method"),
            path=path,
            status=message["status"],
            duration_ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
        )
