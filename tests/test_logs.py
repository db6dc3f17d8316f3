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
