"""Webhook signature verification: TikTok `t=,s=` scheme and the lead body signature."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from reelflow import errors
from reelflow.adapters import webhooks
from reelflow.adapters.webhooks import (
    BadSignature,
    MalformedSignature,
    MissingSignature,
    StaleTimestamp,
    sign_body,
    sign_tiktok,
    verify_body_signature,
    verify_tiktok_signature,
)

SECRET = "client-secret-123"
BODY = b'{"client_key":"ck","event":"tiktok.ping","create_time":1700000000,"content":"{}"}'
NOW = 1_700_000_100


def test_tiktok_signature_matches_the_documented_scheme() -> None:
    header = sign_tiktok(SECRET, BODY, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},s={expected}"
    assert verify_tiktok_signature(SECRET, BODY, header, NOW) == NOW


def test_tiktok_signature_accepts_small_clock_skew_both_ways() -> None:
    header = sign_tiktok(SECRET, BODY, NOW)
    verify_tiktok_signature(SECRET, BODY, header, NOW + 300)
    verify_tiktok_signature(SECRET, BODY, header, NOW - 300)


def test_tiktok_wrong_secret() -> None:
    header = sign_tiktok("another-secret", BODY, NOW)
    with pytest.raises(BadSignature):
        verify_tiktok_signature(SECRET, BODY, header, NOW)


def test_tiktok_tampered_body() -> None:
    header = sign_tiktok(SECRET, BODY, NOW)
    with pytest.raises(BadSignature):
        verify_tiktok_signature(SECRET, BODY.replace(b"ping", b"pong"), header, NOW)


def test_tiktok_tampered_timestamp() -> None:
    signature = sign_tiktok(SECRET, BODY, NOW).split(",")[1]
    with pytest.raises(BadSignature):
        verify_tiktok_signature(SECRET, BODY, f"t={NOW + 1},{signature}", NOW)


def test_tiktok_stale_and_future_timestamps() -> None:
    header = sign_tiktok(SECRET, BODY, NOW)
    with pytest.raises(StaleTimestamp):
        verify_tiktok_signature(SECRET, BODY, header, NOW + 301)
    with pytest.raises(StaleTimestamp):
        verify_tiktok_signature(SECRET, BODY, header, NOW - 301)
    verify_tiktok_signature(SECRET, BODY, header, NOW + 1000, tolerance_s=1000)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_tiktok_missing_header(header: str | None) -> None:
    with pytest.raises(MissingSignature):
        verify_tiktok_signature(SECRET, BODY, header, NOW)


@pytest.mark.parametrize(
    "header",
    ["garbage", f"t={NOW}", "s=abcd", f"t=abc,s={'0' * 64}", f"t={NOW},t={NOW},s=00", "t=-5,s=00"],
)
def test_tiktok_malformed_header(header: str) -> None:
    with pytest.raises(MalformedSignature):
        verify_tiktok_signature(SECRET, BODY, header, NOW)


def test_tiktok_secret_rotation_and_multiple_signatures() -> None:
    header = sign_tiktok("old-secret", BODY, NOW)
    verify_tiktok_signature(["new-secret", "old-secret"], BODY, header, NOW)
    bogus = "s=" + "0" * 64
    verify_tiktok_signature(SECRET, BODY, f"{bogus},{sign_tiktok(SECRET, BODY, NOW)}", NOW)


def test_errors_are_unauthorized_for_the_web_layer() -> None:
    for cls in (MissingSignature, MalformedSignature, StaleTimestamp, BadSignature):
        assert issubclass(cls, webhooks.WebhookSignatureError)
        assert issubclass(cls, errors.Unauthorized)
        assert cls("x").status == 401


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(errors.ConfigurationError):
        verify_tiktok_signature("", BODY, sign_tiktok("x", BODY, NOW), NOW)


def test_lead_body_signature_valid_with_and_without_prefix() -> None:
    header = sign_body(SECRET, BODY)
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    verify_body_signature(SECRET, BODY, header)
    verify_body_signature(SECRET, BODY, expected.upper())


def test_lead_body_signature_failures() -> None:
    header = sign_body(SECRET, BODY)
    with pytest.raises(BadSignature):
        verify_body_signature("wrong", BODY, header)
    with pytest.raises(BadSignature):
        verify_body_signature(SECRET, BODY + b" ", header)
    with pytest.raises(MissingSignature):
        verify_body_signature(SECRET, BODY, None)
    with pytest.raises(MalformedSignature):
        verify_body_signature(SECRET, BODY, "sha256=xyz")
