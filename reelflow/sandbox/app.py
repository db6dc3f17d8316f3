"""The sandbox app: every platform on one port, under a path prefix per platform.

| prefix | stands for |
|---|---|
| `/tiktok/v2/...` | open.tiktokapis.com (OAuth token, Research, Display, Content Posting) |
| `/tiktok-www/...` | www.tiktok.com (OAuth authorize page, `/t/...` short links) |
| `/tiktok-upload/...` | open-upload.tiktokapis.com (chunk PUTs to an upload_url) |
| `/youtube/...` | www.googleapis.com (`/youtube/v3/...`, `/upload/youtube/v3/...`) |
| `/google-oauth/...`, `/google-accounts/...` | oauth2.googleapis.com, accounts.google.com |
| `/scrapecreators/...` | api.scrapecreators.com |
| `/apify/...` | api.apify.com |
| `/tiktok-business/open_api/v1.3/...` | business-api.tiktok.com (module `reelflow.sandbox.tiktok_business`) |

Control and inspection (not part of any platform):
- `GET /sandbox/health`; `POST /sandbox/reset` (clock, faults, tokens, logs, platform state).
- `GET|POST /sandbox/clock` `{"advance": seconds}`, `{"set": epoch | ISO-8601}`, `{"freeze": bool}`.
- `GET|POST|DELETE /sandbox/faults` (body: one `core.Fault` or a list).
- `GET /sandbox/requests?path=<glob>&method=&since=` (what reached each platform),
  `GET /sandbox/events?kind=<glob>&since=` (what was posted, uploaded, changed, sent).
- `GET /sandbox/tokens`, `POST /sandbox/tokens/expire` `{"token": ..}` or `{"kind": "access"}`.
- `GET|POST /sandbox/config` (see `core.DEFAULT_CONFIG`).
- `GET|POST /sandbox/latency` `{"enabled": bool, "seed": int, "scale": float}`: the latency and
  rate-limit model (`reelflow/sandbox/latency.py`; off unless a setting or flag turns it on).
- `GET /sandbox/world/creators|videos` (samples of the generated world, for tests and demos).
- `GET /sandbox/media/{name}`: files from `reelflow/sandbox/media/`.

A platform module exposes `route_handlers` and is listed in SANDBOX_ROUTE_MODULES.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import msgspec
from litestar import Litestar, Request, Response, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.response import File

from reelflow.sandbox import core, latency
from reelflow.sandbox.core import Fault, get_state

# Plain ASGI callables (Litestar's TypedDicts are stricter than this middleware needs).
ASGIApp = Any
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any
Send = Any

SANDBOX_ROUTE_MODULES: list[str] = [
    "reelflow.sandbox.tiktok",
    "reelflow.sandbox.youtube",
    "reelflow.sandbox.scrapecreators",
    "reelflow.sandbox.apify",
    # <business sandbox modules: reelflow.sandbox.tiktok_business>
    "reelflow.sandbox.tiktok_business",
    "reelflow.sandbox.telegram",
    "reelflow.sandbox.openai",
]

MEDIA_DIR = Path(__file__).parent / "media"
_MAX_RECORDED_BODY = 64 * 1024


# --- fault injection and request log (ASGI middleware) ------------------------------------


class SandboxMiddleware:
    """Logs every platform request, applies the latency model, then injected faults around the handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path")
        # the path as sent (Litestar's routing drops trailing slashes from scope["path"])
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/sandbox/"):
            await self.app(scope, receive, send)
            return
        state = get_state()
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope["method"]
        platform = core.platform_for(path)
        record = core.RequestRecord(
            seq=state.next_seq(),
            at=state.clock.now(),
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            platform=platform[0].strip("/") if platform else "",
            body=_decode_body(body, headers.get("content-type", "")),
            body_bytes=len(body),
            correlation_id=headers.get("x-reelflow-correlation-id"),
            real_at=time.time(),
        )
        state.requests.append(record)
        started = time.perf_counter()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        plan = latency.MODEL.plan(method, path, headers, record.query, len(body))
        try:
            if plan.delay_s > 0:
                await asyncio.sleep(plan.delay_s)
            if plan.limited is not None:
                record.fault = "rate_limited"
                limited = Fault(
                    path=path,
                    status=429,
                    retry_after=max(1, math.ceil(plan.retry_after_s)),
                    message=f"Rate limit exceeded: {plan.limited.requests} requests per {plan.limited.window_s:g} s.",
                )
                await _send_error(capture, path, 429, limited)
                return
            fault = state.faults.take(method, path)
            if fault is None:
                await self.app(scope, replay, capture)
                return
            record.fault = fault.kind
            if fault.kind == "latency":
                await asyncio.sleep(fault.delay)
                await self.app(scope, replay, capture)
            elif fault.kind == "timeout":
                await asyncio.sleep(fault.delay or 30)
                await _send_error(capture, path, 504, fault)
            elif fault.kind in ("error", "auth_expired"):
                status = 401 if fault.kind == "auth_expired" else fault.status
                await _send_error(capture, path, status, fault)
            else:  # after_accept: the platform did the work, the answer goes missing
                buffered: list[Message] = []

                async def hold(message: Message) -> None:
                    buffered.append(message)

                await self.app(scope, replay, hold)
                state.record("sandbox.accepted_then_failed", method=method, path=path)
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
                    for message in buffered:
                        await capture(message)
                else:
                    await _send_error(capture, path, fault.status if fault.status >= 500 else 500, fault)
        finally:
            record.duration_ms = round((time.perf_counter() - started) * 1000, 2)


