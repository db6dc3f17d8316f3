"""Creator discovery: the rules, without I/O.

Campaigns (draft → active → completed, or archived), search requests (TikTok keywords,
Instagram similar-to-a-handle), targets, progress, contact hints found in bios, engagement,
the CSV export's cell escaping, and the image proxy's signed links and host allow-list.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reelflow.errors import Conflict, Forbidden, InvalidInput

SearchType = Literal["keyword", "similar"]
SearchPlatform = Literal["tiktok", "instagram"]

SEARCH_TYPES: tuple[str, ...] = ("keyword", "similar")
# YouTube is left out: the ScrapeCreators adapter has no keyword channel search.
SEARCH_PLATFORMS: dict[str, str] = {"tiktok": "keyword", "instagram": "similar"}
TARGETS: tuple[int, ...] = (100, 500, 1000)
CAMPAIGN_STATUSES: tuple[str, ...] = ("draft", "active", "completed", "archived")
SEARCH_STATUSES: tuple[str, ...] = ("pending", "processing", "completed", "timeout", "error", "cancelled")
OPEN_SEARCH = ("pending", "processing")
TERMINAL_SEARCH = ("completed", "timeout", "error", "cancelled")

MAX_KEYWORDS = 10
MAX_KEYWORD_LENGTH = 100
MAX_NAME = 200
MAX_DESCRIPTION = 2000

# Campaign status moves a client may ask for (active is set when the first search starts).
_CAMPAIGN_MOVES: dict[str, set[str]] = {
    "draft": {"archived"},
    "active": {"completed", "archived"},
    "completed": {"active", "archived"},
    "archived": {"draft", "active", "completed"},  # unarchive back to where it makes sense
}

_HANDLE = re.compile(r"^[A-Za-z0-9._]{1,30}$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,24}")
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'·|,]+|\b[a-z0-9-]+\.(?:ee|bio|me|link|com|co|io|page)/[^\s<>\"'·|,]+", re.I
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- campaigns ---------------------------------------------------------------------------------


def clean_name(value: str, *, field: str = "name") -> str:
    name = " ".join(value.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"must be 1 to {MAX_NAME} characters", field=field)
    return name


def clean_description(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"must be at most {MAX_DESCRIPTION} characters", field="description")
    return text or None


def check_search_type(value: str) -> str:
    if value not in SEARCH_TYPES:
        raise InvalidInput(f"must be one of {', '.join(SEARCH_TYPES)}", field="search_type")
    return value


def check_campaign_move(current: str, wanted: str) -> str:
    """A status change asked for by a client; 422 for an unknown status, 409 for a bad move."""
    if wanted not in CAMPAIGN_STATUSES:
        raise InvalidInput(f"must be one of {', '.join(CAMPAIGN_STATUSES)}", field="status")
    if wanted == current:
        return wanted
    if wanted not in _CAMPAIGN_MOVES[current]:
        raise Conflict(f"a {current} campaign cannot become {wanted}", campaign_status=current)
    return wanted


# --- search requests ---------------------------------------------------------------------------


def normalise_keywords(values: Sequence[Any] | None) -> list[str]:
    """1–10 keywords, each 1–100 characters after trimming (inner whitespace collapsed),
    de-duplicated case-insensitively (the first spelling wins, order kept)."""
    if not values:
        raise InvalidInput("give 1 to 10 keywords", field="keywords")
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(values):
        if not isinstance(raw, str):
            raise InvalidInput("keywords are strings", field=f"keywords[{i}]")
        keyword = " ".join(raw.split())
        if not 1 <= len(keyword) <= MAX_KEYWORD_LENGTH:
            raise InvalidInput(f"each keyword is 1 to {MAX_KEYWORD_LENGTH} characters", field=f"keywords[{i}]")
        folded = keyword.casefold()
        if folded not in seen:
            seen.add(folded)
            out.append(keyword)
    if len(out) > MAX_KEYWORDS:
        raise InvalidInput(f"at most {MAX_KEYWORDS} distinct keywords", field="keywords")
    return out


def normalise_handle(value: str | None, *, field: str = "handle") -> str:
    """An Instagram username: 1–30 of letters, digits, `.` and `_`; no leading/trailing or
    doubled dot. A leading `@` and an instagram.com URL are accepted and stripped."""
    if not value or not value.strip():
        raise InvalidInput("an Instagram handle is required", field=field)
    text = value.strip()
    match = re.match(r"^(?:https?://)?(?:www\.)?instagram\.com/([^/?#]+)/?(?:[?#].*)?$", text, re.I)
    if match:
        text = match.group(1)
    handle = text.lstrip("@").lower()
    if not _HANDLE.match(handle) or handle.startswith(".") or handle.endswith(".") or ".." in handle:
        raise InvalidInput("not a valid Instagram handle (letters, digits, '.', '_'; up to 30)", field=field)
    return handle


def check_target(value: int) -> int:
    if value not in TARGETS:
        raise InvalidInput(f"must be one of {', '.join(map(str, TARGETS))}", field="target")
    return value


@dataclass(frozen=True)
class SearchSpec:
    platform: str
    kind: str  # keyword | similar
    keywords: list[str]
    handle: str | None
    target: int


def validate_search(
    *,
    campaign_type: str,
    platform: str,
    target: int,
    keywords: Sequence[Any] | None = None,
    handle: str | None = None,
) -> SearchSpec:
    if platform not in SEARCH_PLATFORMS:
        raise InvalidInput(
            "must be tiktok (keywords) or instagram (similar to a handle); youtube search is not available",
            field="platform",
        )
    kind = SEARCH_PLATFORMS[platform]
    if kind != campaign_type:
        raise InvalidInput(f"a {campaign_type} campaign cannot run a {platform} ({kind}) search", field="platform")
    check_target(target)
    if kind == "keyword":
        if handle:
            raise InvalidInput("a keyword search takes keywords, not a handle", field="handle")
        return SearchSpec(platform, kind, normalise_keywords(keywords), None, target)
    if keywords:
        raise InvalidInput("a similar search takes a handle, not keywords", field="keywords")
    return SearchSpec(platform, kind, [], normalise_handle(handle), target)


def progress(found: int, target: int, status: str) -> int:
    """0–100; a search that ended (however) is 100."""
    if status in TERMINAL_SEARCH:
        return 100
    if target <= 0:
        return 0
    return max(0, min(99, found * 100 // target))


# --- creators -----------------------------------------------------------------------------------


def extract_emails(*texts: str | None) -> list[str]:
    found: dict[str, None] = {}
    for text in texts:
        for match in _EMAIL.findall(text or ""):
            found.setdefault(match.strip(".").lower(), None)
    return list(found)


def extract_links(*texts: str | None) -> list[str]:
    found: dict[str, None] = {}
    for text in texts:
        cleaned = _EMAIL.sub(" ", text or "")
        for match in _URL.findall(cleaned):
            url = match.rstrip(".,;:!?)")
            if not url.lower().startswith(("http://", "https://")):
                url = "https://" + url
            found.setdefault(url, None)
    return list(found)


def video_summary(videos: Iterable[Mapping[str, Any]]) -> tuple[int | None, float | None]:
    """Average views and engagement rate ((likes + comments + shares) / views) over the
    matching videos that report views; None when none do."""
    views_total = engaged = count = 0
    for video in videos:
        views = video.get("views")
        if views is None:
            continue
        count += 1
        views_total += int(views)
        engaged += int(video.get("likes") or 0) + int(video.get("comments") or 0) + int(video.get("shares") or 0)
    if count == 0:
        return None, None
    rate = round(engaged / views_total, 6) if views_total > 0 else None
    return views_total // count, rate


def merge_videos(existing: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], cap: int) -> list[Any]:
    """Matching videos of one creator: unique by id, most viewed first, at most `cap`."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for video in [*existing, *new]:
        by_id[str(video.get("id"))] = video
    ordered = sorted(by_id.values(), key=lambda v: (-(v.get("views") or 0), str(v.get("id"))))
    return [dict(v) for v in ordered[:cap]]


