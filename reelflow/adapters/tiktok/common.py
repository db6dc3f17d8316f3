"""Shared by the TikTok for Developers v2 adapters: error envelopes, base URL, JSON decoding.

v2 answers `{"data": ..., "error": {"code", "message", "log_id"}}` with `code == "ok"` on
success (also on HTTP 200 for some failures); OAuth answers flat
`{"error", "error_description", "log_id"}` (platform-apis.md §1.1, publishing.md §5.1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from reelflow.adapters.ratelimit import next_utc_midnight
from reelflow.errors import AuthExpired, Permanent, QuotaExhausted, ReelflowError, Retryable
from reelflow.settings import get_settings

PLATFORM = "tiktok"

# Vendor codes that retrying will not fix (the rest of the 4xx are Permanent too).
REAUTH_CODES = {"scope_not_authorized", "scope_permission_missed"}
RETRYABLE_CODES = {"rate_limit_exceeded", "internal_error", "timeout", "internal"}


def base_url() -> str:
    return get_settings().platform_url("tiktok_base_url")


def _decode(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content) if response.content else None
    except msgspec.DecodeError:
        return None


def v2_error(response: httpx.Response) -> ReelflowError | None:
    """Map a v2 envelope's error (any HTTP status) to the error tree; None on success."""
    body = _decode(response)
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str):  # an OAuth-style answer on a v2 path
        return oauth_error(response)
    if not isinstance(error, dict):
        return None
    code = str(error.get("code") or "")
    if code == "ok" or (not code and response.status_code < 400):
        return None
    message = str(error.get("message") or code)
    extra: dict[str, Any] = {"vendor_code": code, "log_id": error.get("log_id")}
    detail = f"TikTok {code}: {message}"
    if code == "access_token_invalid":
        return AuthExpired(detail, **extra)
    if code in REAUTH_CODES:
        return AuthExpired(detail, reauth_required=True, **extra)
    if code == "daily_quota_limit_exceeded":
        resets = next_utc_midnight()
        wait = (resets - datetime.now(UTC)).total_seconds()  # past any inline retry: the job runtime waits
        return QuotaExhausted(detail, limit="tiktok_research_daily", resets_at=resets, retry_after=wait, **extra)
    if code in RETRYABLE_CODES or response.status_code >= 500:
        return Retryable(detail, **extra)
    return Permanent(detail, **extra)


def oauth_error(response: httpx.Response) -> ReelflowError | None:
    """Map the flat OAuth error shape; None when the body carries no error."""
    body = _decode(response)
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):  # some OAuth paths answer with the v2 envelope
        return v2_error(response) if error.get("code") not in (None, "ok") else None
    if not error:
        return None
    description = str(body.get("error_description") or error)
    extra: dict[str, Any] = {"vendor_code": error, "log_id": body.get("log_id")}
    detail = f"TikTok OAuth {error}: {description}"
    if error == "invalid_grant":
        return AuthExpired(detail, reauth_required=True, **extra)
    if response.status_code >= 500 or error in ("server_error", "temporarily_unavailable"):
        return Retryable(detail, **extra)
    return Permanent(detail, **extra)


def data_of(response: httpx.Response) -> dict[str, Any]:
    body = _decode(response)
    if not isinstance(body, dict):
        raise Permanent(f"TikTok answered a non-JSON body: {response.text[:200]}")
    data = body.get("data")
    return data if isinstance(data, dict) else {}
