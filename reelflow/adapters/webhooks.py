"""Verification of inbound webhook signatures (pure functions, no I/O).

Two schemes:

* TikTok (developer portal and Business API webhooks): header
  ``TikTok-Signature: t=<unix seconds>,s=<hex>`` where ``s`` is
  HMAC-SHA256(secret, ``f"{t}.{raw_body}"``). ``t`` must lie within ``tolerance``
  seconds of now (both directions), so a captured request cannot be replayed later.
* Lead webhooks (our own form endpoints, Zapier-style senders): header
  ``X-Reelflow-Signature: sha256=<hex>`` where ``<hex>`` is HMAC-SHA256(secret, raw_body).
  The ``sha256=`` prefix is optional. These carry no timestamp; callers dedupe on the
  lead id (delivery is at least once).

Always verify against the raw request bytes, before any JSON parsing. Comparisons are
constant time (`hmac.compare_digest`). Every failure raises a subclass of
`WebhookSignatureError` (an `errors.Unauthorized`, so the web layer answers 401).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from reelflow import errors

TIKTOK_SIGNATURE_HEADER = "TikTok-Signature"
LEAD_SIGNATURE_HEADER = "X-Reelflow-Signature"
DEFAULT_TOLERANCE_S = 300


class WebhookSignatureError(errors.Unauthorized):
    """A webhook's signature could not be verified."""

    code = "webhook_signature_invalid"


class MissingSignature(WebhookSignatureError):
    code = "webhook_signature_missing"


class MalformedSignature(WebhookSignatureError):
    code = "webhook_signature_malformed"


class StaleTimestamp(WebhookSignatureError):
    code = "webhook_timestamp_stale"


class BadSignature(WebhookSignatureError):
    code = "webhook_signature_mismatch"


Secrets = str | bytes | Sequence[str | bytes]


def _secrets(secret: Secrets) -> list[bytes]:
    """One secret or several (rotation: the old and the new one both verify)."""
    if isinstance(secret, str | bytes):
        items: Sequence[str | bytes] = [secret]
    else:
        items = secret
    keys = [s.encode() if isinstance(s, str) else s for s in items]
    if not keys or not all(keys):
        raise errors.ConfigurationError("webhook secret is empty")
    return keys


def _hmac_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_tiktok(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The ``TikTok-Signature`` header value for ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return f"t={timestamp},s={_hmac_hex(key, str(timestamp).encode() + b'.' + body)}"


def parse_tiktok_signature(header: str | None) -> tuple[int, list[str]]:
    """Split ``t=...,s=...`` into the timestamp and the signatures (several ``s`` allowed)."""
    if header is None or not header.strip():
        raise MissingSignature(f"missing {TIKTOK_SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignature(f"malformed {TIKTOK_SIGNATURE_HEADER} header")
        key, value = key.strip(), value.strip()
        if key == "t":
            if timestamp is not None or not value.isdigit():
                raise MalformedSignature(f"malformed timestamp in {TIKTOK_SIGNATURE_HEADER} header")
            timestamp = int(value)
        elif key == "s":
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        raise MalformedSignature(f"{TIKTOK_SIGNATURE_HEADER} header needs t= and s=")
    return timestamp, signatures


def verify_tiktok_signature(
    secret: Secrets,
    body: bytes,
    header: str | None,
    now: float,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a ``TikTok-Signature`` header; returns its timestamp.

    Raises MissingSignature, MalformedSignature, StaleTimestamp (``|now - t| > tolerance_s``)
    or BadSignature.
    """
    keys = _secrets(secret)
    timestamp, signatures = parse_tiktok_signature(header)
    if abs(now - timestamp) > tolerance_s:
        raise StaleTimestamp(f"webhook timestamp {timestamp} is outside the {tolerance_s}s window")
    payload = str(timestamp).encode() + b"." + body
    expected = [_hmac_hex(key, payload) for key in keys]
    # Compare every pair (no early exit) so timing does not reveal which one matched.
    matched = False
    for candidate in signatures:
        for digest in expected:
            matched |= hmac.compare_digest(candidate.encode(), digest.encode())
    if not matched:
        raise BadSignature("webhook signature does not match")
    return timestamp


def sign_body(secret: str | bytes, body: bytes) -> str:
    """The ``X-Reelflow-Signature`` header value for a lead webhook body."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + _hmac_hex(key, body)


def verify_body_signature(secret: Secrets, body: bytes, header: str | None) -> None:
    """Check an ``X-Reelflow-Signature: sha256=<hex>`` header against the raw body."""
    keys = _secrets(secret)
    if header is None or not header.strip():
        raise MissingSignature(f"missing {LEAD_SIGNATURE_HEADER} header")
    value = header.strip()
    if value.lower().startswith("sha256="):
        value = value[len("sha256=") :]
    value = value.lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise MalformedSignature(f"{LEAD_SIGNATURE_HEADER} must be sha256=<64 hex characters>")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(value.encode(), _hmac_hex(key, body).encode())
    if not matched:
        raise BadSignature("webhook signature does not match")
