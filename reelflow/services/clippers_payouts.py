"""Clipper programmes: balances, payouts (clippers request, owners/admins decide), per-clipper
analytics and the ledger as CSV.

Every payout and every change of its state is written to the audit log (`services.audit`) in
the same transaction: `clippers.payout.requested|approved|paid|rejected`, with the amount,
currency, clipper, the state before and after, and the external reference or reason.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import clippers as domain
from reelflow.errors import Conflict, Forbidden, InvalidInput, NotFound
from reelflow.services import audit
from reelflow.services.clippers_base import is_manager, require_manager
from reelflow.settings import get_settings
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clippers import LedgerEntry, Payout
from reelflow.storage.repositories.clippers import ClippersRepository
from reelflow.storage.repositories.identity import Principal


async def balance(
    session: AsyncSession, workspace_id: uuid.UUID, clipper_id: uuid.UUID, currency: str = "USD"
) -> domain.Balance:
    row = await ClippersRepository(session).balance(workspace_id, clipper_id, currency)
    return domain.Balance(credited=row.credited, paid=row.paid, pending=row.pending)


async def request_payout(session: AsyncSession, principal: Principal, amount_minor: int, currency: str) -> Payout:
    if principal.role != "clipper":
        raise Forbidden("only clippers request payouts")
    currency = domain.check_currency(currency)
    repo = ClippersRepository(session)
    # Serialise this clipper's payout requests: a concurrent one waits here and then sees
    # the first one's pending amount.
    if await repo.lock_member(principal.workspace_id, principal.user_id) is None:
        raise NotFound("not a member of this workspace")
    current = await balance(session, principal.workspace_id, principal.user_id, currency)
    domain.check_payout_request(amount_minor, current, get_settings().clippers.payout_minimum_minor)
    payout = await repo.add(
        Payout(
            workspace_id=principal.workspace_id,
            clipper_id=principal.user_id,
            amount_minor=amount_minor,
            currency=currency,
            status="requested",
        )
    )
    await _audit(session, principal, payout, "requested", before=None, available_before=current.available)
    return payout


async def _audit(
    session: AsyncSession,
    principal: Principal,
    payout: Payout,
    action: str,
    *,
    before: str | None,
    **details: Any,
) -> None:
    """One audit entry for a payout's creation or state change, in the caller's transaction."""
    await audit.record(
        session,
        f"clippers.payout.{action}",
        actor=principal,
        target_type="clipper_payout",
        target_id=payout.id,
        details={
            "clipper_id": str(payout.clipper_id),
            "amount_minor": payout.amount_minor,
            "currency": payout.currency,
            "status_before": before,
            "status_after": payout.status,
            **details,
        },
    )


async def _payout_for_update(session: AsyncSession, principal: Principal, payout_id: uuid.UUID) -> Payout:
    require_manager(principal)
    payout = await ClippersRepository(session).get_payout(principal.workspace_id, payout_id, for_update=True)
    if payout is None:
        raise NotFound("no such payout in this workspace")
    return payout


async def approve_payout(session: AsyncSession, principal: Principal, payout_id: uuid.UUID) -> Payout:
    payout = await _payout_for_update(session, principal, payout_id)
    if payout.status != "requested":
        raise Conflict(f"the payout is {payout.status}")
    payout.status, payout.decided_by, payout.updated_at = "approved", principal.user_id, utcnow()
    await session.flush()
    await _audit(session, principal, payout, "approved", before="requested")
    return payout


async def mark_payout_paid(
    session: AsyncSession, principal: Principal, payout_id: uuid.UUID, external_reference: str
) -> Payout:
    payout = await _payout_for_update(session, principal, payout_id)
    if not external_reference.strip():
        raise InvalidInput("the payment's external reference", field="external_reference")
    if payout.status == "paid":
        if payout.external_reference == external_reference.strip():
            return payout  # the same request again: nothing paid twice
        raise Conflict("the payout is already paid")
    if payout.status != "approved":
        raise Conflict(f"the payout is {payout.status}; approve it first")
    payout.status, payout.external_reference = "paid", external_reference.strip()
    payout.paid_at = payout.updated_at = utcnow()
    payout.decided_by = principal.user_id
    session.add(
        LedgerEntry(
            workspace_id=payout.workspace_id,
            campaign_id=None,
            clipper_id=payout.clipper_id,
            payout_id=payout.id,
            kind="payout",
            amount_minor=payout.amount_minor,
            currency=payout.currency,
        )
    )
    await session.flush()
    await _audit(session, principal, payout, "paid", before="approved", external_reference=payout.external_reference)
    return payout


async def reject_payout(session: AsyncSession, principal: Principal, payout_id: uuid.UUID, reason: str) -> Payout:
    payout = await _payout_for_update(session, principal, payout_id)
    if not reason.strip():
        raise InvalidInput("a reason", field="reason")
    if payout.status not in ("requested", "approved"):
        raise Conflict(f"the payout is {payout.status}")
    before = payout.status
    payout.status, payout.reason, payout.decided_by, payout.updated_at = (
        "rejected",
        reason.strip(),
        principal.user_id,
        utcnow(),
    )
    await session.flush()
    await _audit(session, principal, payout, "rejected", before=before, reason=payout.reason)
    return payout


async def list_payouts(session: AsyncSession, principal: Principal) -> list[Payout]:
    clipper = None if is_manager(principal) else principal.user_id
    return await ClippersRepository(session).list_payouts(principal.workspace_id, clipper)


async def clipper_analytics(
    session: AsyncSession, principal: Principal, clipper_id: uuid.UUID, currency: str = "USD"
) -> dict[str, Any]:
    if not is_manager(principal) and clipper_id != principal.user_id:
        raise NotFound("no such clipper in this workspace")
    currency = domain.check_currency(currency)
    bal = await balance(session, principal.workspace_id, clipper_id, currency)
    views = await ClippersRepository(session).clipper_views(principal.workspace_id, clipper_id)
    return {
        "clipper_id": str(clipper_id),
        "currency": currency,
        "views": views,
        "earned_minor": bal.credited,
        "pending_minor": bal.pending,
        "paid_minor": bal.paid,
        "available_minor": bal.available,
    }


LEDGER_COLUMNS = (
    "created_at",
    "kind",
    "campaign_id",
    "clipper_id",
    "submission_id",
    "payout_id",
    "amount_minor",
    "currency",
    "views",
)


async def ledger_csv(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID | None = None) -> str:
    require_manager(principal)
    rows = await ClippersRepository(session).ledger(principal.workspace_id, campaign_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LEDGER_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.created_at.isoformat(),
                r.kind,
                r.campaign_id or "",
                r.clipper_id,
                r.submission_id or "",
                r.payout_id or "",
                r.amount_minor,
                r.currency,
                "" if r.views is None else r.views,
            ]
        )
    return out.getvalue()
