"""`reelflow flows serve`: serve every deployment listed in prefect.yaml.

prefect.yaml is the one place schedules are written down. `prefect deploy` reads it for a
work-pool setup; `reelflow dev` and the Procfile's `flows` process serve the same
deployments from one long-running process instead (no work pool to run).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.flows import Flow

PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"


def load_deployments(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    spec = yaml.safe_load(path.read_text())
    return list(spec.get("deployments") or [])


def load_flow(entrypoint: str) -> Flow[Any, Any]:
    """`package.module:flow_name` → the flow object."""
    module_name, _, attribute = entrypoint.partition(":")
    candidate = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(candidate, Flow):
        raise TypeError(f"{entrypoint} is not a Prefect flow")
    return candidate


def build_deployments(path: Path = PREFECT_YAML) -> list[Any]:
    deployments = []
    for entry in load_deployments(path):
        schedules = entry.get("schedules") or []
        crons = [s["cron"] for s in schedules if "cron" in s and s.get("active", True)]
        intervals = [s["interval"] for s in schedules if "interval" in s and s.get("active", True)]
        deployments.append(
            load_flow(entry["entrypoint"]).to_deployment(
                name=entry["name"],
                cron=crons or None,
                interval=intervals or None,
                parameters=entry.get("parameters") or {},
                tags=entry.get("tags") or [],
                description=entry.get("description"),
            )
        )
    return deployments


def serve_all() -> None:
    serve(*build_deployments())
