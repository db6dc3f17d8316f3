"""Identity use cases: sign-up, invitations, password logins, resets and API tokens.

Every change is recorded in the audit log (`services.audit.record`). Mail goes through the
`Mailer` handed in by the caller (the app factory, the CLI); throttling through the Redis
client handed in the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.mail import OutgoingMail
from reelflow.adapters.protocols import Mailer
from reelflow.domain.identity import (
    MANAGERS,
    check_can_manage_members,
    check_password,
    check_role_change,
    hash_password,
    hash_token,
    looks_like_link_secret,
    needs_rehash,
    new_link_secret,
    new_token,
    normalise_email,
    verify_password,
)
from reelflow.errors import Conflict, Forbidden, InvalidInput, LimitExceeded, NotFound, Unauthorized
from reelflow.services import audit
from reelflow.settings import IdentitySettings, get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.identity import ApiToken, IdentityLink, Membership, User, Workspace
from reelflow.storage.repositories.identity import IdentityRepository, Principal

LINK_PATH = "/api/v1/auth/links"
BAD_LOGIN = "the email or the password is wrong"
BAD_LINK = "this link is not valid: it was used already, has expired or never existed"


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


@dataclass(frozen=True)
class Redeemed:
    purpose: str
    user: User
    workspace: Workspace | None
    role: str | None
    token: IssuedToken | None


def _identity_settings() -> IdentitySettings:
    return get_settings().identity


# --- tokens -------------------------------------------------------------------------------


async def issue_token(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    expires_in_days: int | None,
    actor: Principal | None = None,
    via: str = "api",
) -> IssuedToken:
    """Create a token; its plaintext exists only in the return value."""
    days = expires_in_days or get_settings().web.api_token_default_ttl_days
    expires_at = utcnow() + timedelta(days=days) if days else None
    plaintext, prefix, token_hash = new_token()
    token = await IdentityRepository(session).create_token(
        workspace_id=workspace_id,
        user_id=user_id,
        name=name,
        token_hash=token_hash,
        prefix=prefix,
        expires_at=expires_at,
    )
    await audit.record(
        session,
        "identity.token.issued",
        actor=actor,
        workspace_id=workspace_id,
        actor_user_id=user_id,
        actor_kind=None if actor else ("member" if via != "operator" else "operator"),
        target_type="token",
        target_id=token.id,
        details={"name": name, "via": via, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return IssuedToken(token, plaintext)


async def revoke_token(session: AsyncSession, principal: Principal, token_id: uuid.UUID) -> None:
    """Your own token, or anyone's in the workspace for owners and admins; else 404."""
    repo = IdentityRepository(session)
    token = await repo.get_token(principal.workspace_id, token_id)
    if token is None or (token.user_id != principal.user_id and principal.role not in MANAGERS):
        raise NotFound("no such token")
    if token.revoked_at is None:
        await repo.revoke_token(token, utcnow())
        await audit.record(
            session,
            "identity.token.revoked",
            actor=principal,
            target_type="token",
            target_id=token.id,
            details={"owner_user_id": str(token.user_id), "name": token.name},
        )


async def list_tokens(session: AsyncSession, principal: Principal, *, everyone: bool) -> list[ApiToken]:
    if everyone and principal.role not in MANAGERS:
        raise Forbidden("only owners and admins list everyone's tokens")
    return await IdentityRepository(session).list_tokens(
        principal.workspace_id, None if everyone else principal.user_id
    )


# --- sign-up --------------------------------------------------------------------------------


