"""Bodies for sign-up, members and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from reelflow.domain.identity import EMAIL_PATTERN

Role = Literal["owner", "admin", "editor", "clipper"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# The shape `domain.identity.normalise_email` accepts, so the schema says what passes.
Email = Annotated[str, msgspec.Meta(min_length=6, max_length=320, pattern=EMAIL_PATTERN)]


class SignupIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    workspace_name: Name
    name: Name | None = None


class UserOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str | None


class WorkspaceOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    plan: str


class TokenOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    prefix: str
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class CreatedTokenOut(msgspec.Struct):
    """The plaintext `token` appears in this response only; it is never stored."""

    id: uuid.UUID
    name: str
    prefix: str
    token: str
    expires_at: datetime | None


class MeOut(msgspec.Struct):
    user: UserOut
    workspace: WorkspaceOut
    role: Role
    token_id: uuid.UUID


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    """Invite a person by email with a role; they join by redeeming the mailed link."""

    email: Email
    role: Role


class InvitationOut(msgspec.Struct):
    """The same answer whether or not the email has an account anywhere."""

    id: uuid.UUID
    email: str
    role: str
    status: Literal["pending"]
    expires_at: datetime
    created_at: datetime


class LinkOut(msgspec.Struct):
    """What a mailed link is for (it is not used by looking at it)."""

    purpose: Literal["invite", "reset"]
    email: str
    workspace_name: str | None
    role: str | None
    expires_at: datetime


Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RedeemIn(msgspec.Struct, forbid_unknown_fields=True):
    """Use a mailed link once. Invitations: `password` sets the first password (optional if
    the account has one); resets: `password` is the new password (required)."""

    token: Secret
    password: Password | None = None
    name: Name | None = None
    token_name: Name | None = None


class RedeemOut(msgspec.Struct):
    purpose: Literal["invite", "reset"]
    user: UserOut
    workspace: WorkspaceOut | None
    role: Role | None
    token: CreatedTokenOut | None


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    """Email + password → a named token (for the first workspace joined, or `workspace_id`)."""

    email: Email
    password: Password
    name: Name = "login"
    workspace_id: uuid.UUID | None = None
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class PasswordResetIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class AcceptedOut(msgspec.Struct):
    accepted: bool
    detail: str


class RoleIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class MemberOut(msgspec.Struct):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: Role
    joined_at: datetime


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class AuditEntryOut(msgspec.Struct):
    id: int
    at: datetime
    workspace_id: uuid.UUID | None
    actor_kind: str
    actor_user_id: uuid.UUID | None
    actor_token_id: uuid.UUID | None
    action: str
    target_type: str | None
    target_id: str | None
    request_id: str | None
    source_ip: str | None
    details: dict[str, Any]
