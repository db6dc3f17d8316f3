"""Sign-up, tokens, members and roles through the real API, real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select, text

from reelflow.domain.identity import hash_token, new_token
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.identity import ApiToken, User
from reelflow.storage.repositories.identity import IdentityRepository


async def test_signup_creates_user_workspace_owner_and_token(client, signup):
    account = await signup(email="Owner@Example.com", workspace="Acme")
    me = await client.get("/api/v1/me", headers=account.headers)
    assert me.status_code == 200
    body = me.json()
    assert body["user"]["email"] == "owner@example.com"
    assert body["workspace"] == {"id": account.workspace_id, "name": "Acme", "plan": "free"}
    assert body["role"] == "owner"


async def test_token_is_stored_hashed_never_in_plaintext(client, signup, session):
    account = await signup()
    created = await client.post("/api/v1/tokens", headers=account.headers, json={"name": "ci"})
    assert created.status_code == 201
    plaintexts = [account.token, created.json()["token"]]
    rows = (await session.execute(text("SELECT * FROM api_tokens"))).mappings().all()
    assert len(rows) == 2
    dumped = " ".join(str(value) for row in rows for value in row.values())
    for plaintext in plaintexts:
        assert plaintext not in dumped
        assert hash_token(plaintext) in dumped
    listed = await client.get("/api/v1/tokens", headers=account.headers)
    assert all("token" not in t for t in listed.json())


async def test_signup_answers_202_and_mails_a_link_that_gives_the_first_token(client, mail_sink, session):
    response = await client.post(
        "/api/v1/signup", json={"email": "New@Example.com", "workspace_name": "Fresh", "name": "Nell"}
    )
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"accepted", "detail"}
    # Nothing is usable before the mailbox's owner follows the link: no user, no member.
    assert (await session.execute(text("SELECT count(*) FROM users"))).scalar_one() == 0
    mail = mail_sink.last_to("new@example.com")
    assert "Confirm" in mail.subject and "Fresh" in mail.text
    secret = mail.links[0].split("token=", 1)[1]
    redeemed = await client.post("/api/v1/auth/redeem", json={"token": secret, "password": "a long password 1"})
    assert redeemed.status_code == 200, redeemed.text
    body = redeemed.json()
    assert body["role"] == "owner" and body["workspace"]["name"] == "Fresh"
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']['token']}"})
    assert me.json()["role"] == "owner" and me.json()["user"]["email"] == "new@example.com"
    again = await client.post("/api/v1/auth/redeem", json={"token": secret})
    assert again.status_code == 404  # single use
    login = await client.post(
        "/api/v1/auth/tokens", json={"email": "new@example.com", "password": "a long password 1", "name": "laptop"}
    )
    assert login.status_code == 201, login.text


async def test_signup_with_a_taken_email_answers_the_same_and_mails_the_owner(client, signup, mail_sink, session):
    owner = await signup(email="taken@example.com", workspace="Mine")
    new = await client.post("/api/v1/signup", json={"email": "fresh@example.com", "workspace_name": "Other"})
    taken = await client.post("/api/v1/signup", json={"email": "TAKEN@example.com", "workspace_name": "Other"})
    # The caller cannot tell an existing address from a new one: same status, same body.
    assert taken.status_code == new.status_code == 202
    assert taken.json() == new.json()
    assert set(taken.headers) - {"x-request-id", "date"} == set(new.headers) - {"x-request-id", "date"}
    mail = mail_sink.last_to("taken@example.com")
    assert "tried to sign up" in mail.subject and "already has an account" in mail.text
    # Nothing changes for the existing account until its owner follows the link.
    me = await client.get("/api/v1/me", headers=owner.headers)
    assert me.json()["workspace"]["name"] == "Mine"
    users = (await session.execute(text("SELECT count(*) FROM users"))).scalar_one()
    assert users == 1
    memberships = (await session.execute(text("SELECT count(*) FROM memberships"))).scalar_one()
    assert memberships == 1
    # If it was them, the link adds the new workspace to their account (password kept).
    secret = mail.links[0].split("token=", 1)[1]
    redeemed = await client.post("/api/v1/auth/redeem", json={"token": secret})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["user"]["id"] == owner.user_id
    assert redeemed.json()["workspace"]["name"] == "Other" and redeemed.json()["role"] == "owner"


async def test_two_concurrent_signups_with_one_email_both_answer_alike(client, mail_sink):
    body = {"email": "race@example.com", "workspace_name": "Race"}
    first, second = await asyncio.gather(
        client.post("/api/v1/signup", json=body), client.post("/api/v1/signup", json=body)
    )
    assert [first.status_code, second.status_code] == [202, 202]
    links = [m.links[0].split("token=", 1)[1] for m in mail_sink.to("race@example.com")]
    assert len(links) == 2
    redeemed = await asyncio.gather(*(client.post("/api/v1/auth/redeem", json={"token": s}) for s in links))
    assert [r.status_code for r in redeemed] == [200, 200]
    assert redeemed[0].json()["user"]["id"] == redeemed[1].json()["user"]["id"]  # one account, two workspaces


async def test_missing_malformed_revoked_and_expired_tokens_are_401(client, signup, session):
    account = await signup()
    assert (await client.get("/api/v1/me")).status_code == 401
    for header in ("Bearer", "Bearer nope", "Basic abc", f"Token {account.token}", "Bearer rf_zz_short"):
        response = await client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["status"] == 401
        assert response.headers["www-authenticate"] == "Bearer"
    unknown, _, _ = new_token()
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {unknown}"})).status_code == 401

    second = (await client.post("/api/v1/tokens", headers=account.headers, json={"name": "temp"})).json()
    second_headers = {"Authorization": f"Bearer {second['token']}"}
    assert (await client.get("/api/v1/me", headers=second_headers)).status_code == 200
    assert (await client.delete(f"/api/v1/tokens/{second['id']}", headers=account.headers)).status_code == 204
    assert (await client.get("/api/v1/me", headers=second_headers)).status_code == 401

    expired_plain, prefix, expired_hash = new_token()
    repo = IdentityRepository(session)
    await repo.create_token(
        workspace_id=uuid.UUID(account.workspace_id),
        user_id=uuid.UUID(account.user_id),
        name="old",
        token_hash=expired_hash,
        prefix=prefix,
        expires_at=utcnow() - timedelta(seconds=1),
    )
    await session.commit()
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired_plain}"})).status_code == 401


async def test_last_used_is_recorded(client, signup, session):
    account = await signup()
    await client.get("/api/v1/me", headers=account.headers)
    token = (
        await session.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(account.token)))
    ).scalar_one()
    assert token.last_used_at is not None


async def test_roles_guard_member_management(client, signup, mail_sink):
    owner = await signup()
    invited = await client.post(
        "/api/v1/members", headers=owner.headers, json={"email": "ed@example.com", "role": "editor"}
    )
    assert invited.status_code == 202
    editor = await _join(client, mail_sink, "ed@example.com")
    user_id = editor["user"]["id"]
    editor_headers = {"Authorization": f"Bearer {editor['token']['token']}"}

    # An editor can read members but not invite or change them.
    assert (await client.get("/api/v1/members", headers=editor_headers)).status_code == 200
    forbidden = await client.post(
        "/api/v1/members", headers=editor_headers, json={"email": "x@example.com", "role": "clipper"}
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["type"] == "/problems/forbidden"
    patched = await client.patch(f"/api/v1/members/{user_id}", headers=editor_headers, json={"role": "admin"})
    assert patched.status_code == 403

    # The owner promotes to admin; an admin cannot invite owners.
    promoted = await client.patch(f"/api/v1/members/{user_id}", headers=owner.headers, json={"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    as_admin = await client.post(
        "/api/v1/members", headers=editor_headers, json={"email": "o@example.com", "role": "owner"}
    )
    assert as_admin.status_code == 403
    assert (
        await client.post("/api/v1/members", headers=editor_headers, json={"email": "c@example.com", "role": "clipper"})
    ).status_code == 202


async def test_last_owner_cannot_be_demoted(client, signup):
    owner = await signup()
    response = await client.patch(f"/api/v1/members/{owner.user_id}", headers=owner.headers, json={"role": "admin"})
    assert response.status_code == 409


async def test_inviting_an_existing_member_is_409(client, signup, mail_sink):
    owner = await signup()
    body = {"email": "dup@example.com", "role": "editor"}
    assert (await client.post("/api/v1/members", headers=owner.headers, json=body)).status_code == 202
    await _join(client, mail_sink, "dup@example.com")
    assert (await client.post("/api/v1/members", headers=owner.headers, json=body)).status_code == 409


async def test_another_workspace_is_404_never_403(client, signup):
    alice = await signup()
    bob = await signup()
    bobs_tokens = (await client.get("/api/v1/tokens", headers=bob.headers)).json()
    response = await client.delete(f"/api/v1/tokens/{bobs_tokens[0]['id']}", headers=alice.headers)
    assert response.status_code == 404
    response = await client.patch(f"/api/v1/members/{bob.user_id}", headers=alice.headers, json={"role": "editor"})
    assert response.status_code == 404
    # Bob's token still works.
    assert (await client.get("/api/v1/me", headers=bob.headers)).status_code == 200


async def test_bad_input_is_problem_details_naming_the_field(client, signup, session, mail_sink):
    owner = await signup()
    cases = [
        ({"email": "a@example.com", "role": "boss"}, 422, "role"),
        ({"email": "a@example.com"}, 422, "role"),
        ({"email": 5, "role": "editor"}, 422, "email"),
        ({"email": "not-an-email", "role": "editor"}, 422, "email"),
        ({"email": "a@example.com", "role": "editor", "extra": 1}, 422, None),
    ]
    for body, status, field in cases:
        response = await client.post("/api/v1/members", headers=owner.headers, json=body)
        assert response.status_code == status, (body, response.text)
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["status"] == status and problem["title"] and problem["type"].startswith("/problems/")
        if field:
            assert problem["errors"][0]["field"] == field, problem
    malformed = await client.post(
        "/api/v1/members", headers={**owner.headers, "Content-Type": "application/json"}, content=b"{not json"
    )
    assert malformed.status_code == 400
    assert malformed.json()["detail"]
    users = (await session.execute(select(User))).scalars().all()
    assert len(users) == 1  # nothing half-written


async def test_oversized_body_is_413(client):
    response = await client.post("/api/v1/signup", json={"email": "x" * 2_000_000, "workspace_name": "big"})
    assert response.status_code == 413
    assert response.json()["status"] == 413


async def test_signup_is_rate_limited(client, services, mail_sink, monkeypatch):
    statuses = []
    for i in range(12):
        response = await client.post("/api/v1/signup", json={"email": f"r{i}@example.com", "workspace_name": "r"})
        statuses.append(response.status_code)
    assert statuses[:10] == [202] * 10
    assert statuses[10] == 429
    assert statuses[11] == 429


async def test_request_id_is_echoed_or_made(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    made = await client.get("/api/v1/me")
    assert len(made.headers["x-request-id"]) == 32
    assert made.json()["request_id"] == made.headers["x-request-id"]


async def test_openapi_and_docs_page(client):
    spec = await client.get("/schema/openapi.json")
    assert spec.status_code == 200
    document = spec.json()
    assert "/api/v1/signup" in document["paths"]
    # Auth is documented truthfully: public operations say so, protected ones carry the scheme.
    assert document["paths"]["/api/v1/signup"]["post"]["security"] == [{}]
    assert document["paths"]["/readyz"]["get"]["security"] == [{}]
    assert document["paths"]["/api/v1/uploads/{upload_id}"]["put"]["security"] == [{}]
    assert document["paths"]["/api/v1/me"]["get"].get("security", document["security"]) == [{"BearerToken": []}]
    assert "401" in document["paths"]["/api/v1/me"]["get"]["responses"]
    problem = document["paths"]["/api/v1/members"]["post"]["responses"]["422"]["content"]
    assert problem == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    # The docs page works offline: its JS and CSS come from the app, not a CDN.
    page = await client.get("/schema")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert "cdn." not in page.text and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        response = await client.get(f"/schema/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000, asset


async def _join(client, mail_sink, email: str, password: str | None = None) -> dict:
    """Redeem the invitation mailed to `email` (read from the SMTP sink)."""
    link = mail_sink.last_to(email).links[0]
    secret = link.split("token=", 1)[1]
    body = {"token": secret} if password is None else {"token": secret, "password": password}
    redeemed = await client.post("/api/v1/auth/redeem", json=body)
    assert redeemed.status_code == 200, redeemed.text
    return redeemed.json()


async def _token_for(client, owner, email: str) -> str:
    """A token for another member, minted the way `reelflow admin` does it (through the repository)."""
    from reelflow.storage.db import session_scope
    from reelflow.web.routes.identity import issue_token

    async with session_scope() as session:
        repo = IdentityRepository(session)
        user = await repo.get_user_by_email(email)
        assert user is not None
        token = await issue_token(
            repo, workspace_id=uuid.UUID(owner.workspace_id), user_id=user.id, name="t", expires_in_days=None
        )
    return token.token


async def test_a_workspace_name_cannot_inject_mail_headers(client, mail_sink):
    name = "Acme\r\nBcc: victim@example.com\r\nX-Injected: 1"
    response = await client.post("/api/v1/signup", json={"email": "inj@example.com", "workspace_name": name})
    assert response.status_code == 202, response.text
    mail = mail_sink.last_to("inj@example.com")
    assert mail.recipients == ["inj@example.com"]
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert not mail_sink.to("victim@example.com")
