"""Each adapter satisfies the capability Protocols it is listed under (checked by mypy too)."""

from __future__ import annotations

from reelflow.adapters.apify import ApifyClient
from reelflow.adapters.download import UrlImporter
from reelflow.adapters.media.engine import LocalMediaEngine
from reelflow.adapters.protocols import (
    KeywordSearch,
    MediaEngine,
    OAuthProvider,
    SourceImporter,
    StatsByIds,
    StatsByUrls,
    VideoSearch,
)
from reelflow.adapters.scrapecreators import ScrapeCreatorsClient
from reelflow.adapters.tiktok.display import DisplayClient
from reelflow.adapters.tiktok.oauth import TikTokOAuth
from reelflow.adapters.tiktok.research import ResearchClient
from reelflow.adapters.youtube import GoogleOAuth, YouTubeClient


def test_adapters_fit_their_protocols() -> None:
    searches: list[VideoSearch] = [ResearchClient()]
    keyword: list[KeywordSearch] = [ScrapeCreatorsClient()]
    by_ids: list[StatsByIds] = [ResearchClient(), DisplayClient("act.x"), YouTubeClient("ya29.x")]
    by_urls: list[StatsByUrls] = [ApifyClient()]
    oauth: list[OAuthProvider] = [TikTokOAuth("https://a.example/cb/"), GoogleOAuth("https://a.example/cb")]
    assert all(callable(getattr(a, "fetch_stats", None)) for a in [*by_ids, *by_urls])
    media: list[MediaEngine] = [LocalMediaEngine()]
    importers: list[SourceImporter] = [UrlImporter()]
    assert searches and keyword and oauth and media and importers
