"""Demo step: sign up, look at yourself, add a member, mint and revoke a token."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reelflow.demo import Demo


async def run(demo: Demo) -> None:
    demo.section("Workspaces and API tokens")
    stamp = int(time.time())
    response = await demo.client.post(
        "/api/v1/signup",
        json={"email": f"demo+{stamp}@reelflow.dev", "name": "Demo Owner", "workspace_name": f"Demo studio {stamp}"},
    )
    response.raise_for_status()
    signup = response.json()
    demo.use_token(signup["token"]["token"])
    demo.state["workspace_id"] = signup["workspace"]["id"]
    workspace = signup["workspace"]
    demo.say(f"signed up {signup['user']['email']} → workspace {workspace['name']!r} (plan {workspace['plan']})")
    demo.say(f"first API token rf_{signup['token']['prefix']}_… (shown once, stored hashed)")

    me = (await demo.client.get("/api/v1/me")).json()
    demo.say(f"GET /me → role {me['role']} in {me['workspace']['id']}")

    member = await demo.client.post("/api/v1/members", json={"email": f"editor+{stamp}@reelflow.dev", "role": "editor"})
    member.raise_for_status()
    members = (await demo.client.get("/api/v1/members")).json()["items"]
    demo.say(f"members: {', '.join(m['role'] for m in members)}")

    token = (await demo.client.post("/api/v1/tokens", json={"name": "ci", "expires_in_days": 30})).json()
    revoked = await demo.client.delete(f"/api/v1/tokens/{token['id']}")
    demo.say(f"token 'ci' created (expires {token['expires_at'][:10]}) and revoked → {revoked.status_code}")

    bad = await demo.client.post("/api/v1/members", json={"email": "x@example.com", "role": "boss"})
    problem = bad.json()
    demo.say(f"bad input → {bad.status_code} {problem['title']}: {problem['detail']}")
