"""Queries for workspaces, users, memberships and API tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.identity import ApiToken, IdentityLink, Membership, User, Workspace


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user acting in one workspace through one token."""

    user_id: uuid.UUID
    workspace_id: uuid.UUID
    role: str
    token_id: uuid.UUID


@dataclass(frozen=True)
class TokenLookup:
    principal: Principal
    last_used_at: datetime | None

    def stale(self, now: datetime, every: timedelta) -> bool:
        """True when the token's last use should be recorded again."""
        return self.last_used_at is None or self.last_used_at < now - every


# Built once (Core columns, bound parameters): the statement every authenticated request runs.
_tokens = ApiToken.__table__
_members = Membership.__table__
_TOKEN_LOOKUP = (
    select(_tokens.c.id, _tokens.c.user_id, _tokens.c.workspace_id, _members.c.role, _tokens.c.last_used_at)
    .select_from(
        _tokens.join(
            _members,
            and_(_members.c.workspace_id == _tokens.c.workspace_id, _members.c.user_id == _tokens.c.user_id),
        )
    )
    .where(
        _tokens.c.token_hash == bindparam("token_hash"),
        _tokens.c.revoked_at.is_(None),
        or_(_tokens.c.expires_at.is_(None), _tokens.c.expires_at > bindparam("now")),
    )
)


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- users and workspaces ---------------------------------------------------------
    async def create_user(self, email: str, name: str | None) -> User:
        user = User(email=email, name=name)
        self.session.add(user)
        await self.session.flush()
        return user

    async def get_user_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(func.lower(User.email) == email.lower()))
        return result.scalar_one_or_none()

    async def get_user(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def create_workspace(self, name: str, plan: str = "free") -> Workspace:
        workspace = Workspace(name=name, plan=plan)
        self.session.add(workspace)
        await self.session.flush()
        return workspace

    async def get_workspace(self, workspace_id: uuid.UUID) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)

    # --- memberships ------------------------------------------------------------------
    async def add_membership(self, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str) -> Membership:
        membership = Membership(workspace_id=workspace_id, user_id=user_id, role=role)
        self.session.add(membership)
        await self.session.flush()
        return membership

    async def get_membership(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
        result = await self.session.execute(
            select(Membership).where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        )
        return result.scalar_one_or_none()

    async def list_members(
        self, workspace_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[tuple[Membership, User]]:
        query = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id)
            .order_by(Membership.created_at, Membership.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                or_(
                    Membership.created_at > after[0],
                    (Membership.created_at == after[0]) & (Membership.id > after[1]),
                )
            )
        rows = await self.session.execute(query)
        return [(m, u) for m, u in rows.tuples()]

    async def count_owners(self, workspace_id: uuid.UUID) -> int:
        result = await self.session.execute(
            select(func.count()).where(Membership.workspace_id == workspace_id, Membership.role == "owner")
        )
        return int(result.scalar_one())

    async def lock_workspace(self, workspace_id: uuid.UUID) -> None:
        """Serialise membership changes in one workspace (the last-owner rule needs it)."""
        await self.session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())

    # --- tokens -----------------------------------------------------------------------
    async def create_token(
        self,
        *,
        workspace_id: uuid.UUID,
        user_id: uuid.UUID,
        name: str,
        token_hash: str,
        prefix: str,
        expires_at: datetime | None,
    ) -> ApiToken:
        token = ApiToken(
            workspace_id=workspace_id,
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            prefix=prefix,
            expires_at=expires_at,
        )
        self.session.add(token)
        await self.session.flush()
        return token

    async def lookup_token(self, token_hash: str, now: datetime) -> TokenLookup | None:
        """The principal behind a live token (not revoked, not expired, still a member) and
        when the token was last used: one indexed read, no write."""
        result = await self.session.execute(_TOKEN_LOOKUP, {"token_hash": token_hash, "now": now})
        row = result.one_or_none()
        if row is None:
            return None
        principal = Principal(user_id=row.user_id, workspace_id=row.workspace_id, role=row.role, token_id=row.id)
        return TokenLookup(principal, row.last_used_at)

    async def principal_for_token(
        self, token_hash: str, now: datetime, *, touch_every: timedelta | None = None
    ) -> Principal | None:
        """The principal behind a live token: not revoked, not expired, still a member.

        With `touch_every`, the token's last use is recorded when it is older than that: one
        read per request and a write at most once per `touch_every`, not one per request."""
        found = await self.lookup_token(token_hash, now)
        if found is None:
            return None
        if touch_every is not None and found.stale(now, touch_every):
            await self.touch_token(found.principal.token_id, now, every=touch_every)
        return found.principal

    async def touch_token(self, token_id: uuid.UUID, now: datetime, *, every: timedelta) -> None:
        """Record last use, at most once per `every` (the condition guards concurrent requests)."""
        await self.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - every))
            .values(last_used_at=now)
        )

    async def list_tokens(self, workspace_id: uuid.UUID, user_id: uuid.UUID | None) -> list[ApiToken]:
        query = select(ApiToken).where(ApiToken.workspace_id == workspace_id).order_by(ApiToken.created_at)
        if user_id is not None:
            query = query.where(ApiToken.user_id == user_id)
        return list((await self.session.execute(query)).scalars())

    async def get_token(self, workspace_id: uuid.UUID, token_id: uuid.UUID) -> ApiToken | None:
        result = await self.session.execute(
            select(ApiToken).where(ApiToken.id == token_id, ApiToken.workspace_id == workspace_id)
        )
        return result.scalar_one_or_none()

    async def revoke_token(self, token: ApiToken, now: datetime) -> None:
        if token.revoked_at is None:
            token.revoked_at = now
            await self.session.flush()

    async def prune_tokens(self, *, expired_before: datetime, revoked_before: datetime) -> int:
        """Delete tokens expired or revoked long enough ago; returns how many."""
        result = await self.session.execute(
            delete(ApiToken).where(or_(ApiToken.expires_at < expired_before, ApiToken.revoked_at < revoked_before))
        )
        # an UPDATE/DELETE executes to a CursorResult, which has rowcount; session.execute is typed Result
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- passwords ----------------------------------------------------------------------
    async def set_password(self, user: User, password_hash: str, now: datetime) -> None:
        user.password_hash = password_hash
        user.password_set_at = now
        await self.session.flush()

    async def memberships_of(self, user_id: uuid.UUID) -> list[Membership]:
        result = await self.session.execute(
            select(Membership).where(Membership.user_id == user_id).order_by(Membership.created_at, Membership.id)
        )
        return list(result.scalars())

    async def revoke_user_tokens(self, user_id: uuid.UUID, now: datetime) -> int:
        result = await self.session.execute(
            update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- mailed links (invitations, password resets) ------------------------------------
    async def create_link(
        self,
        *,
        purpose: str,
        email: str,
        token_hash: str,
        expires_at: datetime,
        workspace_id: uuid.UUID | None = None,
        role: str | None = None,
        created_by: uuid.UUID | None = None,
    ) -> IdentityLink:
        link = IdentityLink(
            purpose=purpose,
            email=email,
            token_hash=token_hash,
            expires_at=expires_at,
            workspace_id=workspace_id,
            role=role,
            created_by=created_by,
        )
        self.session.add(link)
        await self.session.flush()
        return link

    async def claim_link(self, token_hash: str, now: datetime) -> IdentityLink | None:
        """The live link with this secret, locked and marked used (single use: a concurrent
        redeem waits for the lock and then finds it used)."""
        result = await self.session.execute(
            select(IdentityLink)
            .where(
                IdentityLink.token_hash == token_hash,
                IdentityLink.used_at.is_(None),
                IdentityLink.revoked_at.is_(None),
                IdentityLink.expires_at > now,
            )
            .with_for_update()
        )
        link = result.scalar_one_or_none()
        if link is not None:
            link.used_at = now
            await self.session.flush()
        return link

    async def pending_invitation(self, workspace_id: uuid.UUID, email: str, now: datetime) -> IdentityLink | None:
        result = await self.session.execute(
            select(IdentityLink).where(
                IdentityLink.purpose == "invite",
                IdentityLink.workspace_id == workspace_id,
                func.lower(IdentityLink.email) == email.lower(),
                IdentityLink.used_at.is_(None),
                IdentityLink.revoked_at.is_(None),
                IdentityLink.expires_at > now,
            )
        )
        return result.scalars().first()

    async def list_invitations(self, workspace_id: uuid.UUID, now: datetime) -> list[IdentityLink]:
        result = await self.session.execute(
            select(IdentityLink)
            .where(
                IdentityLink.purpose == "invite",
                IdentityLink.workspace_id == workspace_id,
                IdentityLink.used_at.is_(None),
                IdentityLink.revoked_at.is_(None),
                IdentityLink.expires_at > now,
            )
            .order_by(IdentityLink.created_at, IdentityLink.id)
        )
        return list(result.scalars())

    async def get_invitation(self, workspace_id: uuid.UUID, link_id: uuid.UUID) -> IdentityLink | None:
        result = await self.session.execute(
            select(IdentityLink).where(
                IdentityLink.id == link_id,
                IdentityLink.workspace_id == workspace_id,
                IdentityLink.purpose == "invite",
            )
        )
        return result.scalar_one_or_none()

    async def revoke_resets(self, email: str, now: datetime) -> None:
        """Earlier unused reset links for this email stop working when a new one is sent."""
        await self.session.execute(
            update(IdentityLink)
            .where(
                IdentityLink.purpose == "reset",
                func.lower(IdentityLink.email) == email.lower(),
                IdentityLink.used_at.is_(None),
                IdentityLink.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
