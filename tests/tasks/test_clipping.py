"""Clipping tasks: a render worker killed mid-job (SIGKILL, a real worker process) recovers
and the project ends with exactly the expected clips; SSRF-safe downloads."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from reelflow.errors import InvalidInput, PayloadTooLarge
from reelflow.storage.blobs import get_blob_store
from reelflow.storage.db import session_scope
from reelflow.storage.models.runtime import JobEvent, JobRun
from tests.blob_helpers import blob_names, fetch_blob
from tests.clipping_support import (
    FAST_SETTINGS,
    OPTIONS,
    FileServer,
    Media,
    fast_settings,
    file_server,
    media,
    project,
    upload_file,
)
from tests.fixtures.runtime import WorkerProcesses, wait_for_runs

__all__ = ["fast_settings", "file_server", "media"]


async def _runs(name: str) -> list[JobRun]:
    async with session_scope() as session:
        rows = await session.execute(select(JobRun).where(JobRun.name == name).order_by(JobRun.created_at))
        return list(rows.scalars())


async def _events(run_id: uuid.UUID) -> list[str]:
    async with session_scope() as session:
        rows = await session.execute(select(JobEvent.type).where(JobEvent.run_id == run_id).order_by(JobEvent.id))
        return list(rows.scalars())


async def test_render_worker_killed_mid_job_recovers_with_exactly_the_expected_clips(
    client: Any, signup: Any, media: Media, fast_settings: Any, worker_processes: WorkerProcesses
) -> None:
    account = await signup()
    first = worker_processes.start("media", **FAST_SETTINGS)
    # A bigger preset than the other tests: the render lasts long enough to be killed in.
    sent = await upload_file(
        client, account.headers, media.talk, options={**OPTIONS, "preset": "tiktok_720", "top_n": 2}
    )
    pipeline_run = uuid.UUID(sent["last"]["run_id"])

    deadline = time.monotonic() + 120
    victim: JobRun | None = None
    while victim is None:
        running = [r for r in await _runs("clipping.render_clip") if r.status == "running"]
        victim = running[0] if running else None
        if time.monotonic() > deadline:
            raise TimeoutError("no render started")
        if victim is None:
            await _sleep(0.05)
    worker_processes.kill(first)  # SIGKILL mid-render
    worker_processes.start("media", **FAST_SETTINGS)
    statuses = await wait_for_runs([pipeline_run], timeout=180)
    assert statuses[pipeline_run] == "succeeded"

    body = await project(client, account.headers, sent["project_id"])
    assert body["status"] == "clips_ready", body
    clips = (await client.get(f"/api/v1/projects/{sent['project_id']}/clips", headers=account.headers)).json()
    assert len(clips) == 2 and all(c["status"] == "ready" for c in clips)
    assert len({(c["start_s"], c["end_s"]) for c in clips}) == 2
    # One render per clip in the store: the killed attempt left no second file and no temp file.
    for clip in clips:
        files = await blob_names(f"projects/{sent['project_id']}/clips/{clip['id']}")
        assert [f for f in files if f.endswith(".mp4")] and len([f for f in files if f.endswith(".mp4")]) == 1, files
        assert not [f for f in files if f.endswith(".tmp")], files
        assert (await fetch_blob(client, clip["links"]["video"])).status_code == 200
    renders = await _runs("clipping.render_clip")
    assert len(renders) == 2 and all(r.status == "succeeded" for r in renders)
    victim_events = await _events(victim.id)
    assert "recovered" in victim_events and victim_events.count("started") == 2


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


# --- SSRF-safe download ---------------------------------------------------------------------


async def _download(url: str, allowed: frozenset[str], max_bytes: int = 10_000_000) -> tuple[str, int]:
    from reelflow import composition
    from reelflow.services.clipping_pipeline import download_source

    key = f"test-downloads/{uuid.uuid4()}"
    return await download_source(
        url,
        lambda ext: key + ext,
        blobs=composition.blob_store(),
        importer=composition.source_importer(),
        max_bytes=max_bytes,
        timeout_s=5,
        allowed=allowed,
    )


async def test_download_streams_into_blob_storage(services: Any, file_server: FileServer, media: Media) -> None:
    origin = frozenset({file_server.url})
    key, size = await _download(f"{file_server.url}/talk.mp4", origin)
    assert key.endswith(".mp4") and size == media.talk.stat().st_size
    assert await get_blob_store().read_bytes(key) == media.talk.read_bytes()


async def test_download_refuses_private_hops_and_oversized_bodies(services: Any, file_server: FileServer) -> None:
    with pytest.raises(InvalidInput, match="loopback"):
        await _download(f"{file_server.url}/talk.mp4", frozenset())  # the origin is not allowed
    with pytest.raises(InvalidInput, match="loopback"):  # allowed origin, redirecting to a private one
        await _download(f"{file_server.url}/redirect-private", frozenset({file_server.url}))
    with pytest.raises(PayloadTooLarge):
        await _download(f"{file_server.url}/talk.mp4", frozenset({file_server.url}), max_bytes=10_000)
    leftovers = await blob_names("test-downloads")
    assert all(not name.endswith(".tmp") for name in leftovers)


def test_pinned_url_keeps_path_and_port() -> None:
    from reelflow.adapters.download import pinned as _pinned
    from reelflow.domain.ingest import parse_source_url

    source = parse_source_url("https://cdn.example.com:8443/a/b.mp4?x=1")
    assert _pinned(source, "93.184.216.34") == "https://93.184.216.34:8443/a/b.mp4?x=1"
    assert _pinned(source, "2606:2800::1") == "https://[2606:2800::1]:8443/a/b.mp4?x=1"


def test_blob_keys_are_checked(tmp_path: Path) -> None:
    from reelflow.storage.blobs import LocalBlobStore, check_key

    assert check_key("projects/a/clips/b/c.mp4")
    for bad in ("../etc/passwd", "/abs", "a/../b", "a//b", "", "a/.hidden/../x"):
        with pytest.raises(InvalidInput):
            LocalBlobStore(tmp_path).path(bad)


async def test_part_uploads_append_resume_and_refuse_concurrent_writers(tmp_path: Path) -> None:
    import asyncio

    from reelflow.errors import Conflict
    from reelflow.storage.blobs import LocalBlobStore

    store = LocalBlobStore(tmp_path)
    upload_id = uuid.uuid4()
    gate = asyncio.Event()

    async def slow() -> Any:
        yield b"a" * 10
        await gate.wait()
        yield b"b" * 10

    async def once(data: bytes) -> Any:
        yield data

    first = asyncio.create_task(store.append_part(upload_id, 0, slow(), max_bytes=100))
    await asyncio.sleep(0.1)
    with pytest.raises(Conflict):
        await store.append_part(upload_id, 10, once(b"c" * 5), max_bytes=100)
    gate.set()
    assert await first == 20
    with pytest.raises(InvalidInput):  # not at the received offset
        await store.append_part(upload_id, 5, once(b"x"), max_bytes=100)
    assert await store.append_part(upload_id, 20, once(b"z" * 5), max_bytes=100) == 25
    with pytest.raises(PayloadTooLarge):
        await store.append_part(upload_id, 25, once(b"y" * 10), max_bytes=30)
    assert await store.part_size(upload_id) == 30  # what fitted was kept
    assert await store.commit_part(upload_id, "projects/p/source.mp4") == 30
    assert await store.commit_part(upload_id, "projects/p/source.mp4") == 30  # a retried commit
    assert (tmp_path / "projects/p/source.mp4").read_bytes() == b"a" * 10 + b"b" * 10 + b"z" * 5 + b"y" * 5
