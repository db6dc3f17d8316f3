"""Request ids and access logs."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import time
import uuid
from typing import Any

import structlog
from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from reelflow.errors import BadRequest, Conflict
from reelflow.logs import get_logger
from reelflow.services.audit import bind_request
from reelflow.settings import ProxySettings, get_settings
from reelflow.web.decoding import check_query, check_query_types

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
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = time.perf_counter()
        with (
            structlog.contextvars.bound_contextvars(request_id=request_id),
            bind_request(request_id, client_address(scope, get_settings().proxy)),
        ):
            await app(scope, receive, send)

    return middleware


async def stamp_response(message: Message, scope: Scope) -> None:
    """`before_send` hook: every response (errors from middleware too) carries the
    request id and is logged once with its status and duration."""
    if message["type"] != "http.response.start":
        return
    state: dict[str, Any] = dict(scope.get("state") or {})
    request_id = state.get("request_id")
    if request_id:
        MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
    path = scope.get("path", "")
    if path not in _QUIET_PATHS:
        started = state.get("started")
        log.info(
            "request",
            request_id=request_id,
            method=scope.get("method"),
            path=path,
            status=message["status"],
            duration_ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
        )


# --- Allow on OPTIONS ----------------------------------------------------------------------


def _allow_by_path(app: Any) -> dict[str, str]:
    """Path template → its methods, built once per app (kept in the app's state)."""
    table: dict[str, str] | None = app.state.get("allow_by_path")
    if table is None:
        table = {
            route.path_format: ", ".join(sorted(route.methods)) for route in app.routes if isinstance(route, HTTPRoute)
        }
        app.state["allow_by_path"] = table
    return table


async def allow_every_method(message: Message, scope: Scope) -> None:
    """`before_send` hook: an OPTIONS answer lists every method of its path. Litestar's
    generated OPTIONS handler keeps the methods of the first route object built for a path,
    so where a controller declares several handlers on one path (GET and POST `/tokens`)
    its `Allow` named only some of them (RFC 9110 §10.2.1; schemathesis ST205)."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = MutableScopeHeaders.from_message(message)
    if "allow" not in headers:
        return
    allow = _allow_by_path(scope["app"]).get(scope.get("path_template", ""))
    if allow:
        headers["allow"] = allow


# --- client address behind proxies ------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _networks(trusted: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in trusted.split(","):
        item = item.strip()
        if item:
            networks.append(ipaddress.ip_network(item, strict=False))
    return tuple(networks)


def _is_trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(scope: Scope, proxy: ProxySettings) -> str:
    """The caller's address. `X-Forwarded-For` is believed only as far as configured: with
    `hops` = N, the Nth entry from the right (each trusted proxy appends one); with `trusted`
    networks, entries are walked from the right while they are trusted proxies. Without
    either, the TCP peer, whatever the headers say."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not proxy.hops and not proxy.trusted:
        return peer
    forwarded: list[str] = []
    for key, value in scope.get("headers", []):
        if key == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(",") if part.strip())
    if proxy.hops:
        return forwarded[-proxy.hops] if len(forwarded) >= proxy.hops else peer
    networks = _networks(proxy.trusted)
    if not _is_trusted(peer, networks):
        return peer
    for address in reversed(forwarded):
        if not _is_trusted(address, networks):
            return address
    return forwarded[0] if forwarded else peer


# --- Idempotency-Key: one request per key, per workspace and route ------------------------

IDEMPOTENCY_HEADER = "idempotency-key"
IDEMPOTENCY_TTL_S = 24 * 3600
_KEY_CHARS = re.compile(r"^[\x21-\x7e]{1,255}$")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REPLAYED_HEADER = "Idempotent-Replayed"


def _fingerprint(method: str, path: str, query: bytes, body: Any, content_range: str | None = None) -> str:
    import msgspec

    canonical = msgspec.json.encode([method, path, query.decode("latin-1"), body, content_range], order="sorted")
    return hashlib.sha256(canonical).hexdigest()


MAX_REPLAY_BYTES = 256 * 1024


