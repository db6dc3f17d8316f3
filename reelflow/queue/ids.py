"""RQ job ids: one per push of a run's attempt.

`RuntimeRepository.take_due_retries` builds the same id in SQL ('rf-' || hex id || '-' ||
attempt + 1) for the retries it takes in one statement; keep the two in step.
"""

from __future__ import annotations

import uuid


def rq_job_id(run_id: uuid.UUID, attempt: int, suffix: str = "") -> str:
    """RQ job id for attempt `attempt` of a run (letters, digits and '-' only, as RQ requires)."""
    return f"rf-{run_id.hex}-{attempt}{suffix}"