# --- CSV export ---------------------------------------------------------------------------------


def csv_cell(value: Any) -> str:
    """A cell safe to open in a spreadsheet: text starting with = + - @ (or a tab / CR,
    which some spreadsheets strip first) gets a leading apostrophe so it is never run as a
    formula. Numbers are written as numbers (a negative number is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


# --- image proxy --------------------------------------------------------------------------------


def sign_image_url(secret: bytes, url: str) -> str:
    """`{base64url(url)}.{hmac}`: a link only the API can make (no open proxy). It does not
    expire, so browsers and the blob cache keep one key per image."""
    encoded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    mac = hmac.new(secret, b"discovery-image\n" + url.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{encoded}.{mac}"


def verify_image_token(secret: bytes, token: str) -> str:
    """The URL inside a signed token; Forbidden when it was not signed by us."""
    encoded, _, mac = token.rpartition(".")
    if not encoded or len(mac) != 32 or not mac.isascii():  # compare_digest refuses non-ASCII text
        raise Forbidden("not a signed image link")
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Forbidden("not a signed image link") from None
    expected = hmac.new(secret, b"discovery-image\n" + url.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(expected, mac):
        raise Forbidden("the image link's signature is not valid")
    return url


def parse_host_patterns(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in (value or "").split(",") if p.strip())


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """`*.example.com` matches subdomains of example.com (and example.com itself); other
    patterns match the host exactly (ports are part of neither)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            base = pattern[2:]
            if host == base or host.endswith("." + base):
                return True
        elif fnmatch.fnmatchcase(host, pattern) if "*" in pattern else host == pattern:
            return True
    return False


def image_cache_key(url: str) -> str:
    return "discovery/images/" + hashlib.sha256(url.encode()).hexdigest()
