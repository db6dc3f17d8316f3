"""Web and media as separate processes with separate data folders (like dynos: no shared
disk), sharing only Postgres, Redis and the S3 blob store: an upload reaches the web
process, the media worker clips it, and the clip downloads from a presigned URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelflow.adapters.media.probe import probe
from reelflow.sandbox.mail import sign_up
from reelflow.storage.embedded import free_port
from tests.clipping_support import FAST_SETTINGS, OPTIONS, Media, media, upload_file

__all__ = ["media"]


class Dynos:
    def __init__(self, base_env: dict[str, str], root: Path) -> None:
        self.base_env = base_env
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        data_dir = self.root / name  # each process its own disk
        data_dir.mkdir(parents=True)
        env = {**self.base_env, "REELFLOW_DATA_DIR": str(data_dir)}
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "reelflow.cli", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def dynos(services: Any, tmp_path: Path) -> Iterator[Dynos]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_BLOB__DIR")}
    env.update(services.blob_env)
    env.update(FAST_SETTINGS)
    env.update(
        DATABASE_URL=services.database_url,
        REDIS_URL=services.redis_url,
        REELFLOW_LOG__LEVEL="WARNING",
        REELFLOW_RUNTIME__HEARTBEAT_INTERVAL="0.3",
        REELFLOW_RUNTIME__SWEEP_INTERVAL="0.5",
    )
    found = Dynos(env, tmp_path / "dynos")
    yield found
    found.stop_all()


@pytest.mark.slow
async def test_web_and_media_share_no_disk_and_clip_end_to_end(
    services: Any, dynos: Dynos, media: Media, tmp_path: Path, mail_sink: Any
) -> None:
    if not services.blob_env.get("REELFLOW_BLOB_URL", "").startswith("s3://"):
        pytest.skip("the split needs the S3 store (TEST_BLOB_URL names a folder)")
    port = free_port()
    web = dynos.start("web", "web", "--port", str(port))
    dynos.start("media", "worker", "--queues", "media")
    dynos.start("worker", "worker", "--queues", "high,default")
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as api:
        deadline = time.monotonic() + 60
        while True:
            assert web.poll() is None, (dynos.root / "web.log").read_text()[-2000:]
            try:
                if (await api.get("/readyz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "web did not start"
            time.sleep(0.2)
        signed = await sign_up(api, mail_sink, email="split@example.com", workspace_name="Split")
        headers = {"Authorization": f"Bearer {signed['token']['token']}"}
        sent = await upload_file(api, headers, media.talk, options={**OPTIONS, "top_n": 1})
        project_id = sent["project_id"]
        deadline = time.monotonic() + 240
        while True:
            body = (await api.get(f"/api/v1/projects/{project_id}", headers=headers)).json()
            if body["status"] in ("clips_ready", "failed"):
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.5)
        assert body["status"] == "clips_ready", (body, (dynos.root / "media.log").read_text()[-3000:])
        clips = (await api.get(f"/api/v1/projects/{project_id}/clips", headers=headers)).json()
        assert clips and clips[0]["status"] == "ready"
        link = clips[0]["links"]["video"]
        assert not link.startswith(base), "downloads come from the bucket, not through the web process"
    async with httpx.AsyncClient(timeout=30) as plain:
        video = await plain.get(link)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    out = tmp_path / "clip.mp4"
    out.write_bytes(video.content)
    assert probe(out).width == 540
    # Nothing went through a shared folder: no process has blobs on its own disk.
    for name in ("web", "media", "worker"):
        assert not (dynos.root / name / "blobs").exists()
