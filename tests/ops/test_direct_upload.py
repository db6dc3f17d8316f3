"""Direct upload: the client PUTs the file straight to the blob store (embedded SeaweedFS) in
pieces, over real HTTP to presigned URLs, then completes; the API checks the size, commits
the pieces, sniffs the first bytes and starts the pipeline, whose probe fails (and refunds)
a broken file. With the local folder store a direct upload is a 409 before any charge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reelflow.storage.blobs import S3BlobStore, get_blob_store
from tests.clipping_support import OPTIONS, Media, fast_settings, media, project

__all__ = ["fast_settings", "media"]

PART = 64 * 1024
CLIPPING_METRICS = ("projects", "source_minutes", "clips")


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    from reelflow.settings import reset_settings_cache

    if not isinstance(get_blob_store(), S3BlobStore):
        pytest.skip("direct upload needs the S3 store (TEST_BLOB_URL names a folder)")
    monkeypatch.setenv("REELFLOW_BLOB__DIRECT_PART_BYTES", str(PART))
    reset_settings_cache()
    yield PART
    monkeypatch.undo()
    reset_settings_cache()


async def _usage(client: Any, headers: dict[str, str]) -> dict[str, int]:
    body = (await client.get("/api/v1/usage", headers=headers)).json()
    return {name: metric["used"] for name, metric in body["metrics"].items() if name in CLIPPING_METRICS}


async def _start(client: Any, headers: dict[str, str], size: int) -> dict[str, Any]:
    body = {"filename": "talk.mp4", "size_bytes": size, "content_type": "video/mp4", "direct": True,
            "options": OPTIONS}  # fmt: skip
    created = await client.post("/api/v1/uploads", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _put_parts(parts: list[dict[str, Any]], data: bytes) -> None:
    async with httpx.AsyncClient(timeout=30) as bucket:  # real HTTP, straight to SeaweedFS
        for part in parts:
            piece = data[part["offset"] : part["offset"] + part["size"]]
            response = await bucket.put(part["url"], content=piece)
            assert response.status_code == 200, response.text


async def test_direct_upload_goes_to_the_bucket_and_clips_end_to_end(
    client: Any, signup: Any, run_jobs: Any, media: Media, fast_settings: Any, small_parts: int
) -> None:
    account = await signup()
    data = media.talk.read_bytes()
    created = await _start(client, account.headers, len(data))
    direct = created["upload"]["direct"]
    parts = direct["parts"]
    assert direct["part_bytes"] == small_parts and len(parts) == -(-len(data) // small_parts) > 2
    assert sum(p["size"] for p in parts) == len(data)
    assert all("X-Amz-Signature=" in p["url"] and "X-Amz-Expires=" in p["url"] for p in parts)
    assert not parts[0]["url"].startswith("http://testserver")  # the bucket, not the API

    # A presigned URL is for its own piece only: tampering with the path breaks the signature.
    async with httpx.AsyncClient(timeout=30) as bucket:
        forged = await bucket.put(parts[0]["url"].replace("/000000000000000?", "/000000000000001?"), content=b"x")
        assert forged.status_code == 403

    # Pieces in any order; completing with one missing says where to resume and starts nothing.
    await _put_parts(list(reversed(parts[1:])), data)
    early = await client.post(direct["complete_url"])
    assert early.status_code == 409, early.text
    assert early.json()["received_bytes"] == 0
    assert (await project(client, account.headers, created["id"]))["status"] == "uploading"
    await _put_parts(parts[:1], data)
    # The signed upload URL's GET reports the bytes in the bucket (resume from there).
    status = await client.get(created["upload"]["upload_url"])
    assert status.json()["received_bytes"] == len(data)

    done = await client.post(direct["complete_url"])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "complete" and done.json()["run_id"]
    again = await client.post(direct["complete_url"])  # harmless to repeat
    assert again.status_code == 200 and again.json()["run_id"] == done.json()["run_id"]

    await run_jobs(["media"], timeout=300)
    body = await project(client, account.headers, created["id"])
    assert body["status"] == "clips_ready", body
    assert body["source"]["size_bytes"] == len(data)
    clips = (await client.get(f"/api/v1/projects/{created['id']}/clips", headers=account.headers)).json()
    assert clips
    assert (await _usage(client, account.headers))["projects"] == 1


async def test_direct_upload_of_a_broken_file_fails_in_the_probe_and_is_refunded(
    client: Any, signup: Any, run_jobs: Any, media: Media, fast_settings: Any, small_parts: int
) -> None:
    account = await signup()
    data = media.corrupt.read_bytes()  # an MP4 header, then garbage: passes the sniff, not the probe
    created = await _start(client, account.headers, len(data))
    await _put_parts(created["upload"]["direct"]["parts"], data)
    assert (await client.post(created["upload"]["direct"]["complete_url"])).status_code == 200
    assert (await _usage(client, account.headers))["projects"] == 1
    await run_jobs(["media"], timeout=120)
    body = await project(client, account.headers, created["id"])
    assert body["status"] == "failed", body
    assert (await _usage(client, account.headers)) == {"projects": 0, "source_minutes": 0, "clips": 0}


async def test_direct_upload_rejects_bytes_that_are_not_a_video_or_not_the_declared_size(
    client: Any, signup: Any, media: Media, small_parts: int
) -> None:
    account = await signup()
    text = media.text.read_bytes()
    created = await _start(client, account.headers, len(text))
    await _put_parts(created["upload"]["direct"]["parts"], text)
    refused = await client.post(created["upload"]["direct"]["complete_url"])
    assert refused.status_code == 415, refused.text
    assert (await project(client, account.headers, created["id"]))["status"] == "failed"
    assert (await _usage(client, account.headers))["projects"] == 0

    data = media.talk.read_bytes()[: small_parts + 1000]
    created = await _start(client, account.headers, len(data))
    parts = created["upload"]["direct"]["parts"]
    assert [p["size"] for p in parts] == [small_parts, 1000]
    await _put_parts(parts[:1], data)
    async with httpx.AsyncClient(timeout=30) as bucket:  # the last piece, with more than its size
        assert (await bucket.put(parts[1]["url"], content=data[small_parts:] + b"\0" * 500)).status_code == 200
    too_big = await client.post(created["upload"]["direct"]["complete_url"])
    assert too_big.status_code == 422, too_big.text
    assert too_big.json()["errors"][0]["field"] == "size_bytes"
    body = await project(client, account.headers, created["id"])
    assert body["status"] == "failed" and "more than the declared" in body["failure_reason"]
    assert (await _usage(client, account.headers))["projects"] == 0
    after = await client.post(created["upload"]["direct"]["complete_url"])
    assert after.status_code == 409  # the project no longer takes the file


async def test_direct_upload_with_the_local_store_is_a_409_before_any_charge(
    client: Any, signup: Any, tmp_path: Any
) -> None:
    from reelflow.composition import override
    from reelflow.storage.blobs import LocalBlobStore

    account = await signup()
    with override(blobs=LocalBlobStore(tmp_path / "blobs")):
        body = {"filename": "talk.mp4", "size_bytes": 1000, "content_type": "video/mp4", "direct": True}
        response = await client.post("/api/v1/uploads", json=body, headers=account.headers)
        assert response.status_code == 409, response.text
        assert "S3" in response.json()["detail"] and response.json()["errors"][0]["field"] == "direct"
        plain = await client.post("/api/v1/uploads", json={**body, "direct": False}, headers=account.headers)
        assert plain.status_code == 201 and plain.json()["upload"]["direct"] is None
    assert (await _usage(client, account.headers))["projects"] == 1  # only the plain upload
