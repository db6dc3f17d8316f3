"""Ads use cases: actions on the platform's campaigns, ad groups and ads (pause, resume, budget)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.tiktok.business_specs import AdsPlatform, StatusChange
from reelflow.domain import ads as domain
from reelflow.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ReelflowError,
)
from reelflow.queue import EnqueueResult, enqueue
from reelflow.services import audit
from reelflow.services.ads_base import AdsFactory, _account_or_404, _final, _usable, platform_for, translate
from reelflow.services.ads_launches import LaunchInput, start_launch
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.ads import AdAccount, AdAction
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.ads import AdsRepository

# --- actions -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionInput:
    ad_account_id: uuid.UUID
    kind: str
    target_id: str | None = None
    budget_minor: int | None = None
    direction_id: uuid.UUID | None = None
    creative_ids: Sequence[uuid.UUID] = ()


_STATUS_ACTIONS: dict[str, tuple[str, StatusChange]] = {
    "pause_campaign": ("campaign", "DISABLE"),
    "resume_campaign": ("campaign", "ENABLE"),
    "pause_adgroup": ("adgroup", "DISABLE"),
    "resume_adgroup": ("adgroup", "ENABLE"),
    "pause_ad": ("ad", "DISABLE"),
    "resume_ad": ("ad", "ENABLE"),
}


async def request_action(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: ActionInput,
    *,
    idempotency_key: str | None = None,
    requested_by: str = "user",
    user_id: uuid.UUID | None = None,
) -> tuple[AdAction, EnqueueResult | None]:
    """Validate and record an action, and start its job. The same idempotency key again
    returns the earlier action (no second job); with other parameters it is a 409."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, data.ad_account_id)
    if data.kind not in domain.ACTION_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(domain.ACTION_KINDS)}", field="kind")
    params: dict[str, Any] = {}
    if data.kind == "create_adgroup":
        if data.direction_id is None:
            raise InvalidInput("create_adgroup needs direction_id", field="direction_id")
        if not data.creative_ids:
            raise InvalidInput("create_adgroup needs creative_ids", field="creative_ids")
        params = {"direction_id": str(data.direction_id), "creative_ids": [str(c) for c in data.creative_ids]}
    elif not data.target_id:
        raise InvalidInput("target_id is required", field="target_id")
    if data.kind == "update_adgroup_budget":
        if data.budget_minor is None:
            raise InvalidInput("budget_minor is required", field="budget_minor")
        params["budget_minor"] = data.budget_minor
    if idempotency_key:
        existing, created = await repo.add_action(
            workspace_id,
            {
                "ad_account_id": account.id,
                "kind": data.kind,
                "target_id": data.target_id,
                "params": params,
                "idempotency_key": idempotency_key,
                "requested_by": requested_by,
                "requested_by_user": user_id,
                "status": "queued",
            },
        )
        if not created:
            same = (existing.kind, existing.target_id, existing.params, existing.ad_account_id) == (
                data.kind,
                data.target_id,
                params,
                account.id,
            )
            if not same:
                raise Conflict("this Idempotency-Key was used for another action", field="Idempotency-Key")
            return existing, None
        action = existing
        await session.flush()
        try:
            await _check_action(repo, account, action, data)
        except ReelflowError:
            raise
    else:
        action, _ = await repo.add_action(
            workspace_id,
            {
                "ad_account_id": account.id,
                "kind": data.kind,
                "target_id": data.target_id,
                "params": params,
                "idempotency_key": None,
                "requested_by": requested_by,
                "requested_by_user": user_id,
                "status": "queued",
            },
        )
        await _check_action(repo, account, action, data)
    if data.kind == "create_adgroup":
        assert data.direction_id is not None
        launch, _ = await start_launch(
            session,
            workspace_id,
            user_id,
            LaunchInput(
                direction_id=data.direction_id, mode="manual", creative_ids=data.creative_ids, adgroup_mode="create_new"
            ),
        )
        action.params = {**params, "launch_id": str(launch.id)}
    result = await enqueue(
        session, "ads.action", {"action_id": str(action.id)}, key=f"ads.action:{action.id}", workspace_id=workspace_id
    )
    action.run_id = result.run.id
    await session.flush()
    return action, result


