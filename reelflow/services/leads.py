"""Leads: webhook receipt, mapping to workspaces and directions, the leads API's use cases,
conversion events (Events API 2.0) and instant pages.

Webhook receipt: verify, parse, deduplicate, store (PII encrypted), hand the rest to a job.

The handler path does only what must happen before answering: the signature check
(HMAC-SHA256 over ``f"{t}.{body}"``, constant-time, ``t`` within the tolerance so a replay is
refused), the body check, and one autocommit `INSERT … ON CONFLICT DO NOTHING` into the inbox
(the unique lead id is the duplicate check). The mapping runs in `leads.drain_inbox`, batched,
started at most once per short slot and backed by a periodic sweep. Refusals are written to
the audit log with a reason code and the body size only: never the body, never PII.
"""

from __future__ import annotations

import json
import time
import uuid
import weakref
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow import errors
from reelflow.adapters import webhooks
from reelflow.adapters.tiktok.events import (
    LEAD_EVENT_SOURCE,
    ConversionEvent,
    ConversionEvents,
    event_id_for,
    track_body,
)
from reelflow.domain import leads as domain
from reelflow.logs import get_logger
from reelflow.queue import enqueue
from reelflow.services import audit
from reelflow.services.ads_base import AdsFactory, _account_or_404, _final, platform_for, translate
from reelflow.settings import Settings, get_settings
from reelflow.storage import cache, crypto
from reelflow.storage.db import session_scope
from reelflow.storage.models.leads import Lead, LeadEvent, LeadInbox
from reelflow.storage.repositories.ads import AdsRepository
from reelflow.storage.repositories.leads import LeadsRepository, inbox_writer

log = get_logger(__name__)
PLATFORM = "tiktok"
INGEST_TASK = "leads.ingest"
DRAIN_TASK = "leads.drain_inbox"
EVENT_TASK = "leads.send_event"


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


async def _refuse(reason: str, size: int) -> None:
    async with session_scope() as session:
        await audit.record(
            session,
            "ads.lead_webhook.refused",
            actor_kind="anonymous",
            target_type="lead_webhook",
            details={"platform": PLATFORM, "reason": reason, "body_bytes": size},
        )
    log.warning("lead webhook refused", reason=reason, body_bytes=size)


async def receive_tiktok_lead(
    raw: bytes,
    signature: str | None,
    *,
    redis: Any | None = None,
    now: float | None = None,
    settings: Settings | None = None,
) -> Received:
    """The acknowledgement path: signature and timestamp, body, then ONE autocommit statement
    (`INSERT … ON CONFLICT (platform, lead_id) DO NOTHING RETURNING id`: the unique constraint
    is the duplicate check, so a redelivery or a racing delivery stores nothing and answers
    `duplicate`). The mapping is left to `leads.drain_inbox`, started at most once per slot
    (`schedule_drain`); a lead stored but never scheduled (a crash just after the commit) is
    found by the periodic sweep. `redis` (the web process's client) coalesces the scheduling."""
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
        await _refuse(exc.code, len(raw))
        raise
    try:
        lead = domain.parse_webhook(raw)
    except errors.InvalidInput as exc:
        await _refuse(f"malformed:{exc.field}", len(raw))
        raise errors.BadRequest(str(exc), field=exc.field) from None
    payload_enc = crypto.encrypt(json.dumps(asdict(lead)), settings)
    inbox_id: uuid.UUID | None = uuid.uuid4()
    row = {
        "id": inbox_id,
        "platform": PLATFORM,
        "lead_id": lead.lead_id,
        "advertiser_id": lead.advertiser_id,
        "campaign_id": lead.campaign_id,
        "page_id": lead.page_id,
        "payload_enc": payload_enc,
    }
    if not await inbox_writer().receive(row):
        inbox_id = None
    if inbox_id is None:  # received before (or by a concurrent delivery): nothing stored
        log.info("lead webhook duplicate", lead_id=lead.lead_id)
        return Received(lead.lead_id, True, None)
    log.info("lead webhook stored", **lead.log_view())
    await schedule_drain(redis, settings=settings)
    return Received(lead.lead_id, False, inbox_id)


