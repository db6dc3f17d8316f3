"""Lead webhooks: verify, parse, deduplicate, store (PII encrypted), hand the rest to a job.

The handler path does only what must happen before answering: the signature check
(HMAC-SHA256 over ``f"{t}.{body}"``, constant-time, ``t`` within the tolerance so a replay is
refused), the body check, the duplicate check (explicit, then the unique constraint) and one
insert plus the job in the same transaction. Refusals are written to the audit log with a
reason code and the body size only: never the body, never PII.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow import errors
from reelflow.adapters import webhooks
from reelflow.domain import leads as domain
from reelflow.logs import get_logger
from reelflow.queue import enqueue
from reelflow.services import audit
from reelflow.settings import Settings, get_settings
from reelflow.storage import crypto
from reelflow.storage.repositories.leads import LeadsRepository

log = get_logger(__name__)
PLATFORM = "tiktok"
INGEST_TASK = "leads.ingest"


@dataclass(frozen=True)
class Received:
    lead_id: str
    duplicate: bool
    inbox_id: uuid.UUID | None


def webhook_secret(settings: Settings) -> str:
    """The lead webhook's HMAC key: `REELFLOW_SECRETS__TIKTOK_WEBHOOK_SECRET`, else the Business app secret."""
    return settings.secrets.tiktok_webhook_secret or settings.credential("tiktok_business_secret")


def challenge_answer(challenge: str | None) -> str:
    """The verification handshake: echo the challenge (short, printable ASCII only)."""
    if not challenge or len(challenge) > 256 or not challenge.isascii() or not challenge.isprintable():
        raise errors.BadRequest("challenge must be 1-256 printable ASCII characters", field="challenge")
    return challenge


async def _refuse(session: AsyncSession, reason: str, size: int) -> None:
    await session.rollback()
    await audit.record(
        session,
        "ads.lead_webhook.refused",
        actor_kind="anonymous",
        target_type="lead_webhook",
        details={"platform": PLATFORM, "reason": reason, "body_bytes": size},
    )
    await session.commit()
    log.warning("lead webhook refused", reason=reason, body_bytes=size)


async def receive_tiktok_lead(
    session: AsyncSession,
    raw: bytes,
    signature: str | None,
    *,
    now: float | None = None,
    settings: Settings | None = None,
) -> Received:
    settings = settings or get_settings()
    try:
        webhooks.verify_tiktok_signature(
            webhook_secret(settings),
            raw,
            signature,
            time.time() if now is None else now,
            tolerance_s=settings.autopilot.lead_webhook_tolerance_s,
        )
    except webhooks.WebhookSignatureError as exc:
        await _refuse(session, exc.code, len(raw))
        raise
    try:
        lead = domain.parse_webhook(raw)
    except errors.InvalidInput as exc:
        await _refuse(session, f"malformed:{exc.field}", len(raw))
        raise errors.BadRequest(str(exc), field=exc.field) from None
    repo = LeadsRepository(session)
    if await repo.inbox_exists(PLATFORM, lead.lead_id):
        log.info("lead webhook duplicate", lead_id=lead.lead_id)
        return Received(lead.lead_id, True, None)
    inbox_id = await repo.insert_inbox(
        platform=PLATFORM,
        lead_id=lead.lead_id,
        advertiser_id=lead.advertiser_id,
        campaign_id=lead.campaign_id,
        page_id=lead.page_id,
        payload_enc=crypto.encrypt(json.dumps(asdict(lead)), settings),
    )
    if inbox_id is None:  # a concurrent delivery won the race
        return Received(lead.lead_id, True, None)
    await enqueue(session, INGEST_TASK, {"inbox_id": str(inbox_id)}, key=f"{INGEST_TASK}:{inbox_id}")
    log.info("lead webhook stored", **lead.log_view())
    return Received(lead.lead_id, False, inbox_id)


async def load_inbox_lead(session: AsyncSession, inbox_id: uuid.UUID) -> domain.LeadIn | None:
    """The stored lead, decrypted (for the ingest job)."""
    row = await LeadsRepository(session).get_inbox(inbox_id)
    if row is None:
        return None
    return domain.LeadIn(**json.loads(crypto.decrypt(row.payload_enc)))
