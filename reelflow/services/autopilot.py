"""Ads autopilot use cases: one run per ad account (collect if stale → score → decide → act
or only report → execution record and report → Telegram), the hourly selection, the
manual start, and the reading API (the account's state and the decision: `autopilot_decide`).

The platform (`AdsFactory`), the Telegram sender (`MessageSender`) and the optional LLM
(`ActionProposer`) are handed in from the composition point; nothing here builds an adapter.

At most once: the run's execution record is keyed by its runtime run, so a retried or
recovered run resumes it; once the decision is recorded it is never re-made, and each action
is an `AdAction` with a deterministic idempotency key applied through `perform_action`
(`ctx.once` around the platform call): a crash between an action and its record never
applies it twice. The Telegram message is sent under `ctx.once` too.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import ActionProposer, MessageSender
from reelflow.domain import autopilot as domain
from reelflow.errors import Conflict, InvalidInput, NotFound, ReelflowError
from reelflow.queue import EnqueueResult, InlineContext, enqueue
from reelflow.services.ads_actions import perform_actions
from reelflow.services.ads_base import (
    AdsFactory,
    _account_or_404,
    _final,
    account_today,
    translate,
)
from reelflow.services.ads_launches import LaunchInput, start_launch
from reelflow.services.ads_metrics import collect_account_metrics
from reelflow.services.autopilot_decide import decide, load_state, thresholds, verdict_counts
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.ads import AdAccount
from reelflow.storage.models.autopilot import AutopilotExecution, AutopilotReport
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.ads import AdsRepository
from reelflow.storage.repositories.autopilot import AutopilotRepository

TASK = "autopilot.run_account"
PLATFORMS = ("tiktok", "facebook")
_SCORES_KEPT = 50  # ad group scores kept in an execution's inputs summary (worst first)


def hour_slot(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H")


# --- selection and starting ----------------------------------------------------------------------------


async def due_accounts(session: AsyncSession, limit: int = 10_000) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(account id, workspace id) of every connected ad account with autopilot or reports on."""
    return [(a.id, a.workspace_id) for a in await AutopilotRepository(session).due_accounts(limit)]


async def submit_round(now: datetime | None = None, *, limit: int = 10_000) -> list[str]:
    """The hourly round: one `autopilot.run_account` job per due account, keyed by account and
    hour slot, so a re-run of the flow in the same hour never starts a second run."""
    slot = hour_slot(now or utcnow())
    runs: list[str] = []
    async with session_scope() as session:
        for account_id, workspace_id in await due_accounts(session, limit):
            result = await enqueue(
                session,
                TASK,
                {"account_id": str(account_id), "trigger": "schedule"},
                key=f"{TASK}:{account_id}:{slot}",
                workspace_id=workspace_id,
            )
            runs.append(str(result.run.id))
    return runs


async def start_run(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: uuid.UUID, *, key: str | None = None
) -> EnqueueResult:
    """Run the autopilot for one account now (the same job as the hourly one). Acts only when
    the account's `autopilot` is on; otherwise it reports."""
    account = await _account_or_404(AdsRepository(session), workspace_id, account_id)
    if account.status == "disconnected" or account.connection_id is None:
        raise Conflict("the ad account is disconnected: connect it again first", field="account_id")
    return await enqueue(
        session, TASK, {"account_id": str(account.id), "trigger": "manual"}, key=key, workspace_id=workspace_id
    )


# --- reading -------------------------------------------------------------------------------------------


def _check_platform(platform: str | None) -> str | None:
    if platform is not None and platform not in PLATFORMS:
        raise InvalidInput("platform must be tiktok or facebook", field="platform")
    return platform


