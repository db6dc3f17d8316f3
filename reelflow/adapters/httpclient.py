"""The one way adapters talk HTTP: pooled client, retries, circuit breaker, error mapping.

Usage (inside an adapter)::

    from reelflow.adapters import httpclient
    from reelflow.adapters.ratelimit import RateLimit

    response = await httpclient.request(
        "POST", f"{base}/v2/research/video/query/",
        idempotent=True,                      # a read: safe to repeat after a timeout
        platform="tiktok",                    # for logs and error details
        params={"fields": "id,view_count"}, json=body,
        headers={"Authorization": f"Bearer {token}"},
        error_mapper=tiktok_v2_errors,        # vendor envelope → ReelflowError | None
        rate_limits=[RateLimit.per_minute("tiktok.display:acct", 600)],
    )

What `request()` does, per attempt:
1. The host's circuit breaker: open (N consecutive failures) → `Retryable(retry_after=cool-down left)`
   without sending; after the cool-down one probe request is let through (half-open).
2. Every `RateLimit` is acquired (Redis token buckets, see `ratelimit.py`); a `DailyQuota` is charged.
3. The request is sent on the process's pooled `httpx.AsyncClient` for this event loop.
4. The response goes through `error_mapper` (vendor envelope; may flag a 200 as an error), then
   through the default status mapping: 401 → `AuthExpired`, 408/429/5xx → `Retryable`, other
   4xx → `Permanent`. `success_statuses` lets a caller accept e.g. 308.
5. Retryable failures are retried with exponential backoff and jitter; `Retry-After` (seconds
   or HTTP date) is honoured, and one longer than `http_max_retry_after_seconds` is not slept:
   `Retryable(retry_after=...)` is raised for the job runtime to schedule.

Idempotency is explicit. For `idempotent=False` (publish init, ad create), a read timeout, a
dropped connection or a 5xx other than 503 after the request was sent raises
`errors.Ambiguous` at once (never retried here): the caller checks the platform's state first.
Connection failures before sending, and 429s, are retried either way (nothing was accepted).

Every attempt is logged (`http.request`) with a correlation id (bound in structlog's
contextvars as `correlation_id`, else generated per call, and sent as
`X-Reelflow-Correlation-Id`), platform, method, host, path (no query string), status,
duration and attempt; `reelflow.logs` masks tokens and PII.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from reelflow.adapters.ratelimit import DailyQuota, RateLimit, get_limiter
from reelflow.errors import Ambiguous, AuthExpired, Permanent, ReelflowError, Retryable
from reelflow.settings import get_settings

ErrorMapper = Callable[[httpx.Response], ReelflowError | None]
"""Inspect a response; return the error it represents, or None when it is a success.

Called for every response, 2xx included (TikTok reports some errors with HTTP 200). When it
returns None for a status >= 400 the default status mapping applies."""

CORRELATION_HEADER = "X-Reelflow-Correlation-Id"

log = structlog.get_logger("reelflow.http")

# Sent: the request may have been processed (unlike connect errors, where nothing was sent).
_AFTER_SEND_ERRORS = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)
_BEFORE_SEND_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


# --- the pooled client ---------------------------------------------------------------------

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def get_http_client() -> httpx.AsyncClient:
    """The process's client for the running event loop (connection pool, timeouts, UA)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        settings = get_settings()
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.http.timeout_seconds, connect=settings.http.connect_timeout_seconds),
            limits=httpx.Limits(
                max_connections=settings.http.max_connections,
                max_keepalive_connections=settings.http.max_connections,
            ),
            headers={"User-Agent": settings.http.user_agent},
            follow_redirects=False,
        )
        _clients[loop] = client
    return client


async def close_http_client() -> None:
    """Close this loop's HTTP client and rate-limit Redis connections (call it before a loop
    ends, e.g. at the end of an `asyncio.run` per job; a later request opens new ones)."""
    from reelflow.adapters.ratelimit import close_limiters

    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
    await close_limiters()


# --- circuit breaker -----------------------------------------------------------------------