DRAIN_GUARD = "reelflow:leads:drain-slot:"
# Per Redis client (one per web app): the last slot whose run is known to exist, so the other
# webhooks of that slot skip even the Redis round trip.
_slots_seen: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


async def schedule_drain(redis: Any | None = None, *, settings: Settings | None = None) -> bool:
    """Make sure a `leads.drain_inbox` run starts after this moment: one run per slot of
    `REELFLOW_LEADS__DRAIN_SLOT_S`, delayed to the slot's end, so every row committed before
    now is drained by it. The first caller of a slot (a Redis `SET NX`, shared by every web
    process) enqueues it; the others return at once. Without Redis (or with Redis away) the
    run's key `leads.drain_inbox:slot:<n>` still makes it one run per slot. True if this call
    enqueued (or confirmed) the slot's run."""
    settings = settings or get_settings()
    slot_s = settings.leads.drain_slot_s
    slot = int(time.time() // slot_s)
    if redis is not None:
        if _slots_seen.get(redis) == slot:  # this process already knows the slot's run exists
            return False
        try:
            first = await redis.set(f"{DRAIN_GUARD}{slot}", b"1", nx=True, px=int(max(60.0, 4 * slot_s) * 1000))
        except Exception as exc:  # noqa: BLE001 - Redis away: fall back on the run's key
            log.warning("lead drain guard unavailable", error=type(exc).__name__)
            first = True
        if not first:
            _slots_seen[redis] = slot
            return False
    start_at = datetime.fromtimestamp((slot + 1) * slot_s, UTC)
    async with session_scope() as session:
        await enqueue(session, DRAIN_TASK, {}, key=f"{DRAIN_TASK}:slot:{slot}", start_at=start_at)
    if redis is not None:
        _slots_seen[redis] = slot
    return True


async def load_inbox_lead(session: AsyncSession, inbox_id: uuid.UUID) -> domain.LeadIn | None:
    """The stored lead, decrypted (for the ingest job)."""
    row = await LeadsRepository(session).get_inbox(inbox_id)
    if row is None:
        return None
    return domain.LeadIn(**json.loads(crypto.decrypt(row.payload_enc)))


# --- mapping (the leads.drain_inbox and leads.ingest jobs) --------------------------------------------


def _enc(value: str | None, settings: Settings) -> str | None:
    return crypto.encrypt(value, settings) if value else None


def _dec(value: str | None) -> str | None:
    return crypto.decrypt(value) if value else None


@dataclass
class _Mapped:
    inbox: LeadInbox
    lead: domain.LeadIn | None
    stored: list[dict[str, Any]]
    error: str | None


async def _map_rows(repo: LeadsRepository, rows: list[LeadInbox], settings: Settings) -> list[_Mapped]:
    """Map locked inbox rows to every workspace whose ad account has their advertiser, and in
    each to a direction (campaign id, else instant page id, else the advertiser's only
    direction; see `domain.match_direction_with_reason`): one `leads` row per workspace,
    written for the whole batch in one statement (`ON CONFLICT DO NOTHING`: a re-run adds
    nothing). Accounts are read once per batch, direction keys once per account. A lead no
    ad account claims stays in the inbox with the reason (``unmapped:no_ad_account``)."""
    out: list[_Mapped] = []
    for row in rows:
        try:
            lead: domain.LeadIn | None = domain.LeadIn(**json.loads(crypto.decrypt(row.payload_enc)))
        except (errors.ReelflowError, ValueError, TypeError):  # a key rotated away, a damaged row: kept, marked
            out.append(_Mapped(row, None, [], "undecryptable"))
            continue
        out.append(_Mapped(row, lead, [], None))
    by_platform: dict[str, set[str]] = {}
    for item in out:
        if item.lead is not None:
            by_platform.setdefault(item.inbox.platform, set()).add(item.lead.advertiser_id)
    accounts = {
        (platform, adv): found
        for platform, advertisers in by_platform.items()
        for adv, found in (await repo.accounts_for_advertisers(platform, sorted(advertisers))).items()
    }
    keys_of: dict[uuid.UUID, list[domain.DirectionKeys]] = {}
    values: list[dict[str, Any]] = []
    base = datetime.now(UTC)
    for index, item in enumerate(out):
        lead = item.lead
        if lead is None:
            continue
        mine = accounts.get((item.inbox.platform, lead.advertiser_id), [])
        if not mine:
            item.error = "unmapped:no_ad_account"
            continue
        try:
            created = datetime.fromtimestamp(lead.create_time, UTC)
        except (OverflowError, OSError, ValueError):  # a time no calendar holds: when it arrived
            created = item.inbox.received_at
        for account in mine:
            if account.id not in keys_of:
                keys_of[account.id] = [
                    domain.DirectionKeys(str(d), account.advertiser_id, frozenset(campaigns), frozenset(pages))
                    for d, campaigns, pages in await repo.direction_keys(account.id)
                ]
            direction, how = domain.match_direction_with_reason(lead, keys_of[account.id])
            values.append(
                {
                    "workspace_id": account.workspace_id,
                    "ad_account_id": account.id,
                    "direction_id": uuid.UUID(direction) if direction else None,
                    "inbox_id": item.inbox.id,
                    "platform": item.inbox.platform,
                    "platform_lead_id": lead.lead_id,
                    "advertiser_id": lead.advertiser_id,
                    "campaign_id": lead.campaign_id,
                    "adgroup_id": lead.adgroup_id,
                    "ad_id": lead.ad_id,
                    "page_id": lead.page_id,
                    "mapping": how,
                    "status": "new",
                    "ttclid": lead.ttclid,
                    "name_enc": _enc(lead.name, settings),
                    "phone_enc": _enc(lead.phone, settings),
                    "email_enc": _enc(lead.email, settings),
                    "lead_created_at": created,
                    # newest first in the API = arrival order, also inside one batch
                    "created_at": base + timedelta(microseconds=index),
                    "updated_at": base,
                }
            )
            item.stored.append(
                {
                    "workspace_id": str(account.workspace_id),
                    "lead": None,
                    "direction_id": direction,
                    "mapping": how,
                    "new": False,
                }
            )
    new = await repo.insert_leads(values)
    for item in out:
        for entry in item.stored:
            assert item.lead is not None
            lead_row = new.get((uuid.UUID(entry["workspace_id"]), item.lead.lead_id))
            entry["lead"], entry["new"] = (str(lead_row) if lead_row else None), lead_row is not None
    await repo.mark_processed_many({item.inbox.id: item.error for item in out})
    for item in out:
        if item.lead is None:
            log.warning("lead not readable", inbox=str(item.inbox.id), reason=item.error)
        elif item.error:
            log.warning("lead unmapped", reason=item.error.removeprefix("unmapped:"), **item.lead.log_view())
        else:
            log.info(
                "lead ingested",
                workspaces=len(item.stored),
                mapping=[s["mapping"] for s in item.stored],
                **item.lead.log_view(),
            )
    return out


async def ingest_inbox(inbox_id: uuid.UUID, *, settings: Settings | None = None) -> dict[str, Any]:
    """Map one stored webhook lead (again): the `leads.ingest` job, used when an ad account is
    connected after its advertiser's leads arrived. Idempotent: a re-run inserts nothing new."""
    settings = settings or get_settings()
    async with session_scope() as session:
        repo = LeadsRepository(session)
        row = await repo.get_inbox(inbox_id, lock=True)
        if row is None:
            return {"found": False}
        [item] = await _map_rows(repo, [row], settings)
    unmapped = item.error.removeprefix("unmapped:") if item.error else None
    return {
        "found": True,
        "lead_id": item.lead.lead_id if item.lead else None,
        "direction_id": item.stored[0]["direction_id"] if item.stored else None,
        "leads": item.stored,
        "unmapped": unmapped,
    }


async def drain_inbox(*, run_id: uuid.UUID | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """The `leads.drain_inbox` job: map every received inbox row, `REELFLOW_LEADS__DRAIN_BATCH`
    rows per transaction (locked with SKIP LOCKED, so concurrent drains share the work and
    never map one row twice; the unique (workspace, lead) key makes a re-run harmless). After
    `REELFLOW_LEADS__DRAIN_BUDGET_S` with rows left, it hands them to a fresh run."""
    settings = settings or get_settings()
    batch = settings.leads.drain_batch
    started = time.monotonic()
    totals = {"rows": 0, "leads_new": 0, "unmapped": 0, "batches": 0, "handed_on": 0}
    while True:
        async with session_scope() as session:
            repo = LeadsRepository(session)
            rows = await repo.take_pending_inbox(batch)
            if not rows:
                break
            mapped = await _map_rows(repo, rows, settings)
        totals["rows"] += len(rows)
        totals["batches"] += 1
        totals["leads_new"] += sum(1 for m in mapped for s in m.stored if s["new"])
        totals["unmapped"] += sum(1 for m in mapped if m.error)
        if len(rows) < batch:
            break  # rows arriving from now on belong to a later slot's run
        if time.monotonic() - started > settings.leads.drain_budget_s:
            async with session_scope() as session:
                more = f"{DRAIN_TASK}:more:{run_id or uuid.uuid4()}:{totals['batches']}"
                await enqueue(session, DRAIN_TASK, {}, key=more)
            totals["handed_on"] = 1
            break
    if totals["rows"]:
        log.info("lead inbox drained", **totals)
    return totals


async def sweep_inbox(*, settings: Settings | None = None) -> dict[str, int]:
    """The periodic safety net (`leads-inbox-sweep`): received rows not yet mapped (their
    scheduling was lost: a web process died between its commit and the enqueue) are drained
    now, by an ordinary `leads.drain_inbox` run."""
    async with session_scope() as session:
        pending = await LeadsRepository(session).count_pending_inbox()
    if pending:
        await schedule_drain(None, settings=settings)
    return {"pending": pending}


async def remap_unmapped(session: AsyncSession, advertiser_ids: list[str]) -> int:
    """Map again the inbox leads of these advertisers that arrived before any workspace had
    connected them (called when ad accounts are connected); the jobs start after commit."""
    ids = await LeadsRepository(session).unmapped_inbox(PLATFORM, advertiser_ids)
    for inbox_id in ids:  # a derived key: the first ingest's run is finished, this is a new one
        await enqueue(session, INGEST_TASK, {"inbox_id": str(inbox_id)})
    if ids:
        log.info("unmapped leads queued again", leads=len(ids))
    return len(ids)


# --- the leads API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    name: str | None
    phone: str | None
    email: str | None


def contact(lead: Lead, *, reveal: bool = False) -> Contact:
    """The lead's contact data: masked (``J***``, ``***78``, ``j***@e***``) unless revealed."""
    name, phone, email = _dec(lead.name_enc), _dec(lead.phone_enc), _dec(lead.email_enc)
    if reveal:
        return Contact(name, phone, email)
    return Contact(domain.mask_name(name), domain.mask_phone(phone), domain.mask_email(email))


async def list_leads(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    direction_id: uuid.UUID | None = None,
    status: str | None = None,
    account_id: uuid.UUID | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[tuple[Lead, str | None]]:
    """Newest first, with each lead's direction name; `limit` rows (ask one more to page)."""
    if status is not None and status not in domain.STATUSES:
        raise errors.InvalidInput(f"status must be one of {', '.join(domain.STATUSES)}", field="status")
    return await LeadsRepository(session).list_leads(
        workspace_id, direction_id=direction_id, status=status, account_id=account_id, after=after, limit=limit
    )


async def get_lead(session: AsyncSession, workspace_id: uuid.UUID, lead_id: uuid.UUID) -> tuple[Lead, str | None]:
    repo = LeadsRepository(session)
    lead = await repo.get_lead(workspace_id, lead_id)
    if lead is None:
        raise errors.NotFound("no such lead in this workspace")
    direction = await repo.direction_of(lead.direction_id)
    return lead, direction.name if direction else None


async def lead_events(session: AsyncSession, workspace_id: uuid.UUID, lead_ids: list[uuid.UUID]) -> list[LeadEvent]:
    return await LeadsRepository(session).events_of(workspace_id, lead_ids)


async def audit_reveal(session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, count: int) -> None:
    """Showing plaintext contact data is recorded (who, how many leads), never the data."""
    await audit.record(
        session,
        "ads.lead.revealed",
        workspace_id=workspace_id,
        actor_kind="user",
        actor_user_id=user_id,
        target_type="lead",
        details={"leads": count},
    )


def _pixel(direction_pixel: str | None, settings: Settings) -> str | None:
    """The direction's pixel, else the workspace-wide default (sandbox's in dev and tests)."""
    if direction_pixel:
        return direction_pixel
    try:
        return settings.credential("tiktok_pixel_code")
    except errors.ConfigurationError:  # production without a default pixel: the event fails, logged
        return None


async def set_status(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    lead_id: uuid.UUID,
    status: str,
    *,
    user_id: uuid.UUID | None = None,
    settings: Settings | None = None,
) -> tuple[Lead, str | None]:
    """Set a lead's status (`interested`, `qualified`, `scheduled`, `rejected`; else 422), audited.
    A status that carries a conversion event queues it once per lead: the events log's
    unique (lead, event) row and the job's deterministic key make a repeated PATCH, a
    concurrent one or a retried job send nothing more. The job starts after commit.
    Returns the lead (as updated) and its direction's name, so the caller reads neither again."""
    settings = settings or get_settings()
    domain.check_status(status)
    repo = LeadsRepository(session)
    lead = await repo.get_lead(workspace_id, lead_id, lock=True)  # serialises concurrent PATCHes
    if lead is None:
        raise errors.NotFound("no such lead in this workspace")
    before = lead.status
    if before != status:
        lead.status = status
        lead.status_changed_at = datetime.now(UTC)
        await audit.record(
            session,
            "ads.lead.status_changed",
            workspace_id=workspace_id,
            actor_kind="user" if user_id else "system",
            actor_user_id=user_id,
            target_type="lead",
            target_id=lead.id,
            details={"before": before, "after": status, "direction_id": str(lead.direction_id or "") or None},
        )
    direction = None
    name = domain.event_due(status, await repo.event_names(lead.id))
    if name is not None:
        direction = await repo.direction_of(lead.direction_id)
        event_row = await repo.add_event(
            {
                "workspace_id": workspace_id,
                "lead_id": lead.id,
                "platform": lead.platform,
                "event": name,
                "trigger_status": status,
                "event_id": event_id_for(LEAD_EVENT_SOURCE, lead.platform_lead_id, name),
                "event_source": "web",
                "event_source_id": _pixel(direction.pixel_id if direction else None, settings),
                "status": "queued",
            }
        )
        if event_row is not None:
            run = await enqueue(
                session,
                EVENT_TASK,
                {"event_log_id": str(event_row)},
                key=f"{EVENT_TASK}:{lead.id}:{name}",
                workspace_id=workspace_id,
            )
            await repo.set_event(event_row, run_id=run.run.id)
            log.info("lead event queued", lead=str(lead.id), lead_event=name, event_log=str(event_row))
    if direction is None:
        direction = await repo.direction_of(lead.direction_id)
    await session.flush()
    return lead, direction.name if direction else None


# --- conversion events (the leads.send_event job) ----------------------------------------------------


def _event_result(row: LeadEvent) -> dict[str, Any]:
    return {"event_log_id": str(row.id), "event": row.event, "status": row.status, "attempts": row.attempts}


async def send_event(
    ctx: Any, event_log_id: uuid.UUID, *, events: ConversionEvents, settings: Settings | None = None
) -> dict[str, Any]:
    """Send one logged conversion event as a **web** event with the direction's pixel:
    email/phone normalised and SHA-256 hashed, ``ttclid`` attached, the deterministic
    ``event_id``. The platform call runs inside ``ctx.once`` (a retried or recovered job
    never sends it twice; TikTok also deduplicates on pixel + event_id + event, so the
    lookup after a crash may safely send again). The log row records the request as sent
    (hashed, no plaintext), the answer, attempts and timing. Errors retrying cannot fix
    mark the row failed; others are retried by the runtime (backoff; the HTTP client's
    circuit breaker turns an unavailable platform into a delayed retry)."""
    settings = settings or get_settings()
    async with session_scope() as session:
        repo = LeadsRepository(session)
        row = await repo.get_event(event_log_id, lock=True)
        if row is None:
            raise errors.NotFound("no such lead event")
        if row.status == "sent":
            return _event_result(row)
        lead = await repo.lead_by_id(row.lead_id)
        if lead is None:
            raise errors.NotFound("the event's lead is gone")
        pixel = row.event_source_id
        event = ConversionEvent(
            event=row.event,
            event_time=row.created_at,  # when the status was set; stable across retries
            event_id=row.event_id,
            email=_dec(lead.email_enc),
            phone=_dec(lead.phone_enc),
            ttclid=lead.ttclid,
            lead_id=lead.platform_lead_id,
        )
        test_code = settings.leads.events_test_code
        attempts = row.attempts + 1
        started = row.started_at or datetime.now(UTC)
        try:
            if not pixel:
                raise errors.InvalidInput("the lead's direction has no pixel code", field="pixel_id")
            request = track_body(
                [event],
                event_source="web",
                event_source_id=pixel,
                test_event_code=test_code,
                default_region=settings.leads.phone_default_region,
            )
        except errors.InvalidInput as exc:
            await repo.set_event(row.id, status="failed", attempts=attempts, error=str(exc), started_at=started)
            log.warning("lead event not sendable", event_log=str(row.id), reason=exc.field)
            row = await repo.get_event(row.id)
            assert row is not None
            return _event_result(row)
        await repo.set_event(
            row.id, status="sending", attempts=attempts, request=request, started_at=started, run_id=ctx.run_id
        )
    assert pixel is not None

    async def act(_token: str) -> dict[str, Any]:
        result = await events.track([event], event_source="web", event_source_id=pixel, test_event_code=test_code)
        return {"code": 0, "sent": result.sent, "request_ids": result.request_ids}

    began = time.monotonic()
    try:
        answer = await ctx.once(f"leads:event:{event_log_id}", act, lookup=act)
    except errors.ReelflowError as exc:
        elapsed = int((time.monotonic() - began) * 1000)
        final = _final(exc)
        async with session_scope() as session:
            repo = LeadsRepository(session)
            await repo.set_event(
                event_log_id,
                status="failed" if final else "sending",
                error=translate(exc),
                response={"error": translate(exc), "vendor_code": exc.extra.get("vendor_code")},
                duration_ms=elapsed,
            )
        log.warning("lead event failed", event_log=str(event_log_id), final=final, error=type(exc).__name__)
        if not final:
            raise
        return {"event_log_id": str(event_log_id), "status": "failed", "attempts": attempts}
    elapsed = int((time.monotonic() - began) * 1000)
    async with session_scope() as session:
        repo = LeadsRepository(session)
        await repo.set_event(
            event_log_id, status="sent", response=answer, error=None, sent_at=datetime.now(UTC), duration_ms=elapsed
        )
        row = await repo.get_event(event_log_id)
        assert row is not None
    log.info("lead event sent", event_log=str(event_log_id), lead_event=row.event, duration_ms=elapsed)
    return _event_result(row)


# --- instant pages ----------------------------------------------------------------------------------


async def instant_pages(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    ads_factory: AdsFactory,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """The ad account's instant pages (lead forms) from the Business API, cached in Redis for
    `REELFLOW_LEADS__INSTANT_PAGES_CACHE_TTL_S` (shared by every web process)."""
    settings = settings or get_settings()
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, account_id)
    key = f"instant_pages:{account.id}"
    cached = await cache.get_json(key)
    if isinstance(cached, list):
        return cached
    platform = await platform_for(repo, account, ads_factory)
    pages = [msgspec.to_builtins(p) for p in await platform.get_instant_pages(account.advertiser_id)]
    await cache.set_json(key, pages, settings.leads.instant_pages_cache_ttl_s)
    return pages