async def list_executions(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    platform: str | None,
    account_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[AutopilotExecution]:
    return await AutopilotRepository(session).list_executions(
        workspace_id, platform=_check_platform(platform), account_id=account_id, after=after, limit=limit
    )


async def get_execution(session: AsyncSession, workspace_id: uuid.UUID, execution_id: uuid.UUID) -> AutopilotExecution:
    row = await AutopilotRepository(session).get_execution(workspace_id, execution_id)
    if row is None:
        raise NotFound("no such autopilot execution in this workspace")
    return row


async def list_reports(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    platform: str | None,
    account_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[AutopilotReport]:
    return await AutopilotRepository(session).list_reports(
        workspace_id, platform=_check_platform(platform), account_id=account_id, after=after, limit=limit
    )


# --- acting --------------------------------------------------------------------------------------------


async def _launch_fresh(account: AdAccount, action: dict[str, Any], key: str) -> dict[str, Any]:
    """`create_adgroup`: a new ad group in the direction with its idle creatives (best first),
    through the campaign builder (its own workflow job). Recorded as an action, once per key."""
    async with session_scope() as session:
        repo = AdsRepository(session)
        params = {"direction_id": action["target_id"]}
        row, created = await repo.add_action(
            account.workspace_id,
            {
                "ad_account_id": account.id,
                "kind": "create_adgroup",
                "target_id": None,
                "params": params,
                "idempotency_key": key,
                "requested_by": "autopilot",
                "status": "running",
            },
        )
        if not created:
            return {"action_id": str(row.id), "status": row.status, "answer": row.answer, "error": row.error}
        try:
            budget = action.get("params", {}).get("daily_budget_minor")
            launch, run = await start_launch(
                session,
                account.workspace_id,
                None,
                LaunchInput(
                    direction_id=uuid.UUID(str(action["target_id"])),
                    mode="auto",
                    adgroup_mode="create_new",
                    daily_budget_minor=int(budget) if isinstance(budget, int) and budget > 0 else None,
                ),
            )
        except (Conflict, InvalidInput, NotFound) as exc:
            row.status, row.error, row.finished_at = "failed", translate(exc), utcnow()
            row.answer = {"error": translate(exc)}
            await session.flush()
            return {"action_id": str(row.id), "status": "failed", "answer": row.answer, "error": row.error}
        row.params = {**params, "launch_id": str(launch.id)}
        row.status, row.run_id, row.finished_at = "succeeded", run.run.id, utcnow()
        row.answer = {"launch_id": str(launch.id), "run_id": str(run.run.id), "creative_ids": launch.creative_ids}
        await session.flush()
        return {"action_id": str(row.id), "status": "succeeded", "answer": row.answer, "error": None}


async def apply_actions(
    ctx: Any,
    execution_id: uuid.UUID,
    account: AdAccount,
    actions: Sequence[dict[str, Any]],
    *,
    ads_factory: AdsFactory,
    known: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Each proposed action as an `AdAction` (requested by the autopilot, idempotency key
    `autopilot:{execution}:{index}`), applied through the ads actions path together
    (`perform_actions`: state before, the status changes of one kind in one platform call
    under one `ctx.once`, each budget change under its own, one read of the state after,
    answer and audit per action). Launches (`create_adgroup`) start their own workflow."""
    applied: list[dict[str, Any] | None] = [None] * len(actions)
    batch: list[tuple[int, uuid.UUID]] = []
    async with session_scope() as session:
        repo = AdsRepository(session)
        for index, action in enumerate(actions):
            kind, target = str(action["kind"]), str(action["target_id"])
            if kind == "create_adgroup":
                continue
            params: dict[str, Any] = {}
            if kind == "update_adgroup_budget":
                params["budget_minor"] = int(action["params"]["daily_budget_minor"])
            row, _ = await repo.add_action(
                account.workspace_id,
                {
                    "ad_account_id": account.id,
                    "kind": kind,
                    "target_id": target,
                    "params": params,
                    "idempotency_key": f"autopilot:{execution_id}:{index}",
                    "requested_by": "autopilot",
                    "status": "queued",
                    "run_id": None if ctx.run_id.int == 0 else ctx.run_id,
                },
            )
            batch.append((index, row.id))
    if batch:
        outcomes = await perform_actions(ctx, [a for _, a in batch], ads_factory=ads_factory, known_before=known)
        for index, action_id in batch:
            action = actions[index]
            applied[index] = {"kind": str(action["kind"]), "target_id": str(action["target_id"]), **outcomes[action_id]}
    for index, action in enumerate(actions):
        if str(action["kind"]) == "create_adgroup":
            outcome = await _launch_fresh(account, action, f"autopilot:{execution_id}:{index}")
            applied[index] = {"kind": "create_adgroup", "target_id": str(action["target_id"]), **outcome}
    done = [a for a in applied if a is not None]
    async with session_scope() as session:
        await AutopilotRepository(session).set_execution(execution_id, applied=done)
    return done


def _outcome_text(entry: dict[str, Any]) -> str:
    if entry.get("status") == "succeeded":
        answer = entry.get("answer") or {}
        if "launch_id" in answer:
            return f"launch {answer['launch_id']} started"
        return "done"
    return f"{entry.get('status')}: {entry.get('error') or ''}".strip().rstrip(":")


# --- one run -------------------------------------------------------------------------------------------


async def _execution(ctx: Any, account: AdAccount, trigger: str) -> AutopilotExecution:
    values = {
        "workspace_id": account.workspace_id,
        "ad_account_id": account.id,
        "platform": account.platform,
        "mode": "act" if account.autopilot else "report",
        "trigger": trigger,
        "status": "running",
        "proposer": "deterministic",
    }
    async with session_scope() as session:
        repo = AutopilotRepository(session)
        if ctx.run_id.int == 0:  # inline (benchmarks, scripts): a new record each time
            return await repo.add_execution(values)
        return await repo.start_execution({**values, "run_id": ctx.run_id})


async def run_account(
    ctx: Any,
    account_id: uuid.UUID,
    *,
    ads_factory: AdsFactory,
    telegram: MessageSender | None,
    llm: ActionProposer | None = None,
    trigger: str = "schedule",
    now: datetime | None = None,
) -> dict[str, Any]:
    """One autopilot run for one ad account (see the module docstring)."""
    settings = get_settings()
    t = thresholds(settings)
    async with session_scope() as session:
        account = await AdsRepository(session).account_by_id(account_id)
        if account is None or account.status == "disconnected" or account.connection_id is None:
            return {"account_id": str(account_id), "skipped": True}
        session.expunge(account)
    execution = await _execution(ctx, account, trigger)
    if execution.status != "running":
        return _summary(execution)
    started = time.monotonic()
    errors = list(execution.errors or [])
    now = now or utcnow()
    today = account_today(account, now)
    act = execution.mode == "act"
    try:
        known: dict[str, dict[str, Any]] | None = None  # None on a resumed run: read again
        if not execution.decided:
            inputs: dict[str, Any] = {}
            stale = account.last_collected_at is None or now - account.last_collected_at > timedelta(
                minutes=settings.autopilot.metrics_stale_minutes
            )
            if stale:
                collected = await collect_account_metrics(account.id, ads_factory=ads_factory, today=today)
                inputs["collected"] = {k: v for k, v in collected.items() if k != "account_id"}
                if collected.get("error"):
                    errors.append(f"metrics collection failed, deciding on the stored history: {collected['error']}")
            state = await load_state(account, ads_factory=ads_factory, today=today, now=now, t=t)
            decision, proposer, llm_errors = await decide(state.groups, today=today, now=now, t=t, llm=llm)
            known = state.known_before([a.target_id for a in decision.actions])
            errors.extend(llm_errors)
            scores = sorted((h for h in decision.healths if h.level == "adgroup"), key=lambda h: (h.score, h.entity_id))
            inputs |= state.inputs | {
                "adgroup_verdicts": verdict_counts(decision.healths, "adgroup"),
                "ad_verdicts": verdict_counts(decision.healths, "ad"),
                "adgroup_scores": [
                    {
                        "adgroup_id": h.entity_id,
                        "verdict": h.verdict,
                        "score": h.score,
                        "cpl_ratio": h.figures()["cpl_ratio"],
                    }
                    for h in scores[:_SCORES_KEPT]
                ],
                "thresholds": {
                    "max_budget_change_pct": t.max_budget_change_pct,
                    "max_actions_per_run": t.max_actions_per_run,
                    "human_cooldown_hours": t.human_cooldown_hours,
                },
            }
            async with session_scope() as session:
                await AutopilotRepository(session).set_execution(
                    execution.id,
                    inputs=inputs,
                    proposer=proposer,
                    proposed=[a.as_dict() for a in decision.actions],
                    skipped=[{**s.action.as_dict(), "why": s.why} for s in decision.skipped],
                    errors=errors,
                    decided=True,
                )
            execution = await _reload(execution.id)
        applied: list[dict[str, Any]] = []
        if act and execution.proposed:
            applied = await apply_actions(
                ctx, execution.id, account, execution.proposed, ads_factory=ads_factory, known=known
            )
            errors.extend(
                f"{a['kind']} {a['target_id']}: {a.get('error')}" for a in applied if a.get("status") != "succeeded"
            )
    except ReelflowError as exc:
        if not _final(exc):
            raise  # the runtime retries; the next attempt resumes this record
        errors.append(translate(exc))
        return await _finish(execution.id, account, act, errors, started, telegram, ctx, failed=True)
    return await _finish(execution.id, account, act, errors, started, telegram, ctx, failed=False)


async def _reload(execution_id: uuid.UUID) -> AutopilotExecution:
    async with session_scope() as session:
        row = await AutopilotRepository(session).execution_by_id(execution_id)
        assert row is not None
        session.expunge(row)
        return row


def _decision_of(execution: AutopilotExecution) -> domain.Decision:
    def action(d: dict[str, Any]) -> domain.ProposedAction:
        return domain.ProposedAction(
            str(d["kind"]),
            str(d["target_id"]),
            dict(d.get("params") or {}),
            str(d.get("reason") or ""),
            dict(d.get("figures") or {}),
        )

    return domain.Decision(
        actions=tuple(action(a) for a in execution.proposed or []),
        skipped=tuple(domain.Skipped(action(s), str(s.get("why", ""))) for s in execution.skipped or []),
        healths=(),
    )


async def _finish(
    execution_id: uuid.UUID,
    account: AdAccount,
    act: bool,
    errors: list[str],
    started: float,
    telegram: MessageSender | None,
    ctx: Any,
    *,
    failed: bool,
) -> dict[str, Any]:
    """The report (rendered from the recorded decision and outcomes), the Telegram message
    (once), and the execution's final status and duration."""
    execution = await _reload(execution_id)
    outcomes = {a["target_id"]: _outcome_text(a) for a in execution.applied or []}
    text = domain.render_report(
        account_name=account.name,
        platform=account.platform,
        act=act,
        decision=_decision_of(execution),
        outcomes=outcomes,
        verdicts=(execution.inputs or {}).get("adgroup_verdicts", {}),
    )
    if failed or errors:
        text += "\n" + "\n".join(f"⚠ {_escape(e)}" for e in errors[:5])
    settings = get_settings()
    chat_id = account.telegram_chat_id or settings.autopilot.telegram_chat_id
    async with session_scope() as session:
        report = await AutopilotRepository(session).upsert_report(
            {
                "workspace_id": account.workspace_id,
                "ad_account_id": account.id,
                "execution_id": execution_id,
                "platform": account.platform,
                "mode": execution.mode,
                "text": text,
                "telegram_chat_id": chat_id if telegram is not None else None,
                "telegram_status": "pending" if chat_id and telegram is not None else "not_configured",
            }
        )
        report_id, telegram_status = report.id, report.telegram_status
    if chat_id and telegram is not None and telegram_status != "sent":
        await _send(ctx, report_id, execution_id, chat_id, text, telegram)
    duration_ms = int((time.monotonic() - started) * 1000)
    async with session_scope() as session:
        await AutopilotRepository(session).set_execution(
            execution_id,
            status="failed" if failed else "succeeded",
            errors=errors,
            duration_ms=(execution.duration_ms or 0) + duration_ms,
            finished_at=utcnow(),
        )
    return _summary(await _reload(execution_id))


def _escape(text: str) -> str:
    from html import escape

    return escape(text)


async def _send(
    ctx: Any, report_id: uuid.UUID, execution_id: uuid.UUID, chat_id: str, text: str, telegram: MessageSender
) -> None:
    async def send(_token: str) -> list[int]:
        return await telegram.send_message(chat_id, text)

    try:
        ids = await ctx.once(f"autopilot:telegram:{execution_id}", send)
    except ReelflowError as exc:
        async with session_scope() as session:
            await AutopilotRepository(session).set_report(
                report_id, telegram_status="failed", telegram_error=translate(exc)[:2000]
            )
        return
    async with session_scope() as session:
        await AutopilotRepository(session).set_report(
            report_id, telegram_status="sent", telegram_message_ids=list(ids), telegram_error=None, sent_at=utcnow()
        )


def _summary(execution: AutopilotExecution) -> dict[str, Any]:
    applied = execution.applied or []
    return {
        "execution_id": str(execution.id),
        "account_id": str(execution.ad_account_id),
        "mode": execution.mode,
        "status": execution.status,
        "proposer": execution.proposer,
        "proposed": len(execution.proposed or []),
        "applied": sum(1 for a in applied if a.get("status") == "succeeded"),
        "errors": len(execution.errors or []),
    }


async def run_round(
    account_ids: Sequence[uuid.UUID] | None = None,
    *,
    ads_factory: AdsFactory,
    telegram: MessageSender | None,
    llm: ActionProposer | None = None,
    concurrency: int | None = None,
) -> list[dict[str, Any]]:
    """One round in this process (benchmarks, scripts): every due account (or those given),
    `round_concurrency` at a time, each with its own inline context; one account's failure
    is its own."""
    settings = get_settings()
    if account_ids is None:
        async with session_scope() as session:
            account_ids = [a for a, _ in await due_accounts(session)]
    semaphore = asyncio.Semaphore(concurrency or settings.autopilot.round_concurrency)

    async def one(account_id: uuid.UUID) -> dict[str, Any]:
        async with semaphore:
            try:
                return await run_account(
                    InlineContext(), account_id, ads_factory=ads_factory, telegram=telegram, llm=llm, trigger="manual"
                )
            except Exception as exc:  # noqa: BLE001 (isolation: one account's error is its own)
                return {"account_id": str(account_id), "error": f"{type(exc).__name__}: {exc}"}

    return list(await asyncio.gather(*(one(a) for a in account_ids)))
