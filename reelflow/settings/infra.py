"""Settings groups of the infrastructure: database, Redis, logs, the web server, secrets,
forwarded headers, readiness probes, mail, the blob store, the job runtime and operations."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator


class DatabaseSettings(BaseModel):
    url: str | None = None  # DATABASE_URL (Heroku) or REELFLOW_DB__URL; unset: embedded pgserver
    pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        return normalise_database_url(value) if value else None


class RedisSettings(BaseModel):
    url: str | None = None  # REDIS_URL (Heroku) or REELFLOW_REDIS__URL; unset: embedded Redis

    @field_validator("url")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    as_json: bool = False  # JSON lines (production)
    # Bind each logger's processors once (faster). Tests turn it off so that
    # `structlog.testing.capture_logs` sees every logger, whatever ran first.
    cache_loggers: bool = True


class WebSettings(BaseModel):
    host: str = "127.0.0.1"  # bind address of `reelflow web` (the Procfile binds 0.0.0.0)
    port: int = Field(default=8000, ge=1, le=65535)  # PORT (Heroku) or REELFLOW_WEB__PORT
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    signup_rate_limit_per_minute: int = Field(default=10, ge=1)
    token_rate_limit_per_minute: int = Field(default=30, ge=1)
    api_token_default_ttl_days: int | None = Field(default=None, ge=1)
    public_base_url: str | None = None  # absolute URLs in responses (upload and download links)


class SecretSettings(BaseModel):
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). In dev and
    # test a key is generated once into the data folder when none is set.
    token_encryption_keys: str | None = None
    # HMAC key for upload tokens and signed blob links (generated outside production).
    signing_secret: str | None = None
    # HMAC secrets for inbound webhooks (lead forms, TikTok events).
    lead_webhook_secret: str | None = None
    tiktok_webhook_secret: str | None = None

    @field_validator("token_encryption_keys")
    @classmethod
    def _check_fernet_keys(cls, value: str | None) -> str | None:
        if not value:
            return None
        from cryptography.fernet import Fernet

        for key in value.split(","):
            try:
                Fernet(key.strip().encode())
            except ValueError as exc:
                raise ValueError("each key must be a url-safe base64 Fernet key (32 bytes)") from exc
        return value


class ProxySettings(BaseModel):
    """Which forwarded headers to believe (env `REELFLOW_PROXY__...`). By default none: the
    client address is the TCP peer, so `X-Forwarded-For` cannot be spoofed for a fresh
    rate-limit budget. Behind Heroku's router set `REELFLOW_PROXY__HOPS=1` (the router appends
    the real client as the last X-Forwarded-For entry); behind your own proxies list them in
    `REELFLOW_PROXY__TRUSTED` (comma-separated addresses or CIDRs)."""

    trusted: str = ""
    hops: int = Field(default=0, ge=0, le=10)


class ReadinessSettings(BaseModel):
    """`/readyz` (env `REELFLOW_READINESS__...`): each probe's time box and the result's cache."""

    probe_timeout_s: float = Field(default=1.0, gt=0, le=30)
    cache_s: float = Field(default=1.0, ge=0, le=60)


class MailSettings(BaseModel):
    """Outbound mail (env `REELFLOW_MAIL__...`). Dev and tests deliver to a local SMTP sink."""

    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    # "starttls" (port 587), "tls" (implicit, port 465) or "none" (the local sink).
    security: Literal["none", "starttls", "tls"] = "none"
    sender: str = "Reelflow <no-reply@reelflow.local>"
    timeout_s: float = Field(default=10.0, gt=0)


class BlobSettings(BaseModel):
    """The S3-compatible blob store (`REELFLOW_BLOB__<FIELD>`), used when `REELFLOW_BLOB_URL`
    is `s3://bucket/prefix`. Unset keys and region fall back to `AWS_ACCESS_KEY_ID`,
    `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`; unset endpoint: AWS S3 itself."""

    endpoint: str | None = None  # e.g. https://<account>.r2.cloudflarestorage.com, http://127.0.0.1:8333
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None
    # Host put in presigned download URLs when clients reach the store by another name.
    public_endpoint: str | None = None
    # Dev, demo and tests: with no REELFLOW_BLOB_URL, start an embedded SeaweedFS (weed mini).
    embedded: bool = True
    # The local store (`file://` or no blob_url outside dev/test): its folder.
    dir: Path | None = None  # default: <data_dir>/blobs
    url_ttl_s: int = Field(default=3600, ge=10)  # lifetime of signed/presigned download links
    # Direct uploads (`"direct": true`): the file is PUT to the bucket in pieces of this size,
    # one presigned URL each (a failed piece is sent again, not the whole file).
    direct_part_bytes: int = Field(default=32 * 1024**2, ge=64 * 1024)


class RuntimeSettings(BaseModel):
    """The job runtime (reelflow/queue)."""

    # Seconds between automatic heartbeats of a running job, and the age after which a
    # running job's heartbeat counts as stale (its worker died): it is then re-enqueued.
    heartbeat_interval: float = Field(default=1.0, gt=0)
    heartbeat_timeout: float = Field(default=8.0, gt=0)
    # Recovery sweep period (one worker at a time, Redis lock); due-retry poll period.
    sweep_interval: float = Field(default=1.0, gt=0)
    scheduler_interval: float = Field(default=0.25, gt=0)
    # A queued run not found in Redis this long after its push is pushed again.
    missing_grace: float = Field(default=3.0, ge=0)
    # A running job asked to cancel is stopped this long after the request if it ignores it.
    cancel_grace: float = Field(default=5.0, ge=0)
    # On SIGTERM a worker lets its job run this long, then hands it back to the queue.
    shutdown_grace: float = Field(default=20.0, ge=0)
    # Finished runs (and their events) older than this are pruned by the maintenance flow.
    keep_days: int = Field(default=30, ge=1)
    # Whether claims and successes wait for Postgres's WAL flush (off: faster; a Postgres crash
    # can then lose the last few, and those runs execute again).
    synchronous_commit: bool = False


class OperationsSettings(BaseModel):
    """Process lifecycle and outage handling (`REELFLOW_OPS__<FIELD>`)."""

    # Redis outage: a worker reconnects with backoff from `redis_retry_initial_s` up to
    # `redis_retry_max_s` and keeps doing so for ever (it never exits because Redis is away).
    redis_retry_initial_s: float = Field(default=0.5, gt=0)
    redis_retry_max_s: float = Field(default=5.0, gt=0)
    # Seconds a `Retry-After` tells clients when Postgres is unreachable (503).
    db_unavailable_retry_after_s: int = Field(default=5, ge=1)
    # URL import during a platform outage: retried with backoff until this deadline (seconds
    # after the project was created), then the project fails and its usage is refunded.
    import_deadline_s: float = Field(default=900.0, gt=0)
    # Uploads not completed by their expiry are expired by a sweep (project failed, usage refunded).
    upload_sweep_batch: int = Field(default=500, ge=1)
    # Port of the Prefect server `reelflow dev` starts (when PREFECT_API_URL is not set).
    prefect_port: int = Field(default=4200, ge=1, le=65535)
    # The media worker loads the whisper model on first use and frees it after this many idle
    # seconds (0: keep it loaded).
    whisper_idle_release_s: float = Field(default=300.0, ge=0)


def normalise_database_url(url: str) -> str:
    """Turn Heroku-style `postgres://...?sslmode=require` into an asyncpg SQLAlchemy URL."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        scheme = "postgresql+asyncpg"
    else:
        raise ValueError("must be a postgres:// or postgresql:// URL")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    sslmode = query.pop("sslmode", None)
    if sslmode and "ssl" not in query:
        query["ssl"] = sslmode
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
