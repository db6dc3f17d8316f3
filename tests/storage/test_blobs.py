"""Both blob stores behind one interface: the local folder and S3 (the embedded SeaweedFS)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelflow.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from reelflow.storage.blobs import BlobStore, LocalBlobStore, S3BlobStore, get_blob_store


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, services: Any, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    configured = get_blob_store()
    assert isinstance(configured, S3BlobStore), "the tests run on the embedded S3 server by default"
    return configured


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_write_read_size_delete(store: BlobStore) -> None:
    base = f"t/{uuid.uuid4().hex}"
    assert await store.write_stream(f"{base}/a.bin", _chunks(b"ab", b"cd")) == 4
    assert await store.read_bytes(f"{base}/a.bin") == b"abcd"
    assert b"".join([c async for c in store.read_stream(f"{base}/a.bin")]) == b"abcd"
    assert await store.size(f"{base}/a.bin") == 4
    await store.write_bytes(f"{base}/sub/b.txt", b"x")
    async with store.local_file(f"{base}/a.bin") as path:
        assert path.read_bytes() == b"abcd"
    await store.delete(f"{base}/a.bin")
    assert await store.size(f"{base}/a.bin") is None
    with pytest.raises(NotFound):
        await store.read_bytes(f"{base}/a.bin")
    with pytest.raises(NotFound):
        async with store.local_file(f"{base}/a.bin"):
            pass
    await store.delete_prefix(base)
    assert await store.size(f"{base}/sub/b.txt") is None


async def test_too_large_keeps_nothing(store: BlobStore) -> None:
    key = f"t/{uuid.uuid4().hex}.bin"
    with pytest.raises(PayloadTooLarge):
        await store.write_stream(key, _chunks(b"x" * 10, b"y" * 10), max_bytes=15)
    assert await store.size(key) is None


async def test_resumable_parts(store: BlobStore) -> None:
    upload = uuid.uuid4()
    key = f"t/{uuid.uuid4().hex}/source.mp4"
    assert await store.part_size(upload) == 0
    assert await store.append_part(upload, 0, _chunks(b"hello "), max_bytes=11) == 6
    with pytest.raises(InvalidInput):
        await store.append_part(upload, 0, _chunks(b"again"), max_bytes=11)
    with pytest.raises(PayloadTooLarge):  # more than declared: the declared part is kept
        await store.append_part(upload, 6, _chunks(b"world!!!"), max_bytes=11)
    assert await store.part_size(upload) == 11
    assert await store.commit_part(upload, key) == 11
    assert await store.read_bytes(key) == b"hello world"
    assert await store.part_size(upload) == 0
    assert await store.commit_part(upload, key) == 11  # a retried completion


async def test_a_dropped_connection_keeps_what_arrived(store: BlobStore) -> None:
    upload = uuid.uuid4()

    async def dropping() -> AsyncIterator[bytes]:
        yield b"abc"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await store.append_part(upload, 0, dropping(), max_bytes=100)
    assert await store.part_size(upload) == 3
    await store.discard_part(upload)
    assert await store.part_size(upload) == 0


async def test_s3_concurrent_writers_of_one_range_conflict(services: Any) -> None:
    store = get_blob_store()
    assert isinstance(store, S3BlobStore)
    upload = uuid.uuid4()
    gate = asyncio.Event()

    async def slow(data: bytes) -> AsyncIterator[bytes]:
        yield data
        await gate.wait()

    first = asyncio.ensure_future(store.append_part(upload, 0, slow(b"one"), max_bytes=10))
    second = asyncio.ensure_future(store.append_part(upload, 0, slow(b"two"), max_bytes=10))
    await asyncio.sleep(0.1)
    gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "int"], results
    assert any(isinstance(r, Conflict) for r in results)
    assert await store.part_size(upload) == 3


async def test_s3_presigned_download(services: Any) -> None:
    store = get_blob_store()
    assert isinstance(store, S3BlobStore)
    key = f"t/{uuid.uuid4().hex}/clip.mp4"
    await store.write_bytes(key, b"\x00video")
    url = store.presigned_get(key, 60)
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        assert response.status_code == 200 and response.content == b"\x00video"
        assert response.headers["content-type"] == "video/mp4"
        assert (await http.get(url.split("?")[0])).status_code == 403  # no signature, no bytes
        assert (await http.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))).status_code == 403


def test_embedded_s3_keeps_data_across_restart_and_is_reused(tmp_path: Path) -> None:
    from reelflow.storage.embedded import start_seaweedfs, stop_seaweedfs

    proc, env = start_seaweedfs(tmp_path / "weed")
    try:
        reused, same = start_seaweedfs(tmp_path / "weed")  # a second process finds it running
        assert reused is None and same == env
        store = S3BlobStore.from_url(
            env["REELFLOW_BLOB_URL"],
            endpoint=env["REELFLOW_BLOB__ENDPOINT"],
            access_key_id=env["REELFLOW_BLOB__ACCESS_KEY_ID"],
            secret_access_key=env["REELFLOW_BLOB__SECRET_ACCESS_KEY"],
            temp_dir=tmp_path / "tmp",
        )
        asyncio.run(store.write_bytes("kept/a.txt", b"kept"))
    finally:
        assert proc is not None
        stop_seaweedfs(proc)
    proc, env2 = start_seaweedfs(tmp_path / "weed")
    try:
        assert env2["REELFLOW_BLOB__SECRET_ACCESS_KEY"] == env["REELFLOW_BLOB__SECRET_ACCESS_KEY"]
        store = S3BlobStore.from_url(
            env2["REELFLOW_BLOB_URL"],
            endpoint=env2["REELFLOW_BLOB__ENDPOINT"],
            access_key_id=env2["REELFLOW_BLOB__ACCESS_KEY_ID"],
            secret_access_key=env2["REELFLOW_BLOB__SECRET_ACCESS_KEY"],
            temp_dir=tmp_path / "tmp",
        )
        assert asyncio.run(store.read_bytes("kept/a.txt")) == b"kept"
    finally:
        assert proc is not None
        stop_seaweedfs(proc)
