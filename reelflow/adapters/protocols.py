"""One interface per capability; each vendor adapter implements the ones it can.

Tasks and flows depend on these Protocols, not on a vendor class, so a vendor can be
swapped (Research API ↔ Apify for stats, ScrapeCreators ↔ Research for search).

| capability | implementations |
|---|---|
| `VideoSearch` (query → videos, paged) | `tiktok.research.ResearchClient` |
| `KeywordSearch` (keyword → videos, deduplicated) | `scrapecreators.ScrapeCreatorsClient` |
| `StatsByIds` | `tiktok.research.ResearchClient`, `tiktok.display.DisplayClient`, `youtube.YouTube(Data)Client` |
| `StatsByUrls` | `apify.ApifyClient` |
| `CreatorLookup` | `tiktok.research.ResearchClient.user_info`, `scrapecreators.ScrapeCreatorsClient.tiktok_profile` |
| `SimilarProfiles` | `scrapecreators.ScrapeCreatorsClient` |
| `CreatorDiscovery` (keyword pages by cursor + Instagram related profiles) | `scrapecreators.ScrapeCreatorsClient` |
| `ImageFetcher` (a public image, SSRF-checked) | `images.ImageFetcher` |
| `OAuthProvider` | `tiktok.oauth.TikTokOAuth`, `youtube.GoogleOAuth` |
| `PublishingPlatforms` (a client per account token) | `platforms.Platforms` |
| `VideoPages` (query → pages of videos) | `tiktok.research.ResearchClient` |
| `MessageSender` (chat messages: autopilot reports) | `telegram.TelegramBot` |
| `ActionProposer` (an LLM proposing autopilot actions) | `llm.ChatCompletionsProposer` |
| `Clock` (the platform's time) | `clock.SystemClock`, `clock.SandboxClock` |
| `MediaEngine` (probe, audio, transcription, faces, render, thumbnails, posters) | `media.engine.LocalMediaEngine` |
| `SourceImporter` (a public video URL → the blob store, SSRF-checked) | `download.UrlImporter` |
| `BlobStore` | `reelflow.storage.blobs.LocalBlobStore`, `S3BlobStore` (defined beside them in storage) |

Implementations are chosen in `reelflow.composition` (app factory, worker, flows), the one
place that knows whether a process talks to the sandbox or to the platforms.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from reelflow.adapters.records import Creator, TokenSet, Video, VideoStats

if TYPE_CHECKING:
    from pathlib import Path

    from reelflow.adapters.download import Resolver, StreamSink
    from reelflow.adapters.images import FetchedImage
    from reelflow.adapters.mail import OutgoingMail
    from reelflow.adapters.media.faces import Box
    from reelflow.adapters.media.ffmpeg import CropBox, RenderPreset
    from reelflow.adapters.media.probe import MediaInfo
    from reelflow.adapters.media.whisper import Transcription
    from reelflow.adapters.scrapecreators import InstagramProfile, SearchPage
    from reelflow.adapters.tiktok.display import DisplayClient
    from reelflow.adapters.tiktok.oauth import TikTokOAuth
    from reelflow.adapters.tiktok.posting import PostingClient
    from reelflow.adapters.tiktok.research import VideoPage, VideoQuery
    from reelflow.adapters.youtube import GoogleOAuth, YouTubeClient


class VideoSearch(Protocol):
    def iter_videos(self, query: VideoQuery, *, limit: int | None = None) -> AsyncIterator[Video]: ...


class KeywordSearch(Protocol):
    def iter_keyword_search(self, query: str, *, max_items: int | None = None) -> AsyncIterator[Video]: ...


class StatsByIds(Protocol):
    async def fetch_stats(self, video_ids: Sequence[str]) -> list[VideoStats]: ...


class StatsByUrls(Protocol):
    async def fetch_stats(self, urls: Sequence[str]) -> dict[str, VideoStats]: ...


class CreatorLookup(Protocol):
    async def user_info(self, username: str) -> Creator: ...


class SimilarProfiles(Protocol):
    async def instagram_profile(self, handle: str) -> InstagramProfile: ...


class CreatorDiscovery(Protocol):
    """Pages of a keyword search by the provider's cursor, and Instagram related profiles."""

    async def search_keyword(self, query: str, *, cursor: int = 0) -> SearchPage: ...

    async def instagram_profile(self, handle: str) -> InstagramProfile: ...


class ImageFetcher(Protocol):
    async def fetch(
        self,
        url: str,
        *,
        allow: Callable[[str], None],
        addresses_ok: Callable[[str, Sequence[str]], None],
    ) -> FetchedImage: ...