async def _check_action(repo: AdsRepository, account: AdAccount, action: AdAction, data: ActionInput) -> None:
    _usable(account)
    if data.kind == "update_adgroup_budget":
        assert data.budget_minor is not None and data.target_id is not None
        current = None
        for direction in await repo.list_directions(account.workspace_id, account_id=account.id):
            for row in await repo.direction_adgroups(direction.id):
                if row.tiktok_adgroup_id == data.target_id:
                    current = row.daily_budget_minor
        settings = get_settings()
        day_start = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
        changes = await repo.budget_changes_since(account.id, data.target_id, day_start) - 1  # minus this one
        domain.check_budget_change(
            current,
            data.budget_minor,
            account.currency,
            changes_today=max(0, changes),
            per_day=settings.ads.budget_changes_per_day,
            max_ratio=settings.ads.budget_change_max_ratio,
        )


async def get_action(session: AsyncSession, workspace_id: uuid.UUID, action_id: uuid.UUID) -> AdAction:
    action = await AdsRepository(session).get_action(workspace_id, action_id)
    if action is None:
        raise NotFound("no such action in this workspace")
    return action


async def list_actions(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    account_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[AdAction]:
    """The workspace's actions, newest first (`after`: the (created_at, id) of the last one seen)."""
    return await AdsRepository(session).list_actions(workspace_id, account_id=account_id, after=after, limit=limit)


async def _entity_state(platform: AdsPlatform, advertiser_id: str, level: str, target: str) -> dict[str, Any] | None:
    if level == "campaign":
        campaigns = await platform.get_campaigns(advertiser_id, [target])
        return msgspec.to_builtins(campaigns[0]) if campaigns else None
    if level == "adgroup":
        groups = await platform.get_adgroups(advertiser_id, adgroup_ids=[target])
        return msgspec.to_builtins(groups[0]) if groups else None
    ads = await platform.get_ads(advertiser_id, ad_ids=[target])
    return msgspec.to_builtins(ads[0]) if ads else None


async def perform_action(
    ctx: Any, action_id: uuid.UUID, *, ads_factory: AdsFactory, known_before: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The action job: read the state before, act once, read it after; all recorded on the
    action (its audit). Refused for a disconnected account. `known_before`: the target's
    state as the caller read it from the platform moments ago (the autopilot's), instead of
    reading it again."""
    async with session_scope() as session:
        repo = AdsRepository(session)
        action = await repo.action_by_id(action_id)
        if action is None:
            raise NotFound("no such action")
        if action.status in ("succeeded", "failed"):
            return _action_result(action)
        account = await repo.account_by_id(action.ad_account_id)
        assert account is not None
        try:
            platform = await platform_for(repo, account, ads_factory)
        except ReelflowError as exc:
            await repo.set_action(action.id, status="failed", error=translate(exc), finished_at=utcnow())
            return _action_result(await _reload_action(repo, action.id))
        await repo.set_action(action.id, status="running")
        kind, target, params, advertiser_id = action.kind, action.target_id, dict(action.params), account.advertiser_id
        account_id = account.id
    try:
        before: dict[str, Any] | None = None
        after: dict[str, Any] | None = None
        answer: dict[str, Any]
        if kind == "create_adgroup":
            [answer] = await ctx.run_children([("ads.launch", {"launch_id": params["launch_id"]})])
        elif kind == "get_campaign_status":
            assert target is not None
            before = await _entity_state(platform, advertiser_id, "campaign", target)
            if before is None:
                raise NotFound(f"campaign {target} does not exist")
            answer = {
                "operation_status": before.get("operation_status"),
                "secondary_status": before.get("secondary_status"),
            }
            after = before
        elif kind in _STATUS_ACTIONS:
            assert target is not None
            level, status = _STATUS_ACTIONS[kind]
            setters: dict[str, Callable[[str, Sequence[str], StatusChange], Awaitable[dict[str, str]]]] = {
                "campaign": platform.set_campaign_status,
                "adgroup": platform.set_adgroup_status,
                "ad": platform.set_ad_status,
            }
            setter = setters[level]
            before = known_before or await _entity_state(platform, advertiser_id, level, target)
            if before is None:
                raise NotFound(f"{level} {target} does not exist")

            async def act(_token: str) -> dict[str, Any]:
                return {"confirmed": await setter(advertiser_id, [target], status)}

            answer = await ctx.once(f"ads:action:{action_id}", act, lookup=act)
            after = await _entity_state(platform, advertiser_id, level, target)
            async with session_scope() as session:
                repo = AdsRepository(session)
                if level == "ad":
                    await repo.set_ad_status(account_id, [target], status)
        else:  # update_adgroup_budget
            assert target is not None
            before = known_before or await _entity_state(platform, advertiser_id, "adgroup", target)
            if before is None:
                raise NotFound(f"ad group {target} does not exist")
            budget = int(params["budget_minor"])

            async def change(_token: str) -> dict[str, Any]:
                changed = await platform.update_adgroup(advertiser_id, target, budget_minor=budget)
                return {"changed": changed, "budget_minor": budget}

            answer = await ctx.once(f"ads:action:{action_id}", change, lookup=change)
            after = await _entity_state(platform, advertiser_id, "adgroup", target)
            async with session_scope() as session:
                await AdsRepository(session).set_adgroup_budget(target, budget)
    except ReelflowError as exc:
        if not _final(exc):
            raise
        async with session_scope() as session:
            repo = AdsRepository(session)
            await repo.set_action(
                action_id,
                status="failed",
                error=translate(exc),
                answer={"error": translate(exc), "vendor_code": exc.extra.get("vendor_code")},
                finished_at=utcnow(),
            )
            return _action_result(await _reload_action(repo, action_id))
    async with session_scope() as session:
        repo = AdsRepository(session)
        await repo.set_action(
            action_id, status="succeeded", before=before, after=after, answer=answer, error=None, finished_at=utcnow()
        )
        return _action_result(await _reload_action(repo, action_id))


async def _entity_states(
    platform: AdsPlatform, advertiser_id: str, level: str, targets: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The platform's state of several entities of one level, in one read (a filtered list)."""
    if not targets:
        return {}
    wanted = list(dict.fromkeys(targets))
    items: Sequence[Any]
    if level == "campaign":
        items = await platform.get_campaigns(advertiser_id, wanted)
        return {c.campaign_id: msgspec.to_builtins(c) for c in items}
    if level == "adgroup":
        items = await platform.get_adgroups(advertiser_id, adgroup_ids=wanted)
        return {g.adgroup_id: msgspec.to_builtins(g) for g in items}
    items = await platform.get_ads(advertiser_id, ad_ids=wanted)
    return {a.ad_id: msgspec.to_builtins(a) for a in items}


def _level(kind: str) -> str:
    return _STATUS_ACTIONS[kind][0] if kind in _STATUS_ACTIONS else "adgroup"


def batch_key(action_ids: Sequence[uuid.UUID]) -> str:
    """The `ctx.once` key of one status change over several actions: the same set of actions
    gives the same key on every attempt (a resumed run finds the change already done)."""
    digest = hashlib.sha256(",".join(sorted(str(a) for a in action_ids)).encode()).hexdigest()[:32]
    return f"ads:actions:{digest}"


async def perform_actions(
    ctx: Any,
    action_ids: Sequence[uuid.UUID],
    *,
    ads_factory: AdsFactory,
    known_before: Mapping[str, dict[str, Any]] | None = None,
) -> dict[uuid.UUID, dict[str, Any]]:
    """Several actions of ONE ad account with as few platform calls as the API allows, each
    recorded as `perform_action` records it (before, after, answer, audit).

    - Status changes of one level to one status go together: one `set_*_status` call with
      every target (the adapter splits them in calls of the documented 20 ids), under ONE
      `ctx.once` whose key is derived from the set of actions (`batch_key`), so a crash
      after the call and before the records never sends it again. An id the platform lists
      in its `error_list` (not confirmed) fails alone.
    - Budget changes go one by one (`adgroup/update` takes one ad group), each under the
      same `ctx.once` key as `perform_action` (`ads:action:{id}`).
    - The state before is the caller's (`known_before`, read for the decision moments ago)
      or one read per level; the state after is one read per level for all the targets.
    Other kinds (launches, status reads) go through `perform_action` one by one. Actions
    already finished return their recorded outcome. Returns action id → outcome."""
    known_before = known_before or {}
    results: dict[uuid.UUID, dict[str, Any]] = {}
    async with session_scope() as session:
        repo = AdsRepository(session)
        actions = []
        for action_id in action_ids:
            action = await repo.action_by_id(action_id)
            if action is None:
                raise NotFound("no such action")
            actions.append(action)
        pending = [a for a in actions if a.status not in ("succeeded", "failed")]
        for a in actions:
            if a.status in ("succeeded", "failed"):
                results[a.id] = _action_result(a)
        single = [a.id for a in pending if a.kind not in _STATUS_ACTIONS and a.kind != "update_adgroup_budget"]
        batched = [a for a in pending if a.id not in single]
        if len({a.ad_account_id for a in batched}) > 1:
            raise InvalidInput("a batch of actions belongs to one ad account", field="action_ids")
        platform: AdsPlatform | None = None
        if batched:
            account = await repo.account_by_id(batched[0].ad_account_id)
            assert account is not None
            try:
                platform = await platform_for(repo, account, ads_factory)
            except ReelflowError as exc:
                for a in batched:
                    await repo.set_action(a.id, status="failed", error=translate(exc), finished_at=utcnow())
                    results[a.id] = _action_result(await _reload_action(repo, a.id))
                batched = []
            else:
                advertiser_id, account_id = account.advertiser_id, account.id
                for a in batched:
                    await repo.set_action(a.id, status="running")
        plan = [(a.id, a.kind, str(a.target_id), dict(a.params)) for a in batched]
        groups: dict[tuple[str, str], list[uuid.UUID]] = {}
        for a in actions:  # every action of the batch, finished or not: the same key on every attempt
            if a.kind in _STATUS_ACTIONS:
                groups.setdefault(_STATUS_ACTIONS[a.kind], []).append(a.id)
    for action_id in single:
        results[action_id] = await perform_action(ctx, action_id, ads_factory=ads_factory)
    if not plan:
        return results
    assert platform is not None
    by_id = {p[0]: p for p in plan}
    outcome: dict[uuid.UUID, dict[str, Any]] = {}  # action id → before, answer, error

    # The state before: the caller's, or one read per level for the targets it lacks.
    before: dict[str, dict[str, Any] | None] = {t: known_before.get(t) for _, _, t, _ in plan}
    for level in ("campaign", "adgroup", "ad"):
        missing = [t for _, k, t, _ in plan if _level(k) == level and before[t] is None]
        if missing:
            before.update(await _entity_states(platform, advertiser_id, level, missing))
    for action_id, kind, target, _ in plan:
        if before.get(target) is None:
            outcome[action_id] = {"error": NotFound(f"{_level(kind)} {target} does not exist")}

    setters: dict[str, Callable[[str, Sequence[str], StatusChange], Awaitable[dict[str, str]]]] = {
        "campaign": platform.set_campaign_status,
        "adgroup": platform.set_adgroup_status,
        "ad": platform.set_ad_status,
    }
    for (level, status), members in groups.items():
        todo = [by_id[m] for m in members if m in by_id and m not in outcome]
        if not todo:
            continue
        targets = [p[2] for p in todo]
        setter = setters[level]

        async def act(_token: str, setter: Any = setter, targets: list[str] = targets, status: str = status) -> Any:
            return {"confirmed": await setter(advertiser_id, targets, status)}

        try:
            answer = await ctx.once(batch_key(members), act, lookup=act)
        except ReelflowError as exc:
            if not _final(exc):
                raise
            for p in todo:
                outcome[p[0]] = {"error": exc}
            continue
        confirmed = dict(answer.get("confirmed") or {})
        for action_id, _, target, _ in todo:
            if target in confirmed:
                outcome[action_id] = {"answer": {"confirmed": {target: confirmed[target]}}}
            else:
                refused = Conflict(f"the platform did not confirm {status} for {level} {target}")
                outcome[action_id] = {"error": refused, "answer": {"confirmed": {}}}

    for action_id, kind, target, params in plan:
        if kind != "update_adgroup_budget" or action_id in outcome:
            continue
        budget = int(params["budget_minor"])

        async def change(_token: str, target: str = target, budget: int = budget) -> dict[str, Any]:
            changed = await platform.update_adgroup(advertiser_id, target, budget_minor=budget)
            return {"changed": changed, "budget_minor": budget}

        try:
            outcome[action_id] = {"answer": await ctx.once(f"ads:action:{action_id}", change, lookup=change)}
        except ReelflowError as exc:
            if not _final(exc):
                raise
            outcome[action_id] = {"error": exc}

    # The state after: one read per level for the targets that changed.
    after: dict[str, dict[str, Any]] = {}
    for level in ("campaign", "adgroup", "ad"):
        changed = [t for a, k, t, _ in plan if _level(k) == level and "error" not in outcome[a]]
        try:
            after.update(await _entity_states(platform, advertiser_id, level, changed))
        except ReelflowError as exc:
            if not _final(exc):
                raise  # the changes are recorded under ctx.once: a retry reads again only

    async with session_scope() as session:
        repo = AdsRepository(session)
        paused_ads: dict[str, list[str]] = {}
        for action_id, kind, target, params in plan:
            entry = outcome[action_id]
            error = entry.get("error")
            if error is not None:
                await repo.set_action(
                    action_id,
                    status="failed",
                    before=before.get(target),
                    answer=entry.get("answer")
                    or {"error": translate(error), "vendor_code": error.extra.get("vendor_code")},
                    error=translate(error),
                    finished_at=utcnow(),
                )
            else:
                await repo.set_action(
                    action_id,
                    status="succeeded",
                    before=before.get(target),
                    after=after.get(target),
                    answer=entry["answer"],
                    error=None,
                    finished_at=utcnow(),
                )
                if kind == "update_adgroup_budget":
                    await repo.set_adgroup_budget(target, int(params["budget_minor"]))
                elif _level(kind) == "ad":
                    paused_ads.setdefault(_STATUS_ACTIONS[kind][1], []).append(target)
            results[action_id] = _action_result(await _reload_action(repo, action_id))
        for status, ad_ids in paused_ads.items():
            await repo.set_ad_status(account_id, ad_ids, status)
    return results


async def _reload_action(repo: AdsRepository, action_id: uuid.UUID) -> AdAction:
    action = await repo.action_by_id(action_id)
    assert action is not None
    await _audit(repo.session, action)
    return action


async def _audit(session: AsyncSession, action: AdAction) -> None:
    """The finished action in the shared audit log too (who asked, before, after, answer),
    in the transaction that records its outcome."""
    if action.status not in ("succeeded", "failed"):
        return
    await audit.record(
        session,
        f"ads.{action.kind}.{action.status}",
        workspace_id=action.workspace_id,
        actor_kind=action.requested_by,
        actor_user_id=action.requested_by_user,
        target_type="ad_action",
        target_id=action.id,
        details={
            "ad_account_id": str(action.ad_account_id),
            "target_id": action.target_id,
            "params": action.params,
            "before": action.before,
            "after": action.after,
            "answer": action.answer,
            "error": action.error,
        },
    )


def _action_result(action: AdAction) -> dict[str, Any]:
    return {"action_id": str(action.id), "status": action.status, "answer": action.answer, "error": action.error}
