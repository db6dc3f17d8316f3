"""Helpers for clipper programme tests: members with roles and tokens, sandbox videos."""

from __future__ import annotations

import uuid
from typing import Any


async def member(client: Any, owner: Any, role: str, mail_sink: Any, email: str | None = None) -> dict[str, str]:
    """Invite a member with `role` through the API and redeem the mailed link (real SMTP sink)."""
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    invited = await client.post("/api/v1/members", headers=owner.headers, json={"email": email, "role": role})
    assert invited.status_code == 202, invited.text
    secret = mail_sink.last_to(email).links[0].split("token=", 1)[1]
    redeemed = await client.post("/api/v1/auth/redeem", json={"token": secret})
    assert redeemed.status_code == 200, redeemed.text
    body = redeemed.json()
    return {"Authorization": f"Bearer {body['token']['token']}", "user_id": str(body["user"]["id"])}


def adapters() -> dict[str, Any]:
    """The tracking round's adapters, from the composition point (sandbox by settings)."""
    from reelflow import composition

    platforms = composition.clipper_platforms()
    return {"runs": platforms.tiktok, "youtube": platforms.youtube}


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


def public_shorts(now: float, count: int, *, min_age_h: float = 6.0, skip: int = 0) -> list[tuple[str, str]]:
    """(YouTube id, canonical Shorts URL) of sandbox videos that are public and a few hours
    old, as clippers' Shorts (the sandbox answers videos.list for them)."""
    from reelflow.sandbox.youtube import short_id

    return [
        (short_id(vid), f"https://www.youtube.com/shorts/{short_id(vid)}")
        for vid, _ in public_videos(now, count + skip, min_age_h=min_age_h)[skip:]
    ]
