"""TikTok Login Kit (OAuth v2) and client-credentials tokens (publishing.md §5.1, platform-apis.md §1.2).

    oauth = TikTokOAuth(redirect_uri="https://app.example/oauth/tiktok/callback/")
    verifier, challenge = pkce_pair()
    url = oauth.authorize_url(["user.info.basic", "video.publish"], state=state, code_challenge=challenge)
    tokens = await oauth.exchange_code(code, code_verifier=verifier)   # → TokenSet
    tokens = await oauth.refresh(tokens.refresh_token)                 # persist the new refresh token!
    await oauth.revoke(tokens.access_token)

A dead refresh token (`invalid_grant`) raises `AuthExpired(reauth_required=True)`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from reelflow.adapters import httpclient
from reelflow.adapters.records import TokenSet
from reelflow.adapters.tiktok.common import PLATFORM, base_url, oauth_error
from reelflow.errors import Permanent
from reelflow.settings import get_settings


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) for PKCE S256.

    TikTok's Login Kit (desktop) documents the challenge as the HEX-encoded SHA-256 of the
    verifier, not RFC 7636's base64url; a base64url challenge is rejected there with
    "Code verifier or code challenge is invalid". The verifier uses only unreserved
    characters (43–128)."""
    verifier = secrets.token_urlsafe(48)
    challenge = hashlib.sha256(verifier.encode()).hexdigest()
    return verifier, challenge


def rfc7636_challenge(verifier: str) -> str:
    """The standard S256 challenge (base64url, no padding), for providers that follow RFC 7636."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def token_set(body: dict[str, Any]) -> TokenSet:
    now = datetime.now(UTC)
    if not body.get("access_token"):
        raise Permanent(f"TikTok token answer without access_token: {sorted(body)}")
    refresh_in = body.get("refresh_expires_in")
    scope = body.get("scope") or ""
    return TokenSet(
        access_token=str(body["access_token"]),
        expires_at=now + timedelta(seconds=float(body.get("expires_in") or 0)),
        token_type=str(body.get("token_type") or "Bearer"),
        refresh_token=body.get("refresh_token") or None,
        refresh_expires_at=now + timedelta(seconds=float(refresh_in)) if refresh_in else None,
        open_id=body.get("open_id"),
        scopes=[s for s in str(scope).replace(" ", ",").split(",") if s],
    )


class TikTokOAuth:
    def __init__(self, redirect_uri: str | None = None, *, research: bool = False) -> None:
        settings = get_settings()
        prefix = "tiktok_research_client_" if research else "tiktok_client_"
        self.client_key = settings.credential(prefix + "key")
        self.client_secret = settings.credential(prefix + "secret")
        self.redirect_uri = redirect_uri
        self.base = base_url()
        self.authorize_base = settings.platform_url("tiktok_auth_url")

    def authorize_url(
        self, scopes: list[str], *, state: str, code_challenge: str | None = None, redirect_uri: str | None = None
    ) -> str:
        params = {
            "client_key": self.client_key,
            "scope": ",".join(scopes),
            "redirect_uri": redirect_uri or self.redirect_uri or "",
            "state": state,
            "response_type": "code",
        }
        if code_challenge:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = "S256"
        return f"{self.authorize_base}?{urlencode(params)}"

    async def _token(self, form: dict[str, str]) -> dict[str, Any]:
        response = await httpclient.request(
            "POST",
            f"{self.base}/v2/oauth/token/",
            idempotent=form["grant_type"] == "client_credentials",  # a code or refresh token is single-use
            platform=PLATFORM,
            data={"client_key": self.client_key, "client_secret": self.client_secret, **form},
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-cache"},
            error_mapper=oauth_error,
        )
        body = httpclient.json_body(response)
        return body if isinstance(body, dict) else {}

    async def exchange_code(
        self, code: str, *, code_verifier: str | None = None, redirect_uri: str | None = None
    ) -> TokenSet:
        form = {
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri or self.redirect_uri or "",
        }
        if code_verifier:
            form["code_verifier"] = code_verifier
        return token_set(await self._token(form))

    async def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens; the refresh token may rotate, so always store the one returned."""
        tokens = token_set(await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token}))
        if not tokens.refresh_token:  # never lose a refresh token to an answer without one
            tokens.refresh_token = refresh_token
        return tokens

    async def client_token(self) -> TokenSet:
        """A client access token (`clt.`, 2 h) for the Research API."""
        return token_set(await self._token({"grant_type": "client_credentials"}))

    async def revoke(self, token: str) -> None:
        await httpclient.request(
            "POST",
            f"{self.base}/v2/oauth/revoke/",
            idempotent=True,
            platform=PLATFORM,
            data={"client_key": self.client_key, "client_secret": self.client_secret, "token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            error_mapper=oauth_error,
        )
