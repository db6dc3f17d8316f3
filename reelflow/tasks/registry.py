"""The task registry: stable names (`area.verb_object`) → async functions.

    @task("monitoring.poll_rule", queue="default", timeout=600)
    async def poll_rule(ctx: TaskContext, rule_id: str) -> dict[str, int]: ...

Arguments are JSON-safe (ids, small values); results are JSON-safe too. The runtime
(`reelflow.queue`) looks tasks up here by name, so RQ never sees a module path.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, TypeVar

from reelflow.domain.retry import DEFAULT_POLICY, RetryPolicy

QUEUES = ("high", "default", "media")

# Modules whose import registers tasks; each area adds its module here.
TASK_MODULES: list[str] = [
    "reelflow.tasks.identity",
    "reelflow.tasks.runtime",
    "reelflow.tasks.clipping",
    "reelflow.tasks.monitoring",
    "reelflow.tasks.ads",
    "reelflow.tasks.autopilot",
    "reelflow.tasks.leads",
    "reelflow.tasks.discovery",
    "reelflow.tasks.publishing",
    "reelflow.tasks.clippers",
    # <area task modules>
]


ChildSpec = tuple[str, dict[str, Any]]  # (task name, JSON-safe args)
T = TypeVar("T")


class Suspended(BaseException):
    """Raised by `start_children` / `run_children` to park a workflow task until its children end.

    A BaseException, so that a task's `except Exception` does not swallow it.
    """


class TaskContext(Protocol):
    """What a running task may ask of the runtime.

    Workflows: a task fans out with `await ctx.run_children([(name, args), ...])`, which
    returns the children's results in order. Under the runtime the parent is parked
    (status `waiting`) until every child has finished, then invoked again from the top;
    earlier batches return their recorded results at once (replay), so code before a batch
    must be cheap and idempotent — put heavy steps in children. `start_children` is the
    explicit form: it never returns; the task is re-invoked with `step` incremented and
    `children_results` set. A child failing for good fails the parent with its error.
    """

    run_id: uuid.UUID
    attempt: int
    workspace_id: uuid.UUID | None
    step: int  # child batches completed so far (workflows)
    children_results: list[Any]  # results of the last completed batch

    @property
    def cancelled(self) -> bool: ...

    async def heartbeat(self) -> None: ...

    async def progress(self, pct: int, message: str | None = None) -> None: ...

    async def run_children(self, children: Sequence[ChildSpec]) -> list[Any]: ...

    async def start_children(self, children: Sequence[ChildSpec]) -> NoReturn: ...

    async def once(
        self,
        key: str,
        act: Callable[[str], Awaitable[T]],
        *,
        lookup: Callable[[str], Awaitable[T | None]] | None = None,
    ) -> T:
        """Perform a side effect at most once per `key` (see docs/runtime.md, side effects)."""
        ...


TaskFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class TaskDefinition:
    name: str
    fn: TaskFn
    queue: str = "default"
    policy: RetryPolicy = field(default=DEFAULT_POLICY)
    timeout: float = 300.0  # start-to-close, seconds


_TASKS: dict[str, TaskDefinition] = {}


def task(
    name: str,
    *,
    queue: str = "default",
    policy: RetryPolicy | None = None,
    timeout: float = 300.0,
) -> Callable[[TaskFn], TaskFn]:
    """Register `fn` under `name`; the function itself is returned unchanged."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {QUEUES}")
    if "." not in name:
        raise ValueError("task names are 'area.verb_object'")

    def register(fn: TaskFn) -> TaskFn:
        existing = _TASKS.get(name)
        if existing is not None and existing.fn is not fn:
            raise ValueError(f"task {name!r} is registered twice")
        _TASKS[name] = TaskDefinition(name, fn, queue, policy or DEFAULT_POLICY, timeout)
        return fn

    return register


def load_tasks() -> Mapping[str, TaskDefinition]:
    """Import every task module (idempotent) and return the registry."""
    _compose_adapters()
    for module in TASK_MODULES:
        importlib.import_module(module)
    return _TASKS


def _compose_adapters() -> None:
    """The workers' composition point for adapters that keep state in Postgres (see
    `reelflow.composition.install_quota_counter`)."""
    from reelflow import composition

    composition.install_quota_counter()


def get_task(name: str) -> TaskDefinition:
    if name in _TASKS:  # the hot path of every job
        return _TASKS[name]
    load_tasks()
    try:
        return _TASKS[name]
    except KeyError:
        raise KeyError(f"no task registered as {name!r}") from None
