"""TikTok Business API error mapping: the envelope's numeric ``code`` → a ReelflowError
(the code table lives in `business_records`)."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from reelflow import errors
from reelflow.adapters import httpclient
from reelflow.adapters.tiktok.business_records import (
    RETRY_AFTER_S,
    ErrorKind,
    classify_code,
)

PLATFORM = "tiktok_business"


class _Envelope(msgspec.Struct):
    """What the error mapper reads of an answer (any other field is skipped unparsed)."""

    code: Any = None
    message: Any = None
    request_id: Any = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


# --- error mapping ------------------------------------------------------------------------------


def business_error(code: int, message: str, request_id: str | None, *, idempotent: bool) -> errors.ReelflowError:
    """The ReelflowError for a non-zero Business API ``code`` (table in business_records)."""
    kind, meaning = classify_code(code)
    detail = f"TikTok Business API {code} ({meaning}): {message}"
    extra: dict[str, Any] = {"vendor_code": code, "request_id": request_id, "platform": PLATFORM}
    if kind is ErrorKind.RETRYABLE:
        # A server-side failure on a write may have been applied; rate limits were not.
        if not idempotent and code >= 50000 and code not in (60001, 61000):
            return errors.Ambiguous(detail + " (may have been applied: check state first)", **extra)
        return errors.Retryable(detail, retry_after=RETRY_AFTER_S.get(code), **extra)
    if kind is ErrorKind.AUTH_EXPIRED:
        # Business API advertiser tokens are not refreshed here: the advertiser re-authorizes.
        return errors.AuthExpired(detail, reauth_required=True, **extra)
    if kind is ErrorKind.INVALID:
        return errors.InvalidInput(detail, **extra)
    if kind is ErrorKind.FORBIDDEN:
        return errors.Forbidden(detail, **extra)
    if kind is ErrorKind.NOT_FOUND:
        return errors.NotFound(detail, **extra)
    if kind is ErrorKind.CONFLICT:
        return errors.Conflict(detail, **extra)
    if kind is ErrorKind.CONFIGURATION:
        return errors.ConfigurationError(detail, **extra)
    return errors.Permanent(detail, **extra)


def business_error_mapper(*, idempotent: bool) -> httpclient.ErrorMapper:
    """An `httpclient` error mapper reading the envelope's ``code`` (HTTP 200 or not)."""

    def mapper(response: httpx.Response) -> errors.ReelflowError | None:
        # Only the envelope's code, message and request id are read here (msgspec skips `data`
        # without building it: a 1,000-row report page is decoded once, by the adapter).
        try:
            envelope = _ENVELOPE.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # not an envelope: the HTTP layer maps the status
        code = envelope.code
        if not isinstance(code, int) or isinstance(code, bool) or code in (0, 20001):  # 20001: partial success
            return None
        message = envelope.message
        return business_error(
            code,
            "" if message is None else str(message),
            None if envelope.request_id is None else str(envelope.request_id),
            idempotent=idempotent,
        )

    return mapper
