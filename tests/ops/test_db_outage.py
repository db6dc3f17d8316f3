"""Postgres stops: writes answer 503 with Retry-After (not 500), logged once per outage, and
the API works again when it is back."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reelflow.logs import OutageLog
from reelflow.settings import reset_settings_cache
from reelflow.storage.embedded import start_postgres


def _pg_ctl() -> str:
    import pgserver

    return os.path.join(os.path.dirname(pgserver.__file__), "pginstall", "bin", "pg_ctl")


def _as_pg_user() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    import pwd

    user = pwd.getpwnam("pgserver")
    return {"user": user.pw_uid, "group": user.pw_gid}


@pytest.fixture
async def spare_pg(services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    from reelflow.storage.db import dispose_engine
    from reelflow.storage.migrate import upgrade

    pg, url = start_postgres(tmp_path / "pg", cleanup_mode=None)
    monkeypatch.setenv("DATABASE_URL", url)
    reset_settings_cache()
    import asyncio

    await asyncio.to_thread(upgrade, "head")
    await dispose_engine()  # the app's pool now points at the spare server
    yield tmp_path / "pg"
    await dispose_engine()
    monkeypatch.undo()
    reset_settings_cache()
    subprocess.run([_pg_ctl(), "-D", str(tmp_path / "pg"), "-m", "fast", "-w", "stop"], check=False,
                   capture_output=True, **_as_pg_user())  # fmt: skip
    pg.cleanup()


async def test_postgres_down_is_a_503_with_retry_after(spare_pg: Path, client: Any, mail_sink: Any) -> None:
    from reelflow.sandbox.mail import sign_up

    token = (await sign_up(client, mail_sink, email="before@example.com", workspace_name="A"))["token"]["token"]
    subprocess.run([_pg_ctl(), "-D", str(spare_pg), "-m", "fast", "-w", "stop"], check=True, **_as_pg_user())
    for _ in range(3):
        down = await client.post("/api/v1/signup", json={"email": "during@example.com", "workspace_name": "B"})
        assert down.status_code == 503, down.text
        assert int(down.headers["retry-after"]) >= 1
        assert down.headers["content-type"].startswith("application/problem+json")
    read = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 503
    subprocess.run(
        [_pg_ctl(), "-D", str(spare_pg), "-w", "-o", f"-k {spare_pg} -c listen_addresses=''",
         "-l", str(spare_pg / "restart.log"), "start"],
        check=True,
        **_as_pg_user(),
    )  # fmt: skip
    back = await client.post("/api/v1/signup", json={"email": "after@example.com", "workspace_name": "C"})
    assert back.status_code == 202, back.text


def test_an_outage_is_logged_once() -> None:
    lines: list[str] = []

    class Recorder:
        def warning(self, event: str, **_: Any) -> None:
            lines.append(event)

    outage = OutageLog("x", Recorder())
    for _ in range(50):
        outage.failed(ConnectionRefusedError())
    outage.ok()
    outage.ok()
    outage.failed(ConnectionRefusedError())
    assert lines == ["x_unavailable", "x_recovered", "x_unavailable"]


async def test_waiting_for_runs_rides_out_a_postgres_outage(spare_pg: Path) -> None:
    """A flow waiting on its runs (`runtime.wait_for_runs`) keeps waiting while Postgres is
    away and sees the run finish once it is back, instead of failing the flow run."""
    import asyncio

    from sqlalchemy import update

    from reelflow.services import runtime
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.runtime import JobRun

    async with session_scope() as session:
        started = await runtime.start_job(session, None, "runtime.noop", {})
    run_id = started.run.id
    waiting = asyncio.create_task(runtime.wait_for_runs([run_id], timeout_s=60, poll_s=0.2))
    await asyncio.sleep(0.5)
    subprocess.run([_pg_ctl(), "-D", str(spare_pg), "-m", "fast", "-w", "stop"], check=True, **_as_pg_user())
    await asyncio.sleep(2)
    assert not waiting.done()  # still waiting, not failed
    subprocess.run(
        [_pg_ctl(), "-D", str(spare_pg), "-w", "-o", f"-k {spare_pg} -c listen_addresses=''",
         "-l", str(spare_pg / "restart.log"), "start"],
        check=True,
        **_as_pg_user(),
    )  # fmt: skip
    async with session_scope() as session:
        await session.execute(update(JobRun).where(JobRun.id == run_id).values(status="succeeded"))
    runs = await asyncio.wait_for(waiting, 30)
    assert runs[run_id].status == "succeeded"


async def test_web_process_starts_while_postgres_is_down(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The startup hook that opens the webhook pool is best effort: a web process booted during
    a database outage still serves /healthz and reports the outage on /readyz."""
    from reelflow.storage.db import dispose_engine
    from reelflow.web.app import create_app

    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://reelflow:x@127.0.0.1:9/nowhere")
    reset_settings_cache()
    try:
        app = create_app()
        for hook in app.on_startup:
            await hook()  # type: ignore[misc]
    finally:
        await dispose_engine()
        monkeypatch.undo()
        reset_settings_cache()
