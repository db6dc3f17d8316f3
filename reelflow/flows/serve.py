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


def schedules_of(entry: dict[str, Any]) -> list[Any]:
    """prefect.yaml's schedules as Prefect schedule objects, each with its own timezone."""
    from datetime import timedelta

    from prefect.schedules import Cron, Interval

    built: list[Any] = []
    for spec in entry.get("schedules") or []:
        active = bool(spec.get("active", True))
        timezone = spec.get("timezone")
        if "cron" in spec:
            built.append(Cron(spec["cron"], timezone=timezone, active=active))
        elif "interval" in spec:
            built.append(Interval(timedelta(seconds=float(spec["interval"])), timezone=timezone, active=active))
    return built


def build_deployments(path: Path = PREFECT_YAML) -> list[Any]:
    deployments = []
    for entry in load_deployments(path):
        deployments.append(
            load_flow(entry["entrypoint"]).to_deployment(
                name=entry["name"],
                schedules=schedules_of(entry) or None,
                parameters=entry.get("parameters") or {},
                tags=entry.get("tags") or [],
                description=entry.get("description"),
            )
        )
    return deployments


def api_url() -> str | None:
    """The Prefect API these flows talk to (PREFECT_API_URL or the active profile), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def serve_all() -> None:
    if not api_url():
        raise SystemExit(
            "PREFECT_API_URL is not set: the flows need a Prefect server to report to. Start one "
            "(`prefect server start`, then PREFECT_API_URL=http://127.0.0.1:4200/api) or run "
            "`reelflow dev`, which starts one; no hidden temporary server is started."
        )
    serve(*build_deployments())
