"""prefect.yaml: the poll schedule matches the shortest rule interval, every deployment keeps
its timezone and loads, the sweeps have deployments, and flows never start a hidden server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reelflow.flows.serve import build_deployments, load_deployments
from reelflow.settings import Settings


def _by_name() -> dict[str, dict]:  # type: ignore[type-arg]
    return {d["name"]: d for d in load_deployments()}


def test_poll_cron_matches_the_minimum_rule_interval() -> None:
    minimum = Settings().monitoring.poll_interval_min_minutes
    [schedule] = _by_name()["monitoring-poll"]["schedules"]
    minute, *rest = schedule["cron"].split()
    assert minute == f"*/{minimum}" and rest == ["*", "*", "*", "*"]


def test_every_schedule_has_a_timezone_and_the_sweeps_are_deployed() -> None:
    deployments = _by_name()
    assert {"runtime-recovery-sweep", "clipping-expire-uploads", "runtime-prune-runs"} <= set(deployments)
    for name, entry in deployments.items():
        assert entry["schedules"], name
        assert all(s.get("timezone") for s in entry["schedules"]), name
        assert entry["work_pool"]["name"] == "reelflow"


def test_deployments_build_with_their_timezones() -> None:
    built = {d.name: d for d in build_deployments()}
    assert set(built) == set(_by_name())
    for name, entry in _by_name().items():
        schedules = built[name].schedules
        assert [s.schedule.timezone for s in schedules] == [s["timezone"] for s in entry["schedules"]]
        assert [s.schedule.cron for s in schedules] == [s["cron"] for s in entry["schedules"]]


def test_flows_without_prefect_api_url_say_so_and_exit(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env["REELFLOW_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "flows", "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "PREFECT_API_URL is not set" in result.stderr
    assert not (tmp_path / "data" / "postgres").exists()  # nothing was started