async def check_idempotency_key(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """`before_request` part of Idempotency-Key, for every unsafe request that sends one.

    - First use: the key is reserved with the request's fingerprint (method, path, query,
      canonical JSON body); a successful answer is stored with it (`idempotency_send`), a
      failed one (4xx/5xx) drops the reservation, so a corrected retry may use the key.
    - Same key, same request, answered before: the stored answer is replayed (201/202 become
      200, with `Idempotent-Replayed: true`) and the handler does not run again.
    - Same key, different request: 409.
    Keys are scoped to the workspace and the route (and kept `IDEMPOTENCY_TTL_S`)."""
    if request.method not in _UNSAFE:
        return None
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _KEY_CHARS.match(key):
        raise BadRequest("1 to 255 printable ASCII characters", field="Idempotency-Key")
    handler = request.route_handler
    body: Any = None
    if "data" in handler.parsed_fn_signature.parameters:
        body = await request.json()  # strict decoding: a bad body fails here, as it would later
    principal = request.scope.get("user")
    workspace = str(getattr(principal, "workspace_id", "public"))
    template = str(request.scope.get("path_template") or request.url.path)
    store_key = f"reelflow:idem:{workspace}:{request.method}:{template}:{hashlib.sha256(key.encode()).hexdigest()}"
    fingerprint = _fingerprint(
        request.method,
        request.url.path,
        request.scope.get("query_string", b""),
        body,
        request.headers.get("content-range"),
    )
    redis = request.app.state.redis
    if await redis.set(store_key, fingerprint, nx=True, ex=IDEMPOTENCY_TTL_S):
        request.scope["state"]["idempotency_reserved"] = store_key
        return None
    existing = await redis.get(store_key)
    if existing is not None and existing.decode() != fingerprint:
        raise Conflict("this Idempotency-Key was already used with a different request; use a new key")
    stored = await redis.get(store_key + ":response")
    if stored is None:  # the first request is still running (or its answer was too big to keep)
        return None
    import msgspec

    answer = msgspec.json.decode(stored)
    headers = {REPLAYED_HEADER: "true", **answer.get("headers", {})}
    status = 200 if answer["status"] in (201, 202) else answer["status"]
    return Response(
        content=answer["body"].encode(), status_code=status, media_type=answer["media_type"], headers=headers
    )


async def idempotency_send(message: Message, scope: Scope) -> None:
    """`before_send` part: a reservation made by a request that failed is dropped; the answer
    of one that succeeded is kept for replays."""
    state = scope.get("state", {})
    store_key = state.get("idempotency_reserved")
    if not store_key:
        return
    app = scope.get("litestar_app")
    if app is None:
        return
    if message["type"] == "http.response.start":
        if message["status"] >= 400:
            state.pop("idempotency_reserved", None)
            await app.state.redis.delete(store_key)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])}
        state["idempotency_answer"] = {
            "status": message["status"],
            "media_type": headers.get("content-type", "application/json"),
            "headers": {"Location": headers["location"]} if "location" in headers else {},
            "chunks": [],
            "size": 0,
        }
        return
    answer = state.get("idempotency_answer")
    if message["type"] != "http.response.body" or answer is None:
        return
    chunk = message.get("body", b"")
    answer["size"] += len(chunk)
    if answer["size"] <= MAX_REPLAY_BYTES:
        answer["chunks"].append(chunk)
    if message.get("more_body", False):
        return
    state.pop("idempotency_answer", None)
    if answer["size"] > MAX_REPLAY_BYTES:
        return
    import msgspec

    record = {
        "status": answer["status"],
        "media_type": answer["media_type"],
        "headers": answer["headers"],
        "body": b"".join(answer["chunks"]).decode("utf-8", "replace"),
    }
    await app.state.redis.set(store_key + ":response", msgspec.json.encode(record), ex=IDEMPOTENCY_TTL_S)


async def before_request(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """The app-wide `before_request` hook (after auth and guards, before parameters are
    parsed): hostile query strings, then Idempotency-Key reuse and replay."""
    query = request.scope.get("query_string", b"")
    check_query(query)
    if query:
        check_query_types(request)
    return await check_idempotency_key(request)
