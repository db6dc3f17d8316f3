"""Sign-up, logins, invitations, the caller, members and API tokens."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.identity import EDITORS, MANAGERS
from reelflow.services import identity as service
from reelflow.storage.models.identity import ApiToken, IdentityLink, Membership, User, Workspace
from reelflow.storage.repositories.identity import IdentityRepository, Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.middleware import client_address
from reelflow.web.openapi import problems
from reelflow.web.pagination import Page, check_limit, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.identity import (
    AcceptedOut,
    CreatedTokenOut,
    InvitationOut,
    LinkOut,
    LoginIn,
    MemberIn,
    MemberOut,
    MeOut,
    PasswordResetIn,
    RedeemIn,
    RedeemOut,
    RoleIn,
    SignupIn,
    TokenIn,
    TokenOut,
    UserOut,
    WorkspaceOut,
)

ALL_ROLES = ("owner", "admin", "editor", "clipper")
PUBLIC = {"exclude_from_auth": True}
SIGNUP_ACCEPTED = "check this address's mailbox: a link to confirm the sign-up and get your first token is on its way"


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


def _created(issued: service.IssuedToken) -> CreatedTokenOut:
    token = issued.token
    return CreatedTokenOut(
        id=token.id, name=token.name, prefix=token.prefix, token=issued.plaintext, expires_at=token.expires_at
    )


def _member(membership: Membership, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=membership.role,  # type: ignore[arg-type]
        joined_at=membership.created_at,
    )


def _invitation(link: IdentityLink) -> InvitationOut:
    assert link.role is not None
    return InvitationOut(
        id=link.id,
        email=link.email,
        role=link.role,
        status="pending",
        expires_at=link.expires_at,
        created_at=link.created_at,
    )


def _base_url(request: Request[Any, Any, Any]) -> str:
    from reelflow.settings import get_settings

    return get_settings().web.public_base_url or str(request.base_url).rstrip("/")


async def issue_token(
    repo: IdentityRepository, *, workspace_id: uuid.UUID, user_id: uuid.UUID, name: str, expires_in_days: int | None
) -> CreatedTokenOut:
    """A token for a member, minted outside a request (operators, tests); shown once."""
    issued = await service.issue_token(
        repo.session,
        workspace_id=workspace_id,
        user_id=user_id,
        name=name,
        expires_in_days=expires_in_days,
        via="operator",
    )
    return _created(issued)


# --- public: sign-up, login, mailed links -------------------------------------------------


@post(
    "/signup",
    opt={**PUBLIC, "rate_limit_group": "signup"},
    tags=["identity"],
    security=[{}],
    status_code=202,
)
async def signup(request: Request[Any, Any, Any], db_session: AsyncSession, data: SignupIn) -> AcceptedOut:
    """Sign up: a workspace is created and a single-use link that makes you its owner is
    mailed to the address; `POST /auth/redeem` with it returns your first API token (shown
    once). The answer is the same whether or not the address already has an account (one
    that has gets a mail saying someone tried to sign up with it), so it reveals nothing."""
    await service.sign_up(
        db_session,
        email=data.email,
        workspace_name=data.workspace_name,
        name=data.name,
        base_url=_base_url(request),
        mailer=request.app.state.mailer,
    )
    return AcceptedOut(accepted=True, detail=SIGNUP_ACCEPTED)


@post(
    "/auth/tokens",
    opt={**PUBLIC, "rate_limit_group": "login"},
    tags=["auth"],
    security=[{}],
    responses=problems(401, 403, 404),
)
async def login(request: Request[Any, Any, Any], db_session: AsyncSession, data: LoginIn) -> CreatedTokenOut:
    """Email + password → a named, expiring API token (shown once). Unknown emails and wrong
    passwords get the same 401; repeated failures are throttled per account and address (429)."""
    state = request.app.state
    issued = await service.login(
        db_session,
        service.LoginThrottle(state.redis, state.settings.identity),
        email=data.email,
        password=data.password,
        address=client_address(request.scope, state.settings.proxy),
        name=data.name,
        workspace_id=data.workspace_id,
        expires_in_days=data.expires_in_days,
    )
    return _created(issued)


@get("/auth/links", opt=PUBLIC, tags=["auth"], security=[{}], responses=problems(404))
async def describe_link(db_session: AsyncSession, token: str = Parameter(max_length=200)) -> LinkOut:
    """What a mailed link (invitation or password reset) is for; looking does not use it."""
    link = await service.describe_link(db_session, token)
    workspace = await IdentityRepository(db_session).get_workspace(link.workspace_id) if link.workspace_id else None
    return LinkOut(
        purpose=link.purpose,  # type: ignore[arg-type]
        email=link.email,
        workspace_name=workspace.name if workspace else None,
        role=link.role,
        expires_at=link.expires_at,
    )


@post(
    "/auth/redeem",
    opt={**PUBLIC, "rate_limit_group": "login"},
    tags=["auth"],
    security=[{}],
    status_code=200,
    responses=problems(404),
)
async def redeem(db_session: AsyncSession, data: RedeemIn) -> RedeemOut:
    """Use a mailed link once: accept an invitation (joins, optional first password, a token)
    or reset a password (required; the account's tokens are revoked)."""
    done = await service.redeem_link(
        db_session, secret=data.token, password=data.password, name=data.name, token_name=data.token_name
    )
    return RedeemOut(
        purpose=done.purpose,  # type: ignore[arg-type]
        user=_user(done.user),
        workspace=_workspace(done.workspace) if done.workspace else None,
        role=done.role,  # type: ignore[arg-type]
        token=_created(done.token) if done.token else None,
    )


@post(
    "/auth/password-reset",
    opt={**PUBLIC, "rate_limit_group": "signup"},
    tags=["auth"],
    security=[{}],
    status_code=202,
)
async def password_reset(
    request: Request[Any, Any, Any], db_session: AsyncSession, data: PasswordResetIn
) -> AcceptedOut:
    """Mail a password-reset link to the address if it has an account; the answer is the same either way."""
    await service.send_reset_link(db_session, data.email, base_url=_base_url(request), mailer=request.app.state.mailer)
    return AcceptedOut(accepted=True, detail="if this address has an account, a reset link is on its way")


# --- authenticated ------------------------------------------------------------------------


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
            user=_user(user),
            workspace=_workspace(workspace),
            role=principal.role,  # type: ignore[arg-type]
            token_id=principal.token_id,
        )

    @get("/members", guards=[requires_role(*ALL_ROLES)])
    async def list_members(
        self,
        db_session: AsyncSession,
        principal: Principal,
        cursor: str | None = Parameter(default=None, max_length=1024),
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[MemberOut]:
        """Members of the caller's workspace, oldest first."""
        check_limit(limit, 200)
        rows = await IdentityRepository(db_session).list_members(
            principal.workspace_id, after=decode_time_id_cursor(cursor), limit=limit + 1
        )
        items, next_cursor = page_of(rows, limit, lambda row: encode_cursor(row[0].created_at, row[0].id))
        return Page(items=[_member(m, u) for m, u in items], next_cursor=next_cursor)

    @post("/members", guards=[requires_role(*MANAGERS)], status_code=202)
    async def invite_member(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: MemberIn
    ) -> InvitationOut:
        """Invite a person by email with a role: a single-use, expiring link is mailed to
        them. Owners and admins; only owners invite owners. The answer does not say whether
        the address has an account anywhere."""
        link = await service.invite_member(
            db_session,
            principal,
            email=data.email,
            role=data.role,
            base_url=_base_url(request),
            mailer=request.app.state.mailer,
        )
        return _invitation(link)

    @get("/invitations", guards=[requires_role(*MANAGERS)])
    async def list_invitations(self, db_session: AsyncSession, principal: Principal) -> list[InvitationOut]:
        """Pending invitations of the workspace."""
        return [_invitation(link) for link in await service.list_invitations(db_session, principal)]

    @delete("/invitations/{invitation_id:uuid}", guards=[requires_role(*MANAGERS)], status_code=204)
    async def revoke_invitation(self, db_session: AsyncSession, principal: Principal, invitation_id: uuid.UUID) -> None:
        """Withdraw a pending invitation (its link stops working)."""
        await service.revoke_invitation(db_session, principal, invitation_id)

    @patch("/members/{user_id:uuid}", guards=[requires_role(*MANAGERS)])
    async def change_role(
        self, db_session: AsyncSession, principal: Principal, user_id: uuid.UUID, data: RoleIn
    ) -> MemberOut:
        """Change a member's role. Owners and admins; only owners touch the owner role."""
        membership = await service.change_role(db_session, principal, user_id, data.role)
        user = await IdentityRepository(db_session).get_user(user_id)
        assert user is not None
        return _member(membership, user)

    @post("/tokens", opt={"rate_limit_group": "tokens"})
    async def create_token(self, db_session: AsyncSession, principal: Principal, data: TokenIn) -> CreatedTokenOut:
        """A new token for the caller in this workspace; the plaintext is shown once."""
        issued = await service.issue_token(
            db_session,
            workspace_id=principal.workspace_id,
            user_id=principal.user_id,
            name=data.name,
            expires_in_days=data.expires_in_days,
            actor=principal,
        )
        return _created(issued)

    @get("/tokens", opt={"rate_limit_group": "tokens"})
    async def list_tokens(self, db_session: AsyncSession, principal: Principal, all: bool = False) -> list[TokenOut]:
        """The caller's tokens; owners and admins may ask for the whole workspace's (`all=true`)."""
        return [_token(t) for t in await service.list_tokens(db_session, principal, everyone=all)]

    @delete("/tokens/{token_id:uuid}", opt={"rate_limit_group": "tokens"}, status_code=204)
    async def revoke_token(self, db_session: AsyncSession, principal: Principal, token_id: uuid.UUID) -> None:
        """Revoke a token: your own, or anyone's in the workspace if you are an owner or admin."""
        await service.revoke_token(db_session, principal, token_id)


route_handlers = [signup, login, describe_link, redeem, password_reset, IdentityController]
__all__ = ["EDITORS", "issue_token", "route_handlers"]
