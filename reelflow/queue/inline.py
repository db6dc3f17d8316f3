"""Running a task in this process, without a queue: `InlineContext` and `run_inline`
(scripts, benchmarks and tests; schedules submit jobs instead)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from reelflow.queue.once import run_once
from reelflow.tasks.registry import ChildSpec, Suspended, get_task

T = TypeVar("T")


class InlineContext:
    """The context for a task called directly (from a Prefect flow or a test), not as a job.

    Children run inline, one after the other; call workflow tasks with `run_inline`.
    """

    def __init__(self, workspace_id: uuid.UUID | None = None) -> None:
        self.run_id = uuid.UUID(int=0)
        self.attempt = 1
        self.workspace_id = workspace_id
        self.step = 0
        self.children_results: list[Any] = []
        self.last_progress: tuple[int, str | None] | None = None

    @property
    def cancelled(self) -> bool:
        return False

    async def heartbeat(self) -> None:
        return None

    async def progress(self, pct: int, message: str | None = None) -> None:
        self.last_progress = (pct, message)

    async def run_children(self, children: Sequence[ChildSpec]) -> list[Any]:
        return [await run_inline(name, args, workspace_id=self.workspace_id) for name, args in children]

    async def start_children(self, children: Sequence[ChildSpec]) -> NoReturn:
        self.children_results = await self.run_children(children)
        self.step += 1
        raise Suspended

    async def once(
        self,
        key: str,
        act: Callable[[str], Awaitable[T]],
        *,
        lookup: Callable[[str], Awaitable[T | None]] | None = None,
    ) -> T:
        return await run_once(key, act, lookup=lookup, run_id=None, attempt=self.attempt)


async def run_inline(name: str, args: Mapping[str, Any], *, workspace_id: uuid.UUID | None = None) -> Any:
    """Run task `name` in this process (no queue), children included; returns its result."""
    definition = get_task(name)
    ctx = InlineContext(workspace_id)
    while True:
        try:
            return await definition.fn(ctx, **args)
        except Suspended:
            continue  # start_children ran the batch inline; invoke again with the next step
