"""Every error mapped to RFC 9457 problem details, in one place."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from reelflow.errors import InvalidInput, LimitExceeded, ReelflowError, Retryable
from reelflow.logs import OutageLog, get_logger
from reelflow.settings import get_settings

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def problem(
    request: Request[Any, Any, Any],
    status: int,
    *,
    code: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    code = code or _CODES.get(status, "error")
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail or title or _TITLES.get(status, "Error"),
        "instance": request.url.path,
    }
    body["request_id"] = ensure_request_id(request.scope)
    body.update(extra)
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def ensure_request_id(scope: Any) -> str:
    """The request's id; errors raised before the request-id middleware ran (router 404/405)
    get one here, and `stamp_response` echoes it in `X-Request-ID`."""
    state = scope.setdefault("state", {})
    request_id = state.get("request_id")
    if not request_id:
        request_id = state["request_id"] = uuid.uuid4().hex
    return str(request_id)


# Pagination parameters are query parameters: a bad one is a 400 naming it.
_QUERY_FIELDS = frozenset({"cursor", "limit"})


def reelflow_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, ReelflowError)
    headers: dict[str, str] = {}
    status = exc.status
    if isinstance(exc, InvalidInput) and exc.field in _QUERY_FIELDS and exc.field in request.query_params:
        status = 400
    if isinstance(exc, LimitExceeded | Retryable) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    if status == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = "60"
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        log.error("request failed", error_type=type(exc).__name__, detail=exc.detail)
    code = "bad_request" if status == 400 and exc.status != 400 else exc.code
    title = "Bad request" if status == 400 and exc.status != 400 else exc.title
    return problem(request, status, code=code, title=title, detail=exc.detail, headers=headers, **exc.extra)


def http_exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra)
        if errors:
            # A bad query, path or header parameter is a 400; a bad body field a 422.
            status = 422 if any(e["source"] in ("", "body") for e in errors) else 400
            extra["errors"] = [{"field": e["field"], "message": e["message"]} for e in errors]
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        elif missing := _MISSING_PARAMETER.search(str(exc.detail or "")):
            # Litestar's own check of a required query/header/cookie parameter names it in
            # its message only: the problem names it too, like every other bad parameter.
            status = 400
            reason = f"a required {missing.group(1)} parameter is missing"
            extra["errors"] = [{"field": missing.group(2), "message": reason}]
            detail = f"{missing.group(2)}: {reason}"
        else:
            detail = _malformed_detail(exc)
        return problem(request, status, detail=detail, **extra)
    headers = dict(exc.headers or {})
    if status == 429 and "Retry-After" not in headers:
        reset = headers.get("RateLimit-Reset") or headers.get("ratelimit-reset")
        headers["Retry-After"] = str(max(1, int(reset))) if reset and reset.isdigit() else "60"
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if status == 413:
        return problem(request, 413, detail="request body is larger than the limit", headers=headers)
    message = exc.detail if exc.detail and exc.detail != _TITLES.get(status) else None
    return problem(request, status, detail=message, headers=headers)


def integrity_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # Unique violations that a repository did not turn into a Conflict are still conflicts.
    assert isinstance(exc, IntegrityError)
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate == "23505":
        return problem(request, 409, detail="a resource with these values already exists")
    if sqlstate == "23503":
        return problem(request, 409, detail="a referenced resource does not exist or is still in use")
    log.error("integrity error", sqlstate=sqlstate)
    return problem(request, 422, detail="the values break a data rule")


def dbapi_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Postgres's "data exception" class (22xxx: a value out of range for its column, a
    string too long, an invalid text representation) is always a value the client sent that
    got past validation: a 422, logged so the missing check gets added. Anything else from the
    database is a server fault: 500."""
    assert isinstance(exc, DBAPIError)
    sqlstate = _sqlstate(exc)
    if isinstance(exc, IntegrityError):
        return integrity_error_handler(request, exc)
    if sqlstate and (sqlstate.startswith("22") or sqlstate == "54000"):
        log.warning("data error reached the database", sqlstate=sqlstate, error=str(exc.orig)[:200])
        return problem(request, 422, detail="a value is out of range or not valid for its field")
    return internal_error_handler(request, exc)


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state:
        return str(state)
    if type(orig).__name__ == "DataError" or isinstance(exc, DataError):
        return "22000"  # asyncpg refused the value before sending it (e.g. int64 overflow)
    return None


_DB_OUTAGE = OutageLog("web.database", log, quiet_after_s=30)
_REDIS_OUTAGE = OutageLog("web.redis", log, quiet_after_s=30)


def unavailable_dependency(exc: BaseException) -> str | None:
    """ "postgres" or "redis" when `exc` (or its cause) says that server cannot be reached."""
    import asyncpg
    import redis
    from sqlalchemy import exc as sa_exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, redis.ConnectionError | redis.TimeoutError):
            return "redis"
        if isinstance(current, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
            return "postgres"
        if isinstance(current, asyncpg.PostgresError) and getattr(current, "sqlstate", "") in (
            "57P01",  # admin_shutdown
            "57P02",  # crash_shutdown
            "57P03",  # cannot_connect_now
        ):
            return "postgres"
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return "postgres"
        if isinstance(current, sa_exc.TimeoutError):  # the pool could not get a connection
            return "postgres"
        if isinstance(current, ConnectionRefusedError | ConnectionResetError | FileNotFoundError) and isinstance(
            exc, sa_exc.SQLAlchemyError | asyncpg.PostgresError | OSError
        ):
            return "postgres"
        current = current.__cause__ or current.__context__
    return None


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        # Postgres (or Redis) is away: tell clients to come back, log once per outage.
        (_DB_OUTAGE if dependency == "postgres" else _REDIS_OUTAGE).failed(exc)
        retry_after = get_settings().ops.db_unavailable_retry_after_s
        name = "the database" if dependency == "postgres" else "the queue"
        return problem(
            request,
            503,
            detail=f"{name} is unreachable for a moment; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    log.exception("unhandled error", error_type=type(exc).__name__)
    return problem(request, HTTP_500_INTERNAL_SERVER_ERROR, detail="an unexpected error happened; it was logged")


_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_MISSING_PARAMETER = re.compile(r"Missing required (query|path|header|cookie) parameter '([^']+)'")


def _field_errors(extra: Any) -> list[dict[str, str]]:
    errors = []
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict) and item.get("key"):
                message = str(item.get("message", "invalid"))
                field = str(item["key"])
                missing = _MISSING_FIELD.search(message)
                if missing and field == "data":  # msgspec names the body, not the field
                    field = missing.group(1)
                errors.append({"field": field, "message": message, "source": str(item.get("source") or "")})
    return errors


def _malformed_detail(exc: ValidationException) -> str:
    text = str(exc.detail or "")
    if "decode" in text.lower() or "malformed" in text.lower() or "json" in text.lower():
        return "the request body is not valid JSON"
    return text or "the request is not valid"


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    ReelflowError: reelflow_error_handler,
    HTTPException: http_exception_handler,
    IntegrityError: integrity_error_handler,
    DBAPIError: dbapi_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem"]
