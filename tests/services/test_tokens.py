"""Token store: rotation re-encrypts every row; refresh is single-flight with a version
compare-and-set (a concurrent refresh keeps the newest token); invalid_grant → expired."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import select

from reelflow.adapters.platforms import Platforms
from reelflow.services import accounts
from reelflow.services.accounts import AccountUnavailable
from reelflow.settings import reset_settings_cache
from reelflow.storage import crypto
from reelflow.storage.models.publishing import ConnectedAccount
from reelflow.storage.repositories.publishing import PublishingRepository
from reelflow.storage.tokenstore import TokenVault, rotate_all
from tests.publishing_support import connect, sandbox_users


def _set_keys(value: str) -> None:
    os.environ["REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS"] = value
    reset_settings_cache()


async def _row(session, account_id: str) -> ConnectedAccount:
    session.expire_all()
    row = (
        await session.execute(select(ConnectedAccount).where(ConnectedAccount.id == uuid.UUID(account_id)))
    ).scalar_one()
    return row


async def test_rotation_reencrypts_every_row_with_the_new_key(client, signup, sandbox, session):
    old_keys = os.environ["REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS"]
    owner = await signup()
    a, b = await sandbox_users(sandbox, 2)
    ids = [(await connect(client, owner, "tiktok", a))["id"], (await connect(client, owner, "google", b))["id"]]
    before = {i: TokenVault().open((await _row(session, i)).access_token_enc) for i in ids}
    old_key_id = crypto.key_id()
    new_key = Fernet.generate_key().decode()
    try:
        _set_keys(f"{new_key},{old_keys}")
        counts = await rotate_all(session)
        assert counts["connected_accounts"] == 2
        assert (await rotate_all(session))["connected_accounts"] == 0  # nothing left on the old key
        _set_keys(new_key)  # the old key is gone: every row still opens
        for i in ids:
            row = await _row(session, i)
            assert row.key_id == crypto.key_id() != old_key_id
            assert TokenVault().open(row.access_token_enc) == before[i]
    finally:
        _set_keys(old_keys)


def test_keys_rotate_cli(services):
    old_keys = os.environ["REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS"]
    from reelflow.cli import main

    try:
        _set_keys(f"{Fernet.generate_key().decode()},{old_keys}")
        result = CliRunner().invoke(main, ["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "connected_accounts: 0 rows re-encrypted" in result.output
    finally:
        _set_keys(old_keys)


async def test_concurrent_refresh_keeps_the_newest_token(client, signup, sandbox, session):
    owner = await signup()
    [user] = await sandbox_users(sandbox, 1)
    account = await connect(client, owner, "tiktok", user)
    account_id = uuid.UUID(account["id"])
    version = (await _row(session, account["id"])).token_version
    platforms = Platforms()
    results = await asyncio.gather(
        *(accounts.refresh(account_id, platforms=platforms, seen_version=version) for _ in range(3))
    )
    # one platform refresh (TikTok rotates the refresh token: a second use would be refused)
    assert len(await sandbox.events("tiktok.oauth.refreshed")) == 1
    assert {r for r in results} == {results[0]} and results[0][1] == version + 1
    row = await _row(session, account["id"])
    assert row.status == "active" and row.token_version == version + 1
    assert TokenVault().open(row.access_token_enc) == results[0][0]
    # the stored refresh token is the newest one: it still works
    token, new_version = await accounts.refresh(account_id, platforms=platforms)
    assert new_version == version + 2 and token != results[0][0]
    # compare-and-set: a write based on an old version changes nothing
    repo = PublishingRepository(session)
    assert not await repo.store_tokens(account_id, version, {"access_token_enc": TokenVault().seal("stale")})
    await session.commit()
    assert TokenVault().open((await _row(session, account["id"])).access_token_enc) == token


async def test_invalid_grant_marks_the_account_expired(client, signup, sandbox, session):
    owner = await signup()
    [user] = await sandbox_users(sandbox, 1)
    account = await connect(client, owner, "google", user)
    await sandbox.expire_tokens(kind="refresh")
    with pytest.raises(AccountUnavailable):
        await accounts.refresh(uuid.UUID(account["id"]), platforms=Platforms())
    body = (await client.get(f"/api/v1/accounts/{account['id']}", headers=owner.headers)).json()
    assert body["status"] == "expired" and "invalid_grant" in body["last_error"]
    # the hourly job counts it and does not raise
    assert (await accounts.refresh_due(platforms=Platforms()))["refreshed"] == 0