async def sign_up(
    session: AsyncSession,
    *,
    email: str,
    workspace_name: str,
    name: str | None,
    base_url: str,
    mailer: Mailer,
) -> IdentityLink:
    """Sign-up by mail, answering alike whether or not the address has an account.

    The workspace is created (with no member yet) and a single-use, expiring link that makes
    the mailbox's owner its owner is mailed to the address; redeeming it (`POST /auth/redeem`)
    creates the account if it is new, joins the workspace as owner and issues the first
    token. An address that already has an account gets the same link, in a mail that says
    someone asked to sign up with it (so the owner can add the workspace to their account,
    or ignore it). The caller learns nothing about the address: same status, same body,
    same work done. A taken email is no longer a 409."""
    email = normalise_email(email)
    repo = IdentityRepository(session)
    existing = await repo.get_user_by_email(email)
    workspace = await repo.create_workspace(workspace_name)
    now = utcnow()
    secret, secret_hash = new_link_secret()
    link = await repo.create_link(
        purpose="invite",
        email=email,
        token_hash=secret_hash,
        expires_at=now + timedelta(hours=_identity_settings().invitation_ttl_hours),
        workspace_id=workspace.id,
        role="owner",
        created_by=None,
    )
    await audit.record(
        session,
        "identity.workspace.created",
        workspace_id=workspace.id,
        actor_kind="anonymous",
        target_type="workspace",
        target_id=workspace.id,
        details={"via": "signup", "email": email, "invitation_id": str(link.id)},
    )
    url = link_url(base_url, secret)
    api_hint = (
        "API clients: POST /api/v1/auth/redeem with "
        f'{{"token": "{secret}", "password": "<a password>", "name": "<your name>"}} '
        "(password and name are optional).\n"
    )
    until = f"it works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC"
    if existing is None:
        greeting = f"Hello {name},\n\n" if name else ""
        mail = OutgoingMail(
            to=email,
            subject=f"Confirm your Reelflow sign-up for {workspace.name}",
            text=(
                f"{greeting}Someone, hopefully you, signed up to Reelflow with this address and a workspace "
                f"named {workspace.name!r}.\n\nOpen this link to confirm and receive your first API token "
                f"({until}):\n{url}\n\n{api_hint}"
                "If it was not you, ignore this message: nothing happens without the link.\n"
            ),
        )
    else:
        mail = OutgoingMail(
            to=email,
            subject="Someone tried to sign up to Reelflow with your address",
            text=(
                f"Someone asked to sign up to Reelflow with {email}, which already has an account, and a new "
                f"workspace named {workspace.name!r}.\n\nIf it was you and you want that workspace, open this "
                f"link to add it to your account as its owner ({until}); you keep your password:\n{url}\n\n"
                f"{api_hint}"
                "To get a token for your existing workspaces, log in (POST /api/v1/auth/tokens), or reset a "
                "forgotten password (POST /api/v1/auth/password-reset).\n"
                "If it was not you, ignore this message: your account is unchanged.\n"
            ),
        )
    await mailer.send(mail)
    return link


# --- members and invitations --------------------------------------------------------------


def link_url(base_url: str, secret: str) -> str:
    base = _identity_settings().link_base_url or base_url.rstrip("/") + LINK_PATH
    return f"{base}?token={secret}"


async def invite_member(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    role: str,
    base_url: str,
    mailer: Mailer,
) -> IdentityLink:
    """An invitation mailed to `email`. It never attaches an existing account by itself and
    answers the same whether or not the address has an account anywhere: only the person who
    controls the mailbox joins, by redeeming the link. 409 if they already are a member here."""
    check_can_manage_members(principal.role)
    if role == "owner" and principal.role != "owner":
        raise Forbidden("only an owner can grant the owner role")
    email = normalise_email(email)
    repo = IdentityRepository(session)
    existing = await repo.get_user_by_email(email)
    if existing is not None and await repo.get_membership(principal.workspace_id, existing.id) is not None:
        raise Conflict("this person is already a member of this workspace")
    now = utcnow()
    earlier = await repo.pending_invitation(principal.workspace_id, email, now)
    if earlier is not None:  # a new invitation replaces the pending one (new role, new link)
        earlier.revoked_at = now
    secret, secret_hash = new_link_secret()
    link = await repo.create_link(
        purpose="invite",
        email=email,
        token_hash=secret_hash,
        expires_at=now + timedelta(hours=_identity_settings().invitation_ttl_hours),
        workspace_id=principal.workspace_id,
        role=role,
        created_by=principal.user_id,
    )
    workspace = await repo.get_workspace(principal.workspace_id)
    assert workspace is not None
    await audit.record(
        session,
        "identity.member.invited",
        actor=principal,
        target_type="invitation",
        target_id=link.id,
        details={"email": email, "role": role},
    )
    url = link_url(base_url, secret)
    await mailer.send(
        OutgoingMail(
            to=email,
            subject=f"You are invited to {workspace.name} on Reelflow",
            text=(
                f"You were invited to join the workspace {workspace.name!r} on Reelflow as {role}.\n\n"
                f"Open this link to accept (it works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC):\n{url}\n\n"
                "API clients: POST /api/v1/auth/redeem with "
                f'{{"token": "{secret}", "password": "<a new password>"}} '
                "(the password is optional if you already have one).\n"
            ),
        )
    )
    return link


async def list_invitations(session: AsyncSession, principal: Principal) -> list[IdentityLink]:
    check_can_manage_members(principal.role)
    return await IdentityRepository(session).list_invitations(principal.workspace_id, utcnow())


async def revoke_invitation(session: AsyncSession, principal: Principal, invitation_id: uuid.UUID) -> None:
    check_can_manage_members(principal.role)
    link = await IdentityRepository(session).get_invitation(principal.workspace_id, invitation_id)
    if link is None:
        raise NotFound("no such invitation")
    if link.used_at is None and link.revoked_at is None:
        link.revoked_at = utcnow()
        await audit.record(
            session, "identity.invitation.revoked", actor=principal, target_type="invitation", target_id=link.id
        )


