"""Helpers for tests that look into the blob store, whichever it is (S3 or a folder)."""

from __future__ import annotations

from typing import Any

import httpx

from reelflow.storage.blobs import LocalBlobStore, S3BlobStore, get_blob_store


async def blob_names(prefix: str) -> list[str]:
    """Names (last path segment) of the blobs directly or indirectly under `prefix`."""
    store = get_blob_store()
    if isinstance(store, S3BlobStore):
        return sorted(key.rsplit("/", 1)[-1] for key, _ in await store._keys_under(prefix.rstrip("/") + "/"))
    assert isinstance(store, LocalBlobStore)
    folder = store.path(prefix.rstrip("/"))
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def fetch_blob(client: Any, url: str) -> httpx.Response:
    """GET a download link: a presigned S3 URL over real HTTP, an API path through `client`."""
    if url.startswith("http://testserver"):
        return await client.get(url)  # type: ignore[no-any-return]
    async with httpx.AsyncClient() as plain:
        return await plain.get(url)
