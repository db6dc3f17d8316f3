"""Connected accounts: OAuth state (forgery, replay, expiry), reconnect upserts, tokens
encrypted at rest (never in the table, the logs or the API), disconnect, isolation."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select, text, update

from reelflow.storage.models.publishing import ConnectedAccount, OAuthState
from reelflow.storage.tokenstore import TokenVault
from tests.publishing_support import connect, oauth_redirect, sandbox_users


async def _count(session) -> int:
    return int((await session.execute(select(func.count()).select_from(ConnectedAccount))).scalar_one())


async def test_connect_tiktok_and_reconnect_updates_the_same_account(client, signup, sandbox, session, caplog):
    caplog.set_level(logging.DEBUG)
    owner = await signup()
    [user] = await sandbox_users(sandbox, 1)
    first = await connect(client, owner, "tiktok", user)
    assert first["platform"] == "tiktok" and first["status"] == "active" and first["username"] == user
    assert first["display_name"]
    again = await connect(client, owner, "tiktok", user)
    assert again["id"] == first["id"]  # reconnecting updates, never duplicates
    assert await _count(session) == 1

    row = (await session.execute(select(ConnectedAccount))).scalar_one()
    vault = TokenVault()
    access, refresh = vault.open(row.access_token_enc), vault.open(row.refresh_token_enc)
    assert access and access.startswith("act.") and refresh and refresh.startswith("rft.")
    raw = (await session.execute(text("SELECT row_to_json(c)::text FROM connected_accounts c"))).scalar_one()
    assert access not in raw and refresh not in raw  # only ciphertext at rest
    assert row.key_id == vault.key_id
    listed = await client.get("/api/v1/accounts", headers=owner.headers)
    one = await client.get(f"/api/v1/accounts/{first['id']}", headers=owner.headers)
    for body in (listed.text, one.text):
        assert access not in body and refresh not in body and "token_enc" not in body
    assert access not in caplog.text and refresh not in caplog.text


async def test_oauth_state_forgery_replay_and_expiry_are_400_and_store_nothing(client, signup, sandbox, session):
    owner = await signup()
    [user] = await sandbox_users(sandbox, 1)
    # forged
    forged = await client.get("/api/v1/oauth/tiktok/callback", params={"state": "forged", "code": "x"})
    assert forged.status_code == 400
    assert forged.json()["errors"][0]["field"] == "state"
    # replayed
    redirect = await oauth_redirect(client, owner, "tiktok", user)
    parts = urlsplit(redirect.headers["location"])
    assert (await client.get(f"{parts.path}?{parts.query}")).status_code == 200
    replay = await client.get(f"{parts.path}?{parts.query}")
    assert replay.status_code == 400 and replay.headers["content-type"].startswith("application/problem+json")
    assert await _count(session) == 1
    # expired (older than 10 minutes)
    redirect = await oauth_redirect(client, owner, "google", user)
    parts = urlsplit(redirect.headers["location"])
    await session.execute(update(OAuthState).values(expires_at=func.now() - text("interval '1 second'")))
    await session.commit()
    expired = await client.get(f"{parts.path}?{parts.query}")
    assert expired.status_code == 400
    assert await _count(session) == 1
    # a state is bound to its platform
    redirect = await oauth_redirect(client, owner, "tiktok", user)
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    wrong = await client.get(
        "/api/v1/oauth/google/callback", params={"state": query["state"][0], "code": query["code"][0]}
    )
    assert wrong.status_code == 400
    assert await _count(session) == 1


async def test_tiktok_start_uses_pkce_and_google_offline_consent(client, signup, sandbox):
    owner = await signup()
    tiktok = (await client.get("/api/v1/oauth/tiktok/start", headers=owner.headers)).json()
    query = parse_qs(urlsplit(tiktok["authorize_url"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 64
    assert "video.publish" in query["scope"][0]
    google = (await client.get("/api/v1/oauth/google/start", headers=owner.headers)).json()
    query = parse_qs(urlsplit(google["authorize_url"]).query)
    assert query["access_type"] == ["offline"] and query["state"] == [google["state"]]
    assert (await client.get("/api/v1/oauth/myspace/start", headers=owner.headers)).status_code == 404


async def test_two_youtube_channels_disconnect_and_workspace_isolation(client, signup, sandbox, session):
    owner = await signup()
    other = await signup()
    a, b = await sandbox_users(sandbox, 2)
    first = await connect(client, owner, "google", a)
    second = await connect(client, owner, "google", b)
    assert first["id"] != second["id"] and first["platform"] == second["platform"] == "youtube"
    assert first["external_id"].startswith("UC")
    # another workspace sees nothing
    assert (await client.get(f"/api/v1/accounts/{first['id']}", headers=other.headers)).status_code == 404
    assert (await client.delete(f"/api/v1/accounts/{first['id']}", headers=other.headers)).status_code == 404
    assert (await client.get("/api/v1/accounts", headers=other.headers)).json() == []
    # disconnect revokes at Google and deletes the tokens
    gone = await client.delete(f"/api/v1/accounts/{first['id']}", headers=owner.headers)
    assert gone.status_code == 200 and gone.json()["status"] == "revoked"
    row = await session.get(ConnectedAccount, uuid.UUID(first["id"]))
    assert row is not None and row.access_token_enc is None and row.refresh_token_enc is None
    assert len(await sandbox.events("google.oauth.revoked")) == 1
    listed = {a["id"]: a["status"] for a in (await client.get("/api/v1/accounts", headers=owner.headers)).json()}
    assert listed == {first["id"]: "revoked", second["id"]: "active"}