async def change_role(session: AsyncSession, principal: Principal, user_id: uuid.UUID, role: str) -> Membership:
    repo = IdentityRepository(session)
    await repo.lock_workspace(principal.workspace_id)
    membership = await repo.get_membership(principal.workspace_id, user_id)
    if membership is None:
        raise NotFound("no such member in this workspace")
    check_role_change(
        principal.role, membership.role, role, owners_left=await repo.count_owners(principal.workspace_id)
    )
    before = membership.role
    membership.role = role
    await session.flush()
    if before != role:
        await audit.record(
            session,
            "identity.member.role_changed",
            actor=principal,
            target_type="user",
            target_id=user_id,
            details={"from": before, "to": role},
        )
    return membership


# --- mailed links ---------------------------------------------------------------------------


async def describe_link(session: AsyncSession, secret: str) -> IdentityLink:
    """What a link is for, without using it (GET on the mailed URL); 404 when not live."""
    if not looks_like_link_secret(secret):
        raise NotFound(BAD_LINK)
    from sqlalchemy import select

    result = await session.execute(select(IdentityLink).where(IdentityLink.token_hash == hash_token(secret)))
    link = result.scalar_one_or_none()
    if link is None or link.used_at is not None or link.revoked_at is not None or link.expires_at <= utcnow():
        raise NotFound(BAD_LINK)
    return link


async def redeem_link(
    session: AsyncSession,
    *,
    secret: str,
    password: str | None,
    name: str | None,
    token_name: str | None,
) -> Redeemed:
    """Use a mailed link once. An invitation: the account is created if new, joins the
    workspace with the invited role, optionally sets its first password, and gets a token. A
    reset: sets the new password (required) and revokes the account's tokens."""
    if not looks_like_link_secret(secret):
        raise NotFound(BAD_LINK)
    settings = _identity_settings()
    repo = IdentityRepository(session)
    now = utcnow()
    link = await repo.claim_link(hash_token(secret), now)
    if link is None:
        raise NotFound(BAD_LINK)
    user = await repo.get_user_by_email(link.email)
    if password is not None:
        check_password(password, min_length=settings.password_min_length, email=link.email)
    if link.purpose == "reset":
        if password is None:
            raise InvalidInput("a new password is required to reset it", field="password")
        if user is None:
            raise NotFound(BAD_LINK)
        await repo.set_password(user, await asyncio.to_thread(hash_password, password), now)
        revoked = await repo.revoke_user_tokens(user.id, now)
        for membership in await repo.memberships_of(user.id):
            await audit.record(
                session,
                "identity.password.reset",
                workspace_id=membership.workspace_id,
                actor_user_id=user.id,
                actor_kind="member",
                target_type="user",
                target_id=user.id,
                details={"tokens_revoked": revoked},
            )
        return Redeemed("reset", user, None, None, None)

    assert link.workspace_id is not None and link.role is not None
    if user is None:
        try:
            async with session.begin_nested():
                user = await repo.create_user(link.email, name)
        except IntegrityError:
            user = await repo.get_user_by_email(link.email)
            assert user is not None
    if password is not None:
        if user.password_hash is not None:
            raise Conflict("this account already has a password: leave it out, or reset it")
        await repo.set_password(user, await asyncio.to_thread(hash_password, password), now)
    if await repo.get_membership(link.workspace_id, user.id) is None:
        try:
            async with session.begin_nested():
                await repo.add_membership(link.workspace_id, user.id, link.role)
        except IntegrityError:
            pass  # joined concurrently through another invitation
    workspace = await repo.get_workspace(link.workspace_id)
    await audit.record(
        session,
        "identity.member.joined",
        workspace_id=link.workspace_id,
        actor_user_id=user.id,
        actor_kind="member",
        target_type="user",
        target_id=user.id,
        details={
            "role": link.role,
            "invitation_id": str(link.id),
            "invited_by": str(link.created_by) if link.created_by else None,
            "via": "invitation" if link.created_by else "signup",
        },
    )
    token = await issue_token(
        session,
        workspace_id=link.workspace_id,
        user_id=user.id,
        name=token_name or ("invitation" if link.created_by else "first token"),
        expires_in_days=settings.login_token_ttl_days if link.created_by else None,
        via="invitation" if link.created_by else "signup",
    )
    return Redeemed("invite", user, workspace, link.role, token)


