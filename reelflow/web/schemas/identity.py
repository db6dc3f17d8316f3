"""Bodies for sign-up, members and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

Role = Literal["owner", "admin", "editor", "clipper"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]


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


class SignupOut(msgspec.Struct):
    user: UserOut
    workspace: WorkspaceOut
    role: Role
    token: CreatedTokenOut


class MeOut(msgspec.Struct):
    user: UserOut
    workspace: WorkspaceOut
    role: str
    token_id: uuid.UUID


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    role: Role
    name: Name | None = None


class RoleIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class MemberOut(msgspec.Struct):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str
    joined_at: datetime


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
