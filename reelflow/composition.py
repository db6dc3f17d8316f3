"""The composition root: the one place that chooses adapter implementations.

The app factory (web dependencies), the job bodies at their start (the worker's side) and
the flows ask here for the blob store, the platform clients, the clock and the media engine,
and hand them to services. Whether a process talks to the sandbox or to the real platforms is decided here
(from settings) and nowhere else; tests and the demo choose the sandbox through settings,
or replace an adapter for a process with `override()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from reelflow.adapters.apify import ApifyClient
from reelflow.adapters.clock import SandboxClock, SystemClock
from reelflow.adapters.download import UrlImporter
from reelflow.adapters.images import ImageFetcher
from reelflow.adapters.platforms import Platforms
from reelflow.adapters.protocols import (
    ActionProposer,
    Clock,
    CreatorDiscovery,
    MediaEngine,
    MessageSender,
    MonitoringPlatform,
    PublishingPlatforms,
    SourceImporter,
)
from reelflow.adapters.scrapecreators import ScrapeCreatorsClient
from reelflow.adapters.tiktok.business import AdsFactory, tiktok_ads
from reelflow.adapters.tiktok.events import ConversionEvents, TikTokEvents
from reelflow.adapters.tiktok.research import ResearchClient
from reelflow.adapters.youtube import YouTubeDataClient
from reelflow.domain.ingest import allowed_import_origins
from reelflow.settings import Settings, get_settings
from reelflow.storage.blobs import BlobStore, get_blob_store


class ClipperPlatforms:
    """What clipper programmes read: TikTok through Apify's scraper (short links, stats by URL,
    asynchronous runs for tracking rounds) and YouTube Shorts through the Data API (API key,
    stats by id). A plain class, so the web layer's dependency injection hands it over as is."""

    def __init__(self, tiktok: ApifyClient, youtube: YouTubeDataClient) -> None:
        self.tiktok = tiktok
        self.youtube = youtube


@dataclass(frozen=True)
class Overrides:
    blobs: BlobStore | None = None
    clock: Clock | None = None
    monitoring_platform: MonitoringPlatform | None = None
    ads_factory: AdsFactory | None = None
    media: MediaEngine | None = None
    clipper_platforms: ClipperPlatforms | None = None
    telegram: MessageSender | None = None
    action_proposer: ActionProposer | None = None
    conversion_events: ConversionEvents | None = None


_overrides = Overrides()


def blob_store() -> BlobStore:
    return _overrides.blobs or get_blob_store()


def platform_clock() -> Clock:
    """The platforms' time: the sandbox's simulated clock when TikTok is the sandbox."""
    if _overrides.clock is not None:
        return _overrides.clock
    settings = get_settings()
    if settings.platforms.tiktok_base_url or settings.is_production:
        return SystemClock()
    return SandboxClock(settings.sandbox_base_url())


def monitoring_platform(*, concurrency: int = 8) -> MonitoringPlatform:
    """Video search, stats and creator profiles (TikTok's Research API, or the sandbox's)."""
    return _overrides.monitoring_platform or ResearchClient(concurrency=concurrency)


def ads_factory() -> AdsFactory:
    """The ads platform for a token (TikTok Business, or the sandbox by settings)."""
    return _overrides.ads_factory or tiktok_ads


def creator_discovery() -> CreatorDiscovery:
    """Creator search by keyword and similar profiles (ScrapeCreators, or the sandbox by settings)."""
    return ScrapeCreatorsClient()


def clipper_platforms() -> ClipperPlatforms:
    """Apify (TikTok) and the YouTube Data API for clipper programmes (sandbox or real hosts,
    by settings)."""
    return _overrides.clipper_platforms or ClipperPlatforms(tiktok=ApifyClient(), youtube=YouTubeDataClient())


def telegram_sender(settings: Settings | None = None) -> MessageSender | None:
    """The Telegram bot for autopilot reports (the sandbox's outside production); None when
    production has no bot token: reports are then kept in the API only."""
    if _overrides.telegram is not None:
        return _overrides.telegram
    settings = settings or get_settings()
    if settings.is_production and not (settings.platforms.telegram_bot_token and settings.platforms.telegram_base_url):
        return None
    from reelflow.adapters.telegram import TelegramBot

    return TelegramBot(settings=settings)


def action_proposer(settings: Settings | None = None) -> ActionProposer | None:
    """The optional LLM proposer of the autopilot: only with `autopilot.llm_api_key` set."""
    if _overrides.action_proposer is not None:
        return _overrides.action_proposer
    settings = settings or get_settings()
    if not settings.autopilot.llm_api_key:
        return None
    from reelflow.adapters.llm import ChatCompletionsProposer

    return ChatCompletionsProposer(settings=settings)


def conversion_events() -> ConversionEvents:
    """TikTok's Events API 2.0 (or the sandbox's, by settings) for lead conversion events."""
    if _overrides.conversion_events is not None:
        return _overrides.conversion_events
    return TikTokEvents(default_region=get_settings().leads.phone_default_region)


def image_fetcher(settings: Settings | None = None) -> ImageFetcher:
    """The SSRF-checked image fetcher (discovery's image proxy); the sandbox origin is pinned
    outside production."""
    settings = settings or get_settings()
    sandbox = None if settings.is_production else settings.sandbox_base_url()
    return ImageFetcher(
        pinned_origins=allowed_import_origins(production=settings.is_production, sandbox_url=sandbox, extra=None),
    )


def media_engine() -> MediaEngine:
    """Probing, audio, transcription, faces and rendering (ffmpeg and whisper in this process)."""
    if _overrides.media is not None:
        return _overrides.media
    from reelflow.adapters.media.engine import LocalMediaEngine  # PyAV, numpy: only where media work runs

    return LocalMediaEngine()


def source_importer() -> SourceImporter:
    """URL import into the blob store (SSRF-checked HTTP)."""
    return UrlImporter()


def publishing_platforms() -> PublishingPlatforms:
    """The clients publishing needs, per account token (sandbox or real hosts, by settings)."""
    return Platforms()


def install_quota_counter() -> None:
    """Platform quotas are counted in Postgres (authoritative; Redis caches the count): the
    workers install the counter once, before their first job."""
    from reelflow.adapters import ratelimit
    from reelflow.storage.repositories.quotas import PostgresQuotaCounter

    if ratelimit.get_quota_counter() is None:
        ratelimit.set_quota_counter(PostgresQuotaCounter())


@contextmanager
def override(**adapters: Any) -> Iterator[None]:
    """Replace adapters for this process while the block runs (benchmarks, special tests)."""
    global _overrides
    previous = _overrides
    _overrides = replace(previous, **adapters)
    try:
        yield
    finally:
        _overrides = previous
