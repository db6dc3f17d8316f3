"""Sign-up, the caller, members and API tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.identity import (
    EDITORS,
    MANAGERS,
    check_can_manage_members,
    check_role_change,
    new_token,
    normalise_email,
)
from reelflow.errors import Conflict, Forbidden, NotFound
from reelflow.settings import get_settings
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.identity import ApiToken, Membership, User, Workspace
from reelflow.storage.repositories.identity import IdentityRepository, Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.pagination import Page, check_limit, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.identity import (
    CreatedTokenOut,
    MemberIn,
    MemberOut,
    MeOut,
    RoleIn,
    SignupIn,
    SignupOut,
    TokenIn,
    TokenOut,
    UserOut,
    WorkspaceOut,
)

ALL_ROLES = ("owner", "admin", "editor", "clipper")


def _user(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name)


def _workspace(workspace: Workspace) -> WorkspaceOut:
    return WorkspaceOut(id=workspace.id, name=workspace.name, plan=workspace.plan)


def _token(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        user_id=token.user_id,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


def _member(membership: Membership, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id, email=user.email, name=user.name, role=membership.role, joined_at=membership.created_at
    )


async def issue_token(
    repo: IdentityRepository, *, workspace_id: uuid.UUID, user_id: uuid.UUID, name: str, expires_in_days: int | None
) -> CreatedTokenOut:
    """Create a token and return it with its plaintext (the only time it is shown)."""
    days = expires_in_days or get_settings().api_token_default_ttl_days
    expires_at = utcnow() + timedelta(days=days) if days else None
    plaintext, prefix, token_hash = new_token()
    token = await repo.create_token(
        workspace_id=workspace_id,
        user_id=user_id,
        name=name,
        token_hash=token_hash,
        prefix=prefix,
        expires_at=expires_at,
    )
    return CreatedTokenOut(id=token.id, name=token.name, prefix=prefix, token=plaintext, expires_at=expires_at)


async def sign_up(session: AsyncSession, data: SignupIn) -> SignupOut:
    """Create a user, their workspace (as owner) and a first token; 409 if the email is taken."""
    email = normalise_email(data.email)
    repo = IdentityRepository(session)
    if await repo.get_user_by_email(email) is not None:
        raise Conflict("an account with this email already exists")
    try:
        async with session.begin_nested():
            user = await repo.create_user(email, data.name)
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        raise Conflict("an account with this email already exists") from None
    workspace = await repo.create_workspace(data.workspace_name)
    await repo.add_membership(workspace.id, user.id, "owner")
    token = await issue_token(
        repo, workspace_id=workspace.id, user_id=user.id, name="first token", expires_in_days=None
    )
    return SignupOut(user=_user(user), workspace=_workspace(workspace), role="owner", token=token)


@post("/signup", opt={"exclude_from_auth": True, "rate_limit_group": "signup"}, tags=["identity"])
async def signup(db_session: AsyncSession, data: SignupIn) -> SignupOut:
    """Sign up: a user, a workspace they own, and a first API token (shown once)."""
    return await sign_up(db_session, data)


class IdentityController(Controller):
    path = ""
    tags = ["identity"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/me")
    async def me(self, db_session: AsyncSession, principal: Principal) -> MeOut:
        """The caller: user, workspace and role."""
        repo = IdentityRepository(db_session)
        user = await repo.get_user(principal.user_id)
        workspace = await repo.get_workspace(principal.workspace_id)
        assert user is not None and workspace is not None
        return MeOut(
            user=_user(user), workspace=_workspace(workspace), role=principal.role, token_id=principal.token_id
        )

    @get("/members", guards=[requires_role(*ALL_ROLES)])
    async def list_members(
        self,
        db_session: AsyncSession,
        principal: Principal,
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[MemberOut]:
        """Members of the caller's workspace, oldest first."""
        check_limit(limit, 200)
        rows = await IdentityRepository(db_session).list_members(
            principal.workspace_id, after=decode_time_id_cursor(cursor), limit=limit + 1
        )
        items, next_cursor = page_of(rows, limit, lambda row: encode_cursor(row[0].created_at, row[0].id))
        return Page(items=[_member(m, u) for m, u in items], next_cursor=next_cursor)

    @post("/members", guards=[requires_role(*MANAGERS)])
    async def add_member(self, db_session: AsyncSession, principal: Principal, data: MemberIn) -> MemberOut:
        """Add a person (created if new) to the workspace with a role. Owners and admins only."""
        check_can_manage_members(principal.role)
        if data.role == "owner" and principal.role != "owner":
            raise Forbidden("only an owner can grant the owner role")
        email = normalise_email(data.email)
        repo = IdentityRepository(db_session)
        user = await repo.get_user_by_email(email)
        if user is None:
            try:
                async with db_session.begin_nested():
                    user = await repo.create_user(email, data.name)
            except IntegrityError:
                user = await repo.get_user_by_email(email)
                assert user is not None
        if await repo.get_membership(principal.workspace_id, user.id) is not None:
            raise Conflict("this person is already a member")
        try:
            async with db_session.begin_nested():
                membership = await repo.add_membership(principal.workspace_id, user.id, data.role)
        except IntegrityError:
            raise Conflict("this person is already a member") from None
        return _member(membership, user)

    @patch("/members/{user_id:uuid}", guards=[requires_role(*MANAGERS)])
    async def change_role(
        self, db_session: AsyncSession, principal: Principal, user_id: uuid.UUID, data: RoleIn
    ) -> MemberOut:
        """Change a member's role. Owners and admins; only owners touch the owner role."""
        repo = IdentityRepository(db_session)
        await repo.lock_workspace(principal.workspace_id)
        membership = await repo.get_membership(principal.workspace_id, user_id)
        if membership is None:
            raise NotFound("no such member in this workspace")
        check_role_change(
            principal.role, membership.role, data.role, owners_left=await repo.count_owners(principal.workspace_id)
        )
        membership.role = data.role
        await db_session.flush()
        user = await repo.get_user(user_id)
        assert user is not None
        return _member(membership, user)

    @post("/tokens", opt={"rate_limit_group": "tokens"})
    async def create_token(self, db_session: AsyncSession, principal: Principal, data: TokenIn) -> CreatedTokenOut:
        """A new token for the caller in this workspace; the plaintext is shown once."""
        return await issue_token(
            IdentityRepository(db_session),
            workspace_id=principal.workspace_id,
            user_id=principal.user_id,
            name=data.name,
            expires_in_days=data.expires_in_days,
        )

    @get("/tokens", opt={"rate_limit_group": "tokens"})
    async def list_tokens(self, db_session: AsyncSession, principal: Principal, all: bool = False) -> list[TokenOut]:
        """The caller's tokens; owners and admins may ask for the whole workspace's (`all=true`)."""
        if all and principal.role not in MANAGERS:
            raise Forbidden("only owners and admins list everyone's tokens")
        tokens = await IdentityRepository(db_session).list_tokens(
            principal.workspace_id, None if all else principal.user_id
        )
        return [_token(t) for t in tokens]

    @delete("/tokens/{token_id:uuid}", opt={"rate_limit_group": "tokens"}, status_code=204)
    async def revoke_token(self, db_session: AsyncSession, principal: Principal, token_id: uuid.UUID) -> None:
        """Revoke a token: your own, or anyone's in the workspace if you are an owner or admin."""
        repo = IdentityRepository(db_session)
        token = await repo.get_token(principal.workspace_id, token_id)
        if token is None or (token.user_id != principal.user_id and principal.role not in MANAGERS):
            raise NotFound("no such token")
        await repo.revoke_token(token, utcnow())


route_handlers = [signup, IdentityController]
__all__ = ["EDITORS", "issue_token", "route_handlers", "sign_up"]