class CircuitBreaker:
    """Per host: opens after `threshold` consecutive failures, half-opens after `reset_after` s.

    Half-open lets exactly one trial request through. The trial is owned by the request that
    took it (`before_request` returns a token) and is released on every way out of that
    request: an answer (closes or re-opens the breaker), or no answer at all — cancellation,
    a timeout around the caller, a rate limit or quota raised before sending, a worker stop —
    in which case the breaker stays half-open and the next request becomes the trial. A trial
    that neither answers nor is released (its task hung) is presumed lost after
    `probe_timeout` s, so the breaker can never stay open for ever.
    """

    def __init__(self, host: str, threshold: int, reset_after: float, probe_timeout: float = 60.0) -> None:
        self.host = host
        self.threshold = threshold
        self.reset_after = reset_after
        self.probe_timeout = probe_timeout
        self.failures = 0
        self.opened_at: float | None = None
        self._probe: object | None = None
        self._probe_started = 0.0
        self._lock = threading.Lock()

    @property
    def _probing(self) -> bool:
        return self._probe is not None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.reset_after else "open"

    def before_request(self) -> object | None:
        """Raise `Retryable` while open; returns a token when this request is the half-open trial."""
        with self._lock:
            if self.opened_at is None:
                return None
            now = time.monotonic()
            waited = now - self.opened_at
            if self._probe is not None and now - self._probe_started >= self.probe_timeout:
                self._probe = None  # the trial was lost without a word: let another one through
            if waited < self.reset_after or self._probe is not None:
                retry_after = max(0.1, self.reset_after - waited)
                raise Retryable(f"circuit open for {self.host}", retry_after=retry_after, circuit="open")
            self._probe = object()  # half-open: this request is the one trial
            self._probe_started = now
            return self._probe

    def record_success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None
            self._probe = None

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self._probe is not None or self.failures >= self.threshold:
                self.opened_at = time.monotonic()
            self._probe = None

    def release_probe(self) -> None:
        """The probe ended without telling anything about the host (e.g. a 4xx)."""
        with self._lock:
            if self._probe is not None:
                self._probe = None
                self.failures = 0
                self.opened_at = None

    def abandon_probe(self, token: object | None) -> None:
        """The trial `token` ended with no answer (cancelled, timed out, stopped before sending):
        stay half-open, so the next request is the trial. No-op when it was already settled."""
        if token is None:
            return
        with self._lock:
            if self._probe is token:
                self._probe = None


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(host: str) -> CircuitBreaker:
    with _breakers_lock:
        breaker = _breakers.get(host)
        if breaker is None:
            settings = get_settings()
            breaker = _breakers[host] = CircuitBreaker(
                host,
                settings.http.breaker_failure_threshold,
                settings.http.breaker_reset_seconds,
                probe_timeout=settings.http.timeout_seconds + settings.http.breaker_reset_seconds,
            )
        return breaker


def reset_breakers() -> None:
    """Forget every breaker (tests; settings changes)."""
    with _breakers_lock:
        _breakers.clear()


# --- retries and error mapping -------------------------------------------------------------


