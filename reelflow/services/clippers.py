"""Clipper programmes: campaigns, submissions, view tracking, earnings, payouts, analytics.

Money rules live in `reelflow.domain.clippers` (docs/clippers.md); the use cases that apply
them to the database are split by role and re-exported here:

- `clippers_base`: role checks and the session scope type;
- `clippers_campaigns`: campaigns and their analytics;
- `clippers_submissions`: submissions and their review (approval reads the baseline);
- `clippers_tracking`: tracking rounds (Apify runs for TikTok, the YouTube Data API for
  Shorts) and the earnings they credit;
- `clippers_payouts`: balances, payouts, per-clipper analytics, the ledger as CSV.

Adapters are handed in (typed by protocols): a `ShortLinkResolver` and `ClipStats` for
submissions and approvals, `AsyncScraperRuns` and `StatsByIds` for tracking rounds.
"""

from __future__ import annotations

from reelflow.services.clippers_base import SessionScope, is_manager, require_manager
from reelflow.services.clippers_campaigns import (
    CampaignInput,
    campaign_analytics,
    create_campaign,
    get_campaign,
    list_campaigns,
    update_campaign,
)
from reelflow.services.clippers_payouts import (
    LEDGER_COLUMNS,
    approve_payout,
    balance,
    clipper_analytics,
    ledger_csv,
    list_payouts,
    mark_payout_paid,
    reject_payout,
    request_payout,
)
from reelflow.services.clippers_submissions import (
    approve_submission,
    get_submission,
    list_submissions,
    reject_submission,
    submit_clip,
)
from reelflow.services.clippers_tracking import (
    DONE_STATUSES,
    TrackingResult,
    credit_earnings,
    start_tracking,
    track_views,
    workspaces_to_track,
)

__all__ = [
    "DONE_STATUSES",
    "LEDGER_COLUMNS",
    "CampaignInput",
    "SessionScope",
    "TrackingResult",
    "approve_payout",
    "approve_submission",
    "balance",
    "campaign_analytics",
    "clipper_analytics",
    "create_campaign",
    "credit_earnings",
    "get_campaign",
    "get_submission",
    "is_manager",
    "ledger_csv",
    "list_campaigns",
    "list_payouts",
    "list_submissions",
    "mark_payout_paid",
    "reject_payout",
    "reject_submission",
    "request_payout",
    "require_manager",
    "start_tracking",
    "submit_clip",
    "track_views",
    "update_campaign",
    "workspaces_to_track",
]
