"""The real clients for publishing, made per account token (`PublishingPlatforms`).

Built once at a composition point (app factory, task, flow) and handed to the services;
the sandbox or the real hosts are chosen by settings, as for every adapter."""

from __future__ import annotations

from reelflow.adapters.tiktok.display import DisplayClient
from reelflow.adapters.tiktok.oauth import TikTokOAuth
from reelflow.adapters.tiktok.posting import PostingClient
from reelflow.adapters.youtube import GoogleOAuth, YouTubeClient


class Platforms:
    def tiktok_oauth(self, redirect_uri: str | None = None) -> TikTokOAuth:
        return TikTokOAuth(redirect_uri)

    def google_oauth(self, redirect_uri: str | None = None) -> GoogleOAuth:
        return GoogleOAuth(redirect_uri)

    def tiktok_posting(self, access_token: str) -> PostingClient:
        return PostingClient(access_token)

    def tiktok_display(self, access_token: str) -> DisplayClient:
        return DisplayClient(access_token)

    def youtube(self, access_token: str) -> YouTubeClient:
        return YouTubeClient(access_token)
