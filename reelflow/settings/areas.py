"""Settings groups of the product areas: monitoring, clipping, identity, publishing,
discovery, clipper programmes, ads and the autopilot. A new area adds its group here."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MonitoringSettings(BaseModel):
    """Rules, polling, engagement tiers and forecasts (defaults justified in docs/monitoring.md)."""

    # Rule polling: default and minimum interval per rule; how far back a rule's first poll
    # looks; page cap per poll (100 videos a page); rules polled at once by the flow.
    poll_interval_default_minutes: int = Field(default=60, ge=1)
    poll_interval_min_minutes: int = Field(default=15, ge=1)
    first_poll_lookback_days: int = Field(default=7, ge=1, le=30)
    poll_max_pages: int = Field(default=20, ge=1, le=1000)
    poll_concurrency: int = Field(default=4, ge=1, le=64)
    # Profiles (followers, name, avatar) fetched for newly found creators per poll: one
    # Research request each, from the same 1,000 requests/day; 0 keeps handles only.
    profiles_per_poll: int = Field(default=25, ge=0, le=1000)
    # Engagement tiers: velocity thresholds (views/hour) to enter each tier; a video leaves a
    # tier only when its velocity falls below threshold * (1 - hysteresis) (no flapping).
    ultra_hot_velocity: float = Field(default=5000.0, ge=0)
    hot_velocity: float = Field(default=1000.0, ge=0)
    warm_velocity: float = Field(default=100.0, ge=0)
    tier_hysteresis: float = Field(default=0.2, ge=0, lt=1)
    # Age floors (hours since posting): younger videos are checked at least this often.
    ultra_hot_max_age_hours: float = Field(default=1.0, ge=0)
    hot_max_age_hours: float = Field(default=4.0, ge=0)
    warm_max_age_hours: float = Field(default=12.0, ge=0)
    # Cold videos older than this whose velocity is under archive_velocity stop being checked.
    archive_after_hours: float = Field(default=168.0, ge=1)
    archive_velocity: float = Field(default=5.0, ge=0)
    # Minutes between engagement checks per tier (the engagement schedule runs every 30 min;
    # a video due within the grace window is taken by the current run, not the next one).
    cadence_ultra_hot_minutes: int = Field(default=30, ge=1)
    cadence_hot_minutes: int = Field(default=60, ge=1)
    cadence_warm_minutes: int = Field(default=180, ge=1)
    cadence_cold_minutes: int = Field(default=720, ge=1)
    due_grace_minutes: int = Field(default=5, ge=0)
    # Engagement refresh: videos handled per chunk (one select, fetch, write cycle), and
    # stats requests (100 ids each) in flight at once.
    refresh_chunk: int = Field(default=5_000, ge=1, le=100_000)
    stats_concurrency: int = Field(default=8, ge=1, le=64)


class ClippingSettings(BaseModel):
    """The clipping product: options, uploads, URL import (docs/clipping-api.md)."""

    default_preset: str = "tiktok_1080"
    default_caption_style: str = "bold"
    min_len_s: float = Field(default=15.0, gt=0)
    max_len_s: float = Field(default=60.0, gt=0, le=180)
    top_n: int = Field(default=5, ge=1, le=50)
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    upload_ttl_s: int = Field(default=24 * 3600, ge=60)
    url_max_bytes: int = Field(default=2 * 1024**3, ge=1024)
    url_timeout_s: float = Field(default=30.0, gt=0)
    # Extra origins (scheme://host:port) URL import may fetch from even when they resolve to
    # private addresses; honoured only outside production. The sandbox origin is always allowed
    # outside production.
    url_allow_origins: str | None = None


class IdentitySettings(BaseModel):
    """Logins, invitations, password resets and their limits (env `REELFLOW_IDENTITY__...`)."""

    invitation_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    reset_ttl_minutes: int = Field(default=60, ge=5, le=24 * 60)
    login_token_ttl_days: int = Field(default=30, ge=1, le=3650)
    # Failed logins allowed per window, per account and per client address.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_failure_window_s: int = Field(default=900, ge=10)
    password_min_length: int = Field(default=10, ge=8, le=128)
    # Where invitation and reset links point (the page that calls the redeem endpoint);
    # default: the API's own redeem URL.
    link_base_url: str | None = None


class PublishingSettings(BaseModel):
    """`REELFLOW_PUBLISHING__<FIELD>`: how a publish job waits on platform processing."""

    poll_interval_s: float = Field(default=2.0, gt=0)  # between status checks (TikTok allows 30/min)
    poll_inline_s: float = Field(default=20.0, ge=0)  # then the job retries later instead of sleeping
    max_attempts: int = Field(default=10, ge=1, le=50)


class DiscoverySettings(BaseModel):
    """Creator discovery (env `REELFLOW_DISCOVERY__<FIELD>`); see docs/discovery.md."""

    # A search still running this long after it started ends `timeout` (results kept).
    search_timeout_s: float = Field(default=3600.0, gt=0)
    # Searches past their deadline by this much are closed by the sweep (a job that died).
    sweep_grace_s: float = Field(default=60.0, ge=0)
    # Keywords paged at once inside one search; profiles expanded at once in a similar search.
    keyword_concurrency: int = Field(default=4, ge=1, le=32)
    similar_concurrency: int = Field(default=6, ge=1, le=32)
    # Safety cap on pages per keyword (the provider's cursor normally ends far earlier).
    max_pages_per_keyword: int = Field(default=200, ge=1, le=10_000)
    # Provider credits per call (ScrapeCreators: keyword search page 1, profile 1).
    credits_per_search_page: int = Field(default=1, ge=0)
    credits_per_profile: int = Field(default=1, ge=0)
    # Matching videos kept per creator per search.
    videos_per_creator: int = Field(default=5, ge=1, le=50)
    # A running search reports its progress to the runtime (the run's progress, an event) at
    # most this often; its own row (pages, creators found) is written with every page anyway.
    progress_every_s: float = Field(default=5.0, ge=0)
    # Image proxy: provider CDN hosts it may fetch (comma-separated; `*.` matches subdomains),
    # size and time limits, and how long clients may cache an image.
    image_hosts: str = (
        "*.tiktokcdn.com,*.tiktokcdn-us.com,*.tiktokcdn-eu.com,*.byteimg.com,*.ibyteimg.com,"
        "*.cdninstagram.com,*.fbcdn.net,*.ggpht.com,*.ytimg.com,*.googleusercontent.com"
    )
    image_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    image_timeout_s: float = Field(default=10.0, gt=0)
    image_max_redirects: int = Field(default=3, ge=0, le=10)
    image_cache_max_age_s: int = Field(default=7 * 86400, ge=0)


class ClippersSettings(BaseModel):
    """Clipper programmes (docs/clippers.md). Env: REELFLOW_CLIPPERS__<FIELD>."""

    # URLs per Apify run of a tracking round.
    tracking_batch_size: int = Field(default=50, ge=1, le=1000)
    # Apify runs of one round in flight at once.
    tracking_concurrency: int = Field(default=16, ge=1, le=256)
    # Batches writing to the database at once (keep it under the connection pool's size).
    tracking_db_concurrency: int = Field(default=4, ge=1, le=64)
    # Seconds between status checks of a running Apify run, and the most a round waits for one.
    run_poll_seconds: float = Field(default=0.5, gt=0)
    run_wait_seconds: float = Field(default=900.0, gt=0)
    # Apify's waitForFinish on a status read (0 to 60 s): the answer is held until the run ends.
    run_long_poll_seconds: float = Field(default=30.0, ge=0, le=60)
    # Smallest payout a clipper may request, in minor units.
    payout_minimum_minor: int = Field(default=1000, ge=1)


class AdsSettings(BaseModel):
    """Ads (TikTok Business): env ``REELFLOW_ADS__<FIELD>``."""

    # OAuth: how long a `start` link stays valid, and the callback TikTok redirects to
    # (unset → `{public_base_url}/api/v1/oauth/tiktok-business/callback/`).
    oauth_state_ttl_s: int = Field(default=900, ge=60, le=86400)
    oauth_redirect_uri: str | None = None
    # Budget changes through actions: at most this many per ad group per day, and each at
    # most this factor away from the current budget (TikTok's learning-phase guidance).
    budget_changes_per_day: int = Field(default=2, ge=1, le=100)
    budget_change_max_ratio: float = Field(default=0.5, gt=0, le=10)
    # use_existing mode: ads per ad group before a new one is used.
    adgroup_ad_capacity: int = Field(default=50, ge=1, le=1000)
    # Metrics collector: days back, accounts pulled at once, report page size.
    metrics_days: int = Field(default=7, ge=1, le=30)
    metrics_concurrency: int = Field(default=8, ge=1, le=128)
    metrics_page_size: int = Field(default=1000, ge=1, le=1000)
    # Reading API: campaigns/ad groups/ads of an account are cached this long (seconds).
    platform_cache_ttl_s: float = Field(default=30.0, ge=0, le=3600)
    # Uploaded creative files (bytes).
    creative_max_bytes: int = Field(default=500 * 1024 * 1024, ge=1024)


class LeadsSettings(BaseModel):
    """Leads and conversion events (env ``REELFLOW_LEADS__<FIELD>``); see docs/leads.md."""

    # `GET /ads/accounts/{id}/instant-pages` answers from Redis for this long (0: no cache).
    instant_pages_cache_ttl_s: int = Field(default=60, ge=0, le=3600)
    # Phone numbers written without a +country code are read in this region before hashing.
    phone_default_region: str = Field(default="KZ", min_length=2, max_length=2)
    # Events API `test_event_code` (events show in the pixel's test tab, not in reporting).
    events_test_code: str | None = None
    # Webhook receipt stores the lead and answers; the mapping job (`leads.drain_inbox`) is
    # started at most once per slot of this many seconds (whatever the number of webhooks, web
    # processes), at the slot's end, and drains every received inbox row in batches.
    drain_slot_s: float = Field(default=1.0, gt=0, le=60)
    # Inbox rows mapped per transaction, and how long one drain job may run before it hands
    # the rest to a fresh job (so a backlog never hits the task timeout).
    drain_batch: int = Field(default=200, ge=1, le=5000)
    drain_budget_s: float = Field(default=30.0, gt=0, le=240)


class AutopilotSettings(BaseModel):
    """Ads autopilot thresholds and guard rails (env `REELFLOW_AUTOPILOT__...`); see docs/autopilot.md."""

    # Health windows: the recent window is compared with the days before it (the baseline).
    recent_days: int = Field(default=3, ge=1, le=30)
    baseline_days: int = Field(default=7, ge=1, le=60)
    # Data sufficiency: no verdict before this much spend (in multiples of the target CPL)
    # and this many impressions in the recent window.
    min_spend_target_multiple: float = Field(default=1.0, ge=0)
    min_impressions: int = Field(default=1000, ge=0)
    # CPL verdicts (CPL / target CPL); with no lead, a loser once spend ≥ this × target.
    winner_cpl_ratio: float = Field(default=0.8, gt=0)
    weak_cpl_ratio: float = Field(default=1.2, gt=0)
    loser_cpl_ratio: float = Field(default=1.5, gt=0)
    no_lead_loser_spend_multiple: float = Field(default=2.0, gt=0)
    # Spend pacing (recent daily spend / daily budget): under and full delivery.
    underpacing_ratio: float = Field(default=0.5, ge=0)
    full_pacing_ratio: float = Field(default=0.8, ge=0)
    # Trends: relative drop of CTR and of the 2-second view rate (recent vs baseline).
    ctr_drop_ratio: float = Field(default=0.3, ge=0, le=1)
    fatigue_drop_ratio: float = Field(default=0.25, ge=0, le=1)
    # Guard rails.
    max_budget_change_pct: int = Field(default=30, ge=1, le=100)
    budget_step_pct: int = Field(default=20, ge=1, le=100)
    max_actions_per_run: int = Field(default=5, ge=0, le=1000)
    human_cooldown_hours: int = Field(default=24, ge=0, le=24 * 30)
    # Lead webhooks: how far a signature's timestamp may be from now (a replay is refused).
    lead_webhook_tolerance_s: int = Field(default=300, ge=1, le=3600)
    # Autopilot runs: metrics older than this are collected again before deciding.
    metrics_stale_minutes: int = Field(default=90, ge=1, le=24 * 60)
    # Accounts run at once by an inline round (`run_round`: benchmarks, scripts).
    round_concurrency: int = Field(default=16, ge=1, le=256)
    # The Telegram chat for reports of accounts without their own `telegram_chat_id`.
    telegram_chat_id: str | None = None
    # Optional LLM proposer (OpenAI-compatible chat completions); off without a key. Its
    # output goes through the same schema and guard rails; any failure → deterministic policy.
    llm_base_url: str | None = None  # e.g. https://api.openai.com/v1 (unset: the sandbox's /openai/v1)
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(default=30.0, gt=0, le=300)
