"""The layer rules of docs/architecture.md, checked by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reelflow"
COMMON = {"errors", "settings", "logs"}  # cross-cutting modules every layer but domain may use

ALLOWED: dict[str, set[str]] = {
    "domain": {"domain", "errors"},
    "adapters": {"adapters"} | COMMON,
    "storage": {"storage"} | COMMON,
    "tasks": {"tasks", "services", "domain", "adapters", "storage"} | COMMON,
    "queue": {"queue", "tasks", "domain", "storage"} | COMMON,
    "flows": {"flows", "services", "tasks", "queue", "domain", "storage", "adapters"} | COMMON,
    "web": {"web", "services", "storage", "domain", "queue", "health", "adapters"} | COMMON,
    "services": {"services", "domain", "storage", "queue", "adapters"} | COMMON,
    "sandbox": {"sandbox"} | COMMON,
}
THIRD_PARTY_OWNERS = {"rq": {"queue"}, "prefect": {"flows"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


# The composition point: the app factory hands adapters to the routes (docs/architecture.md).
COMPOSITION = {"web/app.py": {"adapters"}}


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    offences = []
    for path in _modules(layer):
        for name in _imports(path):
            parts = name.split(".")
            extra = COMPOSITION.get(str(path.relative_to(PACKAGE)), set())
            if parts[0] == "reelflow" and len(parts) > 1 and parts[1] not in ALLOWED[layer] | extra:
                offences.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
            owners = THIRD_PARTY_OWNERS.get(parts[0])
            if owners is not None and layer not in owners:
                offences.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not offences, "\n".join(offences)


def test_rq_and_prefect_stay_in_their_packages() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        layer = path.relative_to(PACKAGE).parts[0]
        for name in _imports(path):
            owners = THIRD_PARTY_OWNERS.get(name.split(".")[0])
            if owners is not None and layer not in owners and layer not in {"cli.py", "demo"}:
                offences.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not offences, "\n".join(offences)
