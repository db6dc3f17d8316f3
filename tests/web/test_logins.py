"""Invitations, password logins, resets and the audit log, end to end through the real SMTP sink."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import text

PASSWORD = "correct horse battery"


def _secret(mail) -> str:
    return mail.links[0].split("token=", 1)[1]


async def _invite(client, owner, email: str, role: str = "editor"):
    response = await client.post("/api/v1/members", headers=owner.headers, json={"email": email, "role": role})
    assert response.status_code == 202, response.text
    return response.json()


async def test_invite_redeem_with_password_then_log_in(client, signup, mail_sink, session):
    owner = await signup(workspace="Acme")
    invitation = await _invite(client, owner, "New.Person@Example.com")
    assert invitation["email"] == "new.person@example.com" and invitation["status"] == "pending"
    mail = mail_sink.last_to("new.person@example.com")
    assert "Acme" in mail.subject and mail.links
    secret = _secret(mail)

    described = await client.get("/api/v1/auth/links", params={"token": secret})
    assert described.status_code == 200 and described.json()["purpose"] == "invite"
    assert described.json()["workspace_name"] == "Acme"

    short = await client.post("/api/v1/auth/redeem", json={"token": secret, "password": "short"})
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "password"
    redeemed = await client.post("/api/v1/auth/redeem", json={"token": secret, "password": PASSWORD})
    assert redeemed.status_code == 200, redeemed.text
    body = redeemed.json()
    assert body["role"] == "editor" and body["workspace"]["id"] == owner.workspace_id
    headers = {"Authorization": f"Bearer {body['token']['token']}"}
    assert (await client.get("/api/v1/me", headers=headers)).json()["role"] == "editor"

    # Single use.
    again = await client.post("/api/v1/auth/redeem", json={"token": secret, "password": PASSWORD})
    assert again.status_code == 404
    assert (await client.get("/api/v1/auth/links", params={"token": secret})).status_code == 404

    login = await client.post(
        "/api/v1/auth/tokens",
        json={"email": "new.person@example.com", "password": PASSWORD, "name": "laptop", "expires_in_days": 7},
    )
    assert login.status_code == 201, login.text
    token = login.json()
    assert token["name"] == "laptop" and token["expires_at"]
    login_headers = {"Authorization": f"Bearer {token['token']}"}
    listed = (await client.get("/api/v1/tokens", headers=login_headers)).json()
    assert {t["name"] for t in listed} == {"invitation", "laptop"}
    assert (await client.delete(f"/api/v1/tokens/{token['id']}", headers=login_headers)).status_code == 204
    assert (await client.get("/api/v1/me", headers=login_headers)).status_code == 401

    stored = (
        await session.execute(text("SELECT password_hash FROM users WHERE email = :e"), {"e": "new.person@example.com"})
    ).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_wrong_password_and_unknown_email_answer_alike_and_are_throttled(client, signup, mail_sink):
    owner = await signup()
    await _invite(client, owner, "member@example.com")
    secret = _secret(mail_sink.last_to("member@example.com"))
    assert (await client.post("/api/v1/auth/redeem", json={"token": secret, "password": PASSWORD})).status_code == 200

    wrong = await client.post("/api/v1/auth/tokens", json={"email": "member@example.com", "password": "nope nope nope"})
    unknown = await client.post(
        "/api/v1/auth/tokens", json={"email": "ghost@example.com", "password": "nope nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["type"] == unknown.json()["type"]

    # Four more failures on the account: the fifth blocks it, even with the right password.
    for _ in range(4):
        await client.post("/api/v1/auth/tokens", json={"email": "member@example.com", "password": "still wrong!"})
    blocked = await client.post("/api/v1/auth/tokens", json={"email": "member@example.com", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    # An unknown account is throttled the same way (nothing tells them apart).
    for _ in range(5):
        await client.post("/api/v1/auth/tokens", json={"email": "ghost@example.com", "password": "nope nope nope"})
    ghost = await client.post("/api/v1/auth/tokens", json={"email": "ghost@example.com", "password": "nope nope nope"})
    assert ghost.status_code == 429


async def test_invitations_never_attach_or_reveal_other_workspaces_accounts(client, signup, mail_sink, session):
    alice = await signup(email="alice@example.com")
    mallory = await signup()
    to_existing = await client.post(
        "/api/v1/members", headers=mallory.headers, json={"email": "alice@example.com", "role": "admin"}
    )
    to_nobody = await client.post(
        "/api/v1/members", headers=mallory.headers, json={"email": "nobody@example.com", "role": "admin"}
    )
    assert to_existing.status_code == to_nobody.status_code == 202
    assert set(to_existing.json()) == set(to_nobody.json())
    assert to_existing.json()["status"] == to_nobody.json()["status"] == "pending"
    # Alice is not a member of Mallory's workspace until she redeems the link herself.
    members = (await client.get("/api/v1/members", headers=mallory.headers)).json()["items"]
    assert [m["email"] for m in members] != ["alice@example.com"] and len(members) == 1
    memberships = (
        await session.execute(text("SELECT count(*) FROM memberships WHERE user_id = :u"), {"u": alice.user_id})
    ).scalar_one()
    assert memberships == 1
    # Redeeming keeps her existing password rules: she may not overwrite a password through an invite.
    secret = _secret(mail_sink.last_to("alice@example.com"))
    joined = await client.post("/api/v1/auth/redeem", json={"token": secret})
    assert joined.status_code == 200 and joined.json()["workspace"]["id"] == mallory.workspace_id


async def test_reset_password_through_the_api_and_the_cli(client, signup, mail_sink, services):
    owner = await signup(email="owner@example.com")
    unknown = await client.post("/api/v1/auth/password-reset", json={"email": "ghost@example.com"})
    known = await client.post("/api/v1/auth/password-reset", json={"email": "owner@example.com"})
    assert unknown.status_code == known.status_code == 202 and unknown.json() == known.json()
    assert not mail_sink.to("ghost@example.com")
    secret = _secret(mail_sink.last_to("owner@example.com"))
    missing = await client.post("/api/v1/auth/redeem", json={"token": secret})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "password"

    # The operator's CLI: a locked-out owner gets a fresh link (the earlier one stops working).
    env = {**os.environ, "DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    done = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "users", "reset-password", "OWNER@example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    cli_secret = done.stdout.strip().rsplit("token=", 1)[1]
    assert _secret(mail_sink.last_to("owner@example.com")) == cli_secret
    assert (await client.post("/api/v1/auth/redeem", json={"token": secret, "password": PASSWORD})).status_code == 404
    reset = await client.post("/api/v1/auth/redeem", json={"token": cli_secret, "password": PASSWORD})
    assert reset.status_code == 200 and reset.json()["purpose"] == "reset"
    # Old tokens are revoked; the new password logs in.
    assert (await client.get("/api/v1/me", headers=owner.headers)).status_code == 401
    login = await client.post("/api/v1/auth/tokens", json={"email": "owner@example.com", "password": PASSWORD})
    assert login.status_code == 201
    unknown_cli = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "users", "reset-password", "ghost@example.com", "--no-mail"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown_cli.returncode != 0


async def test_audit_log_records_identity_changes_and_is_append_only(client, signup, mail_sink, session):
    owner = await signup()
    await _invite(client, owner, "ed@example.com")
    joined = await client.post(
        "/api/v1/auth/redeem", json={"token": _secret(mail_sink.last_to("ed@example.com")), "password": PASSWORD}
    )
    user_id = joined.json()["user"]["id"]
    await client.patch(f"/api/v1/members/{user_id}", headers=owner.headers, json={"role": "admin"})
    created = (await client.post("/api/v1/tokens", headers=owner.headers, json={"name": "ci"})).json()
    await client.delete(f"/api/v1/tokens/{created['id']}", headers={**owner.headers, "X-Request-ID": "req-revoke-1"})

    page = await client.get("/api/v1/audit", headers=owner.headers, params={"limit": 3})
    assert page.status_code == 200
    first = page.json()
    assert [e["action"] for e in first["items"]] == [
        "identity.token.revoked",
        "identity.token.issued",
        "identity.member.role_changed",
    ]
    revoked = first["items"][0]
    assert revoked["request_id"] == "req-revoke-1" and revoked["actor_user_id"] == owner.user_id
    assert revoked["actor_token_id"] and revoked["source_ip"] and revoked["target_id"] == created["id"]
    rest = (await client.get("/api/v1/audit", headers=owner.headers, params={"cursor": first["next_cursor"]})).json()
    actions = [e["action"] for e in rest["items"]]
    assert "identity.member.joined" in actions and "identity.member.invited" in actions
    assert "identity.workspace.created" in actions

    # Editors may not read it; other workspaces see none of it.
    other = await signup()
    other_actions = [e["action"] for e in (await client.get("/api/v1/audit", headers=other.headers)).json()["items"]]
    assert set(other_actions) <= {"identity.workspace.created", "identity.member.joined", "identity.token.issued"}

    # Append-only in the database itself.
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        try:
            await session.execute(text(statement))
        except Exception as exc:
            assert "append-only" in str(exc)
            await session.rollback()
        else:
            raise AssertionError(f"{statement} was allowed")


async def test_failed_logins_are_throttled_per_address_across_accounts(services, monkeypatch):
    """Guessing across many accounts from one address is stopped too (and X-Forwarded-For,
    not trusted by default, does not make a new address)."""
    import httpx

    from reelflow.settings import reset_settings_cache
    from reelflow.web.app import create_app

    monkeypatch.setenv("REELFLOW_IDENTITY__LOGIN_FAILURES_PER_ADDRESS", "3")
    reset_settings_cache()
    try:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            statuses = []
            for i in range(4):
                response = await client.post(
                    "/api/v1/auth/tokens",
                    json={"email": f"victim{i}@example.com", "password": "guess guess guess"},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                )
                statuses.append(response.status_code)
            assert statuses == [401, 401, 401, 429]
            assert int(response.headers["retry-after"]) >= 1
    finally:
        reset_settings_cache()
