"""Roles, who may manage whom, and API token format."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal

from reelflow.errors import Conflict, Forbidden, InvalidInput

Role = Literal["owner", "admin", "editor", "clipper"]
ROLES: tuple[Role, ...] = ("owner", "admin", "editor", "clipper")
MANAGERS: tuple[Role, ...] = ("owner", "admin")
EDITORS: tuple[Role, ...] = ("owner", "admin", "editor")
TOKEN_PREFIX = "rf"
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


def normalise_email(email: str) -> str:
    email = email.strip()
    if not EMAIL_RE.match(email):
        raise InvalidInput("not a valid email address", field="email")
    return email.lower()


def check_can_manage_members(actor: str) -> None:
    if actor not in MANAGERS:
        raise Forbidden("only owners and admins manage members")


def check_role_change(actor: str, current: str | None, new: str, *, owners_left: int) -> None:
    """Owners and admins change roles; only an owner grants or takes away `owner`; a
    workspace always keeps at least one owner."""
    check_can_manage_members(actor)
    if (new == "owner" or current == "owner") and actor != "owner":
        raise Forbidden("only an owner can grant or remove the owner role")
    if current == "owner" and new != "owner" and owners_left <= 1:
        raise Conflict("a workspace must keep at least one owner")


def new_token() -> tuple[str, str, str]:
    """A fresh API token: (plaintext shown once, display prefix, SHA-256 hex stored)."""
    prefix = secrets.token_hex(4)
    plaintext = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return plaintext, prefix, hash_token(plaintext)


def hash_token(plaintext: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast unsalted hash is enough (no brute force).
    return hashlib.sha256(plaintext.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    parts = value.split("_", 2)
    return len(parts) == 3 and parts[0] == TOKEN_PREFIX and len(parts[1]) == 8 and len(parts[2]) >= 32
