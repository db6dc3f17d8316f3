"""Platform URLs and credentials: the sandbox in dev/test, explicit values in production."""

from __future__ import annotations

import pytest

from reelflow.errors import ConfigurationError
from reelflow.settings import PLATFORM_URL_FIELDS, load_settings

REAL = {field: f"https://{field.replace('_', '-')}.example.com" for field in PLATFORM_URL_FIELDS}


def test_dev_points_every_platform_at_the_sandbox() -> None:
    settings = load_settings(env="dev", sandbox={"url": "http://127.0.0.1:9999/"})
    assert settings.platform_url("tiktok_base_url") == "http://127.0.0.1:9999/tiktok"
    assert settings.platform_url("tiktok_business_base_url") == "http://127.0.0.1:9999/tiktok-business"
    assert settings.platform_url("google_auth_url") == "http://127.0.0.1:9999/google-accounts/o/oauth2/v2/auth"
    assert (
        load_settings(env="dev", sandbox={"url": None, "port": 8123}).platform_url("apify_base_url")
        == "http://127.0.0.1:8123/apify"
    )
    assert settings.credential("tiktok_client_key").startswith("sbx_")
    mixed = load_settings(env="dev", platforms={"youtube_base_url": "https://www.googleapis.com/"})
    assert mixed.platform_url("youtube_base_url") == "https://www.googleapis.com"


def test_production_requires_every_base_url_and_names_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(env="production", platforms={**REAL, "apify_base_url": None})
    assert "REELFLOW_PLATFORMS__APIFY_BASE_URL" in str(info.value) and "REELFLOW_PLATFORMS__TIKTOK_BASE_URL" not in str(
        info.value
    )
    settings = load_settings(env="production", platforms=REAL)
    assert settings.platform_url("tiktok_base_url") == REAL["tiktok_base_url"]
    with pytest.raises(ConfigurationError, match="REELFLOW_PLATFORMS__SCRAPECREATORS_API_KEY"):
        settings.credential("scrapecreators_api_key")
    research = load_settings(
        env="production", platforms={"tiktok_client_key": "k", "tiktok_client_secret": "s", **REAL}
    )
    assert research.credential("tiktok_research_client_key") == "k"  # falls back to the Login Kit app


def test_base_urls_must_be_http() -> None:
    with pytest.raises(ConfigurationError, match="REELFLOW_PLATFORMS__TIKTOK_BASE_URL"):
        load_settings(env="dev", platforms={"tiktok_base_url": "ftp://x"})