async def create_reset_link(session: AsyncSession, email: str, *, actor_kind: str = "operator") -> tuple[User, str]:
    """A password-reset link secret for an existing account (the CLI's `users reset-password`)."""
    email = normalise_email(email)
    repo = IdentityRepository(session)
    user = await repo.get_user_by_email(email)
    if user is None:
        raise NotFound("no account with this email")
    now = utcnow()
    await repo.revoke_resets(email, now)
    secret, secret_hash = new_link_secret()
    await repo.create_link(
        purpose="reset",
        email=email,
        token_hash=secret_hash,
        expires_at=now + timedelta(minutes=_identity_settings().reset_ttl_minutes),
    )
    for membership in await repo.memberships_of(user.id):
        await audit.record(
            session,
            "identity.password.reset_link_created",
            workspace_id=membership.workspace_id,
            actor_user_id=user.id if actor_kind == "member" else None,
            actor_kind=actor_kind,
            target_type="user",
            target_id=user.id,
        )
    return user, secret


async def send_reset_link(session: AsyncSession, email: str, *, base_url: str, mailer: Mailer) -> None:
    """Mail a reset link if the account exists; the caller answers the same either way."""
    try:
        user, secret = await create_reset_link(session, email, actor_kind="member")
    except (NotFound, InvalidInput):
        await asyncio.to_thread(verify_password, None, "x")  # same time as the other branch
        return
    await mailer.send(
        OutgoingMail(
            to=user.email,
            subject="Reset your Reelflow password",
            text=(
                f"Someone asked to reset the password of {user.email} on Reelflow.\n\n"
                f"Open this link to choose a new one (it works once, for "
                f"{_identity_settings().reset_ttl_minutes} minutes):\n{link_url(base_url, secret)}\n\n"
                f'API clients: POST /api/v1/auth/redeem with {{"token": "{secret}", "password": "<new password>"}}.\n'
                "If it was not you, ignore this message; your password stays as it is.\n"
            ),
        )
    )


# --- password login -------------------------------------------------------------------------


class LoginThrottle:
    """Failed logins counted per account and per client address in Redis (fixed windows). A
    blocked caller gets the same 429 whether the account exists or not."""

    def __init__(self, redis: Any, settings: IdentitySettings) -> None:
        self.redis = redis
        self.settings = settings

    def _keys(self, email: str, address: str) -> tuple[str, str]:
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return f"reelflow:login:acct:{account}", f"reelflow:login:addr:{address}"

    async def check(self, email: str, address: str) -> None:
        account_key, address_key = self._keys(email, address)
        account_count, address_count = await self.redis.mget(account_key, address_key)
        if int(account_count or 0) >= self.settings.login_failures_per_account or int(address_count or 0) >= (
            self.settings.login_failures_per_address
        ):
            ttl = max(await self.redis.ttl(account_key), await self.redis.ttl(address_key), 1)
            raise LimitExceeded("too many failed logins; try again later", limit="login_failures", retry_after=ttl)

    async def failed(self, email: str, address: str) -> None:
        window = self.settings.login_failure_window_s
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in self._keys(email, address):
                pipe.set(key, 0, ex=window, nx=True)  # the window starts at the first failure
                pipe.incr(key)
            await pipe.execute()

    async def succeeded(self, email: str, address: str) -> None:
        await self.redis.delete(self._keys(email, address)[0])


async def login(
    session: AsyncSession,
    throttle: LoginThrottle,
    *,
    email: str,
    password: str,
    address: str,
    name: str,
    workspace_id: uuid.UUID | None,
    expires_in_days: int | None,
) -> IssuedToken:
    """Email + password → a named, expiring token for one of the account's workspaces (the
    first joined unless `workspace_id` says which). Unknown email and wrong password answer
    alike (401, same time); failures are throttled per account and per address."""
    await throttle.check(email, address)
    repo = IdentityRepository(session)
    user = await repo.get_user_by_email(email.strip()) if len(email) <= 320 else None
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if not ok or user is None or user.password_hash is None:
        await throttle.failed(email, address)
        raise Unauthorized(BAD_LOGIN)
    memberships = await repo.memberships_of(user.id)
    chosen = next((m for m in memberships if workspace_id is None or m.workspace_id == workspace_id), None)
    if chosen is None:
        if workspace_id is not None and memberships:
            raise NotFound("you are not a member of this workspace")
        raise Forbidden("this account is not a member of any workspace")
    await throttle.succeeded(email, address)
    if needs_rehash(user.password_hash):
        await repo.set_password(user, await asyncio.to_thread(hash_password, password), utcnow())
    return await issue_token(
        session,
        workspace_id=chosen.workspace_id,
        user_id=user.id,
        name=name,
        expires_in_days=expires_in_days or _identity_settings().login_token_ttl_days,
        via="password",
    )


async def prune_tokens(keep_days: int = 30) -> dict[str, Any]:
    """Delete API tokens that expired or were revoked more than `keep_days` ago."""
    cutoff = utcnow() - timedelta(days=keep_days)
    async with session_scope() as session:
        deleted = await IdentityRepository(session).prune_tokens(expired_before=cutoff, revoked_before=cutoff)
    return {"deleted": deleted}
