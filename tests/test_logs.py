from __future__ import annotations

from reelflow.logs import mask_processor


def _masked(**event: object) -> dict[str, object]:
    return dict(mask_processor(None, "info", dict(event)))


def test_secrets_are_masked_by_key_and_shape():
    out = _masked(
        event="calling with Bearer act.abc123 and rf_1a2b3c4d_abcdefghijklmnopqrstuvwxyz",
        access_token="act.secret",
        headers={"Authorization": "Bearer x", "Accept": "json"},
        client_secret="shh",
    )
    assert "act.abc123" not in str(out["event"]) and "abcdefghijklmnop" not in str(out["event"])
    assert out["access_token"] == "***" and out["client_secret"] == "***"
    assert out["headers"] == {"Authorization": "***", "Accept": "json"}


def test_pii_is_masked_but_ids_are_not():
    out = _masked(
        event="lead from jane.doe@example.com, call +44 20 7946 0958",
        email="jane.doe@example.com",
        phone="020 7946 0958",
        run_id="95c00555-4f51-437b-b915-69ae2cb9ad3f",
        video_id="7710786552091131910",
        note="run 12345678-1234-4321-8765-123456789012 video 7710786552091131910",
    )
    assert "jane.doe" not in str(out["event"]) and "7946" not in str(out["event"])
    assert out["email"] == "j***@example.com"
    assert out["phone"] == "***"
    assert out["run_id"] == "95c00555-4f51-437b-b915-69ae2cb9ad3f"
    assert out["video_id"] == "7710786552091131910"
    assert out["note"] == "run 12345678-1234-4321-8765-123456789012 video 7710786552091131910"


def test_stdlib_records_keep_their_arguments_masked_one_by_one():
    """uvicorn's access formatter unpacks `record.args`: masking must not drop them (it
    used to, and every access line failed to format with a traceback)."""
    import logging

    from reelflow.logs import mask_stdlib_records

    mask_stdlib_records()
    make = logging.getLogRecordFactory()
    args = ("127.0.0.1:5000", "GET", "/api/v1/oauth/tiktok/callback?code=abc&access_token=act.secret", "1.1", 200)
    record = make("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    assert isinstance(record.args, tuple) and len(record.args) == 5
    client, method, path, version, status = record.args
    assert "act.secret" not in path and "act.secret" not in record.getMessage()
    assert (client, method, version, status) == ("127.0.0.1:5000", "GET", "1.1", 200)
    plain = make("app", logging.INFO, __file__, 1, "%s items in %d s", ("12", 3), None)
    assert plain.args == ("12", 3) and plain.getMessage() == "12 items in 3 s"
