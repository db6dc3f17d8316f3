from __future__ import annotations

import os
import subprocess
import sys


async def test_admin_create_workspace_prints_a_working_token(services, client):
    env = {**os.environ, "DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reelflow.cli",
            "admin",
            "create-workspace",
            "Scripts Inc",
            "--email",
            "ops@example.com",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {lines['token']}"})
    assert me.status_code == 200
    assert me.json()["workspace"]["name"] == "Scripts Inc" and me.json()["role"] == "owner"


def test_db_upgrade_is_idempotent(services):
    env = {**os.environ, "DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    result = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "upgraded to head" in result.stdout
