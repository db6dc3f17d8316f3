"""Helpers for the publishing tests: connect sandbox accounts through the real OAuth flow
(API → sandbox consent → API callback), and make a ready clip with a small video blob."""

from __future__ import annotations

import os
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.conftest import Account


async def connect(client: Any, account: Account, provider: str, user: str) -> dict[str, Any]:
    """Connect sandbox user `user` (a world creator handle) as a TikTok or YouTube account."""
    response = await oauth_redirect(client, account, provider, user)
    parts = urlsplit(response.headers["location"])
    callback = await client.get(f"{parts.path}?{parts.query}")
    assert callback.status_code == 200, callback.text
    return dict(callback.json())


async def oauth_redirect(client: Any, account: Account, provider: str, user: str) -> httpx.Response:
    """Start the flow and follow the consent page; returns the platform's 302 to our callback."""
    params = {"login_hint": user} if provider == "google" else {}
    start = await client.get(f"/api/v1/oauth/{provider}/start", headers=account.headers, params=params)
    assert start.status_code == 200, start.text
    url = start.json()["authorize_url"]
    if provider == "tiktok":
        url += f"&sandbox_user={user}"
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url)
    assert response.status_code == 302, response.text
    return response


async def sandbox_users(sandbox: Any, count: int = 3) -> list[str]:
    return [c["handle"] for c in await sandbox.world("creators", limit=count)]


async def make_clip(
    session: Any,
    workspace_id: str,
    *,
    status: str = "ready",
    seconds: float = 20.0,
    size: int = 300_000,
    title: str = "Launch day",
    rank: int = 1,
    project_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A project and one clip with a video blob of `size` bytes; returns (project_id, clip_id)."""
    from reelflow.storage.blobs import get_blob_store
    from reelflow.storage.models.clipping import Clip, Project
    from reelflow.storage.repositories.clipping import ClippingRepository

    ws = uuid.UUID(workspace_id)
    if project_id is None:
        project: Project = await ClippingRepository(session).create_project(
            workspace_id=ws,
            created_by=None,
            title=title,
            status="clips_ready",
            source_kind="url",
            source_url="https://example.com/v.mp4",
            options={},
        )
        project_id = project.id
    clip_id = uuid.uuid4()
    key = f"tests/publishing/{clip_id}.mp4"
    await get_blob_store().write_bytes(key, os.urandom(size))
    session.add(
        Clip(
            id=clip_id,
            workspace_id=ws,
            project_id=project_id,
            rank=rank,
            start_s=10.0,
            end_s=10.0 + seconds,
            score=0.9,
            reasons=[],
            text="the best bit of the talk",
            caption_style="bold",
            preset="tiktok_1080",
            status=status,
            video_key=key if status == "ready" else None,
            size_bytes=size,
        )
    )
    await session.commit()
    return project_id, clip_id
