"""`ctx.once`: perform a side effect on a platform at most once per key, whatever retries,
worker kills or recoveries happen (the rows live in `side_effects`, through
`SideEffectRepository`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from reelflow.errors import Ambiguous, Permanent, Retryable
from reelflow.storage.db import get_engine
from reelflow.storage.repositories.runtime import SideEffectRepository

T = TypeVar("T")


def side_effect_token(key: str) -> str:
    """The idempotency token handed to the platform for `key` (stable across attempts)."""
    return hashlib.sha256(f"reelflow-side-effect:{key}".encode()).hexdigest()[:40]


async def run_once(
    key: str,
    act: Callable[[str], Awaitable[T]],
    *,
    lookup: Callable[[str], Awaitable[T | None]] | None = None,
    run_id: uuid.UUID | None = None,
    attempt: int = 1,
) -> T:
    """Perform the side effect `act(token)` at most once per `key`, whatever retries happen.

    1. A session-level advisory lock on `key` serialises attempts (a worker that dies
       releases it with its connection).
    2. Done before → the recorded result, no action.
    3. An earlier attempt marked "about to act" but never recorded the outcome → the effect
       may have happened: `lookup(token)` asks the platform; found → recorded and returned;
       not found → act again. Without `lookup` this is an error (Permanent): at most once
       beats at least once for a post or an ad change.
    4. Otherwise: commit the "about to act" mark, `act(token)`, record the result.
    The result must be JSON-safe. An act that raises `Retryable` (the platform refused, so
    nothing happened) clears the mark; `Ambiguous` (sent, answer lost) and any other error
    leave it (outcome unknown), so the next attempt looks the effect up before acting.
    """
    token = side_effect_token(key)
    async with get_engine().connect() as conn:
        effects = SideEffectRepository(conn)
        await effects.lock(key)
        try:
            record = await effects.ensure(key, token, run_id, attempt)
            if record.status == "done":
                # The JSON result recorded by an earlier attempt of the same `act`.
                return cast(T, record.result)
            if record.acted_at is not None:
                if lookup is None:
                    raise Permanent(
                        f"side effect {key!r} may have happened in an earlier attempt and cannot be checked; "
                        "reconcile by hand"
                    )
                found = await lookup(token)
                if found is not None:
                    await effects.record_done(key, found, run_id, attempt)
                    return found
            await effects.mark_acting(key, run_id, attempt)
            try:
                result = await act(token)
            except Ambiguous:
                raise
            except Retryable:
                await effects.clear_acting(key)
                raise
            await effects.record_done(key, cast(Any, result), run_id, attempt)
            return result
        finally:
            await effects.unlock(key)
