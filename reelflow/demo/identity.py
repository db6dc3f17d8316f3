"""Demo step: sign up, look at yourself, invite a member (the mail really goes out), the
member sets a password and logs in, mint and revoke a token, read the audit log."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from reelflow.demo import Demo


async def run(demo: Demo) -> None:
    demo.section("Workspaces and API tokens")
    stamp = int(time.time())
    owner_email = f"demo+{stamp}@reelflow.dev"
    sink = demo.state["mail_sink"]
    response = await demo.client.post(
        "/api/v1/signup",
        json={"email": owner_email, "name": "Demo Owner", "workspace_name": f"Demo studio {stamp}"},
    )
    response.raise_for_status()
    demo.say(f"POST /signup → {response.status_code}: {response.json()['detail']}")
    mail = await _wait_for_mail(sink, owner_email)
    secret = mail.links[0].split("token=", 1)[1]
    async with httpx.AsyncClient(base_url=demo.api_url, timeout=60) as anonymous:
        redeemed = await anonymous.post(
            "/api/v1/auth/redeem",
            json={"token": secret, "name": "Demo Owner", "password": f"owner-password-{stamp}"},
        )
        redeemed.raise_for_status()
        signup = redeemed.json()
        # The same sign-up again: the same answer (nothing says the address is taken), and
        # the mailbox's owner is told someone tried.
        taken = await anonymous.post("/api/v1/signup", json={"email": owner_email, "workspace_name": "Squat"})
    demo.use_token(signup["token"]["token"])
    demo.state["workspace_id"] = signup["workspace"]["id"]
    workspace = signup["workspace"]
    demo.say(
        f"mail {mail.subject!r} → link redeemed: {signup['user']['email']} owns workspace {workspace['name']!r} "
        f"(plan {workspace['plan']})"
    )
    demo.say(f"first API token rf_{signup['token']['prefix']}_… (shown once, stored hashed)")
    warned = await _wait_for_mail(sink, owner_email)
    demo.say(f"signing up again with the same email → {taken.status_code} as before; the owner gets {warned.subject!r}")

    me = (await demo.client.get("/api/v1/me")).json()
    demo.say(f"GET /me → role {me['role']} in {me['workspace']['id']}")

    editor_email = f"editor+{stamp}@reelflow.dev"
    invited = await demo.client.post("/api/v1/members", json={"email": editor_email, "role": "editor"})
    invited.raise_for_status()
    demo.say(
        f"POST /members → {invited.status_code}: invitation for {editor_email} "
        f"(expires {invited.json()['expires_at'][:16]})"
    )
    mail = await _wait_for_mail(sink, editor_email)
    link = mail.links[0]
    demo.say(f"mail received by the SMTP sink: {mail.subject!r} with a single-use link")
    secret = link.split("token=", 1)[1]
    password = f"editor-password-{stamp}"
    async with httpx.AsyncClient(base_url=demo.api_url, timeout=60) as anonymous:
        redeemed = await anonymous.post("/api/v1/auth/redeem", json={"token": secret, "password": password})
        redeemed.raise_for_status()
        demo.say(f"invitation redeemed → {redeemed.json()['role']} in the workspace, password set (argon2id)")
        again = await anonymous.post("/api/v1/auth/redeem", json={"token": secret, "password": password})
        demo.say(f"the same link again → {again.status_code} (single use)")
        login = await anonymous.post(
            "/api/v1/auth/tokens", json={"email": editor_email, "password": password, "name": "editor laptop"}
        )
        login.raise_for_status()
        demo.say(
            f"POST /auth/tokens (email + password) → token {login.json()['name']!r}, "
            f"expires {login.json()['expires_at'][:10]}"
        )
        wrong = await anonymous.post("/api/v1/auth/tokens", json={"email": editor_email, "password": "wrong password"})
        ghost = await anonymous.post("/api/v1/auth/tokens", json={"email": "ghost@reelflow.dev", "password": "x" * 12})
        demo.say(f"wrong password → {wrong.status_code}, unknown email → {ghost.status_code} (same answer)")
    members = (await demo.client.get("/api/v1/members")).json()["items"]
    demo.say(f"members: {', '.join(m['role'] for m in members)}")

    token = (await demo.client.post("/api/v1/tokens", json={"name": "ci", "expires_in_days": 30})).json()
    revoked = await demo.client.delete(f"/api/v1/tokens/{token['id']}")
    demo.say(f"token 'ci' created (expires {token['expires_at'][:10]}) and revoked → {revoked.status_code}")

    bad = await demo.client.post("/api/v1/members", json={"email": "x@example.com", "role": "boss"})
    problem = bad.json()
    demo.say(f"bad input → {bad.status_code} {problem['title']}: {problem['detail']}")

    audit = (await demo.client.get("/api/v1/audit", params={"limit": 5})).json()["items"]
    demo.say("audit log (newest first): " + ", ".join(entry["action"] for entry in audit))


async def _wait_for_mail(sink: Any, address: str) -> Any:
    deadline = time.monotonic() + 10.0
    while True:
        try:
            return sink.last_to(address)
        except LookupError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
