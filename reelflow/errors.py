"""The error tree shared by every layer.

Domain and adapter code raise these; the web layer maps them to RFC 9457 problem
details in one place (`reelflow.web.errors`), and the job runtime decides from them
whether to retry (`Retryable`) or fail at once (`Permanent`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ReelflowError(Exception):
    """Base of every error the product raises on purpose."""

    status: int = 500
    title: str = "Internal error"
    code: str = "internal_error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class InvalidInput(ReelflowError):
    """The request is well-formed but a field's value is not acceptable."""

    status = 422
    title = "Invalid input"
    code = "invalid_input"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.field = field
        if field:
            self.extra.setdefault("errors", [{"field": field, "message": detail}])


class BadRequest(ReelflowError):
    """The request itself is malformed: not JSON, nested too deep, a bad query parameter or
    cursor. `field` names the parameter (400, where a bad value in a body field is a 422)."""

    status = 400
    title = "Bad request"
    code = "bad_request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.field = field
        if field:
            self.extra.setdefault("errors", [{"field": field, "message": detail}])


class Unauthorized(ReelflowError):
    status = 401
    title = "Unauthorized"
    code = "unauthorized"


class Forbidden(ReelflowError):
    status = 403
    title = "Forbidden"
    code = "forbidden"


class NotFound(ReelflowError):
    status = 404
    title = "Not found"
    code = "not_found"


class Conflict(ReelflowError):
    status = 409
    title = "Conflict"
    code = "conflict"


class PayloadTooLarge(ReelflowError):
    status = 413
    title = "Payload too large"
    code = "payload_too_large"


class LimitExceeded(ReelflowError):
    """A plan or rate limit is reached; says which limit and when it resets."""

    status = 429
    title = "Limit exceeded"
    code = "limit_exceeded"

    def __init__(
        self,
        detail: str,
        *,
        limit: str | None = None,
        resets_at: datetime | None = None,
        retry_after: float | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, **extra)
        self.limit = limit
        self.resets_at = resets_at
        self.retry_after = retry_after
        if limit:
            self.extra["limit"] = limit
        if resets_at:
            self.extra["resets_at"] = resets_at.isoformat()


class Retryable(ReelflowError):
    """A transient failure: try again later, after `retry_after` seconds if given."""

    status = 503
    title = "Temporarily unavailable"
    code = "retryable"

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class Permanent(ReelflowError):
    """A failure that retrying cannot fix."""

    status = 502
    title = "Permanent failure"
    code = "permanent"


class ConfigurationError(ReelflowError):
    """Settings are missing or invalid; the message names the variable."""

    title = "Configuration error"
    code = "configuration_error"


class AuthExpired(ReelflowError):
    """A platform rejected the access token (expired or revoked): refresh it, then retry.

    `reauth_required` is set when refreshing cannot help (the refresh token itself is
    dead, e.g. OAuth `invalid_grant`): the account must be connected again.
    """

    status = 502
    title = "Platform authorization expired"
    code = "platform_auth_expired"

    def __init__(self, detail: str | None = None, *, reauth_required: bool = False, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.reauth_required = reauth_required
        self.extra["reauth_required"] = reauth_required


class Ambiguous(Retryable):
    """A non-idempotent request may or may not have taken effect (timed out after sending).

    Never repeat it blindly: check the platform's state first (status fetch, list by
    request id), then decide. Subclasses Retryable so that a job retries, and the job's
    next attempt reconciles.
    """

    title = "Outcome unknown"
    code = "ambiguous"


class QuotaExhausted(Retryable):
    """A platform's daily quota is used up; `retry_after` points at the reset time."""

    title = "Platform quota exhausted"
    code = "quota_exhausted"

    def __init__(
        self,
        detail: str | None = None,
        *,
        limit: str | None = None,
        resets_at: datetime | None = None,
        retry_after: float | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.limit = limit
        self.resets_at = resets_at
        if limit:
            self.extra["limit"] = limit
        if resets_at:
            self.extra["resets_at"] = resets_at.isoformat()


class UnsupportedMediaType(ReelflowError):
    """The body's type is not one this endpoint accepts (an upload that is not a video)."""

    status = 415
    title = "Unsupported media type"
    code = "unsupported_media_type"
