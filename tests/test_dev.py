"""`reelflow dev` starts the stack on embedded services and Ctrl-C stops all of it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_dev_serves_readyz_and_schema_and_stops_cleanly(tmp_path):
    port, sandbox_port = _free_port(), _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "REELFLOW_SANDBOX__URL"} and not key.startswith("REELFLOW_")
    }
    env.update({"PORT": str(port), "REELFLOW_SANDBOX__PORT": str(sandbox_port), "REELFLOW_DATA_DIR": str(tmp_path)})
    dev = subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli", "dev", "--no-prefect"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        ready = None
        while time.monotonic() < deadline and dev.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert ready is not None and ready.status_code == 200, dev.stdout.read() if dev.poll() is not None else ""
        assert httpx.get(f"http://127.0.0.1:{port}/schema", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{sandbox_port}/sandbox/health", timeout=5).status_code == 200
        descendants = psutil.Process(dev.pid).children(recursive=True)
        assert len(descendants) >= 5  # sandbox, web, two workers, redis (postgres runs under its own user)

        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=60)
        time.sleep(1)
        alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, [p.cmdline() for p in alive]
        postgres = [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
        assert not postgres, "embedded Postgres left running"
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
