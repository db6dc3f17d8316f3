from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from reelflow.domain.identity import new_token
from reelflow.flows.maintenance import prune_tokens
from reelflow.flows.serve import build_deployments, load_deployments
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.identity import ApiToken
from reelflow.storage.repositories.identity import IdentityRepository


async def test_prune_tokens_flow_deletes_only_long_dead_tokens(prefect_harness, background_worker, signup, session):
    account = await signup()
    repo = IdentityRepository(session)
    workspace_id, user_id = uuid.UUID(account.workspace_id), uuid.UUID(account.user_id)
    for name, expires in (
        ("long expired", utcnow() - timedelta(days=40)),
        ("just expired", utcnow() - timedelta(days=1)),
    ):
        _, prefix, token_hash = new_token()
        await repo.create_token(
            workspace_id=workspace_id,
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            prefix=prefix,
            expires_at=expires,
        )
    await session.commit()

    result = await prune_tokens(keep_days=30)

    assert result == {"deleted": 1}
    names = set((await session.execute(select(ApiToken.name))).scalars())
    assert names == {"first token", "just expired"}
    assert (await session.execute(select(func.count()).select_from(ApiToken))).scalar_one() == 2


def test_every_deployment_in_prefect_yaml_loads_with_a_schedule():
    entries = load_deployments()
    assert any(e["name"] == "maintenance-prune-tokens" for e in entries)
    deployments = build_deployments()
    assert len(deployments) == len(entries)
    for deployment in deployments:
        assert deployment.schedules, deployment.name
