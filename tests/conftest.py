"""Shared fixtures: real Postgres and Redis (embedded, or TEST_DATABASE_URL / TEST_REDIS_URL),
the real Alembic migrations, and a clean slate before every test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

# Fixture modules per area (runtime workers, the sandbox, Prefect).
pytest_plugins = ["tests.fixtures.runtime", "tests.fixtures.sandbox", "tests.fixtures.prefect"]

# Settings for every process the tests start; set before anything reads settings.
os.environ["REELFLOW_ENV"] = "test"
os.environ.setdefault("REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("REELFLOW_SECRETS__SIGNING_SECRET", "test-signing-secret")
os.environ["REELFLOW_LOG__CACHE_LOGGERS"] = "false"  # capture_logs must see loggers used before it
os.environ.pop("DATABASE_URL", None)  # never run tests against a configured (maybe real) database
if "REELFLOW_MAIL__PORT" not in os.environ:  # outbound mail goes to the `mail_sink` fixture's SMTP server
    from reelflow.storage.embedded import free_port

    os.environ["REELFLOW_MAIL__PORT"] = str(free_port())
os.environ.pop("REDIS_URL", None)


@dataclass
class Services:
    database_url: str
    redis_url: str
    data_dir: Path
    blob_env: dict[str, str]


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    from reelflow.settings import reset_settings_cache
    from reelflow.storage.embedded import start_postgres, start_redis, start_seaweedfs, stop_seaweedfs
    from reelflow.storage.migrate import upgrade

    data_dir = tmp_path_factory.mktemp("reelflow")
    os.environ["REELFLOW_DATA_DIR"] = str(data_dir)
    pg = redis_proc = None
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if database_url:
        from reelflow.settings import normalise_database_url

        database_url = normalise_database_url(database_url)
    else:
        pg, database_url = start_postgres(data_dir / "postgres", cleanup_mode="delete")
    if not redis_url:
        redis_proc, redis_url = start_redis(data_dir / "redis")
    # Blobs: the embedded S3 server (SeaweedFS) unless TEST_BLOB_URL names a store
    # (s3://… with REELFLOW_BLOB__* set, or file:///path for the local folder).
    weed_proc = None
    if os.environ.get("TEST_BLOB_URL"):
        blob_env = {"REELFLOW_BLOB_URL": os.environ["TEST_BLOB_URL"]}
    else:
        weed_proc, blob_env = start_seaweedfs(data_dir / "seaweedfs")
    os.environ.update(blob_env)
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    reset_settings_cache()
    upgrade("head")
    yield Services(database_url=database_url, redis_url=redis_url, data_dir=data_dir, blob_env=blob_env)
    if weed_proc is not None:
        stop_seaweedfs(weed_proc)
    if redis_proc is not None:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
    if pg is not None:
        pg.cleanup()


@pytest.fixture(autouse=True)
async def clean_state(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Empty every table and Redis before each test that uses the services."""
    if "services" not in request.fixturenames and not _uses_services(request):
        yield
        return
    request.getfixturevalue("services")
    await truncate_all()
    yield


def _uses_services(request: pytest.FixtureRequest) -> bool:
    return any(name in request.fixturenames for name in ("client", "session", "redis_client", "signup"))


async def truncate_all() -> None:
    import redis.asyncio as aioredis
    from sqlalchemy import text

    from reelflow.settings import get_settings
    from reelflow.storage.db import get_engine
    from reelflow.storage.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with get_engine().begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    client = aioredis.Redis.from_url(get_settings().redis.url or "")
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def mail_sink_server(services: Services) -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on the port outbound mail is configured to use."""
    from reelflow.sandbox.mail import MailSink
    from reelflow.settings import get_settings

    sink = MailSink(port=get_settings().mail.port).start()
    yield sink
    sink.stop()


@pytest.fixture
def mail_sink(mail_sink_server: Any) -> Any:
    """The SMTP sink, emptied for this test: `mail_sink.last_to(email).links`."""
    mail_sink_server.messages.clear()
    return mail_sink_server


@pytest.fixture
async def session(services: Services) -> AsyncIterator[Any]:
    from reelflow.storage.db import get_sessionmaker

    async with get_sessionmaker()() as db_session:
        yield db_session


@pytest.fixture
async def redis_client(services: Services) -> AsyncIterator[Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(services.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[Any]:
    import httpx

    from reelflow.web.app import create_app

    # Same event loop as the test (unlike litestar's AsyncTestClient, which runs the app
    # in a thread), so fixtures and the app share one database pool.
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client


@dataclass
class Account:
    token: str
    workspace_id: str
    user_id: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def signup(client: Any, mail_sink: Any) -> Any:
    """`await signup()` → a new Account (user, workspace, token) through the real API: sign-up
    answers 202 and mails a link (SMTP sink), whose redemption gives the first token."""
    from reelflow.sandbox.mail import sign_up

    async def make(email: str | None = None, workspace: str = "Studio") -> Account:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        body = await sign_up(client, mail_sink, email=email, workspace_name=workspace)
        return Account(body["token"]["token"], body["workspace"]["id"], body["user"]["id"], email)

    return make
