"""The scheduling side of the monitoring service: deterministic keys per rule and slot."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from sqlalchemy import select, update

from reelflow.services import monitoring
from reelflow.storage.db import session_scope
from reelflow.storage.models.monitoring import MonitoringRule
from reelflow.storage.models.runtime import JobRun

RULES = "/api/v1/monitoring/rules"


async def _due_rule(client: Any, signup: Any) -> tuple[Any, dict[str, Any]]:
    account = await signup()
    response = await client.post(
        RULES, headers=account.headers, json={"name": "r", "kind": "hashtag", "values": ["skincare"]}
    )
    assert response.status_code == 201, response.text
    return account, response.json()


async def test_a_retried_schedule_finds_the_same_run_per_rule_and_slot(client: Any, signup: Any) -> None:
    account, rule = await _due_rule(client, signup)
    async with session_scope() as session:
        first = await monitoring.submit_due_polls(session)
    async with session_scope() as session:
        again = await monitoring.submit_due_polls(session)  # the flow run retried: same slot
        due_at = (await session.execute(select(MonitoringRule.next_poll_at))).scalar_one()
    assert [s.created for s in first] == [True] and [s.created for s in again] == [False]
    assert first[0].run_id == again[0].run_id
    async with session_scope() as session:
        run = (await session.execute(select(JobRun))).scalar_one()
    assert run.idempotency_key == monitoring.poll_key(uuid.UUID(rule["id"]), due_at)
    assert run.idempotency_key.endswith(due_at.astimezone(UTC).isoformat())
    assert run.workspace_id == uuid.UUID(account.workspace_id) and run.policy["max_attempts"] == 1


async def test_a_slot_whose_run_ended_unrecorded_moves_the_rule_on(client: Any, signup: Any) -> None:
    _, rule = await _due_rule(client, signup)
    async with session_scope() as session:
        [submitted] = await monitoring.submit_due_polls(session)
    async with session_scope() as session:  # the run was cancelled before it ran: nothing recorded
        await session.execute(update(JobRun).values(status="cancelled"))
    async with session_scope() as session:
        [again] = await monitoring.submit_due_polls(session)
    assert again.run_id == submitted.run_id and not again.created
    async with session_scope() as session:
        stored = (await session.execute(select(MonitoringRule))).scalar_one()
        assert stored.last_error == "the poll run cancelled" and stored.failures == 1
        assert str(stored.id) == rule["id"]
        # its next poll moved to the next slot (a new key), so nothing is due now
        assert await monitoring.submit_due_polls(session) == []
