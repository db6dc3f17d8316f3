"""One Settings object, read from the environment (and `.env`).

Settings are grouped (`settings.db.url`, `settings.monitoring.poll_max_pages`, ...); each
field is read from `REELFLOW_<GROUP>__<FIELD>` (e.g. `REELFLOW_RUNTIME__HEARTBEAT_TIMEOUT`).
Top-level fields are `REELFLOW_ENV` and `REELFLOW_DATA_DIR`. The platform conventions
`DATABASE_URL`, `REDIS_URL` and `PORT` still work (below the `REELFLOW_` names in
precedence). Invalid values fail at start with a message that names the variable (see
`load_settings`). `.env.example` lists every variable.

The groups live by theme in `infra` (database, Redis, web, secrets, blob store, runtime,
operations), `platforms` (platform URLs and credentials, HTTP, quotas, the sandbox), `media`
(ffmpeg, whisper) and `areas` (one group per product area); `core` puts them together in
`Settings` and reads it once per process. Everything is re-exported here: import from
`reelflow.settings`.
"""

from __future__ import annotations

from reelflow.settings.areas import (
    AdsSettings,
    AutopilotSettings,
    ClippersSettings,
    ClippingSettings,
    DiscoverySettings,
    IdentitySettings,
    LeadsSettings,
    MonitoringSettings,
    PublishingSettings,
)
from reelflow.settings.core import (
    PLATFORM_ENV,
    Environment,
    Settings,
    env_for_children,
    env_name,
    get_settings,
    load_settings,
    reset_settings_cache,
)
from reelflow.settings.infra import (
    BlobSettings,
    DatabaseSettings,
    LogSettings,
    MailSettings,
    OperationsSettings,
    ProxySettings,
    ReadinessSettings,
    RedisSettings,
    RuntimeSettings,
    SecretSettings,
    WebSettings,
    normalise_database_url,
)
from reelflow.settings.media import MediaSettings, TranscriptionSettings
from reelflow.settings.platforms import (
    OPTIONAL_PLATFORM_URLS,
    PLATFORM_URL_FIELDS,
    SANDBOX_CREDENTIALS,
    HttpSettings,
    PlatformSettings,
    QuotaSettings,
    SandboxLatencySettings,
    SandboxSettings,
)

__all__ = [
    "OPTIONAL_PLATFORM_URLS",
    "PLATFORM_ENV",
    "PLATFORM_URL_FIELDS",
    "SANDBOX_CREDENTIALS",
    "AdsSettings",
    "AutopilotSettings",
    "BlobSettings",
    "ClippersSettings",
    "ClippingSettings",
    "DatabaseSettings",
    "DiscoverySettings",
    "Environment",
    "HttpSettings",
    "IdentitySettings",
    "LeadsSettings",
    "LogSettings",
    "MailSettings",
    "MediaSettings",
    "MonitoringSettings",
    "OperationsSettings",
    "PlatformSettings",
    "ProxySettings",
    "PublishingSettings",
    "QuotaSettings",
    "ReadinessSettings",
    "RedisSettings",
    "RuntimeSettings",
    "SandboxLatencySettings",
    "SandboxSettings",
    "SecretSettings",
    "Settings",
    "TranscriptionSettings",
    "WebSettings",
    "env_for_children",
    "env_name",
    "get_settings",
    "load_settings",
    "normalise_database_url",
    "reset_settings_cache",
]
