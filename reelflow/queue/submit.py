"""`enqueue`: create a run in the caller's transaction; it reaches Redis after commit."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.retry import RetryPolicy
from reelflow.errors import Conflict, InvalidInput
from reelflow.queue.dispatch import push_after_commit
from reelflow.queue.ids import rq_job_id
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.runtime import JobRun
from reelflow.storage.repositories.runtime import Due, RuntimeRepository
from reelflow.tasks.registry import QUEUES, get_task

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class EnqueueResult:
    run: JobRun
    created: bool  # False: the idempotency key matched an existing run (same args)


def canonical_json(args: dict[str, Any]) -> str:
    """Sorted keys, no spaces: the form args are compared and hashed in."""
    try:
        return json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"job arguments must be JSON-safe: {exc}", field="args") from None


def derive_key(name: str, args: dict[str, Any]) -> str:
    """The key used when none is given: task name + SHA-256 of the canonical args."""
    return f"{name}:{hashlib.sha256(canonical_json(args).encode()).hexdigest()[:32]}"


def policy_to_json(policy: RetryPolicy) -> dict[str, Any]:
    data = dataclasses.asdict(policy)
    data["non_retryable"] = list(policy.non_retryable)
    return data


def policy_from_json(data: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(**{**data, "non_retryable": tuple(data.get("non_retryable") or ())})


async def enqueue(
    session: AsyncSession,
    name: str,
    args: dict[str, Any],
    *,
    key: str | None = None,
    policy: RetryPolicy | None = None,
    queue: str | None = None,
    workspace_id: uuid.UUID | None = None,
    parent: uuid.UUID | None = None,
    start_at: datetime | None = None,
    _child_position: tuple[int, int] | None = None,
) -> EnqueueResult:
    """Create a run of task `name` in the caller's transaction; it is pushed after commit.

    `key` (an Idempotency-Key) is unique per workspace for good; without one, the key is
    derived from name + canonical args and is unique among *open* runs only. The same key
    with the same args returns the existing run (`created=False`); with different args it
    raises `Conflict`.

    `start_at` (delayed start): a time in the future holds the run in Postgres (status
    `queued`, not pushed) until then; the workers' scheduler pushes it when due, as it does
    retries. Cancel it meanwhile with `cancel_run`: it never starts.
    """
    definition = get_task(name)
    args_json = canonical_json(args)
    args = json.loads(args_json)
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotency keys are 1 to {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    queue = queue or definition.queue
    if queue not in QUEUES:
        raise InvalidInput(f"unknown queue {queue!r}", field="queue")
    explicit = key is not None
    idempotency_key = key if key is not None else derive_key(name, args)
    repo = RuntimeRepository(session)
    now = utcnow()
    delayed = start_at is not None and start_at > now
    run_id = uuid.uuid4()
    values: dict[str, Any] = {
        "id": run_id,
        "rq_job_id": rq_job_id(run_id, 1),
        "name": name,
        "queue": queue,
        "args": args,
        "workspace_id": workspace_id,
        "idempotency_key": idempotency_key,
        "key_explicit": explicit,
        "status": "queued",
        "attempt": 0,
        "attempt_base": 0,
        "policy": policy_to_json(policy or definition.policy),
        "timeout_s": float(definition.timeout),
        "progress": 0,
        "scheduled_at": start_at if delayed else now,
        # the push follows the commit; the sweep re-pushes if it never happens. A delayed
        # run is pushed by the scheduler when due.
        "pushed_at": None if delayed else now,
        "parent_id": parent,
        "child_batch": _child_position[0] if _child_position else None,
        "child_index": _child_position[1] if _child_position else None,
        "step": 0,
        "created_at": now,
        "updated_at": now,
    }
    for _ in range(5):
        run = await repo.insert_run(values)
        if run is not None:
            data: dict[str, Any] = {"queue": queue, "key": idempotency_key}
            if delayed:
                assert start_at is not None
                data["start_at"] = start_at.isoformat()
            await repo.add_event(run.id, "queued", 0, data=data)
            if not delayed:
                push_after_commit(session, [Due(run.id, rq_job_id(run.id, 1), queue)])
            return EnqueueResult(run, True)
        existing = await repo.find_by_key(workspace_id, idempotency_key, explicit=explicit)
        if existing is None:
            continue  # a derived-key run closed in between: try the insert again
        if existing.name != name or canonical_json(existing.args) != args_json:
            raise Conflict(
                "this idempotency key was already used with a different job or arguments",
                run_id=str(existing.id),
            )
        await repo.add_event(existing.id, "deduplicated", existing.attempt, data={"key": idempotency_key})
        return EnqueueResult(existing, False)
    raise Conflict("could not settle the idempotency key; try again")
