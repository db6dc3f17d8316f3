"""The identity demo step (sign-up confirmed through the mailed link, the same sign-up again,
an invitation, a password login, tokens, the audit log) against a real uvicorn process, the
test services and the SMTP sink."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.web.test_schemathesis import ROOT, _wait


async def test_identity_demo_step(services: Any, mail_sink: Any, tmp_path: Path, capsys: Any) -> None:
    from reelflow.demo import Demo
    from reelflow.demo import identity as step
    from reelflow.storage.embedded import free_port

    port = free_port()
    env = {**os.environ, "DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "reelflow.web.app:create_app", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(f"{base}/readyz", server)
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                demo = Demo(api_url=base, sandbox_url="", client=client, supervisor=None)  # type: ignore[arg-type]
                demo.state["mail_sink"] = mail_sink
                await step.run(demo)
        finally:
            server.terminate()
            server.wait(timeout=30)
    out = capsys.readouterr().out
    assert "POST /signup → 202" in out and "link redeemed" in out
    assert "signing up again with the same email → 202" in out and "tried to sign up" in out
    assert "wrong password → 401, unknown email → 401" in out
    with capsys.disabled():
        print(out)