class OAuthProvider(Protocol):
    async def exchange_code(self, code: str) -> TokenSet: ...

    async def refresh(self, refresh_token: str) -> TokenSet: ...

    async def revoke(self, token: str) -> None: ...


class Mailer(Protocol):
    """Outbound mail (`mail.SmtpMailer`)."""

    async def send(self, mail: OutgoingMail) -> None: ...


class VideoPages(Protocol):
    def iter_pages(self, query: VideoQuery) -> AsyncIterator[VideoPage]: ...


class Clock(Protocol):
    async def now(self) -> datetime: ...


class MonitoringPlatform(VideoPages, StatsByIds, CreatorLookup, Protocol):
    """What monitoring needs of a platform: paged search, stats by id, creator profiles."""


class PublishingPlatforms(Protocol):
    """The clients publishing needs, made per account token (`reelflow.adapters.platforms.Platforms`)."""

    def tiktok_oauth(self, redirect_uri: str | None = None) -> TikTokOAuth: ...

    def google_oauth(self, redirect_uri: str | None = None) -> GoogleOAuth: ...

    def tiktok_posting(self, access_token: str) -> PostingClient: ...

    def tiktok_display(self, access_token: str) -> DisplayClient: ...

    def youtube(self, access_token: str) -> YouTubeClient: ...


class ShortLinkResolver(Protocol):
    async def resolve_short_link(self, url: str) -> str: ...


class AsyncScraperRuns(Protocol):
    """Batch scraping as asynchronous runs (Apify): start, poll, read the dataset."""

    async def start_post_run(self, urls: Sequence[str]) -> tuple[str, str]: ...  # (run id, dataset id)

    async def run_status(self, run_id: str, *, wait_s: float = 0.0) -> str: ...  # READY, RUNNING, SUCCEEDED...

    async def dataset_items(self, dataset_id: str) -> list[dict[str, Any]]: ...


class MediaEngine(Protocol):
    """The media work of the clipping pipeline. Each call runs off the event loop and stops
    when its job is cancelled (`media.engine.LocalMediaEngine`: PyAV, ffmpeg, whisper, OpenCV)."""

    async def probe(self, source: Path, *, scan: bool = False) -> MediaInfo: ...

    async def extract_audio(self, source: Path, wav: Path, *, info: MediaInfo | None = None) -> Path: ...

    async def wav_duration(self, wav: Path) -> float: ...

    async def audio_energy(self, wav: Path, window_s: float = 0.5) -> list[float]: ...

    async def audio_levels(self, wav: Path, hop_s: float) -> list[float]: ...

    def is_silent(self, energy: list[float]) -> bool: ...

    async def transcribe(self, wav: Path, *, language: str | None = None) -> Transcription: ...

    async def detect_faces(
        self, source: Path, start_s: float, end_s: float, *, info: MediaInfo | None = None
    ) -> list[tuple[float, list[Box]]]: ...

    async def render_clip(
        self,
        source: Path,
        out: Path,
        *,
        start_s: float,
        end_s: float,
        preset: RenderPreset,
        captions_ass: Path | None,
        info: MediaInfo | None = None,
        crop: CropBox | None = None,
        pan: Sequence[tuple[float, int]] | None = None,
    ) -> Path: ...

    async def source_thumbnail(
        self,
        source: Path,
        at_s: float,
        out: Path,
        *,
        crop: CropBox | None,
        preset: RenderPreset,
        info: MediaInfo | None = None,
    ) -> Path: ...

    async def make_poster(
        self,
        frame: Path,
        title: str,
        out: Path,
        preset: RenderPreset,
        *,
        lines: Sequence[str] | None = None,
        font_px: int | None = None,
    ) -> Path: ...


class SourceImporter(Protocol):
    """A public video URL streamed into a sink (the blob store), SSRF-checked on every hop."""

    async def download(
        self,
        url: str,
        key_for: Callable[[str], str],
        *,
        sink: StreamSink,
        resolve: Resolver,
        max_bytes: int,
        timeout_s: float,
        allowed: frozenset[str],
    ) -> tuple[str, int]: ...


class MessageSender(Protocol):
    """Send a (Telegram HTML) message to a chat; returns the message ids (long texts split).
    Implementation: `telegram.TelegramBot`."""

    async def send_message(self, chat_id: str | int, text: str) -> list[int]: ...


class ActionProposer(Protocol):
    """An LLM that proposes autopilot actions from an account's scored state (a JSON-safe
    mapping); answers the raw list of proposed actions (validated by the caller).
    Implementation: `llm.ChatCompletionsProposer`."""

    name: str

    async def propose(self, context: dict[str, Any]) -> Any: ...
