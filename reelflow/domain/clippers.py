"""Clipper programmes: the money rules, pure and in integer minor units (never floats).

Earnings of one submission (its *entitlement*) derive from the highest view count ever read
for it, so a count that goes down never takes back money:

    payable  = max(0, peak_views - baseline_views)
    entitled = 0                                   if payable < min_views
             = min(payable * rate_per_1000 // 1000, max_per_submission)   otherwise

(rounded down to the minor unit). What is credited to a submission is `entitled` minus what the
ledger already credited it, and never below zero, so re-running the same readings credits nothing.

Budget cap: **first-come by approval time**. When the new credits of a campaign would exceed
its remaining budget, submissions are served in order of approval time (then id) and the one
that crosses the line gets the remainder; later ones get nothing. The campaign is then
`budget_exhausted`. The sum of credits therefore never exceeds the budget.

Balances derive from the ledger: available = credited - paid - pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from reelflow.errors import Conflict, InvalidInput

CampaignStatus = Literal["draft", "active", "paused", "budget_exhausted", "ended"]
CAMPAIGN_STATUSES: tuple[CampaignStatus, ...] = ("draft", "active", "paused", "budget_exhausted", "ended")
SUBMISSION_STATUSES = ("pending", "approved", "rejected", "stopped")
PAYOUT_STATUSES = ("requested", "approved", "paid", "rejected")
PLATFORMS = ("tiktok", "youtube")
CURRENCIES = frozenset({"USD", "EUR", "GBP", "CAD", "AUD"})

# Allowed status moves by an admin (budget_exhausted is set by the earnings run).
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "ended"}),
    "active": frozenset({"paused", "ended"}),
    "paused": frozenset({"active", "ended"}),
    "budget_exhausted": frozenset({"ended"}),
    "ended": frozenset(),
}


def check_transition(current: str, new: str) -> None:
    if new == current:
        return
    if new not in CAMPAIGN_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(CAMPAIGN_STATUSES)}", field="status")
    if new not in TRANSITIONS.get(current, frozenset()):
        raise Conflict(f"a {current} campaign cannot become {new}")


def check_money(value: int, field: str, *, positive: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("an integer amount in minor units", field=field)
    if value < 0 or (positive and value == 0):
        raise InvalidInput("must be " + ("positive" if positive else "zero or more"), field=field)
    return value


def check_currency(currency: str) -> str:
    code = currency.strip().upper()
    if code not in CURRENCIES:
        raise InvalidInput(f"currency must be one of {', '.join(sorted(CURRENCIES))}", field="currency")
    return code


def check_platforms(platforms: Sequence[str]) -> list[str]:
    if not platforms:
        raise InvalidInput("at least one platform", field="platforms")
    out = list(dict.fromkeys(p.strip().lower() for p in platforms))
    bad = [p for p in out if p not in PLATFORMS]
    if bad:
        raise InvalidInput(f"unknown platform {bad[0]!r}; one of {', '.join(PLATFORMS)}", field="platforms")
    return out


def check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")


# --- earnings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PayTerms:
    rate_per_1000: int  # minor units per 1,000 views
    min_views: int = 0  # views above the baseline before anything is paid
    max_per_submission: int | None = None  # minor units; None = no cap


def payable_views(peak_views: int, baseline_views: int) -> int:
    return max(0, peak_views - baseline_views)


def entitlement(peak_views: int, baseline_views: int, terms: PayTerms) -> int:
    """What a submission has earned in total, in minor units (rounded down)."""
    payable = payable_views(peak_views, baseline_views)
    if payable <= 0 or payable < terms.min_views:
        return 0
    amount = payable * terms.rate_per_1000 // 1000
    if terms.max_per_submission is not None:
        amount = min(amount, terms.max_per_submission)
    return amount


@dataclass(frozen=True)
class Claim:
    submission_id: uuid.UUID
    approved_at: datetime
    entitled: int  # total earned so far (entitlement)
    credited: int  # already credited by the ledger


@dataclass(frozen=True)
class Allocation:
    credits: dict[uuid.UUID, int]  # new credits (only > 0)
    spent_after: int
    exhausted: bool


def allocate(claims: Iterable[Claim], *, budget: int, spent: int) -> Allocation:
    """New credits for a campaign: each submission's entitlement minus its credited amount,
    served first-come by approval time until the budget is used up."""
    remaining = max(0, budget - spent)
    credits: dict[uuid.UUID, int] = {}
    wanted_more = False
    for claim in sorted(claims, key=lambda c: (c.approved_at, str(c.submission_id))):
        due = max(0, claim.entitled - claim.credited)
        if due <= 0:
            continue
        give = min(due, remaining)
        if give < due:
            wanted_more = True
        if give > 0:
            credits[claim.submission_id] = give
            remaining -= give
    return Allocation(
        credits=credits, spent_after=spent + sum(credits.values()), exhausted=wanted_more or remaining == 0
    )


# --- balances ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    credited: int
    paid: int
    pending: int  # requested or approved payouts not yet paid

    @property
    def available(self) -> int:
        return self.credited - self.paid - self.pending


def check_payout_request(amount: int, balance: Balance, minimum: int) -> int:
    check_money(amount, "amount_minor", positive=True)
    if amount < minimum:
        raise InvalidInput(f"the minimum payout is {minimum} minor units", field="amount_minor")
    if amount > balance.available:
        raise Conflict(f"only {balance.available} minor units are available")
    return amount


# --- URLs -------------------------------------------------------------------------------

TIKTOK_HOSTS = {"tiktok.com", "www.tiktok.com", "m.tiktok.com"}
TIKTOK_SHORT_HOSTS = {"vm.tiktok.com", "vt.tiktok.com"}
YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com"}


@dataclass(frozen=True)
class ClipUrl:
    platform: str
    url: str  # canonical
    video_id: str


def is_short_link(url: str) -> bool:
    parts = urlsplit(_with_scheme(url))
    host = parts.netloc.lower()
    return host in TIKTOK_SHORT_HOSTS or (host in TIKTOK_HOSTS and parts.path.startswith("/t/"))


def _with_scheme(url: str) -> str:
    url = url.strip()
    return url if "://" in url else f"https://{url}"


def normalise_clip_url(url: str) -> ClipUrl:
    """A canonical URL for a TikTok video or a YouTube Short; short links must be resolved first."""
    raw = _with_scheme(url)
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("an http(s) URL", field="url")
    host = parts.netloc.lower().split(":")[0]
    segments = [s for s in parts.path.split("/") if s]
    if host in TIKTOK_HOSTS:
        if len(segments) >= 3 and segments[0].startswith("@") and segments[1] == "video" and segments[2].isdigit():
            handle = segments[0][1:].lower()
            return ClipUrl("tiktok", f"https://www.tiktok.com/@{handle}/video/{segments[2]}", segments[2])
        raise InvalidInput("not a TikTok video URL (https://www.tiktok.com/@user/video/ID)", field="url")
    if host in YOUTUBE_HOSTS or host == "youtu.be":
        video_id = None
        if host == "youtu.be" and segments:
            video_id = segments[0]
        elif len(segments) >= 2 and segments[0] == "shorts":
            video_id = segments[1]
        if video_id and 6 <= len(video_id) <= 20 and all(c.isalnum() or c in "-_" for c in video_id):
            return ClipUrl("youtube", f"https://www.youtube.com/shorts/{video_id}", video_id)
        raise InvalidInput("not a YouTube Shorts URL (https://www.youtube.com/shorts/ID)", field="url")
    raise InvalidInput("a TikTok or YouTube Shorts URL", field="url")


def canonical_short_link(url: str) -> str:
    parts = urlsplit(_with_scheme(url))
    return urlunsplit(("https", parts.netloc.lower(), parts.path, "", ""))
