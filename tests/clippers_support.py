"""Helpers for clipper programme tests: members with roles and tokens, sandbox videos."""

from __future__ import annotations

import uuid
from typing import Any

from reelflow.storage.db import session_scope
from reelflow.storage.repositories.identity import IdentityRepository
from reelflow.web.routes.identity import issue_token


async def member(client: Any, owner: Any, role: str, email: str | None = None) -> dict[str, str]:
    """Add a member with `role` through the API and mint a token for them (like `reelflow admin`)."""
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    added = await client.post("/api/v1/members", headers=owner.headers, json={"email": email, "role": role})
    assert added.status_code == 201, added.text
    async with session_scope() as session:
        repo = IdentityRepository(session)
        user = await repo.get_user_by_email(email)
        assert user is not None
        token = await issue_token(
            repo, workspace_id=uuid.UUID(owner.workspace_id), user_id=user.id, name="t", expires_in_days=None
        )
    return {"Authorization": f"Bearer {token.token}", "user_id": str(user.id)}


def headers(m: dict[str, str]) -> dict[str, str]:
    return {"Authorization": m["Authorization"]}


def public_videos(now: float, count: int, *, min_age_h: float = 6.0) -> list[tuple[int, str]]:
    """(video id, canonical URL) of sandbox videos that are public and a few hours old."""
    from reelflow.sandbox.world import get_world

    world = get_world()
    out: list[tuple[int, str]] = []
    for creator in world.creators[5:]:
        for vid in world.videos_of(creator, now):
            if (now - (vid >> 32)) / 3600 < min_age_h or (now - (vid >> 32)) / 3600 > 24 * 20:
                continue
            stats = world.stats(vid, now)
            if stats is None or stats.views < 1000:
                continue
            out.append((vid, f"https://www.tiktok.com/@{creator.handle}/video/{vid}"))
            if len(out) == count:
                return out
            break
    raise AssertionError("not enough sandbox videos")
