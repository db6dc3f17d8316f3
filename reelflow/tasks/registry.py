"""The task registry: stable names (`area.verb_object`) → async functions.

    @task("monitoring.poll_rule", queue="default", timeout=600)
    async def poll_rule(ctx: TaskContext, rule_id: str) -> dict[str, int]: ...

Arguments are JSON-safe (ids, small values); results are JSON-safe too. The runtime
(`reelflow.queue`) looks tasks up here by name, so RQ never sees a module path.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from reelflow.domain.retry import DEFAULT_POLICY, RetryPolicy

QUEUES = ("high", "default", "media")

# Modules whose import registers tasks; each area adds its module here.
TASK_MODULES: list[str] = [
    "reelflow.tasks.identity",
    # <area task modules>
]


class TaskContext(Protocol):
    """What a running task may ask of the runtime."""

    run_id: uuid.UUID
    attempt: int
    workspace_id: uuid.UUID | None

    @property
    def cancelled(self) -> bool: ...

    async def heartbeat(self) -> None: ...

    async def progress(self, pct: int, message: str | None = None) -> None: ...


class InlineContext:
    """The context for a task called directly (from a Prefect flow or a test), not as a job."""

    def __init__(self, workspace_id: uuid.UUID | None = None) -> None:
        self.run_id = uuid.UUID(int=0)
        self.attempt = 1
        self.workspace_id = workspace_id
        self.last_progress: tuple[int, str | None] | None = None

    @property
    def cancelled(self) -> bool:
        return False

    async def heartbeat(self) -> None:
        return None

    async def progress(self, pct: int, message: str | None = None) -> None:
        self.last_progress = (pct, message)


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
    for module in TASK_MODULES:
        importlib.import_module(module)
    return _TASKS


def get_task(name: str) -> TaskDefinition:
    load_tasks()
    try:
        return _TASKS[name]
    except KeyError:
        raise KeyError(f"no task registered as {name!r}") from None
