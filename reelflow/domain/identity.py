"""Roles, who may manage whom, and API token format."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from reelflow.errors import Conflict, Forbidden, InvalidInput

Role = Literal["owner", "admin", "editor", "clipper"]
ROLES: tuple[Role, ...] = ("owner", "admin", "editor", "clipper")
MANAGERS: tuple[Role, ...] = ("owner", "admin")
EDITORS: tuple[Role, ...] = ("owner", "admin", "editor")
TOKEN_PREFIX = "rf"
# ASCII addresses (internationalised domains in their xn-- form): the characters RFC 5322
# allows in an unquoted local part, letters, digits, dots and hyphens in the domain. Nothing
# that could reach an SMTP command or a mail header as syntax (control characters, <>, quotes).
EMAIL_PATTERN = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z0-9-]{2,}$"
EMAIL_RE = re.compile(EMAIL_PATTERN)


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
    if not value.isascii() or len(value) > 200:
        return False
    parts = value.split("_", 2)
    return len(parts) == 3 and parts[0] == TOKEN_PREFIX and len(parts[1]) == 8 and len(parts[2]) >= 32


# --- passwords and mailed links ---------------------------------------------------------

_hasher = PasswordHasher()  # argon2id with argon2-cffi's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both answers take the same time."""
    return _hasher.hash(secrets.token_urlsafe(16))


LINK_PREFIX = "rfl"


def check_password(password: str, *, min_length: int, email: str | None = None) -> None:
    """A password long enough, not absurdly long, and not the email itself."""
    if len(password) < min_length:
        raise InvalidInput(f"use at least {min_length} characters", field="password")
    if len(password) > 256:
        raise InvalidInput("use at most 256 characters", field="password")
    if email and password.strip().lower() == email.strip().lower():
        raise InvalidInput("the password may not be the email address", field="password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; always spends one argon2 verification, so an unknown
    account (no hash) is indistinguishable by timing from a wrong password."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_link_secret() -> tuple[str, str]:
    """A mailed link's secret: (plaintext for the link, SHA-256 hex stored)."""
    plaintext = f"{LINK_PREFIX}_{secrets.token_urlsafe(32)}"
    return plaintext, hash_token(plaintext)


def looks_like_link_secret(value: str) -> bool:
    return value.isascii() and value.startswith(f"{LINK_PREFIX}_") and 40 <= len(value) <= 100
