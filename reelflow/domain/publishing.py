"""Publishing rules without I/O: platform limits, request validation, caption templates.

Limits (publishing.md §5.2–5.3): TikTok caption ≤ 2,200 UTF-16 code units, video ≤ 10 min
(and ≤ the creator's `max_video_post_duration_sec`), ≤ 287 MB here (the product's cap, below
TikTok's 4 GB); privacy one of the creator's `privacy_level_options`. YouTube title ≤ 100
characters without `<` or `>`, description ≤ 5,000 bytes, tags ≤ 500 characters in total.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from reelflow.errors import InvalidInput

TIKTOK_PRIVACY = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
# What the API accepts (TikTok spells the second one MUTUAL_FOLLOW_FRIENDS).
TIKTOK_PRIVACY_ALIASES = {"MUTUAL_FOLLOW_FRIEND": "MUTUAL_FOLLOW_FRIENDS"}
YOUTUBE_PRIVACY = ("public", "unlisted", "private")
TIKTOK_CAPTION_MAX = 2200
TIKTOK_MAX_DURATION_S = 600
TIKTOK_MAX_BYTES = 287 * 1024 * 1024
YOUTUBE_TITLE_MAX = 100
YOUTUBE_DESCRIPTION_MAX_BYTES = 5000
YOUTUBE_TAGS_MAX_CHARS = 500
YOUTUBE_SHORTS_MAX_S = 180
SCHEDULE_MAX_AHEAD = timedelta(days=180)
STATE_TTL = timedelta(minutes=10)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def normalise_tiktok_privacy(value: str) -> str:
    value = TIKTOK_PRIVACY_ALIASES.get(value, value)
    if value not in TIKTOK_PRIVACY:
        raise InvalidInput(f"privacy must be one of {', '.join(TIKTOK_PRIVACY)}", field="privacy")
    return value


def check_youtube_privacy(value: str) -> str:
    if value not in YOUTUBE_PRIVACY:
        raise InvalidInput(f"privacy must be one of {', '.join(YOUTUBE_PRIVACY)}", field="privacy")
    return value


def check_tiktok_caption(caption: str) -> str:
    if utf16_len(caption) > TIKTOK_CAPTION_MAX:
        raise InvalidInput(f"caption is over {TIKTOK_CAPTION_MAX} characters (UTF-16)", field="caption")
    return caption


def check_youtube_text(title: str, description: str, tags: Sequence[str]) -> None:
    if not title.strip():
        raise InvalidInput("title is required for YouTube", field="title")
    if len(title) > YOUTUBE_TITLE_MAX:
        raise InvalidInput(f"title is over {YOUTUBE_TITLE_MAX} characters", field="title")
    if re.search(r"[<>]", title):
        raise InvalidInput("title may not contain < or >", field="title")
    if len(description.encode()) > YOUTUBE_DESCRIPTION_MAX_BYTES:
        raise InvalidInput(f"description is over {YOUTUBE_DESCRIPTION_MAX_BYTES} bytes", field="description")
    if sum(len(t) for t in tags) + max(0, len(tags) - 1) > YOUTUBE_TAGS_MAX_CHARS:
        raise InvalidInput(f"tags are over {YOUTUBE_TAGS_MAX_CHARS} characters in total", field="tags")


def check_tiktok_video(duration_s: float, size_bytes: int, *, creator_max_s: int | None = None) -> None:
    limit = min(TIKTOK_MAX_DURATION_S, creator_max_s or TIKTOK_MAX_DURATION_S)
    if duration_s > limit:
        raise InvalidInput(f"the clip is {duration_s:.0f} s; this account may post at most {limit} s", field="clip_id")
    if size_bytes > TIKTOK_MAX_BYTES:
        raise InvalidInput(f"the clip is {size_bytes} bytes; TikTok publishing allows at most 287 MB", field="clip_id")


def check_tiktok_privacy_allowed(privacy: str, options: Sequence[str]) -> None:
    if options and privacy not in options:
        raise InvalidInput(
            f"privacy {privacy} is not allowed for this account (creator_info allows: {', '.join(options)})",
            field="privacy",
        )


def check_schedule(scheduled_at: datetime | None, now: datetime) -> datetime | None:
    """None or a time in the future (a past time is a mistake, not 'now')."""
    if scheduled_at is None:
        return None
    if scheduled_at.tzinfo is None:
        raise InvalidInput("scheduled_at needs a timezone (e.g. 2026-01-01T10:00:00Z)", field="scheduled_at")
    if scheduled_at <= now:
        raise InvalidInput("scheduled_at is in the past; leave it out to publish now", field="scheduled_at")
    if scheduled_at - now > SCHEDULE_MAX_AHEAD:
        raise InvalidInput("scheduled_at is more than 180 days ahead", field="scheduled_at")
    return scheduled_at


def render_caption(template: str | None, *, title: str, hashtags: Sequence[str]) -> str:
    """`{title}` and `{hashtags}` (space-separated, each with one leading #)."""
    tags = " ".join("#" + h.lstrip("#") for h in hashtags if h.strip("# "))
    if not template:
        return " ".join(part for part in (title, tags) if part)
    return template.replace("{title}", title).replace("{hashtags}", tags).strip()


def publish_marker(publication_id_hex: str) -> str:
    """A tag set on the YouTube video, so a lost upload answer can be found in the channel."""
    return f"rf{publication_id_hex[:16]}"
