"""The job runtime on RQ: enqueue(), retry policies, runs and events, workers, recovery.

The only package that imports rq. Public API (see docs/runtime.md):

    result = await enqueue(session, "clipping.render_clip", {"clip_id": str(clip.id)},
                           key=idempotency_key, workspace_id=workspace.id)
    result.run        # the JobRun row (inserted in the caller's transaction)
    result.created    # False when the key matched an existing run with the same args

The push to Redis happens after the caller's session commits; a rollback drops it.
"""

from reelflow.domain.retry import NO_RETRY, RetryPolicy
from reelflow.queue.control import cancel_run, retry_run
from reelflow.queue.inline import InlineContext, run_inline
from reelflow.queue.submit import EnqueueResult, canonical_json, derive_key, enqueue
from reelflow.tasks.registry import ChildSpec, TaskContext

__all__ = [
    "NO_RETRY",
    "ChildSpec",
    "EnqueueResult",
    "InlineContext",
    "RetryPolicy",
    "TaskContext",
    "cancel_run",
    "canonical_json",
    "derive_key",
    "enqueue",
    "retry_run",
    "run_inline",
]
