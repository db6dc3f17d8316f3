"""Every deletion is audited: the test walks every DELETE route the app serves (introspected
from the Litestar app), makes the thing it deletes through the real API (or the repositories
where only a pipeline makes it), deletes it over HTTP, and finds the audit entry naming it,
with the member and token who did it and the request id.

A new DELETE route fails `test_every_delete_route_has_a_maker` until it is added here, so a
deletion cannot ship without its audit entry being checked."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.publishing_support import connect as connect_publishing
from tests.publishing_support import make_clip, sandbox_users
from tests.web.test_ads import connect as connect_ads
from tests.web.test_ads import direction as make_direction


@dataclass
class World:
    client: Any
    owner: Any
    session: Any
    sandbox: Any


async def _rule(world: World) -> str:
    body = {"name": "to delete", "kind": "keyword", "values": ["cats"]}
    response = await world.client.post("/api/v1/monitoring/rules", json=body, headers=world.owner.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _discovery_campaign(world: World) -> str:
    body = {"name": "to delete", "search_type": "keyword"}
    response = await world.client.post("/api/v1/discovery/campaigns", json=body, headers=world.owner.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _project(world: World) -> str:
    project_id, _ = await make_clip(world.session, world.owner.workspace_id, title="to delete")
    return str(project_id)


async def _clip(world: World) -> str:
    _, clip_id = await make_clip(world.session, world.owner.workspace_id)
    return str(clip_id)


async def _direction(world: World) -> str:
    [account] = await connect_ads(world.client, world.owner, world.sandbox)
    return str((await make_direction(world.client, world.owner, account["id"], name=f"d-{uuid.uuid4().hex[:6]}"))["id"])


async def _connected_account(world: World) -> str:
    [user] = await sandbox_users(world.sandbox, 1)
    return str((await connect_publishing(world.client, world.owner, "tiktok", user))["id"])


async def _invitation(world: World) -> str:
    body = {"email": f"gone-{uuid.uuid4().hex[:6]}@example.com", "role": "editor"}
    response = await world.client.post("/api/v1/members", json=body, headers=world.owner.headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _token(world: World) -> str:
    response = await world.client.post("/api/v1/tokens", json={"name": "to revoke"}, headers=world.owner.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# DELETE route (as the app declares it) → (a maker of the thing it deletes, the audit action).
MAKERS: dict[str, tuple[Callable[[World], Awaitable[str]], str]] = {
    "/api/v1/monitoring/rules/{rule_id}": (_rule, "monitoring.rule.deleted"),
    "/api/v1/discovery/campaigns/{campaign_id}": (_discovery_campaign, "discovery.campaign.deleted"),
    "/api/v1/projects/{project_id}": (_project, "clipping.project.deleted"),
    "/api/v1/clips/{clip_id}": (_clip, "clipping.clip.deleted"),
    "/api/v1/ads/directions/{direction_id}": (_direction, "ads.direction.deleted"),
    "/api/v1/accounts/{account_id}": (_connected_account, "publishing.account.disconnected"),
    "/api/v1/invitations/{invitation_id}": (_invitation, "identity.invitation.revoked"),
    "/api/v1/tokens/{token_id}": (_token, "identity.token.revoked"),
}


def _delete_routes() -> set[str]:
    from reelflow.web.app import create_app

    found = set()
    for route in create_app().routes:
        for handler in getattr(route, "route_handlers", []):
            if "DELETE" in getattr(handler, "http_methods", ()):
                found.add(re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path))
    return found


def test_every_delete_route_has_a_maker(services: Any) -> None:
    assert _delete_routes() == set(MAKERS), "a DELETE route without an audit check: add it to MAKERS"


async def test_every_deletion_is_audited(client: Any, signup: Any, session: Any, sandbox: Any) -> None:
    owner = await signup()
    world = World(client, owner, session, sandbox)
    me = (await client.get("/api/v1/me", headers=owner.headers)).json()
    for route, (make, action) in MAKERS.items():
        target_id = await make(world)
        path = re.sub(r"\{\w+\}", target_id, route)
        request_id = f"audit-delete-{uuid.uuid4().hex[:8]}"
        response = await client.delete(path, headers={**owner.headers, "X-Request-ID": request_id})
        assert 200 <= response.status_code < 300, (route, response.status_code, response.text)
        listed = await client.get("/api/v1/audit", params={"action": action}, headers=owner.headers)
        assert listed.status_code == 200, listed.text
        entries = [e for e in listed.json()["items"] if e["target_id"] == target_id]
        assert len(entries) == 1, (route, action, listed.json())
        entry = entries[0]
        assert entry["request_id"] == request_id, (route, entry)
        assert entry["actor_user_id"] == owner.user_id and entry["actor_token_id"] == me["token_id"], (route, entry)
        # Deleting it again is a 404 (or a no-op) and a 404 writes no second entry.
        again = await client.delete(path, headers=owner.headers)
        assert again.status_code in (200, 204, 404), (route, again.status_code)
        if again.status_code == 404:
            relisted = await client.get("/api/v1/audit", params={"action": action}, headers=owner.headers)
            assert len([e for e in relisted.json()["items"] if e["target_id"] == target_id]) == 1, route
