"""Readiness against servers that really go away and come back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reelflow.settings import reset_settings_cache
from reelflow.storage.db import dispose_engine
from reelflow.storage.embedded import start_postgres, start_redis


async def test_healthz_is_always_ok(client):
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}


async def test_readyz_ok_with_services(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "checks": {"settings": True, "db": True, "redis": True, "blobs": True},
        "errors": {},
    }


@pytest.fixture
async def spare_services(tmp_path, services, monkeypatch):
    """A second Postgres and Redis that the test may stop and start again (request it before
    `client`, so the app's pools point at them); readiness answers are not cached here."""
    pg, pg_url = start_postgres(tmp_path / "pg", cleanup_mode=None)
    redis_proc, redis_url = start_redis(tmp_path / "redis")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REELFLOW_READINESS__CACHE_S", "0")
    reset_settings_cache()
    await dispose_engine()  # the pool of this event loop now opens connections to the spare Postgres
    yield pg, redis_proc, tmp_path
    await dispose_engine()
    reset_settings_cache()
    if redis_proc.poll() is None:
        redis_proc.terminate()
        redis_proc.wait(10)
    # Stop whichever postmaster serves the folder now (the test may have restarted it by hand).
    subprocess.run([_pg_ctl(), "-D", str(tmp_path / "pg"), "-m", "fast", "-w", "stop"], check=False,
                   capture_output=True, **_as_pg_user())  # fmt: skip
    pg.cleanup()


async def test_readyz_503_when_redis_down_then_200_when_back(spare_services, client):
    _, redis_proc, tmp_path = spare_services
    assert (await client.get("/readyz")).status_code == 200
    redis_proc.terminate()
    redis_proc.wait(10)
    down = await client.get("/readyz")
    assert down.status_code == 503
    body = down.json()
    assert body["ok"] is False and body["checks"]["redis"] is False and body["checks"]["db"] is True
    assert body["errors"]["redis"]
    restarted, _ = start_redis(tmp_path / "redis")
    try:
        assert (await client.get("/readyz")).status_code == 200
    finally:
        restarted.terminate()
        restarted.wait(10)


async def test_readyz_503_when_postgres_down_then_200_when_back(spare_services, client):
    _, _, tmp_path = spare_services
    subprocess.run([_pg_ctl(), "-D", str(tmp_path / "pg"), "-m", "fast", "-w", "stop"], check=True, **_as_pg_user())
    down = await client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"] == {"settings": True, "db": False, "redis": True, "blobs": True}
    subprocess.run(
        [_pg_ctl(), "-D", str(tmp_path / "pg"), "-w", "-o", f"-k {tmp_path / 'pg'} -c listen_addresses=''",
         "-l", str(tmp_path / "pg" / "restart.log"), "start"],
        check=True,
        **_as_pg_user(),
    )  # fmt: skip
    assert (await client.get("/readyz")).status_code == 200


def test_cli_readyz_exit_codes(services):
    env = {**os.environ, "DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    ok = subprocess.run([sys.executable, "-m", "reelflow.cli", "readyz"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    bad = subprocess.run([sys.executable, "-m", "reelflow.cli", "readyz"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["checks"]["redis"] is False and report["errors"]["redis"].startswith("Redis unreachable")


def _pg_ctl() -> str:
    import pgserver

    return os.path.join(os.path.dirname(pgserver.__file__), "pginstall", "bin", "pg_ctl")


def _as_pg_user() -> dict[str, object]:
    """pgserver runs postgres as the unprivileged 'pgserver' user when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    entry = pwd.getpwnam("pgserver")
    return {"user": entry.pw_uid, "group": entry.pw_gid}


async def test_readyz_uses_the_pools_and_caches_for_a_second(client, services):
    """A burst of probes opens no new connections: the answers come from one cached probe."""
    import asyncpg

    opened = 0
    original = asyncpg.connect

    async def counting(*args, **kwargs):
        nonlocal opened
        opened += 1
        return await original(*args, **kwargs)

    assert (await client.get("/readyz")).status_code == 200  # warms the pool
    asyncpg.connect = counting
    try:
        for _ in range(50):
            assert (await client.get("/readyz")).status_code == 200
    finally:
        asyncpg.connect = original
    assert opened == 0
