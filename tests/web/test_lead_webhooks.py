"""Lead webhooks over the real app and database: challenge, signature (bad, stale/replayed),
malformed bodies, duplicates (sequential and concurrent), PII encrypted at rest and never in
logs or in the refusal records."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog
from sqlalchemy import func, select, text

from reelflow.adapters.webhooks import sign_tiktok
from reelflow.queue import run_inline
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.audit import AuditEntry
from reelflow.storage.models.leads import LeadInbox
from reelflow.storage.models.runtime import JobRun

URL = "/api/v1/webhooks/tiktok/leads"
PII = ("Jane", "Doe", "jane@example.com", "+7 701 234 5678", "7012345678")


def _body(lead_id: str = "7300000000000000001") -> bytes:
    return json.dumps(
        {
            "lead_id": lead_id,
            "advertiser_id": "7100000000000000001",
            "page_id": "7200000000000000001",
            "campaign_id": "1800000000000000001",
            "create_time": int(time.time()),
            "ttclid": "E.C.P.abc",
            "fields": {"full_name": "Jane Doe", "phone_number": "+7 701 234 5678", "email": "jane@example.com"},
        }
    ).encode()


def _headers(body: bytes, *, at: int | None = None, secret: str | None = None) -> dict[str, str]:
    key = secret or get_settings().credential("tiktok_business_secret")
    return {
        "content-type": "application/json",
        "x-tiktok-signature": sign_tiktok(key, body, int(time.time()) if at is None else at),
    }


async def _count() -> int:
    async with session_scope() as session:
        return int(await session.scalar(select(func.count()).select_from(LeadInbox)) or 0)


async def test_challenge_is_echoed(client: Any) -> None:
    answer = await client.get(URL, params={"challenge": "abc123"})
    assert answer.status_code == 200 and answer.text == "abc123"
    assert (await client.get(URL)).status_code == 400


async def test_signed_lead_stored_once_encrypted_and_pii_never_logged(client: Any) -> None:
    body = _body()
    with structlog.testing.capture_logs() as logs:
        first = await client.post(URL, content=body, headers=_headers(body))
        again = await client.post(URL, content=body, headers=_headers(body))  # at-least-once delivery
    assert first.status_code == 200 and first.json() == {"lead_id": "7300000000000000001", "duplicate": False}
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await _count() == 1
    async with session_scope() as session:
        raw_rows = (await session.execute(text("SELECT * FROM lead_inbox"))).all()
        row = (await session.scalars(select(LeadInbox))).one()
    assert not any(p in repr(raw_rows) for p in PII)  # encrypted at rest
    with structlog.testing.capture_logs() as job_logs:
        result = await run_inline("leads.ingest", {"inbox_id": str(row.id)})
    assert result["found"] and result["lead_id"] == "7300000000000000001" and result["direction_id"] is None
    assert result["unmapped"] == "no_ad_account"  # no workspace has this advertiser: kept in the inbox
    logged = json.dumps(logs + job_logs, default=str)
    assert "7300000000000000001" in logged
    assert not any(p in logged for p in PII)


async def test_bad_stale_and_missing_signatures_are_401_and_recorded_without_pii(client: Any) -> None:
    body = _body()
    wrong = await client.post(URL, content=body, headers=_headers(body, secret="not-the-secret"))
    replay = await client.post(URL, content=body, headers=_headers(body, at=int(time.time()) - 3600))
    missing = await client.post(URL, content=body, headers={"content-type": "application/json"})
    tampered_headers = _headers(body)
    tampered = await client.post(URL, content=body.replace(b"Jane", b"Joan"), headers=tampered_headers)
    assert [r.status_code for r in (wrong, replay, missing, tampered)] == [401, 401, 401, 401]
    assert "webhook_timestamp_stale" in json.dumps(replay.json())
    assert await _count() == 0
    async with session_scope() as session:
        entries = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "ads.lead_webhook.refused"))
        ).all()
    assert len(entries) == 4
    assert {e.details["reason"] for e in entries} >= {"webhook_signature_mismatch", "webhook_timestamp_stale"}
    assert not any(p in json.dumps([e.details for e in entries]) for p in PII)


async def test_malformed_body_is_400_naming_the_field(client: Any) -> None:
    body = json.dumps({"advertiser_id": "1", "create_time": 1}).encode()
    answer = await client.post(URL, content=body, headers=_headers(body))
    assert answer.status_code == 400
    assert "lead_id" in json.dumps(answer.json())
    assert await _count() == 0


async def test_concurrent_duplicates_store_one_row(client: Any) -> None:
    body = _body("7300000000000000042")
    answers = await asyncio.gather(*[client.post(URL, content=body, headers=_headers(body)) for _ in range(8)])
    assert all(a.status_code == 200 for a in answers)
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    assert await _count() == 1


# --- the acknowledgement path and the drain job ----------------------------------------------------


async def _drain_runs() -> int:
    async with session_scope() as session:
        return int(
            await session.scalar(select(func.count()).select_from(JobRun).where(JobRun.name == "leads.drain_inbox"))
            or 0
        )


async def _pending() -> int:
    async with session_scope() as session:
        stmt = select(func.count()).select_from(LeadInbox).where(LeadInbox.processed_at.is_(None))
        return int(await session.scalar(stmt) or 0)


async def test_webhooks_of_one_slot_share_one_drain_run_which_maps_them_all(client: Any, run_jobs: Any) -> None:
    slot_s = get_settings().leads.drain_slot_s
    first_slot = int(time.time() // slot_s)
    bodies = [_body(f"73000000000000001{i:02d}") for i in range(6)]
    answers = [await client.post(URL, content=b, headers=_headers(b)) for b in bodies]
    last_slot = int(time.time() // slot_s)
    assert all(a.status_code == 200 and a.json()["duplicate"] is False for a in answers)
    # Coalesced: one run per slot the posts spanned, not one per webhook.
    assert 1 <= await _drain_runs() <= last_slot - first_slot + 1
    assert await _pending() == 6
    await run_jobs()
    assert await _pending() == 0  # mapped (no ad account has this advertiser: kept, marked)
    async with session_scope() as session:
        rows = (await session.scalars(select(LeadInbox))).all()
    assert {r.error for r in rows} == {"unmapped:no_ad_account"} and all(r.attempts == 1 for r in rows)


async def test_a_lead_whose_job_was_lost_is_drained_by_the_sweep(client: Any, run_jobs: Any) -> None:
    from reelflow.services import leads as service

    body = _body("7300000000000000201")
    assert (await client.post(URL, content=body, headers=_headers(body))).status_code == 200
    # The web process died between storing the lead and scheduling its job: no run exists.
    async with session_scope() as session:
        await session.execute(text("DELETE FROM job_runs WHERE name = 'leads.drain_inbox'"))
    await run_jobs()
    assert await _pending() == 1  # nothing ran: the lead waits in the inbox, stored and encrypted
    assert await service.sweep_inbox() == {"pending": 1}
    await run_jobs()
    assert await _pending() == 0
    assert await service.sweep_inbox() == {"pending": 0}  # nothing left: the sweep schedules nothing


async def test_a_lead_survives_redis_losing_its_job(client: Any, run_jobs: Any, redis_client: Any) -> None:
    body = _body("7300000000000000202")
    assert (await client.post(URL, content=body, headers=_headers(body))).status_code == 200
    await redis_client.flushdb()  # Redis restarted empty: the guard and any pushed job are gone
    await run_jobs()  # the runtime re-pushes the committed run (Postgres is the source of truth)
    assert await _pending() == 0


async def test_redelivery_after_mapping_stores_nothing_and_concurrent_drains_map_each_row_once(
    client: Any, run_jobs: Any, monkeypatch: Any
) -> None:
    from reelflow.services import leads as service
    from reelflow.settings import reset_settings_cache

    bodies = [_body(f"73000000000000003{i:02d}") for i in range(7)]
    for b in bodies:
        assert (await client.post(URL, content=b, headers=_headers(b))).status_code == 200
    monkeypatch.setenv("REELFLOW_LEADS__DRAIN_BATCH", "2")
    reset_settings_cache()
    try:
        results = await asyncio.gather(service.drain_inbox(), service.drain_inbox(), service.drain_inbox())
    finally:
        monkeypatch.delenv("REELFLOW_LEADS__DRAIN_BATCH")
        reset_settings_cache()
    assert sum(r["rows"] for r in results) == 7  # SKIP LOCKED: every row taken by exactly one drain
    assert max(r["batches"] for r in results) >= 1 and await _pending() == 0
    again = await client.post(URL, content=bodies[0], headers=_headers(bodies[0]))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await _count() == 7
    await run_jobs()
    async with session_scope() as session:
        attempts = (await session.scalars(select(LeadInbox.attempts))).all()
    assert sorted(attempts) == [1] * 7  # the later slot's run found nothing left to map
