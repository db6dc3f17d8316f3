"""The HTTP layer's resilience against the live sandbox: Retry-After, 5xx retries, circuit
breaker, auth expiry, ambiguous timeouts, rate limits (memory and Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
import pytest

from reelflow.adapters import httpclient
from reelflow.adapters.ratelimit import RateLimit
from reelflow.adapters.scrapecreators import ScrapeCreatorsClient
from reelflow.adapters.tiktok.common import v2_error
from reelflow.adapters.tiktok.display import DisplayClient
from reelflow.adapters.tiktok.posting import PostInfo, PostingClient, chunk_plan
from reelflow.errors import Ambiguous, AuthExpired, Permanent, QuotaExhausted, Retryable
from tests.adapters.test_tiktok_user import connect

SEARCH = "/scrapecreators/v1/tiktok/search/keyword"


async def test_retry_after_is_honoured(sandbox) -> None:
    await sandbox.fault(SEARCH, status=429, retry_after=1)
    page = await ScrapeCreatorsClient().search_keyword("gym")
    assert page.videos
    calls = await sandbox.requests(SEARCH)
    assert [c["status"] for c in calls] == [429, 200]
    assert calls[1]["real_at"] - calls[0]["real_at"] >= 1.0


async def test_5xx_is_retried_then_succeeds(sandbox) -> None:
    sandbox.set_settings(http__backoff_initial_seconds=0.05)
    await sandbox.fault(SEARCH, status=503, times=2)
    assert (await ScrapeCreatorsClient().search_keyword("gym")).videos
    assert [c["status"] for c in await sandbox.requests(SEARCH)] == [503, 503, 200]


async def test_retries_stop_after_max_attempts_and_long_retry_after_goes_to_the_caller(sandbox) -> None:
    sandbox.set_settings(http__backoff_initial_seconds=0.01, http__max_attempts=3, http__max_retry_after_seconds=5)
    await sandbox.fault(SEARCH, status=500, times=-1)
    with pytest.raises(Retryable):
        await ScrapeCreatorsClient().search_keyword("gym")
    assert len(await sandbox.requests(SEARCH)) == 3
    await sandbox.clear_faults()
    await sandbox.fault(SEARCH, status=429, retry_after=120)
    started = time.monotonic()
    with pytest.raises(Retryable) as info:
        await ScrapeCreatorsClient().search_keyword("gym")
    assert info.value.retry_after == 120 and time.monotonic() - started < 1  # not slept inline
    assert len(await sandbox.requests(SEARCH)) == 4


async def test_circuit_opens_after_consecutive_failures_and_recovers(sandbox) -> None:
    sandbox.set_settings(http__max_attempts=1, http__breaker_failure_threshold=3, http__breaker_reset_seconds=0.5)
    await sandbox.fault(SEARCH, status=502, times=-1)
    client = ScrapeCreatorsClient()
    for _ in range(3):
        with pytest.raises(Retryable):
            await client.search_keyword("gym")
    host = httpx.URL(sandbox.url).netloc.decode()
    assert httpclient.breaker_for(host).state == "open"
    with pytest.raises(Retryable) as info:  # fails fast, nothing sent
        await client.search_keyword("gym")
    assert info.value.extra.get("circuit") == "open" and 0 < (info.value.retry_after or 0) <= 0.5
    assert len(await sandbox.requests(SEARCH)) == 3
    await sandbox.clear_faults()
    await asyncio.sleep(0.6)
    assert httpclient.breaker_for(host).state == "half_open"
    assert (await client.search_keyword("gym")).videos  # the probe succeeds: closed again
    assert httpclient.breaker_for(host).state == "closed"


async def test_expired_token_surfaces_as_auth_expired(sandbox) -> None:
    tokens = await connect()
    await sandbox.advance(25 * 3600)  # user access tokens live 24 h
    with pytest.raises(AuthExpired) as info:
        await DisplayClient(tokens.access_token).user_info()
    assert not info.value.reauth_required  # a refresh fixes it
    await sandbox.fault("/tiktok/v2/user/info/", kind="auth_expired")
    fresh = await connect()
    with pytest.raises(AuthExpired):
        await DisplayClient(fresh.access_token).user_info()
    assert len(await sandbox.requests("/tiktok/v2/user/info/")) == 2  # never retried blindly


async def test_timeout_after_acceptance_is_ambiguous_and_not_retried(sandbox) -> None:
    tokens = await connect()
    sandbox.set_settings(http__timeout_seconds=0.5, quotas__tiktok_post_init_per_minute=600)
    posting = PostingClient(tokens.access_token)
    await sandbox.fault("/tiktok/v2/post/publish/video/init/", kind="after_accept", delay=2)
    with pytest.raises(Ambiguous):
        await posting.init_file_upload(PostInfo(title="once", privacy_level="SELF_ONLY"), chunk_plan(1000))
    assert len(await sandbox.requests("/tiktok/v2/post/publish/video/init/")) == 1
    assert len(await sandbox.events("tiktok.publish.init")) == 1  # the platform did accept it
    # a 500 after acceptance on a non-idempotent call is ambiguous too
    await sandbox.fault("/tiktok/v2/post/publish/video/init/", kind="after_accept", status=500)
    with pytest.raises(Ambiguous):
        await posting.init_file_upload(PostInfo(title="twice?", privacy_level="SELF_ONLY"), chunk_plan(1000))
    assert len(await sandbox.events("tiktok.publish.init")) == 2


async def test_nothing_sent_is_retryable_even_when_not_idempotent(sandbox) -> None:
    sandbox.set_settings(http__max_attempts=2, http__backoff_initial_seconds=0.01)
    with pytest.raises(Retryable) as info:
        await httpclient.request("POST", "http://127.0.0.1:9/nothing", idempotent=False, platform="x")
    assert not isinstance(info.value, Ambiguous)


async def _paced(sandbox, n: int, rate: float) -> list[float]:
    limit = RateLimit.per_second("test.paced", rate, burst=1)
    url = f"{sandbox.url}/scrapecreators/v1/tiktok/profile"
    creator = (await sandbox.world("creators", limit=1))[0]["handle"]

    async def one() -> None:
        await httpclient.request(
            "GET",
            url,
            idempotent=True,
            platform="scrapecreators",
            rate_limits=[limit],
            params={"handle": creator},
            headers={"x-api-key": "sbx_scrapecreators_key"},
        )

    await asyncio.gather(*(one() for _ in range(n)))
    return sorted(r["real_at"] for r in await sandbox.requests("/scrapecreators/v1/tiktok/profile"))


def _max_in_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_rate_limit_keeps_concurrent_requests_under_the_quota_in_memory(sandbox) -> None:
    times = await _paced(sandbox, 12, rate=10)
    assert len(times) == 12 and times[-1] - times[0] >= 1.0  # 12 requests at 10/s, burst 1
    assert _max_in_window(times, 0.5) <= 6


async def test_rate_limit_in_redis_is_shared_and_paced(sandbox, redis_client) -> None:
    from reelflow.adapters.ratelimit import RedisLimiter, get_limiter

    assert isinstance(get_limiter(), RedisLimiter)
    times = await _paced(sandbox, 12, rate=10)
    assert times[-1] - times[0] >= 1.0 and _max_in_window(times, 0.5) <= 6
    assert await redis_client.exists("reelflow:ratelimit:test.paced")


def _response(status: int, body: bytes) -> httpx.Response:
    return httpx.Response(status, content=body, request=httpx.Request("POST", "https://open.tiktokapis.com/x"))


def test_tiktok_envelope_mapping() -> None:
    ok = b'{"data":{},"error":{"code":"ok","message":"","log_id":"1"}}'
    assert v2_error(_response(200, ok)) is None
    spam = b'{"data":{},"error":{"code":"spam_risk_too_many_posts","message":"m","log_id":"1"}}'
    assert isinstance(v2_error(_response(200, spam)), Permanent)  # an error on HTTP 200
    quota = b'{"data":{},"error":{"code":"daily_quota_limit_exceeded","message":"m","log_id":"1"}}'
    error = v2_error(_response(429, quota))
    assert isinstance(error, QuotaExhausted) and error.resets_at is not None
    scope = b'{"data":{},"error":{"code":"scope_not_authorized","message":"m","log_id":"1"}}'
    mapped = v2_error(_response(401, scope))
    assert isinstance(mapped, AuthExpired) and mapped.reauth_required
    grant = b'{"error":"invalid_grant","error_description":"expired","log_id":"1"}'
    mapped = v2_error(_response(400, grant))
    assert isinstance(mapped, AuthExpired) and mapped.reauth_required


def test_retry_after_parsing() -> None:
    assert httpclient.parse_retry_after("3") == 3
    assert httpclient.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert httpclient.parse_retry_after("soon") is None


async def test_close_http_client_opens_a_fresh_one_next_time(sandbox) -> None:
    first = httpclient.get_http_client()
    await httpclient.close_http_client()
    assert first.is_closed and httpclient.get_http_client() is not first
    assert (await ScrapeCreatorsClient().search_keyword("gym")).videos


async def test_logs_carry_correlation_status_duration_but_no_secrets(sandbox) -> None:
    import structlog

    sandbox.set_settings(http__backoff_initial_seconds=0.01)
    await sandbox.fault(SEARCH, status=500)
    # Successful attempts log at DEBUG: let them through whatever level an earlier test's app set.
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with (
        structlog.testing.capture_logs() as logs,
        structlog.contextvars.bound_contextvars(correlation_id="corr-123"),
        contextlib.ExitStack() as restore,
    ):
        restore.callback(structlog.configure, **saved)
        await httpclient.request(
            "GET",
            f"{sandbox.url}{SEARCH}",
            idempotent=True,
            platform="scrapecreators",
            params={"query": "gym", "token": "s3cr3t-token"},
            headers={"x-api-key": "sbx_scrapecreators_key"},
        )
    attempts = [e for e in logs if e["event"] == "http.request"]
    assert [e["status"] for e in attempts] == [500, 200]
    assert all(e["correlation_id"] == "corr-123" and "duration_ms" in e and e["path"] == SEARCH for e in attempts)
    assert "s3cr3t" not in repr(logs) and "sbx_scrapecreators_key" not in repr(logs)
    sent = await sandbox.requests(SEARCH)
    assert {r["correlation_id"] for r in sent} == {"corr-123"}


async def test_a_cancelled_half_open_trial_does_not_leave_the_circuit_open(sandbox) -> None:
    """The half-open trial is cancelled (task cancellation, a timeout around the caller):
    the next request becomes the trial, and the breaker closes when the host answers."""
    sandbox.set_settings(http__max_attempts=1, http__breaker_failure_threshold=2, http__breaker_reset_seconds=0.3)
    await sandbox.fault(SEARCH, status=502, times=2)
    client = ScrapeCreatorsClient()
    for _ in range(2):
        with pytest.raises(Retryable):
            await client.search_keyword("gym")
    host = httpx.URL(sandbox.url).netloc.decode()
    breaker = httpclient.breaker_for(host)
    assert breaker.state == "open"
    await asyncio.sleep(0.35)
    await sandbox.fault(SEARCH, kind="latency", delay=5, times=2)
    # 1. Task cancellation of the trial.
    trial = asyncio.ensure_future(client.search_keyword("gym"))
    await asyncio.sleep(0.3)
    assert breaker._probing
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    assert not breaker._probing and breaker.state == "half_open"
    # 2. A timeout around the caller (asyncio.timeout / wait_for cancel the trial the same way).
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await client.search_keyword("gym")
    assert not breaker._probing and breaker.state == "half_open"
    # 3. The trial stopped before sending (a rate limit raising in the attempt).
    with pytest.raises(Retryable):
        await httpclient.request(
            "GET",
            f"{sandbox.url}{SEARCH}",
            idempotent=True,
            rate_limits=[RateLimit("test.breaker.slow", rate=0.001, burst=0.5)],
        )
    assert not breaker._probing and breaker.state == "half_open"
    # The faults are spent: the next trial gets an answer and closes the circuit.
    await sandbox.clear_faults()
    assert (await client.search_keyword("gym")).videos
    assert breaker.state == "closed"


def test_a_trial_lost_without_a_word_expires() -> None:
    breaker = httpclient.CircuitBreaker("example.test", threshold=1, reset_after=0.01, probe_timeout=0.05)
    breaker.record_failure()
    time.sleep(0.02)
    assert breaker.before_request() is not None  # the trial, never settled (a hung task)
    with pytest.raises(Retryable):
        breaker.before_request()
    time.sleep(0.06)
    assert breaker.before_request() is not None  # presumed lost: a new trial goes through