@dataclass(frozen=True)
class RetryConfig:
    max_attempts: int
    initial_delay: float
    max_delay: float
    max_retry_after: float

    @classmethod
    def from_settings(cls) -> RetryConfig:
        s = get_settings()
        return cls(s.http.max_attempts, s.http.backoff_initial_seconds, s.http.backoff_max_seconds,
                   s.http.max_retry_after_seconds)  # fmt: skip

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random (attempt counts from 1)."""
        base = min(self.max_delay, self.initial_delay * (2 ** (attempt - 1)))
        return float(base / 2 + random.uniform(0, base / 2))


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def default_error(response: httpx.Response, platform: str = "") -> ReelflowError | None:
    """Status-only mapping, used when the vendor mapper has nothing to say."""
    status = response.status_code
    if status < 400:
        return None
    text = response.text[:300]
    detail = f"{platform or 'platform'} answered HTTP {status}: {text}"
    if status == 401:
        return AuthExpired(detail)
    if status in (408, 425, 429) or status >= 500:
        return Retryable(detail, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    return Permanent(detail)


def _correlation_id() -> str:
    bound = structlog.contextvars.get_contextvars()
    return str(bound.get("correlation_id") or bound.get("request_id") or uuid.uuid4().hex[:16])


async def request(
    method: str,
    url: str,
    *,
    idempotent: bool,
    platform: str = "",
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    data: Mapping[str, Any] | None = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    error_mapper: ErrorMapper | None = None,
    rate_limits: Sequence[RateLimit] = (),
    quota: DailyQuota | None = None,
    success_statuses: frozenset[int] | set[int] = frozenset(),
    read_timeout: float | None = None,
    retry: RetryConfig | None = None,
) -> httpx.Response:
    """Send a request with the policy described in the module docstring; return the response.

    Raises `AuthExpired`, `Ambiguous`, `Retryable` (incl. `QuotaExhausted`), `Permanent` or
    whatever `error_mapper` returns. `content` must be bytes (replayable on retry).
    """
    settings = get_settings()
    retry = retry or RetryConfig.from_settings()
    client = get_http_client()
    parts = urlsplit(url)
    host = parts.netloc
    breaker = breaker_for(host)
    correlation_id = _correlation_id()
    send_headers = {CORRELATION_HEADER: correlation_id, **(headers or {})}
    request_timeout = httpx.Timeout(
        read_timeout if read_timeout is not None else settings.http.timeout_seconds,
        connect=settings.http.connect_timeout_seconds,
    )
    context = {"correlation_id": correlation_id, "platform": platform, "method": method, "host": host,
               "path": parts.path, "idempotent": idempotent}  # fmt: skip
    attempt = 0
    while True:
        attempt += 1
        trial = breaker.before_request()
        try:
            response, error = await _attempt(
                client, breaker, method, url, parts.path, host, platform, idempotent, params, json, data, content,
                send_headers, request_timeout, error_mapper, success_statuses, settings.quotas.enabled,
                rate_limits, quota, retry, context, attempt, correlation_id,
            )  # fmt: skip
        finally:
            breaker.abandon_probe(trial)  # no-op when the attempt recorded an outcome
        if response is not None:
            return response
        assert error is not None
        if not isinstance(error, Retryable) or isinstance(error, Ambiguous) or attempt >= retry.max_attempts:
            raise error
        if error.retry_after is not None:
            if error.retry_after > retry.max_retry_after:
                raise error
            delay = error.retry_after + random.uniform(0, min(1.0, error.retry_after * 0.1))
        else:
            delay = retry.backoff(attempt)
        log.info("http.retry", **context, attempt=attempt, delay_s=round(delay, 3), reason=error.code)
        await asyncio.sleep(delay)


async def _attempt(
    client: httpx.AsyncClient,
    breaker: CircuitBreaker,
    method: str,
    url: str,
    path: str,
    host: str,
    platform: str,
    idempotent: bool,
    params: Mapping[str, Any] | None,
    json: Any,
    data: Mapping[str, Any] | None,
    content: bytes | None,
    send_headers: dict[str, str],
    request_timeout: httpx.Timeout,
    error_mapper: ErrorMapper | None,
    success_statuses: frozenset[int] | set[int],
    rate_limits_enabled: bool,
    rate_limits: Sequence[RateLimit],
    quota: DailyQuota | None,
    retry: RetryConfig,
    context: dict[str, Any],
    attempt: int,
    correlation_id: str,
) -> tuple[httpx.Response | None, ReelflowError | None]:
    """One attempt: (response, None) on success, (None, error) for the caller to retry or raise;
    non-retryable outcomes (Ambiguous, Permanent from the transport) are raised here."""
    if rate_limits_enabled:
        limiter = get_limiter()
        for limit in rate_limits:
            await limiter.acquire(limit, max_wait=retry.max_retry_after)
        if quota is not None and quota.limit > 0:
            await limiter.charge(quota)
    started = time.perf_counter()
    error: ReelflowError
    try:
        response = await client.request(
            method,
            url,
            params=params,
            json=json,
            data=data,
            content=content,
            headers=send_headers,
            timeout=request_timeout,
        )
    except _BEFORE_SEND_ERRORS as exc:
        breaker.record_failure()
        error = Retryable(f"{platform or host}: could not connect ({type(exc).__name__})")
        _log_attempt(context, attempt, started, None, f"connect_error:{type(exc).__name__}")
    except _AFTER_SEND_ERRORS as exc:
        breaker.record_failure()
        kind = type(exc).__name__
        _log_attempt(context, attempt, started, None, f"after_send_error:{kind}")
        if not idempotent:
            raise Ambiguous(
                f"{platform or host}: {method} {path} failed after sending ({kind}); "
                "it may have been accepted: check state before repeating it",
                platform=platform,
                correlation_id=correlation_id,
            ) from exc
        error = Retryable(f"{platform or host}: {kind} on {method} {path}")
    except httpx.HTTPError as exc:
        breaker.release_probe()
        raise Permanent(f"{platform or host}: {type(exc).__name__}: {exc}") from exc
    else:
        status = response.status_code
        mapped = error_mapper(response) if error_mapper else None
        if mapped is None and status >= 400 and status not in success_statuses:
            mapped = default_error(response, platform)
        if status >= 500 or status == 408:
            breaker.record_failure()
        else:
            breaker.record_success()
        if mapped is None:
            _log_attempt(context, attempt, started, status, "ok")
            return response, None
        error = mapped
        error.extra.setdefault("platform", platform)
        error.extra.setdefault("http_status", status)
        header_delay = parse_retry_after(response.headers.get("Retry-After"))
        if isinstance(error, Retryable) and header_delay is not None:
            error.retry_after = max(error.retry_after or 0.0, header_delay)
        _log_attempt(context, attempt, started, status, error.code)
        if not idempotent and isinstance(error, Retryable) and ((status >= 500 and status != 503) or status == 408):
            raise Ambiguous(
                f"{error.detail} (the request may have been accepted: check state before repeating it)",
                retry_after=error.retry_after,
                platform=platform,
                http_status=status,
                correlation_id=correlation_id,
            )
    return None, error


def _log_attempt(context: dict[str, Any], attempt: int, started: float, status: int | None, outcome: str) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    if outcome == "ok":
        log.debug("http.request", **context, attempt=attempt, status=status, duration_ms=duration_ms)
    else:
        log.warning("http.request", **context, attempt=attempt, status=status, duration_ms=duration_ms,
                    outcome=outcome)  # fmt: skip


def json_body(response: httpx.Response) -> Any:
    """Decode a JSON body quickly (msgspec); a body that is not JSON is a Permanent error."""
    import msgspec

    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError as exc:
        raise Permanent(f"expected JSON from {response.request.url.host}, got: {response.text[:200]}") from exc
