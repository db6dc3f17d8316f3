"""Monitoring schedules: poll due rules, refresh the engagement of due videos.

Thin schedulers: each flow selects what is due through `reelflow.services.monitoring`,
submits runtime jobs with deterministic idempotency keys (a poll per rule and schedule
slot; a refresh per flow-run slot), waits for them and reports. A scheduled poll is the
same kind of run as a manual one (`POST /monitoring/rules/{id}/poll`): a run record,
events, recovery, one place to retry.

Outcome in the Prefect UI: every rule failed → the flow run is Failed; some failed →
Completed with a `monitoring-poll-failures` markdown artifact listing them; runs still
going when the wait ends are reported as such (they finish on the workers).
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import State, flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.states import Completed, Failed

from reelflow.flows.common import run_logger, schedule_slot
from reelflow.services import monitoring, runtime
from reelflow.storage.db import session_scope
from reelflow.storage.models.runtime import JobRun

WAIT_S = 3000.0  # below the deployment's hourly cadence


def _result(run: JobRun | None, rule_id: str) -> dict[str, Any]:
    if run is None:
        return {"rule_id": rule_id, "error": "the run disappeared"}
    if run.status == "succeeded":
        return dict(run.result or {"rule_id": rule_id})
    if run.status in ("failed", "cancelled"):
        error = run.error or {}
        detail = error.get("message") or run.status
        return {"rule_id": rule_id, "run_id": str(run.id), "error": f"{error.get('type') or run.status}: {detail}"}
    return {"rule_id": rule_id, "run_id": str(run.id), "pending": run.status}


@flow(name="monitoring-poll", log_prints=True)
async def poll_due_rules(limit: int = 500, wait_s: float = WAIT_S) -> State[Any]:
    """Submit a `monitoring.poll_rule` run for every due rule, wait for them, report."""
    logger = run_logger()
    async with session_scope() as session:
        submitted = await monitoring.submit_due_polls(session, limit=limit)
    runs = await runtime.wait_for_runs([s.run_id for s in submitted], timeout_s=wait_s)
    results = [_result(runs.get(s.run_id), str(s.rule.rule_id)) for s in submitted]
    failed = [r for r in results if r.get("error")]
    pending = [r for r in results if r.get("pending")]
    summary = {
        "rules": len(results),
        "failed": len(failed),
        "pending": len(pending),
        "new": sum(int(r.get("new", 0)) for r in results),
        "duplicates": sum(int(r.get("duplicates", 0)) for r in results),
        "run_ids": [str(s.run_id) for s in submitted],
        "results": results,
    }
    logger.info(
        "polled %d rules: %d new videos, %d duplicates, %d failed, %d still running",
        summary["rules"],
        summary["new"],
        summary["duplicates"],
        summary["failed"],
        summary["pending"],
    )
    if failed:
        lines = "\n".join(f"| {r['rule_id']} | {r.get('run_id', '')} | {r['error']} |" for r in failed)
        await acreate_markdown_artifact(
            key="monitoring-poll-failures",
            markdown=(
                f"# {len(failed)} of {len(results)} rules failed\n\n| rule | run | error |\n|---|---|---|\n{lines}\n"
            ),
            description="Rules whose poll failed in this flow run (retried on their next schedule).",
        )
    if failed and len(failed) == len(results):
        return Failed(message=f"all {len(results)} due rules failed to poll", data=summary)
    message = f"{len(failed)} of {len(results)} rules failed" if failed else f"{len(results)} rules polled"
    return Completed(message=message, data=summary)


@flow(name="monitoring-engagement", log_prints=True)
async def refresh_engagement(
    workspace_id: str | None = None, force: bool = False, wait_s: float = WAIT_S / 2
) -> State[Any]:
    """Submit one `monitoring.refresh_engagement` run for this slot, wait for it, report."""
    logger = run_logger()
    ws = uuid.UUID(workspace_id) if workspace_id else None
    async with session_scope() as session:
        result = await monitoring.start_refresh(
            session, ws, force=force, key=monitoring.refresh_key(ws, force, schedule_slot()), retry=False
        )
    run = (await runtime.wait_for_runs([result.run.id], timeout_s=wait_s)).get(result.run.id)
    if run is None or run.status != "succeeded":
        status = run.status if run else "missing"
        error = (run.error or {}) if run else {}
        return Failed(message=f"the engagement refresh run {result.run.id} is {status}: {error.get('message', '')}")
    out = dict(run.result or {})
    logger.info(
        "refreshed %d videos (%d missing), tier changes %s, %d forecasts resolved",
        out.get("refreshed", 0),
        out.get("missing", 0),
        out.get("tier_changes", {}),
        out.get("forecasts_resolved", 0),
    )
    return Completed(message=f"refreshed {out.get('refreshed', 0)} videos", data=out)