def _decode_body(body: bytes, content_type: str) -> Any:
    if not body or len(body) > _MAX_RECORDED_BODY:
        return None
    if "json" in content_type:
        try:
            return msgspec.json.decode(body)
        except msgspec.DecodeError:
            return None
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(body.decode("latin-1")))
    return None


async def _send_error(send: Send, path: str, status: int, fault: Fault) -> None:
    platform = core.platform_for(path)
    message = fault.message or _default_message(status, fault.kind)
    code: str | int | None = fault.error_code
    if fault.kind == "auth_expired" and code is None:
        code = "auth_expired"
    if platform is None:
        http_status, payload = status, {"error": message}
    else:
        http_status, payload = platform[1](status, code, message)
    raw = msgspec.json.encode(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if fault.retry_after is not None:
        headers.append((b"retry-after", _retry_after_value(fault.retry_after).encode()))
    await send({"type": "http.response.start", "status": http_status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


def _retry_after_value(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _default_message(status: int, kind: str) -> str:
    if kind == "auth_expired":
        return "The access token is invalid or has expired."
    if status == 429:
        return "Rate limit exceeded. Please retry later."
    if status >= 500:
        return "Internal error (injected by the sandbox)."
    return "Invalid request (injected by the sandbox)."


# --- control and inspection API ------------------------------------------------------------


@get("/sandbox/health", sync_to_thread=False)
def health() -> dict[str, Any]:
    return {"ok": True, "platforms": sorted(p.strip("/") for p in core._platforms)}


@post("/sandbox/reset", status_code=200, sync_to_thread=False)
def reset() -> dict[str, Any]:
    get_state().reset()
    latency.MODEL.reset()
    return {"ok": True}


@get("/sandbox/latency", sync_to_thread=False)
def latency_get() -> dict[str, Any]:
    return latency.MODEL.describe()


@post("/sandbox/latency", status_code=200, sync_to_thread=False)
def latency_set(data: dict[str, Any]) -> dict[str, Any]:
    try:
        latency.configure_from(data)
    except ValueError as exc:
        return Response({"error": str(exc)}, status_code=400)  # type: ignore[return-value]
    return latency.MODEL.describe()


@get("/sandbox/clock", sync_to_thread=False)
def clock_get() -> dict[str, Any]:
    return _clock_view()


@post("/sandbox/clock", status_code=200, sync_to_thread=False)
def clock_set(data: dict[str, Any]) -> dict[str, Any]:
    clock = get_state().clock
    if "set" in data:
        value = data["set"]
        if isinstance(value, str):
            from datetime import datetime

            clock.set(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        else:
            clock.set(float(value))
    if "advance" in data:
        clock.advance(float(data["advance"]))
    if "freeze" in data:
        clock.freeze(bool(data["freeze"]))
    return _clock_view()


def _clock_view() -> dict[str, Any]:
    clock = get_state().clock
    return {
        "now": clock.now(),
        "iso": clock.now_dt().isoformat(),
        "offset": clock.offset,
        "frozen": clock.frozen_at is not None,
    }


@get("/sandbox/faults", sync_to_thread=False)
def faults_list() -> list[dict[str, Any]]:
    return [msgspec.to_builtins(f) for f in get_state().faults.list()]


@post("/sandbox/faults", status_code=201)
async def faults_add(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    raw = await request.body()
    try:
        faults = msgspec.json.decode(raw, type=list[Fault] if raw.lstrip().startswith(b"[") else Fault)
    except msgspec.ValidationError as exc:
        return Response({"error": str(exc)}, status_code=400)  # type: ignore[return-value]
    batch: list[Fault] = list(faults) if isinstance(faults, list) else [faults]  # type: ignore[list-item]
    added = [get_state().faults.add(f) for f in batch]
    return [msgspec.to_builtins(f) for f in added]


@delete("/sandbox/faults", status_code=204, sync_to_thread=False)
def faults_clear() -> None:
    get_state().faults.clear()


@get("/sandbox/requests", sync_to_thread=False)
def requests_list(
    path: str | None = None, method: str | None = None, since: int = 0, limit: int = 10_000
) -> list[dict[str, Any]]:
    import fnmatch

    out = []
    for rec in list(get_state().requests):
        if rec.seq <= since or (method and rec.method != method.upper()):
            continue
        if path and not fnmatch.fnmatchcase(rec.path, path):
            continue
        out.append(msgspec.to_builtins(rec))
    return out[-limit:]


@get("/sandbox/events", sync_to_thread=False)
def events_list(kind: str | None = None, since: int = 0) -> list[dict[str, Any]]:
    import fnmatch

    return [
        msgspec.to_builtins(e)
        for e in list(get_state().events)
        if e.seq > since and (not kind or fnmatch.fnmatchcase(e.kind, kind))
    ]


@get("/sandbox/tokens", sync_to_thread=False)
def tokens_list() -> list[dict[str, Any]]:
    return [msgspec.to_builtins(t) for t in get_state().tokens.all()]


@post("/sandbox/tokens/expire", status_code=200, sync_to_thread=False)
def tokens_expire(data: dict[str, Any]) -> dict[str, int]:
    return {"expired": get_state().tokens.expire(data.get("token"), kind=data.get("kind"))}


@get("/sandbox/config", sync_to_thread=False)
def config_get() -> dict[str, Any]:
    return dict(get_state().config)


@post("/sandbox/config", status_code=200, sync_to_thread=False)
def config_set(data: dict[str, Any]) -> dict[str, Any]:
    get_state().config.update(data)
    return dict(get_state().config)


@get("/sandbox/media", sync_to_thread=False)
def media_list() -> list[str]:
    return sorted(p.name for p in MEDIA_DIR.glob("*") if p.is_file() and not p.name.startswith("."))


@get("/sandbox/media/{name:str}", sync_to_thread=False)
def media_file(name: str) -> File:
    target = (MEDIA_DIR / name).resolve()
    if target.parent != MEDIA_DIR.resolve() or not target.is_file():
        raise NotFoundException(f"no media file {name}")
    return File(path=target, filename=name, content_disposition_type="inline")


CONTROL_HANDLERS = [
    health, reset, latency_get, latency_set, clock_get, clock_set, faults_list, faults_add, faults_clear,
    requests_list, events_list, tokens_list, tokens_expire, config_get, config_set, media_list, media_file,
]  # fmt: skip


def create_sandbox_app(
    *, latency_enabled: bool | None = None, latency_seed: int | None = None, latency_scale: float | None = None
) -> Litestar:
    """The sandbox app. The latency model starts as the arguments say, else as the settings
    (`REELFLOW_SANDBOX__LATENCY__ENABLED/SEED/SCALE`) say: off unless asked."""
    from reelflow.settings import get_settings

    core.snapshot_credentials()
    configured = get_settings().sandbox.latency
    latency.MODEL.set_defaults(
        enabled=configured.enabled if latency_enabled is None else latency_enabled,
        seed=configured.seed if latency_seed is None else latency_seed,
        scale=configured.scale if latency_scale is None else latency_scale,
    )
    handlers: list[Any] = list(CONTROL_HANDLERS)
    for module_name in SANDBOX_ROUTE_MODULES:
        handlers.extend(importlib.import_module(module_name).route_handlers)
    return Litestar(
        route_handlers=handlers,
        middleware=[cast(Any, SandboxMiddleware)],
        openapi_config=None,
        request_max_body_size=256 * 1024 * 1024,  # video chunks go up to 128 MB
    )


def run_sandbox(
    port: int,
    host: str = "127.0.0.1",
    *,
    latency_enabled: bool | None = None,
    latency_seed: int | None = None,
    latency_scale: float | None = None,
) -> None:
    import uvicorn

    app = create_sandbox_app(latency_enabled=latency_enabled, latency_seed=latency_seed, latency_scale=latency_scale)
    uvicorn.run(app, host=host, port=port, log_level="warning")
